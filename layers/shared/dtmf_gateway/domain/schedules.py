"""Scheduled calls (round 2, #16): what a callee of a scheduled instruction is waiting for.

An instruction is *scheduled* when it names ``not-before`` or when one of its callees is in
quiet hours at the request: then nothing is placed at the request; each callee gets a
:class:`CalleeSchedule` and a one-time schedule (EventBridge Scheduler ``at()``) that dials
it at ``scheduled-for`` (`domain.dialling`). A request without ``not-before`` whose callees
may all be called now keeps round 1's synchronous path.

A callee's schedule moves: ``scheduled`` → ``dialling`` (the one dial that claimed it) →
``placed`` (CM queued the call: from then on the call record speaks); or ``scheduled`` →
``cancelled`` (DELETE) / ``not-placed`` (deadline passed, policy refused at dial time, CM
refused). Every move is one conditional write on the stored schedule, so a dial and a cancel
racing for the same callee resolve to exactly one of them, and a schedule that fires twice
places once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import iso
from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest
from dtmf_gateway.domain.quiet_hours import QuietHours, callee_zones

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from dtmf_gateway.domain.ports import ScheduledDial
    from dtmf_gateway.domain.request import DtmfCallRequest

#: How far ahead `not-before` may be, unless the stack says otherwise (`MaxScheduleDays`).
DEFAULT_MAX_SCHEDULE_DAYS = 30


class ScheduleStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its moment
    DIALLING = "dialling"  # claimed by one dial, CM being called
    PLACED = "placed"  # CM queued the call (or may have: `call_id` None)
    CANCELLED = "cancelled"  # DELETE came first
    NOT_PLACED = "not-placed"  # ended without a CM call (see NotPlacedReason)


#: A callee whose schedule ended without a CM call: the `DTMF Call Not Placed` event.
ENDED_UNPLACED = frozenset({ScheduleStatus.CANCELLED, ScheduleStatus.NOT_PLACED})


class NotPlacedReason(StrEnum):
    """`reason` of a `DTMF Call Not Placed` event."""

    CANCELLED = "cancelled"
    DEADLINE_PASSED = "deadline-passed"
    POLICY_REFUSED = "policy-refused"
    CM_REFUSED = "cm-refused"
    INSTRUCTION_ID_IN_USE = "instruction-id-in-use"  # a campaign row's id held by another


#: The `detail` of a callee's `dialling` schedule that notes CM's unknown outcome (a refusal's
#: note carries its `reason`; a queued call's note its new `call_id`).
UNKNOWN_OUTCOME_NOTE = "cm-outcome-unknown"


@dataclass(frozen=True, slots=True)
class CalleeSchedule:
    """One callee of a scheduled instruction: ``callee`` (E.164; None once the instruction's
    personal data was erased) at ``index`` (0-based, its place in the instruction's callees:
    what names it in storage and in its one-time schedules, never the number).
    ``scheduled_for`` (ISO-8601 UTC, see calls.iso) is when the gateway intends to place it,
    and with ``attempt`` (1 for the first CM call) names the one schedule allowed to dial it;
    ``reason``/``ended_at`` are set when it ended unplaced; ``call_id`` once CM queued its
    call. ``queued_at`` (ISO-8601 UTC) only on a `dialling` entry whose call CM queued but
    whose recording failed: then ``call_id`` is that call's (not an earlier attempt's), and
    the dial's retried firing records it (domain.dial_recording). ``redials``: on a redial
    attempt (``attempt`` > 1), the id of the call it redials (the previous attempt's), kept
    through every later state: a waiting attempt also names that call in ``call_id`` (items
    written before ``redials`` name it only there: `redialled_call`), a placed one its own
    call (None when CM's answer was lost)."""

    callee: str | None
    status: ScheduleStatus
    scheduled_for: str | None
    attempt: int = 1
    reason: NotPlacedReason | None = None
    ended_at: str | None = None
    call_id: str | None = None
    detail: str | None = field(default=None, compare=False)  # why (CM's reason), for GET
    queued_at: str | None = None
    redials: str | None = None
    index: int = field(kw_only=True)

    @property
    def waiting(self) -> bool:
        return self.status is ScheduleStatus.SCHEDULED

    @property
    def redialled_call(self) -> str | None:
        """The call this attempt redials (None on a first attempt): ``redials``, or on an
        entry written before it was kept, the previous call a waiting attempt (or its
        claim, before CM's answer was noted) still names in ``call_id``."""
        if self.redials is not None or self.attempt == 1:
            return self.redials
        if self.waiting:
            return self.call_id
        if self.status is ScheduleStatus.DIALLING and (
            self.queued_at is None  # claimed
            or self.reason is not None  # CM's refusal noted
            or self.detail == UNKNOWN_OUTCOME_NOTE
        ):  # (a noted queued call names its own call)
            return self.call_id
        return None

    def names_redialled_call(self, call_id: str, call_attempt: int | None) -> bool:
        """Whether this `placed` redial attempt, written before ``redials`` was kept, names in
        ``call_id`` the call it redials (``call_id``) rather than its own: that version left the
        earlier call there when CM's answer was lost. Told apart by the call's own attempt
        (``call_attempt``, as recorded on the call; None: unknown): an earlier one than this
        entry's. Such an attempt is treated as `placed` naming no call (`placed_unknown`): a
        re-delivered callback of the call redials no more, and the call, held `redialled`, is
        released by the expirer unless a later call of its callee came."""
        return (
            self.legacy_placed_redial
            and self.call_id == call_id
            and call_attempt is not None
            and call_attempt < self.attempt
        )

    @property
    def legacy_placed_redial(self) -> bool:
        """A `placed` redial attempt written before ``redials`` was kept: its ``call_id`` is
        its own call, or the call it redials (`names_redialled_call` tells them apart)."""
        return self.status is ScheduleStatus.PLACED and self.attempt > 1 and self.redials is None

    def redials_call(self, call_id: str) -> bool:
        """Whether ``call_id`` is the call this attempt redials: a later attempt of its
        callee was decided on it, so it is not the callee's result (unless that attempt is
        never placed after all: `release_redialled`)."""
        return self.redialled_call == call_id

    @property
    def ended_unplaced(self) -> bool:
        return self.status in ENDED_UNPLACED

    def ended(self, reason: NotPlacedReason, at: str, detail: str | None = None) -> CalleeSchedule:
        status = (
            ScheduleStatus.CANCELLED
            if reason is NotPlacedReason.CANCELLED
            else (ScheduleStatus.NOT_PLACED)
        )
        return replace(
            self, status=status, reason=reason, ended_at=at, detail=detail, queued_at=None
        )


@dataclass(frozen=True, slots=True)
class SchedulingRules:
    """The stack's scheduling settings: ``default_quiet_hours`` (`QuietHours`, None: none),
    ``max_schedule_days`` (`MaxScheduleDays`), and where a number's time zones come from."""

    default_quiet_hours: QuietHours | None = None
    max_schedule_days: int = DEFAULT_MAX_SCHEDULE_DAYS
    zones_of: Callable[[str], tuple[ZoneInfo, ...]] = callee_zones

    def quiet_hours(self, request: DtmfCallRequest) -> QuietHours | None:
        """The request's own ``quiet-hours`` (``false``: none), else the stack's."""
        if request.quiet_hours is not None:
            window = request.quiet_hours.window()
            return None if window.empty else window
        return self.default_quiet_hours

    def next_moment(
        self, request: DtmfCallRequest, callee: str, earliest: datetime
    ) -> datetime | None:
        """The first moment at or after ``earliest`` outside the callee's quiet hours (None:
        there is none)."""
        quiet = self.quiet_hours(request)
        if quiet is None:
            return earliest
        return quiet.next_allowed(earliest, self.zones_of(callee))


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """When each callee of a request is to be placed (None: place them all now, round 1's
    synchronous path)."""

    callees: tuple[CalleeSchedule, ...]

    def dials(self, instruction_id: str) -> list[ScheduledDial]:
        """One dial per callee that waits (not those already past the deadline)."""
        # imported here: `ports` (every port's protocol and record, ~3 ms of CPU) is not
        # needed by an immediate placement, so place-call's cold start does not load it
        from dtmf_gateway.domain.ports import ScheduledDial

        return [
            ScheduledDial(instruction_id, c.index, c.attempt, c.scheduled_for)
            for c in self.callees
            if c.waiting and c.scheduled_for is not None
        ]


def plan(request: DtmfCallRequest, now: datetime, rules: SchedulingRules) -> SchedulePlan | None:
    """The schedule of a request, or None when it has no ``not-before`` and every callee may
    be called now.

    Each callee waits until ``not-before`` (or now) and then until its quiet hours end; one
    whose next allowed moment is after ``not-after`` ends `not-placed` (deadline-passed) at
    once. Raises InvalidRequest when ``not-before`` is too far ahead, ``not-after`` has
    passed, or the quiet hours leave a callee no moment of the day in all of its zones."""
    from dtmf_gateway.domain.request_schedule import window_problems  # (the request's own)

    problems = window_problems(request.not_before, request.not_after, now, rules.max_schedule_days)
    if problems:
        raise InvalidRequest(problems)
    earliest = max(now, request.not_before) if request.not_before is not None else now
    entries: list[CalleeSchedule] = []
    never: list[FieldProblem] = []
    for index, (path, callee) in enumerate(request.callee_fields()):
        moment = rules.next_moment(request, callee, earliest)
        if moment is None:
            never.append(
                FieldProblem(
                    "quiet-hours",
                    f"leave no moment of the day to call {path} in all of its time zones",
                )
            )
            continue
        entry = CalleeSchedule(callee, ScheduleStatus.SCHEDULED, iso(moment), index=index)
        if request.not_after is not None and moment > request.not_after:
            entry = entry.ended(NotPlacedReason.DEADLINE_PASSED, iso(now))
        entries.append(entry)
    if never:
        raise InvalidRequest(never)
    if (
        request.not_before is None
        and request.redial is None  # each attempt of a redialled callee is a scheduled dial
        and all(e.waiting and e.scheduled_for == iso(now) for e in entries)
    ):
        return None
    return SchedulePlan(tuple(entries))


def latest_moment(schedules: Sequence[CalleeSchedule], default: datetime) -> datetime:
    """The latest ``scheduled-for`` (the instruction's retention counts from it)."""
    moments = [datetime.fromisoformat(s.scheduled_for) for s in schedules if s.scheduled_for]
    return max([default, *moments])


def next_hour(now: datetime) -> datetime:
    """The start of the next clock hour (the per-callee quota's window)."""
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
