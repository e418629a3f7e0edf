"""A redial attempt whose CM answer is unknown (round 2, #16): the earlier call, held
`redialled`, is settled by the expirer at a deadline — released as the callee's one result
unless the attempt's late callback came, in whatever order the expirer meets the two."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
from dtmf_gateway.domain.callbacks import parse_callback
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.errors import CmOutcomeUnknown
from dtmf_gateway.domain.expiry import settle_held
from dtmf_gateway.domain.ports import PendingCall
from tests.conftest import Aws
from tests.integration.test_dial_recordings import DialWorld
from tests.integration.test_hostile_stop6b_dial import expire, second_attempt
from tests.integration.test_scheduling import NL, published

LATE = "aaaaaaaa-0000-4000-8000-00000000000b"


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


def unknown_second_attempt(world: DialWorld, iid: str) -> str:
    """Attempt 1 unanswered (held `redialled`), attempt 2's CM answer lost: the first call."""
    second = second_attempt(world, iid)
    first_call = str(world.entry(iid).call_id)
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN
    entry = world.entry(iid)
    assert (entry.call_id, entry.redials) == (None, first_call)
    return first_call


def late_callback(world: DialWorld, iid: str) -> None:
    raw = {"type": "dtmf-finished", "call-id": LATE, "callee": NL, "digits": "4821"}
    world.callbacks.record(iid, parse_callback(iid, {**raw, "result": {"code": 10}}))


def pending(world: DialWorld) -> DynamoDbPendingCalls:
    return DynamoDbPendingCalls(world.aws.dynamodb, world.aws.table_name, shards=8)


@pytest.mark.parametrize("first_settled", ["earlier-call-first", "late-callback-first"])
def test_the_late_callback_is_the_one_result_whichever_the_expirer_settles_first(
    world: DialWorld, first_settled: str
) -> None:
    iid = f"unk-order-{first_settled}"
    first_call = unknown_second_attempt(world, iid)
    late_callback(world, iid)
    calls = [PendingCall(iid, first_call), PendingCall(iid, LATE)]
    if first_settled == "late-callback-first":
        calls.reverse()

    settled = [settle_held(pending(world), call) for call in calls]

    assert sorted(settled, key=str) == [False, True]
    [result] = published(world.calls(iid))
    assert (result.call_id, result.digits) == (LATE, "4821")
    expire(world)  # a later run changes nothing
    assert [c.call_id for c in published(world.calls(iid))] == [LATE]


def test_a_callback_after_the_earlier_call_was_released_is_set_aside(world: DialWorld) -> None:
    iid = "unk-very-late"
    first_call = unknown_second_attempt(world, iid)
    expire(world)  # the deadline passed, no callback: the earlier call is the result
    assert [c.call_id for c in published(world.calls(iid))] == [first_call]

    late_callback(world, iid)  # CM did queue attempt 2 after all, its callback days late
    expire(world, days=6)

    [result] = published(world.calls(iid))
    assert (result.call_id, result.attempt, result.outcome.value) == (
        first_call,
        1,
        "unanswered",
    )


def test_the_deadline_is_not_before_attempt_twos_call_would_expire(world: DialWorld) -> None:
    iid = "unk-deadline"
    unknown_second_attempt(world, iid)

    expire(world, days=0)
    world.now += timedelta(minutes=5)  # attempt 2 may still ring: nothing is released yet
    expire(world, days=0)
    assert published(world.calls(iid)) == []

    expire(world, days=1)
    assert len(published(world.calls(iid))) == 1


def test_a_noted_unknown_outcome_completed_by_the_retry_still_gives_the_earlier_call(
    world: DialWorld,
) -> None:
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from tests.integration.test_dial_recordings import Faults

    iid = "unk-noted"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    world.cm.error = CmOutcomeUnknown("read timeout", timed_out=True)
    with pytest.MonkeyPatch.context() as patch:
        Faults(patch).fail(DynamoDbScheduleStore, "change", 2)  # the 1st is the claim
        with pytest.raises(RuntimeError):
            world.dialler.dial(second)
    world.now += timedelta(minutes=1)  # Lambda's asynchronous retry
    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN

    expire(world)

    [result] = published(world.calls(iid))
    assert (result.call_id, result.outcome.value) == (first_call, "unanswered")
    assert world.cm.requests == 2
