"""The small interfaces the domain needs from the outside world.

Adapters (httpx CM client, the DynamoDB stores, Secrets Manager, EventBridge) implement them
in `dtmf_gateway.adapters`; the unit tests use the in-memory fakes of `tests/fakes.py`. The
errors they raise live in `dtmf_gateway.domain.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import (
        CallFinish,
        CmQueuedCall,
        FinishStatus,
        InstructionStatus,
        NewInstruction,
        StoredCall,
        StoredInstruction,
    )
    from dtmf_gateway.domain.events import DtmfResultDetail
    from dtmf_gateway.domain.request import DtmfCallRequest


class CmApi(Protocol):
    def place(
        self,
        request: DtmfCallRequest,
        *,
        instruction_id: str,
        callback_url: str,
        time_budget_seconds: float | None = None,
    ) -> list[CmQueuedCall]:
        """Queue the instruction with CM: one reply per callee, in CM's order.

        ``time_budget_seconds`` is a hard wall-clock deadline for the whole exchange (None:
        the adapter's own limit); past it the answer is CmOutcomeUnknown(timed_out=True).
        Raises CmRejected / CmUnreachable (nothing placed) or CmOutcomeUnknown (calls may ring).
        """
        ...


class InstructionStore(Protocol):
    """What placing writes."""

    def reserve(self, instruction: NewInstruction) -> None:
        """Store the instruction as `placing`; raises InstructionAlreadyExists when taken."""
        ...

    def mark(self, instruction_id: str, status: InstructionStatus, reason: str) -> None:
        """Record that placing ended without queued calls (`unknown` or `not-placed`)."""
        ...

    def record_queued_calls(
        self, instruction: NewInstruction, calls: Sequence[CmQueuedCall]
    ) -> None:
        """Store one record per queued call (one write each; the instruction's own status
        is derived from its calls when read, so it is not written again).

        Must not overwrite a call whose callback was recorded first.
        """
        ...


class CalleeQuota(Protocol):
    def acquire(self, callees: Sequence[str], now: datetime) -> list[str]:
        """Count one call to each callee in the current window; return the callees that are
        already at the limit (then nothing is counted for any of them)."""
        ...


class CallbackUrls(Protocol):
    def for_instruction(self, instruction_id: str) -> str:
        """The URL CM must POST the instruction's results to (token included)."""
        ...


class CallbackStore(Protocol):
    """What recording a callback reads and writes."""

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None: ...

    def finish_queued_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        """End a stored queued call: RECORDED; DUPLICATE if it already ended; NOT_FOUND if no
        call with this id is stored."""
        ...

    def finish_unseen_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        """Store the call already ended (its callback came before the placement's write):
        RECORDED; ALREADY_STORED if the placement stored it meanwhile (then finish it with
        finish_queued_call)."""
        ...


class InstructionReader(Protocol):
    def load(self, instruction_id: str) -> tuple[StoredInstruction, list[StoredCall]] | None:
        """The instruction and its calls (in no particular order); None when not stored."""
        ...


@dataclass(frozen=True, slots=True)
class PendingCall:
    instruction_id: str
    call_id: str


class PendingCalls(Protocol):
    def stale(self, now: datetime) -> Iterable[PendingCall]:
        """Queued calls whose stale-after moment has passed."""
        ...

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        """Queued → expired; False when it already ended (a callback won)."""
        ...


class ResultPublisher(Protocol):
    def publish(self, details: Sequence[DtmfResultDetail]) -> list[int]:
        """Publish in order; return the indexes of the details that were NOT published."""
        ...
