"""Redial (round 2, #16): call a callee again when its call ends with an outcome its
instruction's ``redial`` names — a new CM call, ``interval-seconds`` after that call ended,
moved out of quiet hours, never after ``not-after``, at most ``max-redials`` times.

The callback that ends the call decides (before it records the end): when a next attempt
follows, the callee's schedule moves to it (one conditional write: `placed` attempt n →
`scheduled` attempt n + 1) and its one-time schedule is created, and the call is recorded
held `redialled` — never published. The last attempt's call is the callee's one `DTMF Result`
(with `attempts`); when no later attempt is placed after all (cancelled, deadline passed,
refused), the held call is released as the result instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import iso
from dtmf_gateway.domain.dialling import request_for
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import Outcome
    from dtmf_gateway.domain.ports import DialScheduler, ScheduleStore
    from dtmf_gateway.domain.schedules import SchedulingRules
    from dtmf_gateway.domain.stored import StoredInstruction


def next_attempt(
    instruction: StoredInstruction,
    entry: CalleeSchedule,
    outcome: Outcome,
    ended_at: datetime,
    rules: SchedulingRules,
) -> CalleeSchedule | None:
    """The callee's next attempt after its call (``entry``, `placed`) ended with
    ``outcome`` at ``ended_at``; None when there is none: the outcome is not redialled, no
    redial is left, the next allowed moment is past ``not-after``, the instruction's
    personal data was erased, or it was cancelled (a DELETE while the call rang)."""
    if entry.callee is None or instruction.erased_at is not None:
        return None  # issue 19: erased, nothing more is placed (the last call is the result)
    if instruction.cancelled_at is not None:
        return None  # DELETE: nothing more is placed either
    try:
        request = request_for(instruction.request, entry.callee)
    except InvalidRequest:
        return None
    redial = request.redial
    if redial is None or outcome.value not in redial.on or entry.attempt > redial.max_redials:
        return None
    earliest = ended_at + timedelta(seconds=redial.interval_seconds)
    moment = rules.next_moment(request, entry.callee, earliest)
    if moment is None or (request.not_after is not None and moment > request.not_after):
        return None
    return replace(
        entry,
        status=ScheduleStatus.SCHEDULED,
        scheduled_for=iso(moment),
        attempt=entry.attempt + 1,
        redials=entry.call_id,
    )


class Redials:
    """Used by the callback use case: schedules the next attempt of a callee whose call
    ended, when its instruction says so."""

    def __init__(
        self, store: ScheduleStore, scheduler: DialScheduler, rules: SchedulingRules
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._rules = rules

    def after(
        self, instruction: StoredInstruction, call_id: str, outcome: Outcome, ended_at: datetime
    ) -> bool:
        """True when a next attempt follows the call ``call_id`` (scheduled now, or by an
        earlier delivery of the same callback): record the call held `redialled`."""
        entry = next((e for e in instruction.schedule if e.call_id == call_id), None)
        if entry is not None and entry.waiting:  # an earlier delivery scheduled it already
            self._schedule(instruction.instruction_id, entry)
            return True
        if entry is None or entry.status is not ScheduleStatus.PLACED:
            return False
        if entry.legacy_placed_redial and entry.names_redialled_call(
            call_id, self._store.call_attempt(instruction.instruction_id, call_id)
        ):  # a redial (stored before `redials`) whose CM answer was lost: decided already
            return True
        later = next_attempt(instruction, entry, outcome, ended_at, self._rules)
        if later is None:
            return False
        if self._store.change(instruction.instruction_id, entry, later):
            self._schedule(instruction.instruction_id, later)
            return True
        reloaded = self._store.load_instruction(instruction.instruction_id)
        current = None if reloaded is None else reloaded.schedule_of(entry.index)
        return current is not None and current.waiting and current.call_id == call_id

    def _schedule(self, instruction_id: str, entry: CalleeSchedule) -> None:
        if entry.scheduled_for is None:  # pragma: no cover - a waiting entry has a moment
            return
        self._scheduler.schedule(
            ScheduledDial(instruction_id, entry.index, entry.attempt, entry.scheduled_for)
        )
