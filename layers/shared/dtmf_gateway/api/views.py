"""Domain reads rendered as the read routes' response models (api/read_models.py); a
placement's 202 is rendered by `api.placement`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dtmf_gateway.api.read_models import AttemptView, CallView, InstructionView
from dtmf_gateway.domain.digits_protection import DigitsMode, protects
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from dtmf_gateway.domain.reading import InstructionState
    from dtmf_gateway.domain.stored import StoredCall


def _call_view(call: StoredCall) -> CallView:
    """A call of an instruction placed at once: its one attempt (round 2's keys too)."""
    # issue 19: `verified` only in verify mode; protected digits never shown
    verified = call.verified
    if verified is None and call.digits_mode == DigitsMode.VERIFY:
        verified = False
    extra = {"verified": verified} if verified is not None else {}
    return CallView(
        call_id=call.call_id,
        callee=call.callee,
        status=call.status,
        outcome=call.outcome,
        digits=None if protects(call.digits_mode) else call.digits,
        result=call.result,
        queued_at=call.queued_at,
        finished_at=call.finished_at,
        **extra,
        scheduled_for=None,
        attempts=[_attempt(call)],
    )


# ---------------------------------------------------------------- round 2 (#16): schedules


def _attempt(call: StoredCall) -> AttemptView:
    return AttemptView(
        call_id=call.call_id,
        outcome=call.outcome,
        result=call.result,
        queued_at=call.queued_at,
        finished_at=call.finished_at,
    )


def _scheduled_call_view(entry: CalleeSchedule, calls: list[StoredCall]) -> CallView:
    """A callee of a scheduled instruction: its latest call, every attempt, and while it
    waits (or ended unplaced) the schedule's status."""
    latest = calls[-1] if calls else None
    if entry.status in (ScheduleStatus.SCHEDULED, ScheduleStatus.CANCELLED) or latest is None:
        status = {
            ScheduleStatus.DIALLING: "queued",
            ScheduleStatus.PLACED: "queued",
        }.get(entry.status, entry.status.value)
    else:
        status = latest.status.value if latest.status else "queued"
    return CallView(
        call_id=latest.call_id if latest else None,
        callee=entry.callee,
        status=status,
        outcome=latest.outcome if latest else None,
        digits=latest.digits if latest else None,
        result=latest.result if latest else None,
        queued_at=latest.queued_at if latest else None,
        finished_at=latest.finished_at if latest else None,
        scheduled_for=entry.scheduled_for if entry.waiting else None,
        attempts=[_attempt(c) for c in calls],
    )


def _scheduled_calls(state: InstructionState) -> list[CallView]:
    entries = state.instruction.schedule
    return [
        _scheduled_call_view(
            entry,
            sorted(
                (c for c in state.calls if _is_call_of(c, entry, len(entries))),
                key=lambda c: c.queued_at or "",
            ),
        )
        for entry in entries
    ]


def _is_call_of(call: StoredCall, entry: CalleeSchedule, callees: int) -> bool:
    """Whether ``call`` is one of the callee's attempts: the same number, or (erased: no
    numbers) its latest call, or any call when it is the only callee."""
    if entry.callee is not None:
        return call.callee == entry.callee
    return call.call_id == entry.call_id or (callees == 1 and not call.callee)


def instruction_view(state: InstructionState) -> InstructionView:
    instruction = state.instruction
    reason = {"status_reason": instruction.status_reason} if instruction.status_reason else {}
    if instruction.erased_at is not None:  # issue 19
        reason["erased_at"] = instruction.erased_at
    return InstructionView(
        instruction_id=instruction.instruction_id,
        status=state.status.value,
        caller=instruction.caller,
        callees=list(instruction.callees),
        metadata=instruction.metadata,
        created_at=instruction.created_at,
        calls=(
            _scheduled_calls(state)
            if instruction.schedule
            else [_call_view(c) for c in state.calls]
        ),
        **reason,
    )
