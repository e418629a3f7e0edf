"""Placing an instruction: policy, reservation, the CM request, and what the caller is told.

Knows nothing of HTTP, boto3 or Powertools: it talks to CM and storage through the ports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtmf_gateway.domain.calls import (
    CallStatus,
    CmQueuedCall,
    InstructionStatus,
    NewInstruction,
    PlacementResult,
    utc_now,
)
from dtmf_gateway.domain.errors import CalleeLimitReached
from dtmf_gateway.domain.expiry import CALLBACK_GRACE
from dtmf_gateway.domain.ports import (
    CallbackUrls,
    CalleeQuota,
    CmApi,
    CmOutcomeUnknown,
    CmRejected,
    CmUnreachable,
    InstructionStore,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.request import DtmfCallRequest

# A call lasts at most: ringing + per attempt (prompt + keys + invalid prompt). Prompts are
# estimated generously from their length (TTS reads ~12 characters a second); audio files have
# an unknown length, so they get a fixed allowance.
_TTS_CHARS_PER_SECOND = 10
_FILE_PROMPT_SECONDS = 120
_PROMPT_SLACK_SECONDS = 5


class PlacementFailed(Exception):
    """CM placed nothing: safe to retry once the reason is dealt with."""

    def __init__(self, instruction_id: str, reason: str, *, unreachable: bool) -> None:
        super().__init__(reason)
        self.instruction_id = instruction_id
        self.reason = reason
        self.unreachable = unreachable


def _prompt_seconds(text: str | None, prompt_type: str) -> int:
    if not text:
        return 0
    if prompt_type == "File":
        return _FILE_PROMPT_SECONDS
    return len(text) // _TTS_CHARS_PER_SECOND + _PROMPT_SLACK_SECONDS


def max_call_seconds(request: DtmfCallRequest) -> int:
    """Upper bound on how long a call of this instruction can take, ringing included."""
    per_attempt = (
        _prompt_seconds(request.prompt, request.prompt_type)
        + (request.max_digits + 1) * request.timeout / 1000
        + _prompt_seconds(request.invalid_prompt, request.invalid_prompt_type)
    )
    valid = _prompt_seconds(request.valid_prompt, request.valid_prompt_type)
    return int(request.max_ringing_timeout + request.max_attempts * per_attempt + valid) + 1


def stale_after(request: DtmfCallRequest) -> int:
    """Seconds after queueing when a call without a callback may be expired."""
    return max_call_seconds(request) + int(CALLBACK_GRACE.total_seconds())


@dataclass(frozen=True, slots=True)
class PlacementContext:
    owner: str  # the calling identity (IAM principal)
    idempotency_key: str | None = None


class PlaceCalls:
    """Use case: validate policy, reserve the instruction id, queue the calls with CM."""

    def __init__(
        self,
        *,
        cm: CmApi,
        store: InstructionStore,
        callback_urls: CallbackUrls,
        policy: DialPolicy,
        clock: Callable[[], datetime] = utc_now,
        new_instruction_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_bookkeeping_error: Callable[[Exception], None] = lambda _: None,
        quota: CalleeQuota | None = None,
        calls_per_callee_per_hour: int = 0,
    ) -> None:
        self._cm = cm
        self._store = store
        self._callback_urls = callback_urls
        self._policy = policy
        self._clock = clock
        self._new_id = new_instruction_id
        self._on_bookkeeping_error = on_bookkeeping_error
        self._quota = quota if calls_per_callee_per_hour > 0 else None
        self._limit = calls_per_callee_per_hour

    def place(self, request: DtmfCallRequest, context: PlacementContext) -> PlacementResult:
        """Place the instruction.

        Raises PolicyRefused, CalleeLimitReached, InstructionAlreadyExists or PlacementFailed
        (nothing placed, a retry is safe). An ambiguous CM failure is *returned* (502/504)
        rather than raised, so the idempotency layer stores it and a retried request cannot
        ring anyone twice.
        """
        self._policy.enforce(request)
        self._count_calls_per_callee(request)
        instruction = NewInstruction(
            instruction_id=request.instruction_id or self._new_id(),
            owner=context.owner,
            caller=request.caller.e164,
            destinations=tuple(request.destinations()),
            request=request.model_dump(by_alias=True, mode="json", exclude={"metadata"}),
            metadata=dict(request.metadata or {}),
            created_at=self._clock(),
            max_call_seconds=stale_after(request),
            idempotency_key=context.idempotency_key,
        )
        self._store.reserve(instruction)
        callback_url = self._callback_urls.for_instruction(instruction.instruction_id)
        try:
            replies = self._cm.place(
                request, instruction_id=instruction.instruction_id, callback_url=callback_url
            )
        except (CmRejected, CmUnreachable) as error:
            self._store.mark(instruction.instruction_id, InstructionStatus.NOT_PLACED, error.reason)
            raise PlacementFailed(
                instruction.instruction_id,
                error.reason,
                unreachable=isinstance(error, CmUnreachable),
            ) from error
        except CmOutcomeUnknown as error:
            self._store.mark(instruction.instruction_id, InstructionStatus.UNKNOWN, error.reason)
            return _unknown_outcome(instruction.instruction_id, error)

        queued = [r for r in replies if r.success and r.call_id]
        if not queued:
            reasons = "; ".join(r.error or "refused" for r in replies) or "no call was queued"
            self._store.mark(instruction.instruction_id, InstructionStatus.NOT_PLACED, reasons)
            raise PlacementFailed(instruction.instruction_id, reasons, unreachable=False)
        try:
            self._store.record_queued_calls(instruction, queued)
        except Exception as error:  # noqa: BLE001 - the calls ring whatever our storage does
            # CM has queued the calls: failing now would invite a retry that rings people
            # twice. Their callbacks still find the reserved instruction and are recorded.
            self._on_bookkeeping_error(error)
        return PlacementResult(
            http_status=202,
            body={
                "instruction-id": instruction.instruction_id,
                "status": InstructionStatus.QUEUED.value,
                "calls": [_call_view(r) for r in _in_destination_order(instruction, replies)],
            },
        )

    def _count_calls_per_callee(self, request: DtmfCallRequest) -> None:
        if self._quota is None:
            return
        now = self._clock()
        over = set(self._quota.acquire(request.destinations(), now))
        if over:
            next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            raise CalleeLimitReached(
                [path for path, number in request.destination_fields() if number in over],
                self._limit,
                retry_after_seconds=max(1, int((next_hour - now).total_seconds())),
            )


def _in_destination_order(
    instruction: NewInstruction, replies: list[CmQueuedCall]
) -> list[CmQueuedCall]:
    order = {callee: i for i, callee in enumerate(instruction.destinations)}
    return sorted(replies, key=lambda r: order.get(r.callee or "", len(order)))


def _call_view(reply: CmQueuedCall) -> dict[str, Any]:
    if reply.success and reply.call_id:
        return {"call-id": reply.call_id, "callee": reply.callee, "status": CallStatus.QUEUED}
    return {
        "call-id": reply.call_id,
        "callee": reply.callee,
        "status": InstructionStatus.NOT_PLACED,
        "error": reply.error or "CM did not queue this call",
    }


def _unknown_outcome(instruction_id: str, error: CmOutcomeUnknown) -> PlacementResult:
    status = 504 if error.timed_out else 502
    return PlacementResult(
        http_status=status,
        body={
            "type": "urn:dtmf-gateway:problem:cm-outcome-unknown",
            "title": "CM did not confirm the calls",
            "status": status,
            "detail": (
                f"{error.reason}. CM may still place the calls: do not send this instruction "
                f"again; watch GET /v1/dtmf-calls/{instruction_id} for callbacks instead."
            ),
            "instruction-id": instruction_id,
            "instruction-status": InstructionStatus.UNKNOWN.value,
        },
        headers={"Content-Type": "application/problem+json"},
    )
