"""A scheduled dial's call recorded after the fact (nothing accepted is lost, as issue 15 for
direct placements).

Once CM has queued a scheduled dial's call, recording it is two writes: the call (its item
and pending-index entry, `ScheduleStore.record_call`, which also releases a callback that
overtook it) and the callee's schedule `dialling` → `placed` with the call's id. When either
fails, the dial (`DialScheduledCall`) does not ring again, and the call is kept by one of:

1. the placement-recordings queue (`DialRecordings`, message kind
   `dtmf-gateway/dial-recording`): record-placements applies it with `ApplyDialRecording`;
2. else (no queue, or it refused the message) the callee's `dialling` schedule itself: its
   ``call_id`` becomes the queued call's and ``queued_at`` says when (one conditional write),
   and the dial raises, so that the invocation is retried (Lambda's asynchronous retries,
   then the dial DLQ's redrive): the retried firing finds the note and records the call
   (`DialScheduledCall` calls `record_dial`) without calling CM.

Only when both fail is the call kept by nothing but its callback (held) — logged as the error
the dial raises. Applying a recording twice is safe: the call item is written only while it
has no status, the schedule changes only while it is still `dialling` for that attempt.

A recording applied late (either way) is written as `placement_recording.recorded_late`
does (the call stale no earlier than CALLBACK_GRACE after it), and when the instruction's
personal data were erased meanwhile (issue 19), the call just written is erased again: its
number and metadata never outlive the erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import NewInstruction, iso, utc_now
from dtmf_gateway.domain.placement_recording import recorded_late
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import ScheduleStore
    from dtmf_gateway.domain.redialling import Redials
    from dtmf_gateway.domain.stored import StoredInstruction


@dataclass(frozen=True, slots=True)
class DialRecording:
    """One scheduled dial's queued call to record.

    ``entry``: the callee's schedule as the dial claimed it (`dialling`; its callee, attempt
    and ``scheduled_for`` name the dial); ``call_id``: CM's id (lower case); ``record``: the
    call as `ScheduleStore.record_call` stores it (its ``created_at`` is the queued-at, its
    ``callees`` the one callee)."""

    entry: CalleeSchedule
    call_id: str
    record: NewInstruction

    @property
    def instruction_id(self) -> str:
        return self.record.instruction_id

    def noted(self) -> CalleeSchedule:
        """The `dialling` schedule that remembers the call (fallback 2 above)."""
        return replace(self.entry, call_id=self.call_id, queued_at=iso(self.record.created_at))

    def placed(self) -> CalleeSchedule:
        """The callee's schedule once the call is recorded."""
        return replace(
            self.entry,
            status=ScheduleStatus.PLACED,
            call_id=self.call_id,
            queued_at=None,
            redials=self.entry.redialled_call,  # (an entry stored before `redials` gets it)
        )


def record_dial(
    store: ScheduleStore,
    recording: DialRecording,
    *,
    late_at: datetime | None = None,
    redials: Redials | None = None,
) -> None:
    """Record the call, then the callee's schedule `placed` (a no-op when an earlier
    application did). ``late_at`` (aware; a recording applied after the dial): written as
    `recorded_late` at that moment. A call recorded after its instruction was erased is
    erased again by `ScheduleStore.record_call`. When CM's callback overtook the recording,
    ``redials`` decides on it as the callback would have (a later attempt follows: the call
    is held `redialled`), else it is released as the callee's result; a call a later attempt
    already redials (an earlier application decided, then failed to settle) is held
    `redialled` with or without ``redials``. Raises what the store raises (nothing is lost:
    each write is safe to repeat; a held call left unsettled is settled by the expirer, as
    `redialled` when a later attempt redials it)."""
    record = recording.record if late_at is None else recorded_late(recording.record, late_at)
    overtaken = store.record_call(
        record, recording.call_id, record.callees[0], recording.entry.attempt
    )
    store.change(recording.instruction_id, recording.entry, recording.placed())
    if overtaken is None:
        return
    # decided on the instruction as it is now (the callee `placed`, or moved on already)
    # (Redials first: a redial decided by an earlier application is scheduled again)
    instruction = store.load_instruction(recording.instruction_id)
    redialled = False
    if instruction is not None:
        if redials is not None:
            redialled = redials.after(
                instruction, recording.call_id, overtaken, late_at or record.created_at
            )
        redialled = redialled or redialled_already(instruction, recording)
    store.settle_overtaken(recording.instruction_id, recording.call_id, redialled=redialled)


def redialled_already(instruction: StoredInstruction, recording: DialRecording) -> bool:
    """Whether a later attempt of the recording's callee redials its call already: an
    earlier application decided on the overtaking callback (and then failed to settle it),
    so the call is held `redialled` whether or not this one may decide (record-placements
    has no Redials)."""
    current = instruction.schedule_of(recording.entry.index)
    return (
        current is not None
        and current.redials_call(recording.call_id)
        and not current.ended_unplaced  # that attempt was never placed: this call counts
    )


def noted_recording(
    instruction: StoredInstruction, entry: CalleeSchedule, stale_after_seconds: int
) -> DialRecording | None:
    """The recording a `dialling` schedule remembers (``queued_at`` and ``call_id`` set by a
    dial whose recording failed), else None. The call is rebuilt from the stored instruction
    (caller, metadata) with ``stale_after_seconds`` (0 when unknown: `recorded_late` makes
    it CALLBACK_GRACE after the recording is applied)."""
    if entry.status is not ScheduleStatus.DIALLING or entry.queued_at is None:
        return None
    if entry.call_id is None:  # pragma: no cover - a note always names the call
        return None
    record = NewInstruction(
        instruction_id=instruction.instruction_id,
        owner=instruction.owner,
        caller=instruction.caller or "",  # None once erased: the call is erased again
        callees=(entry.callee or "",),
        request={},
        metadata=dict(instruction.metadata),
        created_at=datetime.fromisoformat(entry.queued_at),
        stale_after_seconds=stale_after_seconds,
    )
    return DialRecording(entry=entry, call_id=entry.call_id, record=record)


class ApplyDialRecording:
    """Use case: apply a deferred dial recording (functions/record_placements)."""

    def __init__(
        self,
        store: ScheduleStore,
        clock: Callable[[], datetime] = utc_now,
        redials: Callable[[], Redials] | None = None,
    ) -> None:
        """``redials`` builds the redial decision (domain.redialling) on first need: a
        callback that overtook the recording is decided on as the callback itself would
        have been (None: such a call is the callee's result)."""
        self._store = store
        self._clock = clock
        self._redials = redials

    def apply(self, recording: DialRecording) -> None:
        """`record_dial` of the deferred recording, late at now. Raises what the store or
        the redial's scheduler raises (the message is then retried: re-applying it
        changes nothing, and a redial already decided is scheduled again, idempotently)."""
        redials = None if self._redials is None else self._redials()
        record_dial(self._store, recording, late_at=self._clock(), redials=redials)
