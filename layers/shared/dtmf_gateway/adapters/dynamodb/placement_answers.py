"""What a keyed instruction item holds for its replay (issue 15, domain.placement_replay).

- `body-hash`: 128 bits of sha256 of the canonical body the key is bound to (base64url);
- `placing-until`: epoch seconds, present from the reservation until the answer is complete
  (removed by the write that completes it: the calls named, `unknown`, or schedules made);
- `replies`: CM's replies in the 202's order, one compact string each — ``<i>:<call-id>``
  for a queued call, ``<i>!<call-id>!<error>`` for a refused one, ``<i>`` the callee's index
  in `destinations` (empty when CM's echo matched none): numbers are not stored twice, and an
  erasure that blanks `destinations` blanks them in the replay too;
- `cm-timed-out`: true on an `unknown` instruction whose CM call timed out (504, not 502).

Kept compact on purpose: the write that names the calls is billed by the larger of the item
before and after it, and stays one write unit only while the instruction is under 1 KB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    BODY_HASH,
    CALLEES,
    CAMPAIGN_ID,
    CM_TIMED_OUT,
    CREATED_AT,
    IDEMPOTENCY_KEY,
    INSTRUCTION_ID,
    OWNER,
    PLACING_UNTIL,
    REPLIES,
    SCHEDULE,
    STATUS,
    STATUS_REASON,
)
from dtmf_gateway.domain.calls import CmQueuedCall, InstructionStatus

if TYPE_CHECKING:
    from dtmf_gateway.domain.placement_replay import PlacedBefore


def encoded_replies(callees: Sequence[str], replies: Sequence[CmQueuedCall]) -> list[str]:
    """CM's replies (callees already the instruction's own) as the `replies` attribute."""
    position = {callee: str(i) for i, callee in enumerate(callees)}
    encoded = []
    for reply in replies:
        index = position.get(reply.callee or "", "")
        if reply.success and reply.call_id:
            encoded.append(f"{index}:{reply.call_id}")
        else:
            encoded.append(f"{index}!{reply.call_id or ''}!{reply.error or ''}")
    return encoded


def decoded_replies(
    callees: Sequence[str | None], stored: Sequence[str]
) -> tuple[CmQueuedCall, ...]:
    """The replies of a `replies` attribute, each callee as `destinations` holds it now."""

    def callee(index: str) -> str | None:
        return callees[int(index)] if index.isdigit() and int(index) < len(callees) else None

    replies = []
    for entry in stored:
        index, sep, rest = entry.partition(":")
        if sep and "!" not in index:
            replies.append(CmQueuedCall(rest, callee(index), success=True))
            continue
        index, _, rest = entry.partition("!")
        call_id, _, error = rest.partition("!")
        replies.append(CmQueuedCall(call_id or None, callee(index), False, error or None))
    return tuple(replies)


def erased_replies(stored: Sequence[str]) -> list[str]:
    """The `replies` attribute without the numbers CM may have named in a refusal's error
    (issue 19: the callees themselves are only indexes into `destinations`)."""
    # imported here: the erasure's use case is not needed by a placement (place-call's
    # cold start does not load it)
    from dtmf_gateway.domain.erasure import without_numbers

    erased = []
    for entry in stored:
        index, refused, rest = entry.partition("!")
        if refused and ":" not in index:
            call_id, _, error = rest.partition("!")
            entry = f"{index}!{call_id}!{without_numbers(error)}"  # noqa: PLW2901
        erased.append(entry)
    return erased


def placed_before(item: Mapping[str, Any]) -> PlacedBefore:
    """What a replay needs of a plain instruction item."""
    # imported here: only a reservation that meets an instruction reads one (place-call's
    # cold start and its successful placements do not load the replay)
    from dtmf_gateway.domain.placement_replay import PlacedBefore

    status = item.get(STATUS)
    until = item.get(PLACING_UNTIL)
    return PlacedBefore(
        instruction_id=str(item.get(INSTRUCTION_ID, "")),
        owner=str(item.get(OWNER, "")),
        idempotency_key=item.get(IDEMPOTENCY_KEY),
        body_hash=item.get(BODY_HASH),
        status=InstructionStatus(status) if status in set(InstructionStatus) else None,
        created_at=str(item.get(CREATED_AT, "")),
        placing_until=None if until is None else int(until),
        calls=decoded_replies(list(item.get(CALLEES) or []), item.get(REPLIES) or []),
        status_reason=item.get(STATUS_REASON) or None,
        timed_out=bool(item.get(CM_TIMED_OUT)),
        scheduled=isinstance(item.get(SCHEDULE), dict),
        campaign_id=item.get(CAMPAIGN_ID) or None,
    )
