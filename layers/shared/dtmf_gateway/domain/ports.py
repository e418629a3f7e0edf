"""The small interfaces the domain needs from the outside world.

Adapters (httpx CM client, DynamoDB repository, Secrets Manager) implement them in
`dtmf_gateway.adapters`; the unit tests use in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from dtmf_gateway.domain.calls import (
    CallFinish,
    CmQueuedCall,
    FinishStatus,
    InstructionStatus,
    KnownInstruction,
    NewInstruction,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.request import DtmfCallRequest


class CmError(Exception):
    """Base of what can go wrong talking to CM."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CmRejected(CmError):
    """CM answered and placed nothing (4xx, 401, every callee refused, busy after retries)."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


class CmUnreachable(CmError):
    """The request surely never reached CM (connection refused, DNS, connect timeout)."""


class CmOutcomeUnknown(CmError):
    """The request may have reached CM: calls may ring although we got no usable answer."""

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class CmApi(Protocol):
    def place(
        self, request: DtmfCallRequest, *, instruction_id: str, callback_url: str
    ) -> list[CmQueuedCall]:
        """Queue the instruction with CM (the adapter owns CM's wire format); raises a
        CmError subclass when nothing usable came back."""
        ...


class InstructionAlreadyExists(Exception):
    """The instruction id is taken (by an earlier request that placed or may have placed calls)."""

    def __init__(self, instruction_id: str) -> None:
        super().__init__(instruction_id)
        self.instruction_id = instruction_id


class InstructionStore(Protocol):
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
    def load_instruction(self, instruction_id: str) -> KnownInstruction | None: ...

    def finish_queued_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        """End a stored queued call; DUPLICATE if it already ended, NOT_FOUND if unknown."""
        ...

    def finish_unseen_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        """Create the call already ended (the callback came before the placement's write).

        RECORDED, or DUPLICATE/NOT_FOUND-then-retry semantics as finish_queued_call when the
        placement's write lands at the same moment (the caller retries once).
        """
        ...
