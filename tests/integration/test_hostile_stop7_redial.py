"""Hostile review, stop 7: redials whose CM answer is unknown (`redials`, `redialled-until`),
DELETE's `cancelled-at`, and entries written by the previous layout. Promises: never ring a
person twice, every callee's result reaches the bus exactly once, old items still work."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from dtmf_gateway.domain.callbacks import parse_callback
from dtmf_gateway.domain.dialling import CancelInstruction, DialOutcome
from dtmf_gateway.domain.errors import CmOutcomeUnknown
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import Aws
from tests.integration.test_dial_recordings import DialWorld, Faults
from tests.integration.test_hostile_stop6b_dial import expire, second_attempt, throttle_once
from tests.integration.test_scheduling import NL, OWNER, published

LATE = "aaaaaaaa-0000-4000-8000-0000000000c7"


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


def cancel(world: DialWorld, iid: str) -> int:
    canceller = CancelInstruction(world.store, clock=lambda: world.now)
    return canceller.cancel(iid, owner=OWNER).cancelled


def callback_of(  # type: ignore[no-untyped-def]
    world: DialWorld, iid: str, call_id: str, code: int, digits: str | None = None
):
    raw = {"type": "dtmf-finished", "call-id": call_id, "callee": NL, "result": {"code": code}}
    if digits:
        raw["digits"] = digits
    return world.callbacks.record(iid, parse_callback(iid, raw))


def unknown_second(world: DialWorld, iid: str) -> str:
    second = second_attempt(world, iid)
    first_call = str(world.entry(iid).call_id)
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN
    world.cm.error = None
    return first_call


# ------------------------------------------------------------------ cancel x deadline


def test_a_cancel_after_a_redials_unknown_outcome_still_publishes_the_first_call_once(
    world: DialWorld,
) -> None:
    iid = "s7-cancel-unk"
    first_call = unknown_second(world, iid)
    world.now += timedelta(seconds=10)

    assert cancel(world, iid) == 0  # nothing waits: the attempt is `placed`
    expire(world)
    expire(world, days=5)

    assert [c.call_id for c in published(world.calls(iid))] == [first_call]
    assert world.cm.requests == 2


def test_a_cancel_then_the_attempts_late_callback_gives_one_result_the_late_one(
    world: DialWorld,
) -> None:
    iid = "s7-cancel-late"
    unknown_second(world, iid)
    cancel(world, iid)
    world.now += timedelta(minutes=2)
    held = callback_of(world, iid, LATE, 10, "4821")  # CM did queue attempt 2 after all

    expire(world)
    expire(world, days=5)

    [result] = published(world.calls(iid))
    assert (held.verdict.value, result.call_id, result.digits) == ("held", LATE, "4821")
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]


def test_a_cancel_while_a_redial_attempt_is_claimed_and_fails_before_cm_never_rings(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attempt 2 claimed, DELETE lands, the secret read fails (revert): the retried firing
    must end it cancelled, and the first call (held `redialled`) becomes the one result."""
    iid = "s7-cancel-claim2"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    throttle_once(world, monkeypatch, lambda: cancel(world, iid))
    with pytest.raises(RuntimeError):
        world.dialler.dial(second)
    monkeypatch.undo()
    world.now += timedelta(minutes=1)

    retried = world.dialler.dial(second)

    assert (retried.outcome, retried.reason) == (DialOutcome.NOT_PLACED, "cancelled")
    assert world.cm.requests == 1
    [result] = published(world.calls(iid))
    assert (result.call_id, result.outcome.value) == (first_call, "unanswered")


def test_a_cancel_between_a_noted_unknown_outcome_and_its_retry_gives_one_result(
    world: DialWorld,
) -> None:
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore

    iid = "s7-cancel-noted"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    with pytest.MonkeyPatch.context() as patch:
        Faults(patch).fail(DynamoDbScheduleStore, "hold_redialled_until", 1)
        with pytest.raises(RuntimeError):
            world.dialler.dial(second)
    world.cm.error = None
    cancel(world, iid)  # the DELETE lands while the callee is `dialling` with the note
    world.now += timedelta(minutes=1)

    retried = world.dialler.dial(second)
    expire(world)
    expire(world, days=5)

    assert retried.outcome is DialOutcome.OUTCOME_UNKNOWN
    assert world.cm.requests == 2
    assert [c.call_id for c in published(world.calls(iid))] == [first_call]


def test_a_duplicate_callback_of_the_first_call_after_the_deadline_released_it_is_a_duplicate(
    world: DialWorld,
) -> None:
    iid = "s7-dup-after-release"
    first_call = unknown_second(world, iid)
    expire(world)  # the deadline: the first call is the result
    again = callback_of(world, iid, first_call, 9)

    expire(world, days=5)

    assert again.verdict.value == "duplicate"
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
    assert [c.call_id for c in published(world.calls(iid))] == [first_call]


# ------------------------------------------------------------------ the previous layout


def legacy_unknown_second(world: DialWorld, iid: str) -> str:
    """Attempt 2 whose CM answer was lost, as the previous version stored it: the callee's
    schedule `placed`, attempt 2, `call-id` still the first call, no `redials`; the first call
    held `redialled` without a deadline (that version wrote none)."""
    second_attempt(world, iid)
    waiting = world.entry(iid)
    first_call = str(waiting.call_id)
    old = replace(waiting, status=ScheduleStatus.PLACED, redials=None)
    assert world.store.change(iid, waiting, old)
    entry = world.entry(iid)
    assert (entry.status, entry.attempt, entry.call_id, entry.redials) == (
        ScheduleStatus.PLACED,
        2,
        first_call,
        None,
    )
    return first_call


def test_an_old_layout_redial_with_an_unknown_outcome_still_gets_its_result(
    world: DialWorld,
) -> None:
    """An item in flight across the upgrade: no callback of attempt 2 ever comes. Its
    callee's result (the first call) must still reach the bus once."""
    iid = "s7-legacy-unk"
    first_call = legacy_unknown_second(world, iid)

    expire(world)
    expire(world, days=10)

    assert [c.call_id for c in published(world.calls(iid))] == [first_call]


def test_an_old_layout_redial_with_an_unknown_outcome_redials_no_more_on_a_duplicate(
    world: DialWorld,
) -> None:
    iid = "s7-legacy-dup"
    first_call = legacy_unknown_second(world, iid)
    world.now += timedelta(seconds=30)

    again = callback_of(world, iid, first_call, 9)  # attempt 1's callback, re-delivered

    assert [d.attempt for d in world.scheduler.dials] == [1, 2], again


def test_an_old_layout_redial_released_by_the_expirer_takes_a_late_duplicate_as_one(
    world: DialWorld,
) -> None:
    """After the expirer made the first call the result, a re-delivered callback of it is a
    duplicate: no third attempt, no second result."""
    iid = "s7-legacy-released-dup"
    first_call = legacy_unknown_second(world, iid)
    expire(world)
    again = callback_of(world, iid, first_call, 9)
    expire(world, days=10)

    assert again.verdict.value == "duplicate"
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]
    assert [c.call_id for c in published(world.calls(iid))] == [first_call]


def test_an_old_layout_redial_whose_late_callback_comes_gives_one_result(
    world: DialWorld,
) -> None:
    """Attempt 2's callback comes after all (before the expirer reaches the first call):
    one result, the late one."""
    iid = "s7-legacy-late"
    legacy_unknown_second(world, iid)
    world.now += timedelta(minutes=2)
    callback_of(world, iid, LATE, 10, "4821")

    expire(world)
    expire(world, days=10)

    [result] = published(world.calls(iid))
    assert (result.call_id, result.digits) == (LATE, "4821")
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]


# ------------------------------------------------------------------ record-placements x DELETE


@pytest.mark.parametrize("between", ["cancel", "erase"])
def test_a_queued_dial_recording_applied_after_a_delete_or_erasure_redials_nobody(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch, between: str
) -> None:
    """The dial's recording goes to the queue (record_call fails), the callee's unanswered
    callback overtakes it, a DELETE (or an erasure) lands; record-placements then applies it:
    no attempt 2, and the call is the callee's one result."""
    from dtmf_gateway import wiring
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from tests.integration.test_hostile_stop6b_dial import REDIAL, overtaken_dial

    iid = f"s7-rp-{between}"
    dial = world.first_dial(iid, redial=REDIAL)
    with pytest.MonkeyPatch.context() as patch:
        overtaken_dial(world, patch, iid, 9)
        Faults(patch).fail(DynamoDbScheduleStore, "record_call")
        assert world.dialler.dial(dial).recording_deferred
    if between == "cancel":
        cancel(world, iid)
    else:
        wiring.erase_instruction().erase(iid, owner=OWNER)
    world.now += timedelta(seconds=30)

    assert world.apply_queue() == {"batchItemFailures": []}
    expire(world)

    assert [d.attempt for d in world.scheduler.dials] == [1]
    assert world.cm.requests == 1
    assert len(published(world.calls(iid))) == 1


# ------------------------------------------------------------------ double fault: settle x unknown


@pytest.mark.parametrize("settled_by", ["record-placements", "expirer"])
def test_an_unsettled_overtaken_call_whose_redial_outcome_is_unknown_still_gets_a_result(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch, settled_by: str
) -> None:
    """Attempt 1's unanswered callback overtakes its recording; the dial decides attempt 2
    but settling the held call fails (its recording waits in the queue). Attempt 2 fires
    before the queue is applied and CM's answer is lost. No callback of attempt 2 ever comes:
    the first call must still be the callee's one result (the deadline is set only on a call
    already held `redialled`)."""
    from datetime import datetime

    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from tests.integration.test_hostile_stop6b_dial import REDIAL, overtaken_dial

    iid = f"s7-settle-unk-{settled_by}"
    dial = world.first_dial(iid, redial=REDIAL)
    with pytest.MonkeyPatch.context() as patch:
        overtaken_dial(world, patch, iid, 9)
        Faults(patch).fail(DynamoDbScheduleStore, "settle_overtaken")
        assert world.dialler.dial(dial).recording_deferred
    second = world.scheduler.dials[-1]
    assert second.attempt == 2
    world.now = datetime.fromisoformat(second.scheduled_for) + timedelta(seconds=5)
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN
    world.cm.error = None
    world.now += timedelta(minutes=3)
    if settled_by == "record-placements":
        assert world.apply_queue() == {"batchItemFailures": []}

    expire(world)
    expire(world, days=6)

    assert world.cm.requests == 2
    assert len(published(world.calls(iid))) == 1, [
        (c.call_id, c.status, c.hold) for c in world.calls(iid)
    ]


def test_an_erasure_after_a_redials_unknown_outcome_still_gives_one_result(
    world: DialWorld,
) -> None:
    """Held: erased between attempt 2's lost answer and its deadline, the attempt's late
    callback coming after the erasure: one result, no number kept."""
    from dtmf_gateway import wiring

    iid = "s7-erase-unk"
    unknown_second(world, iid)
    wiring.erase_instruction().erase(iid, owner=OWNER)
    world.now += timedelta(minutes=1)
    callback_of(world, iid, LATE, 10, "4821")

    expire(world)
    expire(world, days=5)

    assert len(published(world.calls(iid))) == 1
    assert all(c.callee is None for c in world.calls(iid))


def test_a_cancel_while_the_overtaken_call_is_unsettled_and_attempt_two_waits(
    world: DialWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: attempt 2 decided on an overtaking callback whose settle failed (the call still
    held awaiting its placement); DELETE cancels attempt 2 (its release of the call finds no
    `redialled` hold); the expirer then releases the call: one result, nobody rung again."""
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from tests.integration.test_hostile_stop6b_dial import REDIAL, overtaken_dial

    iid = "s7-cancel-unsettled"
    dial = world.first_dial(iid, redial=REDIAL)
    with pytest.MonkeyPatch.context() as patch:
        overtaken_dial(world, patch, iid, 9)
        Faults(patch).fail(DynamoDbScheduleStore, "settle_overtaken")
        world.dialler.dial(dial)
    assert cancel(world, iid) == 1
    second = world.scheduler.dials[-1]
    assert world.dialler.dial(second).outcome is DialOutcome.SKIPPED

    expire(world)
    world.apply_queue()
    expire(world, days=5)

    assert world.cm.requests == 1
    assert len(published(world.calls(iid))) == 1
