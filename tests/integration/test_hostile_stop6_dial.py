"""Hostile review, stop 6: scheduled dials at the edges the stop changed — the first scheduled
placement after a cold start (the Scheduler client built lazily) failing, a dial recording
handed to SQS that is also noted, a callback overtaking a noted call, malformed dial inputs.
README promises: a scheduled callee is never rung twice, no result is lost, nothing malformed
is a 5xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.cm import FakeCm
from devtools.lambdas import LambdaContext, http_event
from dtmf_gateway.adapters.dial_recordings import SqsDialRecordings
from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.adapters.scheduler import EventBridgeDialScheduler
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import DIAL_SCHEDULE_GROUP, REGION, Aws
from tests.integration.test_dial_recordings import DialWorld, Faults, only_call
from tests.integration.test_placement_recordings import call_items, queued_messages
from tests.integration.test_scheduling import NL, NL2, body, dial_call, published, rfc3339
from tests.support.lambdas import invoke_http

__all__ = ["dial_call"]  # the fixture, imported for pytest


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


def post(module: Any, payload: Any, key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return invoke_http(module, http_event("place_call.json", body=payload, headers=headers))


def scheduled_body(instruction_id: str | None) -> dict[str, Any]:
    payload = {k: v for k, v in body().items() if k not in ("callee", "instruction-id")}
    payload.update(
        {
            "callees": [NL, NL2],
            "not-before": rfc3339(datetime.now(UTC) + timedelta(hours=2)),
            "quiet-hours": False,
        }
    )
    if instruction_id is not None:
        payload["instruction-id"] = instruction_id
    return payload


def schedule_names() -> list[str]:
    scheduler = boto3.client("scheduler", region_name=REGION)
    return [s["Name"] for s in scheduler.list_schedules(GroupName=DIAL_SCHEDULE_GROUP)["Schedules"]]


# ------------------------------------------------------------------ lazy Scheduler client


@pytest.mark.parametrize("code", ["AccessDeniedException", "ThrottlingException"])
def test_the_first_scheduled_placement_failing_at_scheduler_answers_a_problem_and_a_retry_works(
    place_call: Any, cm: FakeCm, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """Held: Scheduler refusing (IAM missing for the lazily built client, or throttling) on the
    second callee answers a JSON problem (not a raw crash), places nothing, and the retry with
    the same key schedules both callees once."""
    original = EventBridgeDialScheduler.schedule
    seen = [0]

    def second_fails(self: Any, dial: Any) -> None:
        seen[0] += 1
        if seen[0] == 2:
            raise ClientError({"Error": {"Code": code, "Message": "no"}}, "CreateSchedule")
        original(self, dial)

    monkeypatch.setattr(EventBridgeDialScheduler, "schedule", second_fails)
    payload = scheduled_body(None)

    first = post(place_call, payload, key="s6-sched-1")

    assert (first.status, first.body["status"]) == (500, 500), first
    assert first.body["type"].endswith("internal-error"), first.body
    assert cm.bodies() == []
    retry = post(place_call, payload, key="s6-sched-1")
    assert retry.status == 202, retry.body
    assert retry.body["status"] == "scheduled"
    assert len(schedule_names()) == 2  # the first callee's schedule was found again, not doubled
    assert cm.bodies() == []


def test_a_malformed_explicit_id_retry_after_a_scheduler_failure_is_a_clear_4xx(
    place_call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: without a key, the explicit id of a placement the Scheduler failed is answered
    as README says of a taken id (409) or placed (202) — never a 5xx."""

    def down(self: Any, dial: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerException"}}, "CreateSchedule")

    monkeypatch.setattr(EventBridgeDialScheduler, "schedule", down)
    assert post(place_call, scheduled_body("s6-sched-id")).status >= 500
    monkeypatch.undo()
    again = post(place_call, scheduled_body("s6-sched-id"))
    assert again.status in (202, 409), again.body


# ------------------------------------------------------------------ deferred and noted


def test_a_deferral_that_reached_sqs_but_raised_is_recorded_once_ringing_once(
    world: DialWorld, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SendMessage timing out after SQS stored the message: the dial notes the call too and
    raises; the retry records the noted call; the queued message is then applied again."""
    original = SqsDialRecordings.defer_dial

    def sent_then_timeout(self: Any, recording: Any) -> None:
        original(self, recording)
        raise RuntimeError("Read timeout on endpoint URL: sqs")

    monkeypatch.setattr(SqsDialRecordings, "defer_dial", sent_then_timeout)
    dial = world.first_dial("s6-both")
    faults.fail(DynamoDbScheduleStore, "record_call")

    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(minutes=1)
    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    assert world.apply_queue() == {"batchItemFailures": []}

    assert len(call_items(world.aws, "s6-both")) == 1
    assert world.entry("s6-both").status is ScheduleStatus.PLACED
    assert world.cm.requests == 1
    assert queued_messages(world.aws) == []


def test_a_callback_overtaking_a_noted_call_is_released_by_the_retried_dial(
    world: DialWorld, faults: Faults
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    dial = world.first_dial("s6-noted-held")
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    call_id = world.entry("s6-noted-held").call_id
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "digits": "4821"}
    held = world.callbacks.record(
        "s6-noted-held", parse_callback("s6-noted-held", {**raw, "result": {"code": 10}})
    )
    assert held.verdict.value == "held"

    world.now += timedelta(minutes=1)
    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED

    [result] = published(world.calls("s6-noted-held"))
    assert (result.call_id, result.digits) == (call_id, "4821")
    assert only_call(world, "s6-noted-held")["status"] == "finished"
    assert world.cm.requests == 1


@pytest.mark.parametrize("fallback", ["queue", "note"])
def test_an_unanswered_callback_overtaking_a_late_recording_still_redials(
    world: DialWorld, faults: Faults, fallback: str
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    dial = world.first_dial("s6-late-redial")
    if fallback == "note":
        boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    if fallback == "note":
        with pytest.raises(RuntimeError):
            world.dialler.dial(dial)
        call_id = world.entry("s6-late-redial").call_id
    else:
        world.dialler.dial(dial)
        call_id = json.loads(queued_messages(world.aws)[0]["body"])["call-id"]
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "result": {"code": 9}}
    world.callbacks.record("s6-late-redial", parse_callback("s6-late-redial", raw))
    world.now += timedelta(minutes=1)

    if fallback == "note":
        assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    else:
        assert world.apply_queue() == {"batchItemFailures": []}

    assert world.cm.requests == 1
    assert published(world.calls("s6-late-redial")) == []  # not final: a redial waits
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
    entry = world.entry("s6-late-redial")
    assert (entry.status, entry.attempt) == (ScheduleStatus.SCHEDULED, 2)


# ------------------------------------------------------------------ malformed dial inputs

MALFORMED: list[Any] = [
    None,
    [],
    "dial",
    42,
    {},
    {"instruction-id": "x", "attempt": 1, "scheduled-for": "2026-12-01T08:30:00.000Z"},
    {"instruction-id": "x", "callee-index": 0, "callee": NL, "attempt": 1, "scheduled-for": "t"},
    {"instruction-id": "x", "callee-index": -1, "attempt": 1, "scheduled-for": "t"},
    {"instruction-id": "x", "callee-index": 0, "attempt": 0, "scheduled-for": "t"},
    {"instruction-id": "x" * 65, "callee-index": 0, "attempt": 1, "scheduled-for": "t"},
    {"instruction-id": "x", "callee": "31612345678", "attempt": 1, "scheduled-for": "t"},
]


@pytest.mark.parametrize("event", MALFORMED)
def test_a_malformed_dial_is_dropped_and_rings_no_one(
    dial_call: Any, cm: FakeCm, event: Any
) -> None:
    assert dial_call.handler(event, LambdaContext()) == {"outcome": "malformed"}
    assert cm.bodies() == []


@pytest.mark.parametrize("index", [2, 999])
def test_a_dial_naming_a_callee_index_the_instruction_lacks_is_skipped(
    place_call: Any, dial_call: Any, cm: FakeCm, index: Any
) -> None:
    assert post(place_call, scheduled_body("s6-index")).status == 202
    scheduler = boto3.client("scheduler", region_name=REGION)
    name = schedule_names()[0]
    dial = json.loads(
        scheduler.get_schedule(Name=name, GroupName=DIAL_SCHEDULE_GROUP)["Target"]["Input"]
    )
    forged = {**dial, "callee-index": index}

    outcome = dial_call.handler(forged, LambdaContext())["outcome"]

    assert outcome in ("skipped", "malformed")
    assert cm.bodies() == []


# ------------------------------------------------------------------ erase x held callback


@pytest.mark.parametrize("fallback", ["queue", "note"])
def test_a_callback_held_for_a_late_recording_then_erased_leaves_no_number_or_digits(
    world: DialWorld, faults: Faults, fallback: str
) -> None:
    """Held: the callback that overtook the recording (its CM body names the callee and
    the digits) is scrubbed by the erasure, and the result published when the recording is
    applied names no one and carries no digits."""
    from dtmf_gateway import wiring
    from dtmf_gateway.domain.callbacks import parse_callback
    from tests.integration.test_scheduling import OWNER

    iid = f"s6-held-erased-{fallback}"
    dial = world.first_dial(iid, metadata={"order-id": "7781"})
    if fallback == "note":
        boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    if fallback == "note":
        with pytest.raises(RuntimeError):
            world.dialler.dial(dial)
        call_id = world.entry(iid).call_id
    else:
        world.dialler.dial(dial)
        call_id = json.loads(queued_messages(world.aws)[0]["body"])["call-id"]
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "digits": "7395"}
    world.callbacks.record(iid, parse_callback(iid, {**raw, "result": {"code": 10}}))

    wiring.erase_instruction().erase(iid, owner=OWNER)
    items = world.aws.dynamodb.scan(TableName=world.aws.table_name)["Items"]
    text = json.dumps(items)
    assert NL not in text and "7395" not in text and "7781" not in text
    world.now += timedelta(minutes=1)
    if fallback == "note":
        assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    else:
        assert world.apply_queue() == {"batchItemFailures": []}

    [result] = published(world.calls(iid))
    assert (result.callee, result.caller, result.digits) == (None, None, None)
    assert result.outcome.value == "input-received"
    text = json.dumps(world.aws.dynamodb.scan(TableName=world.aws.table_name)["Items"])
    assert NL not in text and "7395" not in text and "7781" not in text
    assert world.cm.requests == 1


# ------------------------------------------------------------------ the claim's last write


@pytest.mark.parametrize("cm_error", ["outcome-unknown", "refused"])
def test_a_failed_write_after_an_unclear_or_refused_cm_answer_leaves_the_callee_to_end(
    world: DialWorld, faults: Faults, cm_error: str
) -> None:
    from dtmf_gateway.domain.errors import CmOutcomeUnknown, CmRejected

    dial = world.first_dial(f"s6-claim-{cm_error}")
    world.cm.error = (
        CmOutcomeUnknown("read timeout", timed_out=True)
        if cm_error == "outcome-unknown"
        else CmRejected("401 unauthorised", 401)
    )
    faults.fail(DynamoDbScheduleStore, "change", 2)  # the 1st is the claim
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry

    world.dialler.dial(dial)

    assert world.cm.requests == 1  # never rings twice (this holds)
    assert world.entry(f"s6-claim-{cm_error}").status is not ScheduleStatus.DIALLING


def test_a_failure_between_the_claim_and_cm_leaves_the_callee_callable(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    dial = world.first_dial("s6-pre-cm")
    urls = world.dialler._callback_urls
    original = urls.for_instruction
    seen = [0]

    def throttled(instruction_id: str) -> str:
        seen[0] += 1
        if seen[0] == 1:
            raise RuntimeError("SecretsManager: ThrottlingException")
        return original(instruction_id)

    monkeypatch.setattr(urls, "for_instruction", throttled)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    assert world.cm.requests == 0
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry

    retried = world.dialler.dial(dial)

    assert retried.outcome is DialOutcome.PLACED, retried
    assert world.cm.requests == 1


# ------------------------------------------------------------------ GET while it waits


def view(world: DialWorld, instruction_id: str) -> dict[str, Any]:
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
    from dtmf_gateway.api.views import instruction_view
    from dtmf_gateway.domain.reading import state_of

    found = DynamoDbInstructionReader(world.aws.dynamodb, world.aws.table_name).load(instruction_id)
    assert found is not None
    state = state_of(found[0], found[1], world.now)
    shown: dict[str, Any] = instruction_view(state).model_dump(mode="json", by_alias=True)
    return shown


def test_get_while_a_dial_recording_waits_shows_the_callee_queued_as_readme_says(
    world: DialWorld, faults: Faults
) -> None:
    """Held: README's failure table: 'Until then GET shows the callee queued without this
    call (its call-id null)'; once applied, the call."""
    dial = world.first_dial("s6-get")
    faults.fail(DynamoDbScheduleStore, "record_call")
    world.dialler.dial(dial)

    [callee] = view(world, "s6-get")["calls"]
    assert (callee["status"], callee["call-id"]) == ("queued", None), callee

    world.apply_queue()
    [callee] = view(world, "s6-get")["calls"]
    assert callee["status"] == "queued" and callee["call-id"] is not None


# ------------------------------------------------------------------ a fast callback, no fault


def test_a_rejection_whose_callback_beats_the_recording_is_still_redialled(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    iid = "s6-fast-reject"
    redial = {"on": ["rejected"], "max-redials": 2, "interval-seconds": 60}
    dial = world.first_dial(iid, redial=redial)
    place = world.cm.place

    def place_then_callback(*args: Any, **kwargs: Any) -> Any:
        replies = place(*args, **kwargs)
        call_id = next(r.call_id for r in replies if r.success)
        raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "result": {"code": 12}}
        world.callbacks.record(iid, parse_callback(iid, raw))  # before the dial records it
        return replies

    monkeypatch.setattr(world.cm, "place", place_then_callback)

    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED

    assert published(world.calls(iid)) == []  # not final: the redial waits
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
