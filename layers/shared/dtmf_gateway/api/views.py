"""Domain results rendered as the API's response models (api/models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dtmf_gateway.api.models import CallView, InstructionView, PlacementAccepted, QueuedCall
from dtmf_gateway.domain.calls import CallStatus, InstructionStatus
from dtmf_gateway.domain.digits_protection import DigitsMode, protects

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import CmQueuedCall, StoredCall
    from dtmf_gateway.domain.placement import PlacementResult
    from dtmf_gateway.domain.reading import InstructionState


def _queued_call(reply: CmQueuedCall) -> QueuedCall:
    # CM's replies are rendered as received, not validated: failing once CM has queued calls
    # would invite a retry that rings people twice.
    if reply.success and reply.call_id:
        return QueuedCall.model_construct(
            call_id=reply.call_id,
            callee=reply.callee,  # type: ignore[arg-type]  # None only if CM left it out
            status=CallStatus.QUEUED.value,
        )
    return QueuedCall.model_construct(
        call_id=reply.call_id,
        callee=reply.callee,  # type: ignore[arg-type]
        status=InstructionStatus.NOT_PLACED.value,
        error=reply.error or "CM did not queue this call",
    )


def placement_accepted(result: PlacementResult) -> PlacementAccepted:
    """202: every callee in the instruction's order, queued or refused by CM."""
    return PlacementAccepted.model_construct(
        instruction_id=result.instruction_id,
        status=InstructionStatus.QUEUED.value,
        calls=[_queued_call(r) for r in result.calls],
    )


def _call_view(call: StoredCall) -> CallView:
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
    )


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
        calls=[_call_view(c) for c in state.calls],
        **reason,
    )
