"""Which of an instruction's own callees a number CM echoes back is.

CM's synchronous reply and its callbacks name the callee, but not necessarily the way we sent
it: observed and documented forms include `+31612345678`, `0031612345678` (international
prefix), `31612345678` (no plus), the national form `0612345678`, or nothing at all. What we
store (and publish) is always the instruction's own E.164 number, never CM's echo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from dtmf_gateway.domain.calls import CmQueuedCall


@lru_cache(maxsize=1024)
def _forms(e164: str) -> frozenset[str]:
    """The digit strings CM might write for `e164`: with country code (after `+` or `00`
    are dropped), national significant number, and national number with a trunk `0`."""
    import phonenumbers  # only for an echo that is not the full number: off the cold path

    digits = e164.removeprefix("+")
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return frozenset({digits})
    national = phonenumbers.national_significant_number(number)
    return frozenset({digits, national, "0" + national})


def _digits(echoed: str) -> str:
    digits = "".join(ch for ch in echoed if ch.isdigit())
    return digits.removeprefix("00") if echoed.lstrip().startswith("00") else digits


def matching_callees(callees: Sequence[str], echoed: str | None) -> tuple[str, ...]:
    """The callees of `callees` (E.164) that `echoed` (any of CM's forms) may be, in the
    instruction's order: one when the echo tells them apart, several when it does not (two
    callees sharing a national number, echoed nationally: `+31301234567` and `+49301234567`
    as `0301234567`), none when it is none of them or names no number."""
    wanted = _digits(echoed or "")
    if not wanted:
        return ()
    exact = [c for c in callees if c.removeprefix("+") == wanted]
    if exact:  # CM's usual echo: the full number (callees are unique)
        return (exact[0],)
    found = [c for c in callees if wanted in _forms(c)]
    return tuple(dict.fromkeys(found))


def callees_echoed(callees: Sequence[str], echoed: str | None) -> frozenset[str] | None:
    """The callees of `callees` (E.164) that `echoed` (any of CM's forms) may be
    (:func:`matching_callees`, as a set): one, several, or none (a number that is none of
    them); None when `echoed` names no number at all (absent, empty, no digit), so there is
    nothing to compare."""
    if not _digits(echoed or ""):
        return None
    return frozenset(matching_callees(callees, echoed))


def is_other_callee(stored: str | None, named: frozenset[str] | None) -> bool:
    """Whether a call stored for callee `stored` (E.164; None or empty: no number, e.g. an
    erased call) is clearly not the call of a callback naming `named` (:func:`callees_echoed`
    of its `callee`; None: it names no number). No number on either side: never."""
    return bool(stored) and named is not None and stored not in named


def matching_callee(callees: Sequence[str], echoed: str | None) -> str | None:
    """The callee of `callees` (E.164) that `echoed` (any of CM's forms) is, or None when it
    is none of them, or is ambiguous (two callees share a national number)."""
    found = matching_callees(callees, echoed)
    return found[0] if len(found) == 1 else None


def _assigned(callees: Sequence[str], replies: Sequence[CmQueuedCall]) -> list[str | None]:
    """The instruction's own callee of each reply, in CM's reply order (None: none of ours)."""
    matches = [matching_callees(callees, reply.callee) for reply in replies]
    assigned: list[str | None] = [None] * len(replies)
    claimed: set[str] = set()

    def give(index: int, callee: str) -> None:
        assigned[index] = callee
        claimed.add(callee)

    for index, found in enumerate(matches):  # an echo that tells its callee
        if len(found) == 1 and found[0] not in claimed:
            give(index, found[0])
    # An echo matching several of our callees (one national number in two countries) is
    # ambiguous, not foreign: its element goes to the callee at its own position when that
    # is one of the matches (only when CM answered one element per callee: a shorter reply's
    # positions are not the callees' and could swap two people's calls), else to the first
    # match not yet given, in the instruction's order.
    ambiguous = [i for i, found in enumerate(matches) if len(found) > 1]
    for index in ambiguous if len(replies) == len(callees) else ():
        own = callees[index]
        if own in matches[index] and own not in claimed:
            give(index, own)
    for index in ambiguous:
        if assigned[index] is None:
            left = [c for c in matches[index] if c not in claimed]
            if left:
                give(index, left[0])
    # Only a reply whose echo cannot be told (no number at all) is placed by its position:
    # one naming a number that is none of ours (or a callee another reply already named) is
    # someone else's call, and giving it a callee would report a stranger's digits as theirs.
    untold = [
        i for i, r in enumerate(replies) if assigned[i] is None and not _digits(r.callee or "")
    ]
    if len(replies) == len(callees):
        for index in untold:
            if callees[index] not in claimed:
                give(index, callees[index])
    unclaimed = [c for c in callees if c not in claimed]
    unassigned = [i for i in untold if assigned[i] is None]
    if len(unclaimed) == 1 and len(unassigned) == 1:
        give(unassigned[0], unclaimed[0])
    return assigned


def with_own_callees(
    callees: Sequence[str], replies: Sequence[CmQueuedCall]
) -> tuple[CmQueuedCall, ...]:
    """CM's replies with each `callee` replaced by the instruction's own E.164 number, in the
    instruction's callee order (replies whose callee stays unknown come last, callee None).

    Each reply is matched by its number (any of CM's forms); a number that matches several
    callees (:func:`matching_callees`) gets, among those, the callee at its own position if
    not yet given, else the first not yet given; a reply without a number (absent, empty, no
    digit) gets the callee at its own position when CM answered one element per callee; a
    last such reply gets the last unclaimed callee. A reply naming a number that is none of
    ours, or a callee an earlier reply named, gets none. A callee is given to one reply at
    most.
    """
    order = {callee: i for i, callee in enumerate(callees)}
    placed = [
        dataclasses.replace(reply, callee=callee)
        for reply, callee in zip(replies, _assigned(callees, replies), strict=True)
    ]
    return tuple(sorted(placed, key=lambda r: order.get(r.callee or "", len(order))))


@dataclass(frozen=True, slots=True)
class AttributedReplies:
    """CM's reply split by whose it is.

    ``calls``: the replies given to a callee of the instruction (its own E.164 number), in
    its callee order; no callee and no call id appears twice. ``unattributed``: the others,
    in CM's order, callee None (never CM's echo: it may be a stranger's number) — a number
    that is none of ours, a callee or a call id an earlier reply already named. An
    unattributed reply that queued a call is a call CM may ring that no result can be given
    to: the placement reports it (`PlaceInstruction`'s ``on_unattributed_replies``).
    """

    calls: tuple[CmQueuedCall, ...]
    unattributed: tuple[CmQueuedCall, ...] = ()

    @property
    def unattributed_queued(self) -> tuple[CmQueuedCall, ...]:
        """The unattributed replies that queued a call (CM may ring it)."""
        return tuple(r for r in self.unattributed if r.success and r.call_id)


def attributed_replies(
    callees: Sequence[str], replies: Sequence[CmQueuedCall]
) -> AttributedReplies:
    """CM's ``replies`` to an instruction of ``callees`` (E.164), attributed as
    :func:`with_own_callees` does; a call id that an earlier reply (in CM's order) already
    named stays the earlier one's (unattributed when that one is): the later reply is
    unattributed, so that the call's digits are never reported as another callee's."""
    order = {callee: i for i, callee in enumerate(callees)}
    calls: list[CmQueuedCall] = []
    unattributed: list[CmQueuedCall] = []
    named: set[str] = set()
    for reply, callee in zip(replies, _assigned(callees, replies), strict=True):
        call_id = reply.call_id.lower() if reply.call_id else None
        repeated = call_id is not None and call_id in named
        if call_id is not None:
            named.add(call_id)
        if callee is None or repeated:
            unattributed.append(dataclasses.replace(reply, callee=None))
        else:
            calls.append(dataclasses.replace(reply, callee=callee))
    calls.sort(key=lambda r: order[r.callee or ""])
    return AttributedReplies(tuple(calls), tuple(unattributed))
