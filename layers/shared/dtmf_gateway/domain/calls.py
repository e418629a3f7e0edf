"""The call lifecycle: statuses, outcomes and the records a placement writes.

One name for one thing: these values appear unchanged in the API, the table and the events.
The records as read back (the instruction and its calls as stored, a call's end, CM's result
object) are `domain.stored`: the callback, the reads and the events use them, a placement does
not (place-call's cold start does not load them: tests/unit/test_cold_path_imports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dtmf_gateway.domain.schedules import CalleeSchedule


class InstructionStatus(StrEnum):
    """Where an instruction stands as far as placing it with CM goes."""

    PLACING = "placing"  # reserved, CM not (yet) answered
    QUEUED = "queued"  # CM queued at least one call
    FINISHED = "finished"  # every call has a terminal status
    UNKNOWN = "unknown"  # CM may or may not have queued calls (timeout, broken reply)
    NOT_PLACED = "not-placed"  # CM surely placed nothing (refused, unreachable)
    # round 2 (#16): scheduled instructions (domain.schedules)
    SCHEDULED = "scheduled"  # nothing placed yet: every callee waits for its moment
    CANCELLED = "cancelled"  # every callee was cancelled before it was placed


class CallStatus(StrEnum):
    QUEUED = "queued"
    FINISHED = "finished"
    EXPIRED = "expired"


TERMINAL_CALL_STATUSES = frozenset({CallStatus.FINISHED, CallStatus.EXPIRED})


class Hold(StrEnum):
    """Why an ended call is not (yet) published: its callback overtook the placement."""

    AWAITING_PLACEMENT = "awaiting-placement"  # until the placement records its call ids
    SET_ASIDE = "set-aside"  # not a call the placement recorded: kept for audit, never published
    REDIALLED = "redialled"  # round 2 (#16): a later attempt for its callee follows (or, when
    # none is placed after all, this call is released as the callee's result)


class Correction(StrEnum):
    """What a call's later revision corrects (the event's `corrects`)."""

    EXPIRED = "expired"  # a real callback arrived after the call was expired
    REDERIVED = "rederived"  # the outcome was re-derived from the stored callback body


class Outcome(StrEnum):
    """What happened on the call, from the consumer's point of view."""

    INPUT_RECEIVED = "input-received"  # answered, valid digits typed
    INVALID_INPUT = "invalid-input"  # answered, digits typed but not valid
    NO_INPUT = "no-input"  # answered, nothing typed
    UNANSWERED = "unanswered"  # CM code 9
    FAILED = "failed"  # CM code 11
    REJECTED = "rejected"  # CM code 12
    EXPIRED = "expired"  # no callback arrived in time


# How long after a call must have ended we still wait for CM's callback (the expirer's grace,
# domain/expiry.py; here so that a placement, which stamps it on each call, does not load the
# expirer's module at its cold start).
CALLBACK_GRACE = timedelta(minutes=15)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, the one timestamp format of the product."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    owner: str  # the IAM principal that placed it (see api.identity)
    caller: str
    callees: tuple[str, ...]  # E.164, in the request's order
    request: dict[str, Any]  # the validated request in its JSON form (kebab-case keys)
    metadata: dict[str, str]
    created_at: datetime
    stale_after_seconds: int  # a call without a callback this long after queueing may expire
    idempotency_key: str | None = None
    # issue 19: the keyed hash of `expected-digits` (verify mode; the digits are never stored)
    expected_digits_hash: str | None = None
    schedule: tuple[CalleeSchedule, ...] = ()  # round 2 (#16): set when placed later
    campaign_id: str | None = None  # the campaign whose row this is (its events carry it)
    # issue 15 (placement_replay): with a key, the hash of the body it binds, and until when
    # (epoch seconds) the reserving attempt may still be placing it
    body_hash: str | None = None
    placing_until: int | None = None


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """An Idempotency-Key bound to the first body it was sent with, before CM is called.

    ``scope`` is the id derived from (owner, key) (``placement.derived_instruction_id``);
    ``body_hash`` the sha256 hex of the request's canonical JSON; ``instruction_id`` the
    explicit id that body names. The binding holds from ``claimed_at`` until ``expires_at``
    (the idempotency TTL), whatever happens to the invocation that made it.
    """

    scope: str
    owner: str
    idempotency_key: str
    body_hash: str
    instruction_id: str
    claimed_at: datetime
    expires_at: datetime
