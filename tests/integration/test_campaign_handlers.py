"""The campaign functions in-process on moto: `functions/campaigns` (the API routes, from the
sample event `events/campaigns.json`) and `functions/campaign_worker` (its three event sources:
the control queue, the rows queue — `events/campaign_worker.json` — and the result rule),
with CM behind the fake transport."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devtools.lambdas import LambdaContext, load_function, sample_event
from tests.conftest import REGION, Aws, FakeCm, _reset_caches
from tests.support.lambdas import invoke_http
from tests.support.stepped_clock import SteppedClock

CAMPAIGN = "reminders-2026-12"  # the id the samples name
INSTRUCTION = {
    "caller": "+31201234567",
    "prompt": "Hello {{name}}, type your PIN.",
    "valid-prompt": "Thank you.",
    "min-digits": 4,
    "max-digits": 4,
    "regex": "[0-9]{4}",
}


class Campaigns:
    def __init__(self, sqs: Any, control: str, rows: str, s3: Any, bucket: str) -> None:
        self.sqs, self.control, self.rows, self.s3, self.bucket = sqs, control, rows, s3, bucket

    def drain(self, url: str, *, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """The queue's messages as SQS event records (removed from the queue). With
        ``wait_seconds``, the first receive long-polls that long (SQS `WaitTimeSeconds`): it
        returns as soon as a message is visible, e.g. one sent back with `DelaySeconds`."""
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        records = []
        wait = wait_seconds
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        ).get("Messages", []):
            wait = 0
            for m in batch:
                records.append(
                    {"messageId": m["MessageId"], "body": m["Body"], "eventSourceARN": arn}
                )
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return records


@pytest.fixture
def campaigns(function_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Campaigns:
    # the campaigns table: `aws` (conftest) creates it (the stack's pacing counter, #17)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="campaigns", CreateBucketConfiguration={"LocationConstraint": REGION})
    sqs = boto3.client("sqs", region_name=REGION)
    control = sqs.create_queue(QueueName="control")["QueueUrl"]
    rows = sqs.create_queue(QueueName="rows")["QueueUrl"]
    boto3.client("events", region_name=REGION).create_event_bus(Name="results")
    for key, value in {
        "CAMPAIGNS_TABLE_NAME": "campaigns",
        "CAMPAIGN_BUCKET": "campaigns",
        "CAMPAIGN_CONTROL_QUEUE_URL": control,
        "CAMPAIGN_ROWS_QUEUE_URL": rows,
        "EVENT_BUS_NAME": "results",
        "CM_MAX_CALLS_PER_SECOND": "20",  # the least the template allows
        "CAMPAIGN_CALLS_PER_SECOND": "8",
    }.items():
        monkeypatch.setenv(key, value)
    _reset_caches()
    return Campaigns(sqs, control, rows, s3, "campaigns")


@pytest.fixture
def api(campaigns: Campaigns) -> Iterator[Any]:
    yield load_function("campaigns")
    _reset_caches()


@pytest.fixture
def worker(campaigns: Campaigns, cm: FakeCm, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from dtmf_gateway.adapters import cm_client

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    module = load_function("campaign_worker")
    # rows are paced by a clock that stands still while the worker works (it moves when the
    # pacing waits for the next window): a row is placed or waits by its budgets, never
    # because a loaded machine's writes ended in its window's tail (tests.support.stepped_clock)
    pacing = SteppedClock.at_a_whole_second()
    module.worker.place._clock, module.worker.place._sleep = pacing.now, pacing.sleep
    yield module
    _reset_caches()


def request(method: str, path: str, body: Any = None) -> dict[str, Any]:
    event = sample_event("campaigns.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["body"] = json.dumps(body) if body is not None else None
    event["headers"]["content-type"] = "application/json"
    return event


def test_the_sample_get_names_no_campaign_until_it_exists(api: Any) -> None:
    assert invoke_http(api, sample_event("campaigns.json")).status == 404


def test_a_campaign_through_the_functions(
    api: Any, worker: Any, campaigns: Campaigns, cm: FakeCm
) -> None:
    body = {
        "campaign-id": CAMPAIGN,
        "instruction": INSTRUCTION,
        "callees": [
            {"callee": "+31612345678", "metadata": {"patient": "p-1"}, "variables": {"name": "A"}},
            {"callee": "+31687654321", "variables": {"name": "B"}},
        ],
        "calls-per-second": 2,
    }
    created = invoke_http(api, request("POST", "/v1/dtmf-campaigns", body))
    assert (created.status, created.body) == (
        202,
        {"campaign-id": CAMPAIGN, "status": "validating"},
    )

    # control queue → validation → the rows queue
    worker.handler({"Records": campaigns.drain(campaigns.control)}, LambdaContext())
    rows = campaigns.drain(campaigns.rows)
    assert [json.loads(r["body"])["row"] for r in rows] == [1, 2]

    # the sample row (row 1 of this campaign) and row 2, each placed once
    sample = sample_event("campaign_worker.json")
    sample["Records"][0]["eventSourceARN"] = rows[0]["eventSourceARN"]
    assert worker.handler(sample, LambdaContext()) == {"batchItemFailures": []}
    assert worker.handler({"Records": rows[1:]}, LambdaContext()) == {"batchItemFailures": []}
    assert worker.handler({"Records": rows[:1]}, LambdaContext()) == {"batchItemFailures": []}
    assert len(cm.requests) == 2

    view = invoke_http(api, sample_event("campaigns.json"))
    assert view.status == 200
    assert view.body["counts"] == {"rows": 2, "invalid-rows": 0, "placed": 2, "finished": 0}

    # the result rule's events end the rows; the campaign finishes
    for n in (1, 2):
        worker.handler(
            {
                "detail-type": "DTMF Result",
                "source": "dtmf-gateway",
                "detail": {
                    "campaign-id": CAMPAIGN,
                    "instruction-id": f"{CAMPAIGN}.{n}",
                    "outcome": "input-received",
                    "digits": "1234",
                    "finished-at": "2026-12-01T09:01:00.000Z",
                },
            },
            LambdaContext(),
        )
    done = invoke_http(api, sample_event("campaigns.json")).body
    assert done["status"] == "finished"
    assert done["results-uri"] == f"s3://campaigns/campaigns/{CAMPAIGN}/results.jsonl"


def test_control_routes_and_their_problems(api: Any, campaigns: Campaigns) -> None:
    body = {
        "campaign-id": CAMPAIGN,
        "instruction": INSTRUCTION,
        "callees": [{"callee": "+31612345678"}],
    }
    assert invoke_http(api, request("POST", "/v1/dtmf-campaigns", body)).status == 202
    paused = invoke_http(api, request("POST", f"/v1/dtmf-campaigns/{CAMPAIGN}/pause"))
    assert (paused.status, paused.body["status"]) == (200, "paused")
    cancelled = invoke_http(api, request("POST", f"/v1/dtmf-campaigns/{CAMPAIGN}/cancel"))
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    conflict = invoke_http(api, request("POST", f"/v1/dtmf-campaigns/{CAMPAIGN}/resume"))
    assert conflict.status == 409
    assert conflict.body["type"] == "urn:dtmf-gateway:problem:campaign-state-conflict"
    for action in ("explode", "PAUSE"):  # newcomer finding: it said there is no campaign
        unknown = invoke_http(api, request("POST", f"/v1/dtmf-campaigns/{CAMPAIGN}/{action}"))
        assert unknown.status == 404 and unknown.body["title"] == "No such campaign action"
        assert "pause, resume, cancel" in unknown.body["detail"]
    for path in ("/v1/dtmf-campaigns/\x00", "/v1/dtmf-campaigns/a\x00b/pause"):
        unmatched = invoke_http(api, request("GET" if path.count("/") == 3 else "POST", path))
        assert unmatched.status == 404 and unmatched.body["title"] == "No such campaign"
    other = invoke_http(api, request("POST", "/v1/dtmf-campaigns", {**body, "callees": []}))
    assert other.status == 422
    assert other.body["errors"] == [
        {"field": "callees", "message": "must be a non-empty array of rows"}
    ]
    assert invoke_http(api, request("POST", "/v1/dtmf-campaigns", None)).status == 400


@pytest.mark.parametrize(("receives", "delay"), [("1", 30), ("2", 60), ("4", 240)])
def test_a_failed_row_comes_back_soon_not_after_the_visibility_timeout(
    worker: Any, campaigns: Campaigns, monkeypatch: pytest.MonkeyPatch, receives: str, delay: int
) -> None:
    """A row whose processing raised (a throttled write, say) waited out the rows queue's
    90-minute visibility timeout; now its visibility is shortened to 30 s, doubling per
    receive (the queue's redrive to the DLQ still counts the receives)."""
    from botocore.stub import Stubber

    def fails(_: Any) -> Any:
        raise RuntimeError("DynamoDB: ProvisionedThroughputExceededException")

    monkeypatch.setattr(worker.worker.place, "run", fails)
    arn = campaigns.sqs.get_queue_attributes(QueueUrl=campaigns.rows, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    record = {
        "messageId": "m-1",
        "receiptHandle": "handle-1",
        "body": json.dumps({"campaign-id": CAMPAIGN, "row": 1}),
        "eventSourceARN": arn,
        "attributes": {"ApproximateReceiveCount": receives},
    }
    stub = Stubber(worker.worker.retries._sqs)
    stub.add_response(
        "change_message_visibility",
        {},
        {"QueueUrl": campaigns.rows, "ReceiptHandle": "handle-1", "VisibilityTimeout": delay},
    )
    with stub:
        answer = worker.handler({"Records": [record]}, LambdaContext())

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    stub.assert_no_pending_responses()


def test_a_failed_shortening_still_reports_the_row_failed(
    worker: Any, campaigns: Campaigns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.stub import Stubber

    def fails(_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(worker.worker.place, "run", fails)
    record = {
        "messageId": "m-2",
        "receiptHandle": "gone",
        "body": json.dumps({"campaign-id": CAMPAIGN, "row": 1}),
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:" + campaigns.rows.rsplit("/")[-1],
    }
    stub = Stubber(worker.worker.retries._sqs)
    stub.add_client_error("change_message_visibility", "ReceiptHandleIsInvalid")
    with stub:
        answer = worker.handler({"Records": [record]}, LambdaContext())

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
