"""The call lifecycle: statuses, outcomes and the records the service keeps.

One name for one thing: these values appear unchanged in the API, the table and the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class InstructionStatus(StrEnum):
    """Where an instruction stands as far as placing it with CM goes."""

    PLACING = "placing"  # reserved, CM not (yet) answered
    QUEUED = "queued"  # CM queued at least one call
    FINISHED = "finished"  # every call has a terminal status
    UNKNOWN = "unknown"  # CM may or may not have queued calls (timeout, broken reply)
    NOT_PLACED = "not-placed"  # CM surely placed nothing (refused, unreachable)


class CallStatus(StrEnum):
    QUEUED = "queued"
    FINISHED = "finished"
    EXPIRED = "expired"


TERMINAL_CALL_STATUSES = frozenset({CallStatus.FINISHED, CallStatus.EXPIRED})


class Outcome(StrEnum):
    """What happened on the call, from the consumer's point of view."""

    INPUT_RECEIVED = "input-received"  # answered, valid digits typed
    INVALID_INPUT = "invalid-input"  # answered, digits typed but not valid
    NO_INPUT = "no-input"  # answered, nothing typed
    UNANSWERED = "unanswered"  # CM code 9
    FAILED = "failed"  # CM code 11
    REJECTED = "rejected"  # CM code 12
    EXPIRED = "expired"  # no callback arrived in time


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, the one timestamp format of the product."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CmResult(BaseModel):
    """CM's `result` object of a finished call, as received (new keys CM adds are kept)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    code: int = Field(
        description="CM result code: 9 Cancelled, 10 Finished, 11 Failed, 12 Rejected"
    )
    description: str | None = None
    sip_disconnect_code: str | None = Field(default=None, alias="sip-disconnect-code")
    sip_disconnect_reason: str | None = Field(default=None, alias="sip-disconnect-reason")


@dataclass(frozen=True, slots=True)
class CmQueuedCall:
    """One element of CM's synchronous `call-queued` reply."""

    call_id: str | None
    callee: str | None
    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NewInstruction:
    """An accepted, validated instruction about to be placed."""

    instruction_id: str
    owner: str
    caller: str
    destinations: tuple[str, ...]
    request: dict[str, Any]  # the validated request in its JSON form (kebab-case keys)
    metadata: dict[str, str]
    created_at: datetime
    max_call_seconds: int  # after this many seconds without a callback a call may expire
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class PlacedCall:
    call_id: str
    callee: str
    status: str  # a CallStatus value, or "not-placed" for a callee CM refused
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlacementResult:
    """What the API answers; stored by the idempotency layer and replayed verbatim."""

    http_status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KnownInstruction:
    """What the callback needs of a stored instruction."""

    instruction_id: str
    status: str
    caller: str
    destinations: tuple[str, ...]
    metadata: dict[str, str]
    created_at: str
    min_digits: int | None  # the instruction's own digit rules, to re-check callbacks
    max_digits: int | None
    regex: str | None


@dataclass(frozen=True, slots=True)
class CallFinish:
    call_id: str
    callee: str | None  # known only when the callback overtook the placement
    outcome: Outcome
    digits: str | None
    result: dict[str, Any]
    finished_at: str


class FinishStatus(StrEnum):
    RECORDED = "recorded"  # this callback ended the call
    DUPLICATE = "duplicate"  # the call had already ended: nothing changed
    NOT_FOUND = "not-found"  # no record of this call id yet
