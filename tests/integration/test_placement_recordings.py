"""Issue 15, nothing accepted is lost: a placement whose recording failed after CM queued its
calls (a DynamoDB error in `record_queued_calls`) still answers 202, and its recording waits
in the placement-recordings queue until functions/record_placements applies it.

Drives the real place-call handler (moto for AWS, FakeCm for CM), the real queue (moto SQS)
and the real consumer, as the deployed stack does; the first recording fails as DynamoDB
would after botocore's retries.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from devtools.cm import FakeCm
from devtools.lambdas import LambdaContext, load_function
from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.expiry import expire_stale_calls
from tests.conftest import REGION, SESSION_LOG, Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_place_call_handler import instruction_item, post, sample_body

KEY = "order-7781-recording"


class Flaky:
    """`DynamoDbInstructionStore.record_queued_calls` failing its next `failures` calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failures: int = 1) -> None:
        from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore

        self.failures = failures
        original = DynamoDbInstructionStore.record_queued_calls

        def flaky(*args: Any, **kwargs: Any) -> Any:
            if self.failures > 0:
                self.failures -= 1
                raise RuntimeError("DynamoDB: ProvisionedThroughputExceededException")
            return original(*args, **kwargs)

        monkeypatch.setattr(DynamoDbInstructionStore, "record_queued_calls", flaky)


@pytest.fixture
def failing_recording(monkeypatch: pytest.MonkeyPatch) -> Flaky:
    return Flaky(monkeypatch)


def queued_messages(aws: Aws) -> list[dict[str, Any]]:
    """Every message now in the placement-recordings queue, as SQS event records (left in
    the queue: a test decides what the consumer does with them)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = aws.placement_recordings_queue_url
    records = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", []):
        for message in batch:
            if any(r["messageId"] == message["MessageId"] for r in records):
                return records
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:placement-recordings",
                    "awsRegion": REGION,
                }
            )
    return records


def consume(records: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """functions/record_placements on these records (its clock at `now`, if given): its
    batch response."""
    module = load_function("record_placements")
    if now is not None:
        module.recordings._clock = lambda: now
    result: dict[str, Any] = module.handler({"Records": records}, LambdaContext())
    return result


def run_record_placements(aws: Aws) -> dict[str, Any]:
    """What the event source mapping does: the consumer on every queued recording; those it
    did not report as failures are deleted."""
    records = queued_messages(aws)
    result = consume(records)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    sqs = boto3.client("sqs", region_name=REGION)
    for record in records:
        if record["messageId"] not in failed:
            sqs.delete_message(
                QueueUrl=aws.placement_recordings_queue_url, ReceiptHandle=record["receiptHandle"]
            )
    return result


def call_items(aws: Aws, instruction_id: str) -> dict[str, dict[str, Any]]:
    pk = f"instruction#{instruction_id}"
    return {i["call-id"]: i for i in aws.items() if i["pk"] == pk and i["sk"] != "instruction"}


def test_a_failed_recording_is_queued_whole_and_the_answer_is_202(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Flaky
) -> None:
    body = {**sample_body(), "metadata": {"order-id": "7781"}}

    answer = post(place_call, body, key=KEY)

    assert answer.status == 202
    [record] = queued_messages(function_env)
    message = json.loads(record["body"])
    assert message["kind"] == "dtmf-gateway/placement-recording"
    assert message["instruction"]["instruction-id"] == "order-7781-pin"
    assert message["instruction"]["metadata"] == {"order-id": "7781"}
    assert [c["call-id"] for c in message["queued"]] == [c["call-id"] for c in answer.body["calls"]]
    assert call_items(function_env, "order-7781-pin") == {}  # nothing written yet
    assert "placing-until" in instruction_item(function_env, "order-7781-pin")


def test_the_consumer_writes_what_the_placement_would_have(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Flaky
) -> None:
    callees = ["+31612345678", "+31687654321"]
    body = {k: v for k, v in sample_body().items() if k != "callee"} | {"callees": callees}
    answer = post(place_call, body, key=KEY)

    result = run_record_placements(function_env)

    assert result == {"batchItemFailures": []}
    calls = call_items(function_env, "order-7781-pin")
    assert sorted(calls) == sorted(c["call-id"] for c in answer.body["calls"])
    for call in calls.values():
        assert call["status"] == "queued" and "pending-shard" in call and "stale-at" in call
    instruction = instruction_item(function_env, "order-7781-pin")
    assert instruction["status"] == "queued"
    assert sorted(instruction["call-ids"]) == sorted(calls)
    assert "placing-until" not in instruction
    assert queued_messages(function_env) == []


def test_a_call_without_a_callback_is_expired_once_the_recording_is_applied(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Flaky
) -> None:
    from dtmf_gateway import wiring

    post(place_call, sample_body())
    unrecorded = call_items(function_env, "order-7781-pin")  # on no index: it would never end

    run_record_placements(function_env)
    later = utc_now() + timedelta(days=1)
    report = expire_stale_calls(wiring.pending_calls(), clock=lambda: later)

    assert unrecorded == {}
    assert report.expired == 1
    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "expired"


def test_a_recording_applied_days_late_is_still_expired(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    failing_recording: Flaky,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The expirer's cursor has moved past the call's own stale time while the recording
    waited (retried, then redriven from the DLQ two days later): its call is still expired,
    CALLBACK_GRACE after the recording is applied — never left behind the cursor. (Noting
    CM's replies on the instruction failed too: with the note, the expirer applies the
    recording itself at the call's stale time, tests/integration/test_noted_recordings.py.)"""
    from dtmf_gateway import wiring
    from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore

    def note_fails(*_: Any) -> None:
        raise RuntimeError("DynamoDB: ProvisionedThroughputExceededException")

    monkeypatch.setattr(DynamoDbInstructionStore, "note_pending_recording", note_fails)
    post(place_call, sample_body())
    redriven = utc_now() + timedelta(days=2)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: redriven)  # runs meanwhile

    consume(queued_messages(function_env), now=redriven)
    right_after = expire_stale_calls(wiring.pending_calls(), clock=lambda: redriven)
    grace_later = redriven + timedelta(minutes=16)
    report = expire_stale_calls(wiring.pending_calls(), clock=lambda: grace_later)

    assert right_after.expired == 0  # its callback may still come
    assert report.expired == 1
    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "expired"


def test_a_callback_held_for_the_recording_is_released_when_it_is_applied(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, failing_recording: Flaky
) -> None:
    answer = post(place_call, sample_body())
    [placed] = answer.body["calls"]
    held = deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    [before] = call_items(function_env, "order-7781-pin").values()

    run_record_placements(function_env)

    [after] = call_items(function_env, "order-7781-pin").values()
    assert held.status == 200
    assert before["hold"] == "awaiting-placement"  # held: the placement named no calls yet
    assert "hold" not in after  # released: published from now on
    assert after["status"] == "finished" and after["outcome"] == "input-received"


def test_applying_a_recording_again_changes_nothing(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, failing_recording: Flaky
) -> None:
    """SQS delivers at least once: a second application (after the callback ended the call
    and was released) leaves every item as the first left it."""
    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    records = queued_messages(function_env)
    consume(records)
    deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    once = function_env.items()

    again = consume(records)

    assert again == {"batchItemFailures": []}
    assert function_env.items() == once
    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished"


def test_a_recording_applied_after_the_callback_keeps_the_result(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, failing_recording: Flaky
) -> None:
    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    records = queued_messages(function_env)
    deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))

    consume(records)
    consume(records)

    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished" and call["digits"] == "4821"
    assert "hold" not in call


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"kind": "dtmf-gateway/placement-recording", "version": 1})],
    ids=["not-json", "no-instruction"],
)
def test_a_malformed_message_is_a_failure_for_the_dlq_and_writes_nothing(
    function_env: Aws, body: str
) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=function_env.placement_recordings_queue_url, MessageBody=body)
    records = queued_messages(function_env)
    logged = len(SESSION_LOG)

    result = consume(records)

    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    assert function_env.items() == []
    assert any('"level":"ERROR"' in line for line in SESSION_LOG[logged:])


def test_a_recording_that_fails_again_is_retried_not_lost(
    place_call: Any, cm: FakeCm, function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = Flaky(monkeypatch, failures=2)  # the placement's, then the consumer's first
    post(place_call, sample_body(), key=KEY)

    first = run_record_placements(function_env)
    second = run_record_placements(function_env)

    assert len(first["batchItemFailures"]) == 1
    assert second == {"batchItemFailures": []}
    assert flaky.failures == 0
    assert len(call_items(function_env, "order-7781-pin")) == 1


def test_when_deferring_fails_too_the_answer_is_still_202_and_an_error_is_logged(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Flaky
) -> None:
    boto3.client("sqs", region_name=REGION).delete_queue(
        QueueUrl=function_env.placement_recordings_queue_url
    )
    logged = len(SESSION_LOG)

    answer = post(place_call, sample_body(), key=KEY)

    assert answer.status == 202
    assert len(cm.requests) == 1
    errors = [json.loads(line) for line in SESSION_LOG[logged:] if '"level":"ERROR"' in line]
    assert [e["message"] for e in errors] == [
        "calls queued but not recorded; callbacks will record them"
    ]
    assert "QueueDoesNotExist" in errors[0]["exception"]
    assert "ProvisionedThroughputExceededException" in errors[0]["exception"]  # both named
