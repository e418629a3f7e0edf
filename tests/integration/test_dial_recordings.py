"""A scheduled dial's call whose recording fails is never lost and never rings twice (the
scheduled-dial side of issue 15's "nothing accepted is lost"; domain.dial_recording).

Fault injection on moto's table and queue: the recording's writes failing at each step, the
deferral to the placement-recordings queue failing too (the callee's schedule notes the call,
the retried firing records it), everything failing (the retry never calls CM again), a
duplicate delivery, a callback overtaking the recording, an erasure in between, and the
redial of a call recorded late. The queue's messages go through functions/record_placements.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from devtools.cm import FakeCm
from devtools.lambdas import LambdaContext, load_function
from dtmf_gateway.adapters.dial_recordings import SqsDialRecordings
from dtmf_gateway.adapters.dynamodb import schedule_store
from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.calls import CALLBACK_GRACE
from dtmf_gateway.domain.dialling import DialOutcome, DialScheduledCall
from dtmf_gateway.domain.policy import DialPolicy
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import REGION, SESSION_LOG, Aws
from tests.fakes import FakeCallbackUrls
from tests.integration.test_placement_recordings import call_items, queued_messages
from tests.integration.test_scheduling import NL, OWNER, RedialWorld, published

DYNAMODB_DOWN = "DynamoDB: ProvisionedThroughputExceededException"


class Faults:
    """Makes the `n`-th call of a `DynamoDbScheduleStore` method (or a function the store's
    module calls) fail once, counting from now."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def fail(self, owner: Any, name: str, nth: int = 1) -> None:
        original = getattr(owner, name)
        seen = [0]

        def flaky(*args: Any, **kwargs: Any) -> Any:
            seen[0] += 1
            if seen[0] == nth:
                raise RuntimeError(DYNAMODB_DOWN)
            return original(*args, **kwargs)

        self._monkeypatch.setattr(owner, name, flaky)


from dtmf_gateway.domain.redialling import Redials  # noqa: E402


class DialWorld(RedialWorld):
    """RedialWorld whose dialler defers a failed recording to moto's recordings queue."""

    def __init__(self, aws: Aws) -> None:
        super().__init__(aws)
        self.queue_url = aws.placement_recordings_queue_url
        self.dialler = DialScheduledCall(
            store=self.store,
            cm=self.cm,
            callback_urls=FakeCallbackUrls(),
            policy=DialPolicy.from_settings(
                allowed_countries="*", blocked_number_types="default", allowed_callers=""
            ),
            scheduler=self.scheduler,
            rules=self.rules,
            clock=lambda: self.now,
            recordings=SqsDialRecordings(boto3.client("sqs", region_name=REGION), self.queue_url),
            redials=Redials(self.store, self.scheduler, self.rules),  # as wiring gives it
        )

    def first_dial(self, instruction_id: str, **extra: Any) -> ScheduledDial:
        """A scheduled callee whose schedule fires now."""
        dial = self.place(instruction_id, **extra)
        self.now = datetime.fromisoformat(dial.scheduled_for) + timedelta(seconds=20)
        return dial

    def entry(self, instruction_id: str) -> Any:
        instruction = self.store.load_instruction(instruction_id)
        assert instruction is not None
        return instruction.schedule_of(0)

    def apply_queue(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """record-placements on the queue's messages (or `records`), at the world's clock;
        the messages it took are deleted, as the event source mapping does."""
        records = queued_messages(self.aws) if records is None else records
        module = load_function("record_placements")
        module.dial_recordings._clock = lambda: self.now
        # as wiring gives it, on this world's scheduler
        module.dial_recordings._redials = lambda: Redials(self.store, self.scheduler, self.rules)
        module_result: dict[str, Any] = module.handler({"Records": records}, LambdaContext())
        failed = {f["itemIdentifier"] for f in module_result["batchItemFailures"]}
        sqs = boto3.client("sqs", region_name=REGION)
        for record in records:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])
        return module_result


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


def only_call(world: DialWorld, instruction_id: str) -> dict[str, Any]:
    [call] = call_items(world.aws, instruction_id).values()
    return call


# ------------------------------------------------------------------ deferred to the queue


@pytest.mark.parametrize(
    ("method", "nth"),
    [
        ("record_call", 1),  # the call's item and pending-index entry
        ("change", 2),  # the callee's schedule `dialling` → `placed` (the 1st is the claim)
    ],
)
def test_a_recording_failing_at_any_step_is_queued_and_applied_once_ringing_once(
    world: DialWorld, faults: Faults, method: str, nth: int
) -> None:
    dial = world.first_dial("rec-step")
    faults.fail(DynamoDbScheduleStore, method, nth)

    result = world.dialler.dial(dial)

    assert (result.outcome, result.recording_deferred) == (DialOutcome.PLACED, True)
    [record] = queued_messages(world.aws)
    message = json.loads(record["body"])
    assert message["kind"] == "dtmf-gateway/dial-recording"
    assert (message["callee"], message["callee-index"], message["attempt"]) == (NL, 0, 1)
    call_id = message["call-id"]

    assert world.apply_queue() == {"batchItemFailures": []}

    entry = world.entry("rec-step")
    assert (entry.status, entry.call_id, entry.queued_at) == (ScheduleStatus.PLACED, call_id, None)
    call = only_call(world, "rec-step")
    assert (call["call-id"], call["status"], call["callee"]) == (call_id, "queued", NL)
    assert "pending-shard" in call and "stale-at" in call  # the expirer will find it
    assert queued_messages(world.aws) == []
    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED  # a duplicate firing
    assert world.cm.requests == 1


def test_a_recording_applied_late_is_stale_no_earlier_than_the_grace_after_it(
    world: DialWorld, faults: Faults
) -> None:
    dial = world.first_dial("rec-late")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    world.now += timedelta(days=3)  # a redrive from the DLQ days later

    world.apply_queue()

    stale_at = int(only_call(world, "rec-late")["stale-at"])
    assert stale_at >= int((world.now + CALLBACK_GRACE).timestamp())


def test_a_duplicate_delivery_changes_nothing(world: DialWorld, faults: Faults) -> None:
    dial = world.first_dial("rec-dup")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    records = queued_messages(world.aws)
    world.apply_queue(records)
    world.callback("rec-dup", 10, "4821")
    before = only_call(world, "rec-dup")

    assert world.apply_queue(records) == {"batchItemFailures": []}  # SQS delivers it again

    assert only_call(world, "rec-dup") == before
    assert (before["status"], before["outcome"]) == ("finished", "input-received")
    assert world.entry("rec-dup").status is ScheduleStatus.PLACED
    assert len(published(world.calls("rec-dup"))) == 1


def test_a_callback_that_overtakes_the_recording_is_held_then_released(
    world: DialWorld, faults: Faults
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    dial = world.first_dial("rec-held")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    [record] = queued_messages(world.aws)
    call_id = json.loads(record["body"])["call-id"]
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "digits": "4821"}
    callback = parse_callback("rec-held", {**raw, "result": {"code": 10}})

    held = world.callbacks.record("rec-held", callback)

    assert held.verdict.value == "held"
    assert published(world.calls("rec-held")) == []
    world.apply_queue()
    [result] = published(world.calls("rec-held"))
    assert (result.call_id, result.outcome.value, result.digits) == (
        call_id,
        "input-received",
        "4821",
    )
    assert world.entry("rec-held").status is ScheduleStatus.PLACED


@pytest.mark.parametrize("code", [12, 9])  # rejected: final; unanswered: redialled
def test_the_held_callback_is_settled_when_its_settling_failed_once(
    world: DialWorld, faults: Faults, code: int
) -> None:
    """The recording's last step on a held callback (its release, or its hold `redialled`)
    fails: the message is retried, and the retry settles it — released as the result, or
    held while the redial decided by the first application follows (scheduled once more,
    idempotently)."""
    from dtmf_gateway.domain.callbacks import parse_callback

    iid = f"rec-held-fail-{code}"
    dial = world.first_dial(iid)
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    [record] = queued_messages(world.aws)
    call_id = json.loads(record["body"])["call-id"]
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "result": {"code": code}}
    world.callbacks.record(iid, parse_callback(iid, raw))
    faults.fail(schedule_store, "settle_held_call")

    first = world.apply_queue([record])

    assert first == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert published(world.calls(iid)) == []
    assert world.apply_queue() == {"batchItemFailures": []}
    if code == 12:
        [result] = published(world.calls(iid))
        assert result.outcome.value == "rejected"
    else:
        assert published(world.calls(iid)) == []  # not final: attempt 2 follows
        assert {d.attempt for d in world.scheduler.dials} == {1, 2}
        entry = world.entry(iid)
        assert (entry.status, entry.attempt, entry.redials) == (
            ScheduleStatus.SCHEDULED,
            2,
            call_id,
        )


def test_an_erasure_before_the_recording_is_applied_is_not_undone(
    world: DialWorld, faults: Faults
) -> None:
    from dtmf_gateway import wiring

    dial = world.first_dial("rec-erased", metadata={"order-id": "7781"})
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)

    wiring.erase_instruction().erase("rec-erased", owner=OWNER)
    world.apply_queue()

    call = only_call(world, "rec-erased")
    assert "erased-at" in call
    assert not {"callee", "caller"} & call.keys()
    assert call.get("metadata") in ({}, None)
    assert call["status"] == "queued"
    assert world.entry("rec-erased").status is ScheduleStatus.PLACED


def test_a_call_recorded_late_is_still_redialled(world: DialWorld, faults: Faults) -> None:
    dial = world.first_dial("rec-redial")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    world.apply_queue()

    world.callback("rec-redial", 9)  # unanswered: the instruction redials it

    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
    entry = world.entry("rec-redial")
    assert (entry.status, entry.attempt) == (ScheduleStatus.SCHEDULED, 2)
    world.now = datetime.fromisoformat(world.scheduler.dials[-1].scheduled_for)
    assert world.dialler.dial(world.scheduler.dials[-1]).outcome is DialOutcome.PLACED
    assert world.cm.requests == 2


# ------------------------------------------------------------------ the deferral fails too


def test_when_the_queue_fails_the_schedule_notes_the_call_and_the_retry_records_it(
    world: DialWorld, faults: Faults
) -> None:
    dial = world.first_dial("rec-noted", metadata={"order-id": "7781"})
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")

    with pytest.raises(RuntimeError, match="ProvisionedThroughputExceeded"):
        world.dialler.dial(dial)

    noted = world.entry("rec-noted")
    assert noted.status is ScheduleStatus.DIALLING
    assert noted.call_id is not None and noted.queued_at is not None
    world.now += timedelta(minutes=1)  # Lambda's first asynchronous retry

    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED

    entry = world.entry("rec-noted")
    assert (entry.status, entry.call_id, entry.queued_at) == (
        ScheduleStatus.PLACED,
        noted.call_id,
        None,
    )
    call = only_call(world, "rec-noted")
    assert (call["call-id"], call["callee"], call["metadata"]) == (
        noted.call_id,
        NL,
        {"order-id": "7781"},
    )
    assert call["queued-at"] == noted.queued_at
    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED  # a third delivery
    assert world.cm.requests == 1


def test_a_redial_whose_recording_is_noted_records_the_new_call_not_the_last_one(
    world: DialWorld, faults: Faults
) -> None:
    first = world.first_dial("rec-noted-2")
    world.dialler.dial(first)
    first_call = world.call_id("rec-noted-2")
    world.callback("rec-noted-2", 9)  # unanswered: attempt 2 follows
    second = world.scheduler.dials[-1]
    world.now = datetime.fromisoformat(second.scheduled_for)
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")

    with pytest.raises(RuntimeError):
        world.dialler.dial(second)
    assert world.dialler.dial(second).outcome is DialOutcome.PLACED

    entry = world.entry("rec-noted-2")
    assert (entry.status, entry.attempt) == (ScheduleStatus.PLACED, 2)
    assert entry.call_id != first_call
    assert [c.attempt for c in world.calls("rec-noted-2")] == [1, 2]
    assert world.cm.requests == 2


def test_an_erasure_before_the_retry_is_not_undone(world: DialWorld, faults: Faults) -> None:
    from dtmf_gateway import wiring

    dial = world.first_dial("rec-noted-erased", metadata={"order-id": "7781"})
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)

    wiring.erase_instruction().erase("rec-noted-erased", owner=OWNER)
    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED

    call = only_call(world, "rec-noted-erased")
    assert "erased-at" in call
    assert not {"callee", "caller"} & call.keys()
    assert call.get("metadata") in ({}, None)
    assert world.cm.requests == 1


def test_when_everything_fails_the_retry_never_rings_twice(
    world: DialWorld, faults: Faults
) -> None:
    dial = world.first_dial("rec-lost")
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    faults.fail(DynamoDbScheduleStore, "change", 2)  # the note (the 1st is the claim)

    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)

    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED
    assert world.cm.requests == 1
    assert world.entry("rec-lost").status is ScheduleStatus.DIALLING


def test_a_malformed_dial_recording_is_a_failure_for_the_dlq_and_writes_nothing(
    world: DialWorld, faults: Faults
) -> None:
    dial = world.first_dial("rec-malformed")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)
    [record] = queued_messages(world.aws)
    message = json.loads(record["body"])
    forged = {**record, "body": json.dumps({**message, "attempt": "one"})}

    result = world.apply_queue([forged])

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert call_items(world.aws, "rec-malformed") == {}
    assert world.entry("rec-malformed").status is ScheduleStatus.DIALLING


# ------------------------------------------------------------------ through the handlers


@pytest.fixture
def dial_call(function_env: Aws, cm: FakeCm, monkeypatch: pytest.MonkeyPatch) -> Any:
    """functions/dial_call/app.py with CM behind the FakeCm transport (as test_scheduling)."""
    import functools

    from dtmf_gateway.adapters import cm_client

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    return load_function("dial_call")


def test_through_the_handlers_the_dial_defers_and_record_placements_applies_it(
    place_call: Any, dial_call: Any, function_env: Aws, cm: FakeCm, faults: Faults
) -> None:
    dial = scheduled_now(place_call)
    faults.fail(DynamoDbScheduleStore, "record_call")
    logged = len(SESSION_LOG)

    assert dial_call.handler(dial, LambdaContext()) == {"outcome": "placed"}

    warnings = [json.loads(line) for line in SESSION_LOG[logged:] if '"level":"WARNING"' in line]
    assert [w["message"] for w in warnings] == [
        "call queued; its recording failed and waits in the placement-recordings queue"
    ]
    [record] = queued_messages(function_env)
    assert load_function("record_placements").handler({"Records": [record]}, LambdaContext()) == {
        "batchItemFailures": []
    }
    [call] = call_items(function_env, dial["instruction-id"]).values()
    assert call["status"] == "queued"
    assert len(cm.bodies()) == 1


def test_through_the_handler_a_dial_whose_deferral_fails_is_retried_and_recorded_once(
    place_call: Any, dial_call: Any, function_env: Aws, cm: FakeCm, faults: Faults
) -> None:
    dial = scheduled_now(place_call)
    boto3.client("sqs", region_name=REGION).delete_queue(
        QueueUrl=function_env.placement_recordings_queue_url
    )
    faults.fail(DynamoDbScheduleStore, "record_call")
    logged = len(SESSION_LOG)

    with pytest.raises(RuntimeError):
        dial_call.handler(dial, LambdaContext())

    errors = [json.loads(line) for line in SESSION_LOG[logged:] if '"level":"ERROR"' in line]
    assert [e["message"] for e in errors] == ["scheduled dial failed: retried"]
    assert "QueueDoesNotExist" in errors[0]["exception"]  # the deferral's error, as a note
    assert "noted on the callee's schedule" in errors[0]["exception"]
    assert dial_call.handler(dial, LambdaContext()) == {"outcome": "placed"}  # Lambda's retry
    [call] = call_items(function_env, dial["instruction-id"]).values()
    assert call["status"] == "queued"
    assert len(cm.bodies()) == 1


def scheduled_now(place_call: Any) -> dict[str, Any]:
    """POST an instruction scheduled for a moment already past: its dial (the schedule's
    input), due at once."""
    from datetime import UTC

    from tests.integration.test_scheduling import body, post, rfc3339, schedule_inputs

    not_before = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    assert post(place_call, body(**{"not-before": rfc3339(not_before)})).status == 202
    [dial] = schedule_inputs()
    return dial
