"""The instruction is the idempotency record of a placement (issue 15).

A placement with an ``Idempotency-Key`` binds the key durably before CM is called: the
reservation of the id derived from the key, or (explicit ``instruction-id``) a key claim and
the reservation. So a retry with the same key always meets the instruction it placed, and the
instruction holds what its answer needs: the hash of the body it was placed with, whether an
attempt may still be placing it (``placing-until``), CM's replies in the 202's order, CM's
reason when the outcome is unknown. The retry is answered from it:

- another body → IdempotencyKeyReused (422);
- still `placing` before ``placing_until`` → RequestInProgress (409 `request-in-progress`);
  after it (the attempt died) → InstructionAlreadyExists (409 `instruction-id-in-use`) —
  unless CM's replies are kept on it (the attempt answered, its recording waits:
  `InstructionStore.note_pending_recording`), then RequestInProgress until it is applied;
- answered (`queued`, `unknown`, scheduled) → the same result, marked replayed;
- `not-placed` is never met: the reservation takes such an id again (re-placement).

Why not Powertools' idempotency utility, which the product used until issue 15 (house rule:
libraries before our own code unless measured): it writes two more items per placement (its
in-progress record and its stored response, 2 WRU of 11 per keyed lifecycle, $1.25 per 1M
calls of $14.58) and two more DynamoDB round trips, and its record duplicates what the
instruction already holds (callee numbers included, which erasure then has to find twice).
The campaigns route keeps Powertools' idempotency: it binds nothing else durably.

What every keyed placement computes (the body's hash, the placing window) is
`domain.key_binding`; this module is loaded only when a reservation meets an instruction
(place-call's first successful placement does not load it: tests/unit/test_cold_path_imports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dtmf_gateway.domain.calls import CmQueuedCall, InstructionStatus, iso
from dtmf_gateway.domain.errors import (
    CmOutcomeUnknown,
    IdempotencyKeyReused,
    InstructionAlreadyExists,
    RequestInProgress,
)


@dataclass(frozen=True, slots=True)
class PlacedBefore:
    """An instruction found at the id a placement tried to reserve, as its answer needs it.

    ``body_hash`` is None (then nothing is replayed) for an instruction placed without a key
    or before issue 15; ``calls`` are CM's replies in the order the 202 listed them (empty
    when unknown or before issue 15); ``placing_until`` is set while an attempt may still be
    placing it; ``timed_out`` tells an unknown outcome's read timeout from a broken reply.
    """

    instruction_id: str
    owner: str
    idempotency_key: str | None
    body_hash: str | None
    status: InstructionStatus | None
    created_at: str
    placing_until: int | None = None  # epoch seconds
    calls: tuple[CmQueuedCall, ...] = ()
    status_reason: str | None = None
    timed_out: bool = False
    scheduled: bool = False  # placed later (round 2, #16): it has a schedule per callee
    campaign_id: str | None = None  # the campaign whose row placed it (round 2, #17)


@dataclass(frozen=True, slots=True)
class Replay:
    """What a retry meets: an unknown outcome (``outcome_unknown``) or CM's ``calls``; the
    scheduled case is rendered by the use case (it recomputes the plan)."""

    instruction_id: str
    created_at: str
    calls: tuple[CmQueuedCall, ...] = ()
    outcome_unknown: CmOutcomeUnknown | None = None
    scheduled: bool = False


def placed_under(
    taken: InstructionAlreadyExists, *, owner: str, idempotency_key: str | None
) -> bool:
    """Whether the instruction ``taken`` found may have been placed by a request of (owner,
    key) — so a key claim made for it must stay. False only when the found instruction is
    surely another request's: another owner, no key or another key (hostile review 15c:
    the claim was kept for 24 hours, so a new `instruction-id` under the key was 422)."""
    found = taken.found
    if not isinstance(found, PlacedBefore):
        return True  # cannot tell: keep the claim (the safe side)
    return idempotency_key is not None and (found.owner, found.idempotency_key) == (
        owner,
        idempotency_key,
    )


def replay(
    taken: InstructionAlreadyExists,
    *,
    owner: str,
    idempotency_key: str | None,
    hashes: tuple[str, ...],
    now: datetime,
    ttl: timedelta,
) -> Replay:
    """The answer of the instruction ``taken`` found to a retry of (owner, key, body with
    ``hashes``). Raises ``taken`` when it is not this key's instruction (or its key's TTL
    passed, or it cannot be replayed), IdempotencyKeyReused, RequestInProgress."""
    found = taken.found
    if (
        not isinstance(found, PlacedBefore)
        or idempotency_key is None
        or found.idempotency_key != idempotency_key
        or found.owner != owner
        or found.body_hash is None
        or found.created_at < iso(now - ttl)
    ):
        raise taken
    if found.body_hash not in hashes:
        raise IdempotencyKeyReused(found.instruction_id)
    if found.placing_until is not None:  # an attempt has not answered (yet)
        # CM's replies kept on a `placing` instruction: the attempt answered 202 and its
        # recording waits (the placement-recordings queue, or the expirer): in progress until
        # it is applied, whatever the attempt's deadline
        waits = found.status is InstructionStatus.PLACING and bool(found.calls)
        if now.timestamp() < found.placing_until or waits:
            raise RequestInProgress(found.instruction_id)
        raise taken
    if found.status == InstructionStatus.UNKNOWN:
        reason = found.status_reason or "CM did not confirm the calls"
        unknown = CmOutcomeUnknown(reason, timed_out=found.timed_out)
        return Replay(found.instruction_id, found.created_at, outcome_unknown=unknown)
    if found.scheduled:
        return Replay(found.instruction_id, found.created_at, scheduled=True)
    if found.calls:
        return Replay(found.instruction_id, found.created_at, calls=found.calls)
    raise taken
