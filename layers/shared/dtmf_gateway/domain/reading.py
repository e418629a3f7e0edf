"""Reading an instruction back: only its owner may, and its status is derived from its calls.

The instruction item is written once (`placing`, or `unknown` / `not-placed` when placing
ended without calls); what clients see as its status comes from the calls stored under it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import CallStatus, Hold, InstructionStatus, utc_now
from dtmf_gateway.domain.errors import InstructionNotFound
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus
from dtmf_gateway.domain.stored import StoredCall, StoredInstruction

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import InstructionReader

# A placement that wrote no call after this long will not write one any more (the function's
# timeout is far shorter): the instruction's outcome is then unknown until callbacks arrive.
PLACEMENT_GRACE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class InstructionState:
    """An instruction, its calls in the instruction's callee order, and its current status."""

    instruction: StoredInstruction
    status: InstructionStatus
    calls: tuple[StoredCall, ...]


def current_status(
    instruction: StoredInstruction, calls: list[StoredCall], now: datetime
) -> InstructionStatus:
    """`finished` once every call ended, `queued` while one has not; with no call yet, the
    stored status — `unknown` if it still says `placing` after PLACEMENT_GRACE. A scheduled
    instruction: see scheduled_status."""
    if instruction.schedule:
        return scheduled_status(instruction, calls)
    if calls:
        if all(c.ended for c in calls):
            return InstructionStatus.FINISHED
        return InstructionStatus.QUEUED
    if instruction.status is InstructionStatus.PLACING:
        created = datetime.fromisoformat(instruction.created_at)
        if now - created > PLACEMENT_GRACE:
            return InstructionStatus.UNKNOWN
    return instruction.status


def scheduled_status(instruction: StoredInstruction, calls: list[StoredCall]) -> InstructionStatus:
    """Round 2 (#16): `not-placed` once placing was abandoned (no schedule could be made);
    `cancelled` when every callee was; `finished` when every callee is final (its call
    ended, or it ended unplaced) — `not-placed` if none was ever called; `scheduled` while
    nothing is placed; `queued` otherwise."""
    if instruction.status is InstructionStatus.NOT_PLACED:
        return InstructionStatus.NOT_PLACED
    entries = instruction.schedule
    ended_ids = {c.call_id for c in calls if c.ended}
    ended_callees = {c.callee for c in calls if c.ended}

    def final(entry: CalleeSchedule) -> bool:
        if entry.ended_unplaced:
            return True
        if entry.status is not ScheduleStatus.PLACED:
            return False
        if entry.call_id is not None:  # its latest call (a redial's, not an earlier one)
            return entry.call_id in ended_ids
        return entry.callee in ended_callees  # CM's answer was lost: any call of the callee

    if all(e.status is ScheduleStatus.CANCELLED for e in entries):
        return InstructionStatus.CANCELLED
    if all(final(e) for e in entries):
        if all(e.ended_unplaced for e in entries):
            return InstructionStatus.NOT_PLACED
        return InstructionStatus.FINISHED
    if not calls and all(e.waiting or e.ended_unplaced for e in entries):
        return InstructionStatus.SCHEDULED
    return InstructionStatus.QUEUED


def awaiting_recording(instruction: StoredInstruction, stored: set[str]) -> list[StoredCall]:
    """Issue 15: the calls CM queued whose recording waits (kept on the instruction, not yet
    stored as calls), each `queued` as the recording will store it; a call already stored
    (``stored``: lower-case call ids, e.g. a callback that came first) is left out."""
    return [
        StoredCall(
            instruction_id=instruction.instruction_id,
            call_id=queued.call_id,
            caller=instruction.caller,
            callee=queued.callee,
            status=CallStatus.QUEUED,
            metadata=instruction.metadata,
            queued_at=instruction.created_at,
            erased_at=instruction.erased_at,
            campaign_id=instruction.campaign_id,
        )
        for queued in instruction.awaiting_recording
        if queued.call_id and queued.call_id.lower() not in stored
    ]


class ReadInstruction:
    """Use case behind `GET /v1/dtmf-calls/{instruction-id}`."""

    def __init__(self, reader: InstructionReader, clock: Callable[[], datetime] = utc_now) -> None:
        self._reader = reader
        self._clock = clock

    def read(self, instruction_id: str, *, owner: str) -> InstructionState:
        """Raises InstructionNotFound when there is no such instruction or `owner` (the asking
        IAM principal) did not place it: results can hold PINs, and to anyone else the
        instruction does not exist."""
        found = self._reader.load(instruction_id)
        if found is None or found[0].owner != owner:
            raise InstructionNotFound(instruction_id)
        return state_of(*found, self._clock())


def state_of(
    instruction: StoredInstruction, stored: list[StoredCall], now: datetime
) -> InstructionState:
    """The instruction as its owner sees it: its calls in callee order, its status."""
    # A call set aside (its callback named a call the placement did not record) is kept
    # for audit only: it is not one of the instruction's results.
    calls = [c for c in stored if c.hold is not Hold.SET_ASIDE]
    calls += awaiting_recording(instruction, {c.call_id.lower() for c in stored})
    order = {callee: i for i, callee in enumerate(instruction.callees)}
    ordered = sorted(calls, key=lambda c: (order.get(c.callee or "", len(order)), c.call_id))
    return InstructionState(
        instruction=instruction,
        status=current_status(instruction, calls, now),
        calls=tuple(ordered),
    )
