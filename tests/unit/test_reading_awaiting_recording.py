"""Issue 15: a read of an instruction whose recording waits shows the calls CM queued (from
the replies noted on it), each once, beside the calls already stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dtmf_gateway.domain.calls import CallStatus, CmQueuedCall, InstructionStatus, Outcome
from dtmf_gateway.domain.reading import state_of
from dtmf_gateway.domain.stored import StoredCall, StoredInstruction

CREATED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CALLEES = ("+31612345678", "+31687654321")


def waiting(*queued: CmQueuedCall) -> StoredInstruction:
    return StoredInstruction(
        instruction_id="i-1",
        owner="me",
        status=InstructionStatus.PLACING,
        caller="+31201234567",
        callees=CALLEES,
        metadata={"order-id": "7781"},
        created_at=CREATED.isoformat(),
        awaiting_recording=queued,
    )


def test_the_queued_calls_show_queued_in_callee_order_after_the_grace() -> None:
    instruction = waiting(
        CmQueuedCall("c-2", CALLEES[1], success=True), CmQueuedCall("c-1", CALLEES[0], True)
    )

    state = state_of(instruction, [], CREATED + timedelta(minutes=3))

    assert state.status is InstructionStatus.QUEUED
    assert [(c.call_id, c.callee, c.status) for c in state.calls] == [
        ("c-1", CALLEES[0], CallStatus.QUEUED),
        ("c-2", CALLEES[1], CallStatus.QUEUED),
    ]
    assert state.calls[0].metadata == {"order-id": "7781"}


def test_a_call_its_callback_stored_first_is_shown_once_as_stored() -> None:
    instruction = waiting(
        CmQueuedCall("C-1", CALLEES[0], True), CmQueuedCall("c-2", CALLEES[1], True)
    )
    finished = StoredCall(
        instruction_id="i-1",
        call_id="c-1",
        caller=None,
        callee=CALLEES[0],
        status=CallStatus.FINISHED,
        outcome=Outcome.INPUT_RECEIVED,
    )

    state = state_of(instruction, [finished], CREATED + timedelta(minutes=3))

    assert [(c.call_id, c.status) for c in state.calls] == [
        ("c-1", CallStatus.FINISHED),
        ("c-2", CallStatus.QUEUED),
    ]
    assert state.status is InstructionStatus.QUEUED


def test_without_noted_replies_a_placing_instruction_is_unknown_after_the_grace() -> None:
    state = state_of(waiting(), [], CREATED + timedelta(minutes=3))

    assert state.status is InstructionStatus.UNKNOWN and state.calls == ()
