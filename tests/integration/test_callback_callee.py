"""A callback naming another callee than its call's is refused before anything follows from it:
for a scheduled instruction with redials, no redial is decided on it."""

from __future__ import annotations

from datetime import timedelta

from dtmf_gateway.domain.callbacks import CallbackVerdict, parse_callback
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.integration.test_scheduling import NL, NL2, RedialWorld, redials  # noqa: F401


def _callback(world: RedialWorld, instruction_id: str, callee: str, code: int) -> CallbackVerdict:
    raw = {
        "type": "dtmf-finished",
        "call-id": world.call_id(instruction_id),
        "callee": callee,
        "result": {"code": code},
    }
    return world.callbacks.record(instruction_id, parse_callback(instruction_id, raw)).verdict


def test_another_callee_s_unanswered_callback_redials_no_one(redials: RedialWorld) -> None:  # noqa: F811
    first = redials.place("redial-other")
    assert redials.dialler.dial(first).outcome is DialOutcome.PLACED
    redials.now += timedelta(seconds=40)
    dials = len(redials.scheduler.dials)

    verdict = _callback(redials, "redial-other", NL2, 9)  # someone else's unanswered call

    assert verdict is CallbackVerdict.CALLEE_MISMATCH
    assert len(redials.scheduler.dials) == dials  # no redial scheduled on it
    assert redials.status_of("redial-other", NL) is ScheduleStatus.PLACED
    assert [c.outcome for c in redials.calls("redial-other")] == [None]  # still waiting

    own = _callback(redials, "redial-other", "0" + NL.removeprefix("+31"), 9)  # national form

    assert own is CallbackVerdict.RECORDED
    assert len(redials.scheduler.dials) == dials + 1  # its own callback redials, as before
