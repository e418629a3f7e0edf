"""The CM sandbox Lambda (local/cm_sandbox) on fake AWS (moto): the simulator's own
validation, scripts and call flow, state in DynamoDB, callbacks through the delayed SQS
queue — a whole call from POST to the dtmf-finished callback."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

TOKEN = "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21"
CALLBACK_URL = "https://gateway.example/v1/callbacks/cm/pin-1?token=t"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Receiver, Any]]:
    with mock_aws():
        region = "eu-west-1"
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        ddb = boto3.client("dynamodb", region_name=region)
        ddb.create_table(
            TableName="sandbox",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=region)
        queue_url = sqs.create_queue(QueueName="deliveries")["QueueUrl"]
        secret = boto3.client("secretsmanager", region_name=region).create_secret(
            Name="token", SecretString=TOKEN
        )["ARN"]
        monkeypatch.setenv("CM_SANDBOX_TABLE_NAME", "sandbox")
        monkeypatch.setenv("CM_SANDBOX_QUEUE_URL", queue_url)
        monkeypatch.setenv("CM_PRODUCT_TOKEN_SECRET", secret)
        monkeypatch.setenv("CM_SANDBOX_TIME_SCALE", "0")
        base_parameter = "/stack/cm-sandbox/callback-base-url"  # the stack's callback base
        boto3.client("ssm", region_name=region).put_parameter(
            Name=base_parameter, Value="https://gateway.example", Type="String"
        )
        monkeypatch.setenv("CM_SANDBOX_CALLBACK_BASE_PARAMETER", base_parameter)
        from cm_sandbox import app

        app = importlib.reload(app)
        receiver = Receiver()
        app.sandbox.http = httpx.Client(transport=httpx.MockTransport(receiver))

        def due() -> list[dict[str, Any]]:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            for m in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            return [{"body": m["Body"]} for m in messages]

        yield app, receiver, due
        app.regex.close()


def request(app: Any, method: str, path: str, body: Any = None, **headers: str) -> Any:
    event = {
        "httpMethod": method,
        "path": path,
        "headers": {"Content-Type": "application/json", **headers},
        "body": json.dumps(body) if body is not None else None,
        "queryStringParameters": None,
    }
    answer = app.handler(event, None)
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else None


def instruction(**overrides: Any) -> dict[str, Any]:
    return {
        "instruction-id": "pin-1",
        "callee": "+31612345678",
        "caller": "+31201234567",
        "prompt": "Your PIN please",
        "prompt-type": "TTS",
        "min-digits": 4,
        "max-digits": 4,
        "max-attempts": 3,
        "regex": "[0-9]{4}",
        "callback-url": CALLBACK_URL,
        **overrides,
    }


def test_a_scripted_call_ends_in_one_callback_through_the_queue(sandbox: Any) -> None:
    app, receiver, due = sandbox
    status, _ = request(
        app,
        "PUT",
        "/_simulator/callees/+31612345678",
        {"pickup": "answer", "keys": ["12#", "4821#"]},
    )
    assert status == 200

    status, reply = request(
        app, "POST", "/voiceapi/v2/DTMF", instruction(), **{"X-CM-PRODUCTTOKEN": TOKEN}
    )

    assert status == 200
    [queued] = reply
    assert (queued["type"], queued["success"]) == ("call-queued", True)
    app.handler({"Records": due()}, None)
    [callback] = receiver.bodies
    assert callback["call-id"] == queued["call-id"]
    assert (callback["digits"], callback["result"]["code"]) == ("4821", 10)
    _, record = request(app, "GET", f"/_simulator/calls/{queued['call-id']}")
    assert record["state"] == "callback-delivered"
    assert [a["digits"] for a in record["attempts"]] == ["12", "4821"]
    _, described = request(app, "GET", "/_simulator/callees/+31612345678")
    assert described["call-count"] == 1


def test_magic_numbers_and_refusals_are_the_simulators(sandbox: Any) -> None:
    app, receiver, due = sandbox
    assert request(app, "POST", "/voiceapi/v2/DTMF", instruction())[0] == 401
    status, problem = request(
        app, "POST", "/voiceapi/v2/DTMF", instruction(timeout=1), **{"X-CM-PRODUCTTOKEN": TOKEN}
    )
    assert status == 400 and "timeout" in problem["errors"]
    assert request(app, "PUT", "/_simulator/callees/+31612345678", {"pickup": "ansewr"})[0] == 400

    request(
        app,
        "POST",
        "/voiceapi/v2/DTMF",
        instruction(callee="+31612345002"),
        **{"X-CM-PRODUCTTOKEN": TOKEN},
    )
    app.handler({"Records": due()}, None)

    [callback] = receiver.bodies
    assert callback["result"]["code"] == 12


def test_a_failed_callback_is_retried_and_a_reset_drops_what_is_due(sandbox: Any) -> None:
    app, receiver, due = sandbox
    receiver.statuses = [503]
    request(app, "POST", "/voiceapi/v2/DTMF", instruction(), **{"X-CM-PRODUCTTOKEN": TOKEN})

    app.handler({"Records": due()}, None)  # 503: sent again
    app.handler({"Records": due()}, None)  # 200

    assert len(receiver.bodies) == 2
    [record] = request(app, "GET", "/_simulator/calls")[1]
    assert [c["status"] for c in record["callbacks"]] == [503, 200]
    assert record["state"] == "callback-delivered"

    request(app, "POST", "/voiceapi/v2/DTMF", instruction(), **{"X-CM-PRODUCTTOKEN": TOKEN})
    assert request(app, "DELETE", "/_simulator")[0] == 204
    app.handler({"Records": due()}, None)
    assert len(receiver.bodies) == 2
    assert request(app, "GET", "/_simulator/calls")[1] == []


def test_the_shipped_sample_event_lists_the_scripted_callees(sandbox: Any) -> None:
    """events/cm_sandbox.json (for `sam local invoke CmSandboxFunction`) as API Gateway sends it."""
    from devtools.template import ROOT

    app, _, _ = sandbox
    request(app, "PUT", "/_simulator/callees/+31612345678", {"pickup": "no-answer"})

    answer = app.handler(json.loads((ROOT / "events" / "cm_sandbox.json").read_text()), None)

    assert answer["statusCode"] == 200
    assert [c["callee"] for c in json.loads(answer["body"])] == ["+31612345678"]
