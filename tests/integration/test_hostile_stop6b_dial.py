"""Hostile review, stop 6b: the claim's revert, the noted CM answer and the overtaking
callback's redial decision (dialling.py, dial_recording.py, schedule_store.py). README
promises: a scheduled callee is never rung twice, never stranded `dialling`, no result is
lost, one DTMF Result per callee."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.errors import CmOutcomeUnknown, CmRejected
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import Aws
from tests.integration.test_dial_recordings import DialWorld, Faults
from tests.integration.test_scheduling import published

REDIAL = {"on": ["unanswered"], "max-redials": 2, "interval-seconds": 60}


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


def second_attempt(world: DialWorld, iid: str) -> object:
    """Attempt 1 placed and unanswered: attempt 2's dial, fired now."""
    first = world.first_dial(iid, redial=REDIAL)
    assert world.dialler.dial(first).outcome is DialOutcome.PLACED
    world.now += timedelta(seconds=40)
    world.callback(iid, 9)  # unanswered: held `redialled`, attempt 2 scheduled
    second = world.scheduler.dials[-1]
    assert second.attempt == 2
    from datetime import datetime

    world.now = datetime.fromisoformat(second.scheduled_for) + timedelta(seconds=5)
    return second


@pytest.mark.parametrize("cm_error", ["refused", "outcome-unknown"])
def test_a_redial_whose_cm_answer_is_noted_ends_with_one_result(
    world: DialWorld, faults: Faults, cm_error: str
) -> None:
    iid = f"s6b-redial-note-{cm_error}"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    world.cm.error = (
        CmOutcomeUnknown("read timeout", timed_out=True)
        if cm_error == "outcome-unknown"
        else CmRejected("401 unauthorised", 401)
    )
    faults.fail(DynamoDbScheduleStore, "change", 2)  # the 1st is the claim
    with pytest.raises(RuntimeError):
        world.dialler.dial(second)
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry

    retried = world.dialler.dial(second)

    assert world.cm.requests == 2  # attempt 1 and attempt 2, never a third
    entry = world.entry(iid)
    [first] = [c for c in world.calls(iid) if c.call_id == first_call]
    assert first.attempt == 1  # the first call's item is not rewritten as attempt 2
    if cm_error == "refused":
        assert retried.outcome is DialOutcome.NOT_PLACED
        assert (entry.status, entry.reason) == (ScheduleStatus.NOT_PLACED, "cm-refused")
        # the redial that will not happen: the first (unanswered) call is the result
        [result] = published(world.calls(iid))
        assert result.call_id == first_call
    else:
        assert retried.outcome is DialOutcome.OUTCOME_UNKNOWN
        assert entry.status is ScheduleStatus.PLACED


def test_a_cancel_between_the_claim_and_a_failure_before_cm_is_not_undone_by_the_revert(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dtmf_gateway.domain.dialling import CancelInstruction, CancelReport
    from tests.integration.test_scheduling import OWNER

    iid = "s6b-cancel-revert"
    dial = world.first_dial(iid)
    urls = world.dialler._callback_urls
    cancel = CancelInstruction(world.store, clock=lambda: world.now)
    report: list[CancelReport] = []

    def cancelled_then_throttled(instruction_id: str) -> str:
        report.append(cancel.cancel(iid, owner=OWNER))  # DELETE while the dial holds it
        raise RuntimeError("SecretsManager: ThrottlingException")

    monkeypatch.setattr(urls, "for_instruction", cancelled_then_throttled)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    assert report == [CancelReport(cancelled=0)]  # the claimed callee is skipped...
    monkeypatch.undo()
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry

    retried = world.dialler.dial(dial)

    # ...and rung a minute after the DELETE, though CM had never been called when it came
    assert world.cm.requests == 0, retried
    assert world.entry(iid).status is ScheduleStatus.CANCELLED


def expire(world: DialWorld, days: int = 3) -> int:
    from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
    from dtmf_gateway.domain.expiry import expire_stale_calls

    pending = DynamoDbPendingCalls(world.aws.dynamodb, world.aws.table_name, shards=8)
    moment = world.now + timedelta(days=days)
    return expire_stale_calls(pending, clock=lambda: moment).expired


def scan_text(world: DialWorld) -> str:
    import json

    return json.dumps(world.aws.dynamodb.scan(TableName=world.aws.table_name)["Items"])


@pytest.mark.parametrize("where", ["before-cm", "after-refusal"])
def test_an_erasure_between_the_claim_and_a_failed_write_leaves_no_number_and_no_ring(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from dtmf_gateway import wiring
    from tests.integration.test_scheduling import NL, OWNER

    iid = f"s6b-erase-{where}"
    dial = world.first_dial(iid, metadata={"order-id": "7781"})

    def erase() -> None:
        wiring.erase_instruction().erase(iid, owner=OWNER)

    if where == "before-cm":
        urls = world.dialler._callback_urls

        def erased_then_throttled(instruction_id: str) -> str:
            erase()
            raise RuntimeError("SecretsManager: ThrottlingException")

        monkeypatch.setattr(urls, "for_instruction", erased_then_throttled)
    else:
        world.cm.error = CmRejected("401 unauthorised", 401)
        original = DynamoDbScheduleStore.change
        seen = [0]

        def flaky(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen[0] += 1
            if seen[0] == 2:  # the end after CM's refusal: the erasure lands, then it fails
                erase()
                raise RuntimeError("DynamoDB down")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDbScheduleStore, "change", flaky)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    assert NL not in scan_text(world)  # neither the revert nor the note writes it back
    monkeypatch.undo()
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry

    retried = world.dialler.dial(dial)

    reason = "cancelled" if where == "before-cm" else "cm-refused"
    assert (retried.outcome, retried.reason) == (DialOutcome.NOT_PLACED, reason)
    entry = world.entry(iid)
    assert (entry.callee, entry.status.value) == (
        None,
        "cancelled" if reason == "cancelled" else "not-placed",
    )
    assert NL not in scan_text(world) and "7781" not in scan_text(world)
    assert world.cm.requests == (0 if where == "before-cm" else 1)


def test_a_redial_whose_outcome_is_unknown_and_whose_callback_never_comes_has_a_result(
    world: DialWorld,
) -> None:
    iid = "s6b-unk-redial"
    second = second_attempt(world, iid)
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN

    expire(world)  # days later: no callback for attempt 2 ever came

    assert len(published(world.calls(iid))) == 1
    assert world.cm.requests == 2


def test_a_redial_whose_outcome_is_unknown_and_whose_late_callback_comes_has_one_result(
    world: DialWorld,
) -> None:
    """Held: attempt 2's late callback (its call id unknown to the gateway) is held, then
    released by the expirer: one result, attempt 2's."""
    from dtmf_gateway.domain.callbacks import parse_callback
    from tests.integration.test_scheduling import NL

    iid = "s6b-unk-redial-cb"
    second = second_attempt(world, iid)
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN
    late = "aaaaaaaa-0000-4000-8000-000000000002"
    raw = {"type": "dtmf-finished", "call-id": late, "callee": NL, "digits": "4821"}
    world.callbacks.record(iid, parse_callback(iid, {**raw, "result": {"code": 10}}))

    expire(world)

    [result] = published(world.calls(iid))
    assert (result.call_id, result.digits) == (late, "4821")
    assert world.cm.requests == 2


def overtaken_dial(world: DialWorld, monkeypatch: pytest.MonkeyPatch, iid: str, code: int) -> Any:
    """The dial's CM call whose callback (``code``) is recorded before the dial records it."""
    from dtmf_gateway.domain.callbacks import parse_callback
    from tests.integration.test_scheduling import NL

    place = world.cm.place

    def place_then_callback(*args: Any, **kwargs: Any) -> Any:
        replies = place(*args, **kwargs)
        call_id = next(r.call_id for r in replies if r.success)
        raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "result": {"code": code}}
        world.callbacks.record(iid, parse_callback(iid, raw))
        return replies

    monkeypatch.setattr(world.cm, "place", place_then_callback)


@pytest.mark.parametrize("fallback", ["queue", "note"])
def test_a_failed_settle_after_an_overtaking_redial_still_gives_one_result(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch, faults: Faults, fallback: str
) -> None:
    from datetime import datetime

    import boto3

    from tests.conftest import REGION

    iid = f"s6b-settle-{fallback}"
    dial = world.first_dial(iid, redial=REDIAL)
    overtaken_dial(world, monkeypatch, iid, 9)  # unanswered, before the dial records it
    faults.fail(DynamoDbScheduleStore, "settle_overtaken")
    if fallback == "queue":
        world.dialler.dial(dial)
        world.apply_queue()  # record-placements applies the deferred recording
    else:  # the note's write finds the schedule moved on (attempt 2) and keeps nothing
        boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
        with pytest.raises(RuntimeError):
            world.dialler.dial(dial)
        world.now += timedelta(minutes=1)
        assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED  # the retry
        expire(world)  # the held call is released by the expirer
    monkeypatch.undo()
    second = world.scheduler.dials[-1]
    assert second.attempt == 2  # the redial Redials decided on still follows
    world.now = datetime.fromisoformat(second.scheduled_for) + timedelta(seconds=5)
    assert world.dialler.dial(second).outcome is DialOutcome.PLACED
    world.now += timedelta(seconds=40)

    world.callback(iid, 10, "4821")

    assert world.cm.requests == 2
    [result] = published(world.calls(iid))
    assert (result.attempt, result.digits) == (2, "4821")


def test_an_overtaking_redial_whose_attempt_cm_refuses_publishes_the_first_call_once(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: the redial decided on an overtaking callback is refused by CM: the callee ends
    `not-placed` `cm-refused` and the first call (held `redialled`) is its one result."""
    from datetime import datetime

    iid = "s6b-ovt-ref"
    dial = world.first_dial(iid, redial=REDIAL)
    overtaken_dial(world, monkeypatch, iid, 9)
    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    monkeypatch.undo()
    second = world.scheduler.dials[-1]
    world.now = datetime.fromisoformat(second.scheduled_for) + timedelta(seconds=5)
    world.cm.error = CmRejected("401 unauthorised", 401)

    assert world.dialler.dial(second).reason == "cm-refused"

    [result] = published(world.calls(iid))
    assert (result.attempt, result.outcome.value) == (1, "unanswered")
    assert world.entry(iid).status is ScheduleStatus.NOT_PLACED
    assert world.cm.requests == 2


def throttle_once(world: DialWorld, monkeypatch: pytest.MonkeyPatch, during: Any = None) -> None:
    """The claimed dial's secret read fails once (after running ``during``)."""
    urls = world.dialler._callback_urls
    original = urls.for_instruction
    seen = [0]

    def throttled(instruction_id: str) -> str:
        seen[0] += 1
        if seen[0] == 1:
            if during is not None:
                during()
            raise RuntimeError("SecretsManager: ThrottlingException")
        return original(instruction_id)

    monkeypatch.setattr(urls, "for_instruction", throttled)


@pytest.mark.parametrize("when", ["mid-flight", "after-revert"])
def test_a_duplicate_delivery_around_a_reverted_claim_rings_once(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Held: Scheduler's duplicate of the dial, while the first holds the claim (skipped) or
    after its revert (it dials; the first's retry is then skipped): one CM request."""
    iid = f"s6b-dup-{when}"
    dial = world.first_dial(iid)
    outcomes: list[Any] = []
    if when == "mid-flight":
        throttle_once(world, monkeypatch, lambda: outcomes.append(world.dialler.dial(dial)))
    else:
        throttle_once(world, monkeypatch)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(seconds=10)
    outcomes.append(world.dialler.dial(dial))  # the duplicate (or the retry)
    world.now += timedelta(minutes=1)
    outcomes.append(world.dialler.dial(dial))  # the retry (or the duplicate)

    assert world.cm.requests == 1
    assert sorted(o.outcome.value for o in outcomes) == sorted(
        ["skipped", "placed", "skipped"] if when == "mid-flight" else ["placed", "skipped"]
    )
    assert world.entry(iid).status is ScheduleStatus.PLACED


def test_a_duplicate_delivery_of_a_noted_refusal_ends_the_callee_once(
    world: DialWorld, faults: Faults
) -> None:
    """Held: the duplicate completes the noted refusal; the retry is then skipped."""
    iid = "s6b-dup-note"
    dial = world.first_dial(iid)
    world.cm.error = CmRejected("401 unauthorised", 401)
    faults.fail(DynamoDbScheduleStore, "change", 2)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)

    first, second = world.dialler.dial(dial), world.dialler.dial(dial)

    assert (first.outcome, second.outcome) == (DialOutcome.NOT_PLACED, DialOutcome.SKIPPED)
    assert world.entry(iid).reason == "cm-refused"
    assert world.cm.requests == 1


def test_a_noted_refusal_retried_after_not_after_ends_cm_refused_without_a_call(
    world: DialWorld, faults: Faults
) -> None:
    """Held: the deadline passing before the retry does not make it dial or re-decide."""
    from datetime import datetime

    from tests.integration.test_scheduling import rfc3339

    iid = "s6b-note-late"
    dial = world.place(iid, **{"not-after": rfc3339(world.now + timedelta(hours=30))})
    world.now = datetime.fromisoformat(dial.scheduled_for) + timedelta(seconds=20)
    world.cm.error = CmRejected("401 unauthorised", 401)
    faults.fail(DynamoDbScheduleStore, "change", 2)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(days=2)  # a DLQ redrive long after not-after

    assert world.dialler.dial(dial).reason == "cm-refused"
    assert world.cm.requests == 1


def test_max_redials_bounds_redials_decided_on_overtaking_callbacks(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: every attempt's unanswered callback overtakes its recording; max-redials 2
    gives three calls and one result, the last."""
    from datetime import datetime

    iid = "s6b-max"
    dial = world.first_dial(iid, redial=REDIAL)
    overtaken_dial(world, monkeypatch, iid, 9)
    for _ in range(3):
        assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
        if world.scheduler.dials[-1] == dial:
            break
        dial = world.scheduler.dials[-1]
        world.now = datetime.fromisoformat(dial.scheduled_for) + timedelta(seconds=5)

    assert world.cm.requests == 3
    assert [d.attempt for d in world.scheduler.dials] == [1, 2, 3]
    [result] = published(world.calls(iid))
    assert (result.attempt, result.outcome.value) == (3, "unanswered")


def test_an_old_style_dial_reverted_after_an_erasure_ends_cancelled_without_a_call(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a pre-upgrade dial (callee by number), its claim reverted after an erasure
    landed mid-dial: the retry finds the erased callee and ends it cancelled."""
    from dtmf_gateway import wiring
    from dtmf_gateway.domain.ports import ScheduledDial
    from tests.integration.test_scheduling import NL, OWNER

    iid = "s6b-old-revert"
    new = world.first_dial(iid)
    dial = ScheduledDial(iid, None, new.attempt, new.scheduled_for, callee=NL)
    throttle_once(world, monkeypatch, lambda: wiring.erase_instruction().erase(iid, owner=OWNER))
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(minutes=1)

    retried = world.dialler.dial(dial)

    assert (retried.outcome, retried.reason) == (DialOutcome.NOT_PLACED, "cancelled")
    assert world.cm.requests == 0


def test_a_failure_before_cm_does_not_spend_the_callees_hourly_limit(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import InMemoryCalleeQuota

    world.dialler._quota = InMemoryCalleeQuota(limit=1)  # MaxCallsPerCalleePerHour = 1
    iid = "s6b-quota"
    dial = world.first_dial(iid)
    throttle_once(world, monkeypatch)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(seconds=30)  # Lambda's asynchronous retry, the same hour

    retried = world.dialler.dial(dial)

    assert retried.outcome is DialOutcome.PLACED, retried
    assert world.cm.requests == 1


def test_a_cancel_while_the_first_call_rings_stops_its_redial(world: DialWorld) -> None:
    from dtmf_gateway.domain.dialling import CancelInstruction
    from tests.integration.test_scheduling import OWNER

    iid = "s6b-cancel-ringing"
    dial = world.first_dial(iid, redial=REDIAL)
    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    CancelInstruction(world.store, clock=lambda: world.now).cancel(iid, owner=OWNER)
    world.now += timedelta(seconds=40)

    world.callback(iid, 9)  # unanswered

    assert [d.attempt for d in world.scheduler.dials] == [1]  # no redial after the DELETE
    [result] = published(world.calls(iid))
    assert result.outcome.value == "unanswered"


def test_a_duplicate_first_callback_after_a_redials_unknown_outcome_redials_no_more(
    world: DialWorld,
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback
    from tests.integration.test_scheduling import NL

    iid = "s6b-unk-dup"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN
    world.now += timedelta(seconds=30)
    raw = {"type": "dtmf-finished", "call-id": first_call, "callee": NL, "result": {"code": 9}}

    again = world.callbacks.record(iid, parse_callback(iid, raw))  # attempt 1's, again

    assert again.verdict.value == "duplicate"
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
    assert world.entry(iid).attempt == 2
