"""The CM sandbox Lambda (local/cm_sandbox) against hostile or careless scripting: every bad
request is a 4xx naming what is wrong, never a 500 on that request or on a later one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.simulator.test_sandbox_lambda import TOKEN, instruction, request, sandbox

__all__ = ["sandbox"]  # the fixture, used by name

NUMBER = "+31612345678"


def raw(app: Any, method: str, path: str, body: str, **headers: str) -> tuple[int, Any]:
    event = {
        "httpMethod": method,
        "path": path,
        "headers": {"Content-Type": "application/json", **headers},
        "body": body,
        "queryStringParameters": None,
    }
    answer = app.handler(event, None)
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else None


def place(app: Any, **overrides: Any) -> tuple[int, Any]:
    return request(
        app, "POST", "/voiceapi/v2/DTMF", instruction(**overrides), **{"X-CM-PRODUCTTOKEN": TOKEN}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"time-scale": 1e400}', "time-scale"),  # parses as infinity: every POST failed after
        ('{"time-scale": 1' + "0" * 400 + "}", "time-scale"),  # an int float() cannot take
        ('{"retry-backoff-ms": 1' + "0" * 60 + "}", "retry-backoff-ms"),  # every retry failed
    ],
    ids=["infinite-time-scale", "huge-int-time-scale", "huge-backoff"],
)
def test_settings_no_call_could_run_with_are_refused(sandbox: Any, body: str, field: str) -> None:
    app, receiver, due = sandbox

    status, problem = raw(app, "PUT", "/_simulator/settings", body)

    assert status == 400 and set(problem["errors"]) == {field}
    receiver.statuses = [503]  # the retry is scheduled with the backoff
    assert place(app)[0] == 200
    app.handler({"Records": due()}, None)
    app.handler({"Records": due()}, None)
    assert len(receiver.bodies) == 2


def test_a_body_nested_too_deeply_is_a_400(sandbox: Any) -> None:
    app, receiver, due = sandbox
    nested = '{"a":' * 5000 + "1" + "}" * 5000
    script = '{"pickup": "answer", "callback-extra": ' + nested + "}"

    assert raw(app, "PUT", f"/_simulator/callees/{NUMBER}", script)[0] == 400
    assert raw(app, "PUT", "/_simulator/settings", nested)[0] == 400
    body = json.dumps(instruction())[:-1] + ', "metadata": ' + nested + "}"
    assert raw(app, "POST", "/voiceapi/v2/DTMF", body, **{"X-CM-PRODUCTTOKEN": TOKEN})[0] == 400

    # deep enough to test a consumer's own limit (the gateway takes 32 levels)
    deep = '{"a":' * 150 + "1" + "}" * 150
    script = '{"pickup": "answer", "keys": ["4821#"], "callback-extra": {"deep": ' + deep + "}}"
    assert raw(app, "PUT", f"/_simulator/callees/{NUMBER}", script)[0] == 200
    assert place(app)[0] == 200
    app.handler({"Records": due()}, None)
    [callback] = receiver.bodies
    assert callback["deep"]["a"]["a"]["a"] is not None


def test_a_script_too_large_to_store_is_a_400_and_a_large_one_still_calls(sandbox: Any) -> None:
    app, receiver, due = sandbox
    # valid for the simulator (50 calls x 50 attempts x 200 keys), over DynamoDB's 400 KB
    huge = {"per-call": [{"pickup": "answer", "keys": ["1" * 200] * 50}] * 50}
    assert request(app, "PUT", f"/_simulator/callees/{NUMBER}", huge)[0] == 400
    huge_extra = {"pickup": "answer", "callback-extra": {"padding": "x" * 500_000}}
    assert request(app, "PUT", f"/_simulator/callees/{NUMBER}", huge_extra)[0] == 400

    large = {"pickup": "answer", "keys": ["4821#"], "callback-extra": {"padding": "x" * 60_000}}
    assert request(app, "PUT", f"/_simulator/callees/{NUMBER}", large)[0] == 200
    assert place(app)[0] == 200
    app.handler({"Records": due()}, None)
    [callback] = receiver.bodies
    assert callback["digits"] == "4821" and len(callback["padding"]) == 60_000


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # link-local: instance metadata
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
        "http://10.0.0.1/v1/callbacks/cm/pin-1",  # a private address
        "https://gateway.example.evil.test/v1/callbacks/cm/pin-1",  # the base as a prefix only
        "https://gateway.exampl/v1/callbacks/cm/pin-1",
        "http://gateway.example/v1/callbacks/cm/pin-1",  # another scheme
    ],
)
def test_the_sandbox_calls_back_only_the_stacks_own_callback_url(sandbox: Any, url: str) -> None:
    """SSRF: the sandbox runs inside the account; it must not POST wherever a request with
    the stack's token asks (README: the sandbox is a dev/test double of CM)."""
    app, receiver, due = sandbox

    status, problem = place(app, **{"callback-url": url})
    app.handler({"Records": due()}, None)

    assert status == 400 and set(problem["errors"]) == {"callback-url"}
    assert receiver.bodies == []
    assert request(app, "GET", "/_simulator/calls")[1] == []  # nothing queued
