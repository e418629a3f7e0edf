"""Listing the caller's own instructions, newest first (round 2, #16:
`GET /v1/dtmf-calls`).

The index yields the owner's instructions newest first (no scan); each is read like GET and
its status derived from its calls, then the filters apply: `status` matches the instruction's
status, `outcome` any of its calls. A page examines at most EXAMINE_FACTOR times `limit`
instructions, so a filter that matches few never makes one request read everything: the page
then ends early, with a position to go on from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.reading import state_of

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import InstructionStatus, Outcome
    from dtmf_gateway.domain.ports import InstructionReader
    from dtmf_gateway.domain.reading import InstructionState

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
EXAMINE_FACTOR = 5


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Where a page ended: the last instruction it examined (its `created-at`, ISO-8601 UTC,
    and id); the next page starts after it."""

    created_at: str
    instruction_id: str


@dataclass(frozen=True, slots=True)
class ListQuery:
    """``created_from`` inclusive, ``created_to`` exclusive (ISO-8601 UTC, see calls.iso)."""

    status: InstructionStatus | None = None
    outcome: Outcome | None = None
    created_from: str | None = None
    created_to: str | None = None
    limit: int = DEFAULT_LIMIT
    after: ListPosition | None = None


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[InstructionState]
    next: ListPosition | None  # None: nothing more


class InstructionIndex(Protocol):
    def newest_first(
        self,
        owner: str,
        created_from: str | None,
        created_to: str | None,
        after: ListPosition | None,
    ) -> Iterator[ListPosition]:
        """The owner's instructions in [from, to), newest first, after ``after``; lazily
        (pages of the index are read as they are consumed)."""
        ...


class ListInstructions:
    def __init__(
        self,
        index: InstructionIndex,
        reader: InstructionReader,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._index = index
        self._reader = reader
        self._clock = clock

    def list(self, owner: str, query: ListQuery) -> ListPage:
        items: list[InstructionState] = []
        positions = self._index.newest_first(
            owner, query.created_from, query.created_to, query.after
        )
        now = self._clock()
        for examined, position in enumerate(positions, start=1):
            found = self._reader.load(position.instruction_id)
            if found is not None and found[0].owner == owner:
                state = state_of(*found, now)
                if _matches(state, query):
                    items.append(state)
            if len(items) == query.limit or examined == EXAMINE_FACTOR * query.limit:
                more = next(positions, None) is not None
                return ListPage(items, position if more else None)
        return ListPage(items, None)


def _matches(state: InstructionState, query: ListQuery) -> bool:
    if query.status is not None and state.status is not query.status:
        return False
    return query.outcome is None or any(c.outcome is query.outcome for c in state.calls)
