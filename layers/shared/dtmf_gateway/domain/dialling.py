"""Dialling a scheduled callee when its one-time schedule fires, and cancelling the callees
that wait (round 2, #16). See `domain.schedules` for the life of a callee's schedule.

Scheduler delivers at least once, and a cancel may race a firing schedule: every step that
matters is a conditional write on the callee's stored schedule, so exactly one of "dialled"
and "cancelled" happens, and a schedule that fires twice places once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dtmf_gateway.domain.callees import attributed_replies
from dtmf_gateway.domain.calls import (
    CALLBACK_GRACE,
    CmQueuedCall,
    InstructionStatus,
    NewInstruction,
    iso,
    utc_now,
)
from dtmf_gateway.domain.dial_recording import DialRecording, noted_recording, record_dial
from dtmf_gateway.domain.errors import (
    CmOutcomeUnknown,
    CmRejected,
    CmUnreachable,
    InstructionNotFound,
    InvalidRequest,
    PolicyRefused,
)
from dtmf_gateway.domain.placement import stale_after
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.schedules import (
    UNKNOWN_OUTCOME_NOTE,
    CalleeSchedule,
    NotPlacedReason,
    ScheduleStatus,
    SchedulingRules,
    next_hour,
)
from dtmf_gateway.domain.stack_pacing import StackAtLimit

if TYPE_CHECKING:
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.ports import (
        CallbackUrls,
        CalleeQuota,
        CmApi,
        DialRecordings,
        DialScheduler,
        ScheduleStore,
    )
    from dtmf_gateway.domain.redialling import Redials
    from dtmf_gateway.domain.request import DtmfCallRequest
    from dtmf_gateway.domain.stack_pacing import StackPacing
    from dtmf_gateway.domain.stored import StoredInstruction

#: The request keys of the instruction that name its callees (replaced by the one dialled).
_CALLEE_KEYS = ("callee", "callees")
#: A dial that finds the stack's second spent (after waiting one more in-process) is dialled
#: again this much later: its one-time schedule (Scheduler fires at least a minute ahead).
STACK_AT_LIMIT_DELAY = timedelta(seconds=60)


class DialOutcome(StrEnum):
    PLACED = "placed"  # CM queued the call
    # CM may have queued it (timeout, broken reply, a reply whose calls are none of its)
    OUTCOME_UNKNOWN = "outcome-unknown"
    NOT_PLACED = "not-placed"  # ended without a call (DialResult.reason says why)
    RESCHEDULED = "rescheduled"  # quiet hours or the per-callee limit: a later moment
    SKIPPED = "skipped"  # not this schedule's turn: a duplicate firing, cancelled, gone


@dataclass(frozen=True, slots=True)
class DialResult:
    outcome: DialOutcome
    reason: NotPlacedReason | None = None
    scheduled_for: str | None = None  # RESCHEDULED: the new moment
    recording_deferred: bool = False  # PLACED: its recording waits in the queue
    detail: str | None = None  # NOT_PLACED policy-refused: the rule or field names refused


#: The start of a scheduled callee's `detail` when its stored request no longer passes the
#: request's rules at dial time; the names of the fields refused follow (never a value).
INVALID_AT_DIAL = "request-invalid: "


def request_for(stored: dict[str, Any], callee: str) -> DtmfCallRequest:
    """The instruction's request (as stored) for one callee: what CM gets for this call.
    Parsed as a stored request (``parse_dtmf_call_request(stored=True)``): only the rules of
    the request run again, never a check whose answer depends on the machine's load (the
    `regex`'s timed probes) or on the place-call function's settings (the `webhook-url`
    target, checked again by each delivery) — so identical callees get identical answers.
    Raises InvalidRequest when it no longer passes today's rules."""
    body = {k: v for k, v in stored.items() if k not in _CALLEE_KEYS and v is not None}
    return parse_dtmf_call_request({**body, "callee": callee}, stored=True)


def invalid_detail(error: InvalidRequest) -> str:
    """A callee's `detail` for a stored request refused at dial time: INVALID_AT_DIAL and the
    names of the fields refused (``"request-invalid: max-digits, regex"``), sorted, each
    once. Field names only: never a number, digits or any value of the request."""
    fields = sorted({problem.field for problem in error.problems})
    return INVALID_AT_DIAL + (", ".join(fields) or "(body)")


class DialScheduledCall:
    """Use case behind the dial function: re-check the deadline, quiet hours, the dialling
    policy and the per-callee limit at dial time, claim the callee, place with CM, record."""

    def __init__(
        self,
        *,
        store: ScheduleStore,
        cm: CmApi,
        callback_urls: CallbackUrls,
        policy: DialPolicy,
        scheduler: DialScheduler,
        rules: SchedulingRules,
        clock: Callable[[], datetime] = utc_now,
        quota: CalleeQuota | None = None,
        calls_per_callee_per_hour: int = 0,
        stack_pacing: StackPacing | None = None,
        recordings: DialRecordings | None = None,
        redials: Redials | None = None,
        on_unattributed_replies: Callable[[str, tuple[CmQueuedCall, ...]], None] = (
            lambda *_: None
        ),
    ) -> None:
        """``recordings``: where a call's recording that failed goes (domain.dial_recording;
        None: the callee's schedule notes the call and the dial raises, to be retried).
        ``redials``: decides on a callback that overtook the dial's recording as the callback
        itself would have (None: such a call is the callee's result).
        ``on_unattributed_replies``: gets (instruction id, the calls CM queued that are not
        the dialled callee's, callee None) — as `PlaceInstruction`'s, an alarm."""
        self._store = store
        self._on_unattributed = on_unattributed_replies
        self._redials = redials
        self._recordings = recordings
        self._cm = cm
        self._callback_urls = callback_urls
        self._policy = policy
        self._scheduler = scheduler
        self._rules = rules
        self._clock = clock
        self._quota = quota if calls_per_callee_per_hour > 0 else None
        self._stack_pacing = stack_pacing  # CmMaxCallsPerSecond, one token per dial

    def dial(self, dial: ScheduledDial, time_budget_seconds: float | None = None) -> DialResult:
        """Dial one callee for the schedule that fired. Never raises for what the callee's
        schedule says (each end is a result); raises only what storage raises — also when
        CM queued the call and neither recording it nor keeping it for later worked (a retry
        of the same dial then records the call noted on the callee's schedule, or finds
        nothing to do: domain.dial_recording). A callee whose instruction was erased (issue
        19) is never dialled: its schedule ends `cancelled` (the erasure cancels what is not
        yet placed; `DTMF Call Not Placed` without numbers)."""
        instruction = self._store.load_instruction(dial.instruction_id)
        entry = None if instruction is None else _entry_of(instruction, dial)
        if instruction is not None and entry is not None and _is_retry_of(entry, dial):
            return self._record_noted(instruction, entry)
        if (
            instruction is None
            or instruction.status is not InstructionStatus.SCHEDULED  # not-placed: abandoned
            or entry is None
            or not _is_turn(entry, dial)
        ):
            return DialResult(DialOutcome.SKIPPED)
        now = self._clock()
        checked = self._checked(entry, instruction, now)
        if isinstance(checked, DialResult):
            return checked
        if not self._store.claim(dial.instruction_id, entry):
            return DialResult(DialOutcome.SKIPPED)  # cancelled, or another firing won
        dialling = _Dialling(
            instruction, replace(entry, status=ScheduleStatus.DIALLING), checked, now
        )
        try:
            callback_url = self._ready(dialling)
        except _NotNow as not_now:
            return self._later(dialling, not_now.earliest)
        except Exception as error:
            # nothing reached CM: the callee is dialled again by the retried firing
            self._unclaim(dialling, entry, error)
            raise
        return self._place(dialling, callback_url, time_budget_seconds)

    def _ready(self, dialling: _Dialling) -> str:
        """What the claimed callee needs before CM is called: its turn under the per-callee
        limit and the stack's pacing, and its callback URL (the signing keys: a Secrets
        Manager read on a cold cache). Raises _NotNow (a later moment), or what they raise.
        The URL comes first: a secret read that fails spends no slot of the callee's hour."""
        url = self._callback_urls.for_instruction(dialling.instruction.instruction_id)
        if self._quota is not None and self._quota.acquire([dialling.callee], dialling.now):
            raise _NotNow(next_hour(dialling.now))
        if self._stack_pacing is not None:
            try:
                self._stack_pacing.take(1)
            except StackAtLimit:  # the stack's second is spent: the callee waits a moment
                raise _NotNow(dialling.now + STACK_AT_LIMIT_DELAY) from None
        return url

    def _unclaim(self, dialling: _Dialling, claimed: CalleeSchedule, error: Exception) -> None:
        """Put the callee's schedule back to ``claimed`` (`scheduled`) after ``error`` struck
        before CM was called, so that the retried firing dials it; a note on ``error`` says
        when that failed too (the callee then stays `dialling`: README, failure table)."""
        try:
            self._store.change(dialling.instruction.instruction_id, dialling.entry, claimed)
        except Exception as unclaim:  # noqa: BLE001 - the caller raises `error`
            error.add_note(f"putting the callee back to `scheduled` failed too: {unclaim!r}")

    def _checked(
        self, entry: CalleeSchedule, instruction: StoredInstruction, now: datetime
    ) -> DtmfCallRequest | DialResult:
        """The callee's request when it may be dialled now; else what came of it.

        A stored request the request's rules refuse now (a rule tightened since it was
        accepted) ends the callee `not-placed` (`policy-refused`), its `detail` naming the
        fields (invalid_detail). Anything else re-parsing it raises propagates: nothing is
        claimed yet, so the callee stays `scheduled` and the retried dial (Lambda's retries,
        then a redrive of `DialCallDLQ`) dials it."""
        instruction_id, callee = instruction.instruction_id, entry.callee
        if callee is None or instruction.erased_at is not None or instruction.cancelled_at:
            # issue 19: "erasing cancels what is not yet placed"; a DELETE that came after
            # this callee's claim or its redial's decision: never rung, ended unplaced
            return self._end(instruction_id, entry, NotPlacedReason.CANCELLED, now)
        try:
            request = request_for(instruction.request, callee)
        except InvalidRequest as invalid:
            return self._refuse(instruction_id, entry, now, invalid_detail(invalid))
        earliest = max(now, request.not_before) if request.not_before is not None else now
        moment = self._rules.next_moment(request, callee, earliest)
        if moment is None or (request.not_after is not None and moment > request.not_after):
            return self._end(instruction_id, entry, NotPlacedReason.DEADLINE_PASSED, now)
        if moment > now:  # fired into quiet hours (late), or early (a replayed dial)
            return self._reschedule(instruction_id, entry, moment)
        try:
            self._policy.enforce(request)
        except PolicyRefused as refused:
            return self._refuse(instruction_id, entry, now, ", ".join(refused.rules))
        return request

    def _refuse(
        self, instruction_id: str, entry: CalleeSchedule, now: datetime, detail: str
    ) -> DialResult:
        """The callee ends `not-placed` (`policy-refused`) with ``detail`` (rule or field
        names, never a value), which the result carries too (the dial function logs it)."""
        ended = self._end(instruction_id, entry, NotPlacedReason.POLICY_REFUSED, now, detail)
        return replace(ended, detail=detail) if ended.outcome is DialOutcome.NOT_PLACED else ended

    def _later(self, dialling: _Dialling, earliest: datetime) -> DialResult:
        """The claimed callee is dialled at the next allowed moment from ``earliest`` (its
        schedule back to `scheduled`: never lost, never dialled twice), or ends
        `deadline-passed` when that is after `not-after`."""
        request, entry = dialling.request, dialling.entry
        instruction_id = dialling.instruction.instruction_id
        later = self._rules.next_moment(request, dialling.callee, earliest)
        if later is None or (request.not_after is not None and later > request.not_after):
            return self._end(instruction_id, entry, NotPlacedReason.DEADLINE_PASSED, dialling.now)
        return self._reschedule(instruction_id, entry, later)

    def _place(
        self, dialling: _Dialling, callback_url: str, time_budget_seconds: float | None
    ) -> DialResult:
        instruction, entry, request, now = (
            dialling.instruction,
            dialling.entry,
            dialling.request,
            dialling.now,
        )
        instruction_id = instruction.instruction_id
        try:
            replies = self._cm.place(
                request,
                instruction_id=instruction_id,
                callback_url=callback_url,
                time_budget_seconds=time_budget_seconds,
            )
        except (CmRejected, CmUnreachable) as error:
            return self._refused(dialling, error.reason)
        except CmOutcomeUnknown:
            return self._outcome_unknown(dialling)
        queued = self._callees_call(dialling, replies)
        if queued is None or queued.call_id is None:
            if any(r.success and r.call_id for r in replies):  # none the callee's: may ring
                return self._outcome_unknown(dialling)
            return self._refused(
                dialling, "; ".join(r.error or "refused" for r in replies) or "nothing queued"
            )
        record = NewInstruction(
            instruction_id=instruction_id,
            owner=instruction.owner,
            caller=request.caller.e164,
            callees=(dialling.callee,),
            request={},
            metadata=dict(instruction.metadata),
            created_at=now,
            stale_after_seconds=stale_after(request),
        )
        recording = DialRecording(entry=entry, call_id=queued.call_id.lower(), record=record)
        try:
            record_dial(self._store, recording, redials=self._redials)
        except Exception as error:  # noqa: BLE001 - CM queued the call: it must not be lost
            return self._keep_for_later(recording, error)
        return DialResult(DialOutcome.PLACED)

    def _callees_call(
        self, dialling: _Dialling, replies: list[CmQueuedCall]
    ) -> CmQueuedCall | None:
        """The call CM queued for the dialled callee: the element of CM's ``replies`` that
        `attributed_replies` gives to it (its number in any of CM's forms, or no number where
        the position tells), else None. The calls CM queued for anyone else (a stranger's
        number, a call id or the callee named again) are reported (``on_unattributed_replies``)
        and recorded nowhere: their callbacks are refused, never the callee's result."""
        attributed = attributed_replies((dialling.callee,), replies)
        strangers = attributed.unattributed_queued
        if strangers:
            with suppress(Exception):  # the alarm never costs the callee's call its recording
                self._on_unattributed(dialling.instruction.instruction_id, strangers)
        return next((r for r in attributed.calls if r.success and r.call_id), None)

    def _refused(self, dialling: _Dialling, detail: str) -> DialResult:
        """CM placed nothing: the callee ends `not-placed` (`cm-refused`). When that write
        fails, the answer is noted on its `dialling` schedule (the retried firing ends it so,
        without calling CM again) and the write's error raised."""
        entry = dialling.entry
        try:
            return self._end(
                dialling.instruction.instruction_id,
                entry,
                NotPlacedReason.CM_REFUSED,
                dialling.now,
                detail,
            )
        except Exception as error:
            noted = replace(
                entry, queued_at=iso(dialling.now), reason=NotPlacedReason.CM_REFUSED, detail=detail
            )
            self._note(dialling.instruction.instruction_id, entry, noted, error, "CM's refusal")
            raise

    def _outcome_unknown(self, dialling: _Dialling) -> DialResult:
        """CM may have queued the call (a timeout, a broken reply, a reply whose queued calls
        are none of the callee's): the callee is `placed` without a call id (its callback is
        held, then released by the expirer); it is never dialled again. A redial attempt's
        earlier call (held `redialled`) gets a deadline first: the expirer releases it as the
        callee's result then unless this attempt's callback came (`_hold_redialled`). When a
        write fails, the unknown outcome is noted on its `dialling` schedule (the retried
        firing completes it without calling CM) and the error raised."""
        instruction_id, entry = dialling.instruction.instruction_id, dialling.entry
        try:
            self._hold_redialled(instruction_id, entry, dialling.now, stale_after(dialling.request))
            self._store.change(instruction_id, entry, placed_unknown(entry))
        except Exception as error:
            noted = replace(entry, queued_at=iso(dialling.now), detail=UNKNOWN_OUTCOME_NOTE)
            self._note(instruction_id, entry, noted, error, "CM's unknown outcome")
            raise
        return DialResult(DialOutcome.OUTCOME_UNKNOWN)

    def _note(
        self,
        instruction_id: str,
        entry: CalleeSchedule,
        noted: CalleeSchedule,
        error: Exception,
        what: str,
    ) -> None:
        """Write ``noted`` (the callee's `dialling` schedule with ``queued_at`` set: what CM
        answered, for the retried firing, `_record_noted`) over ``entry`` after ``error``;
        notes on ``error`` say whether it was kept. Raises ``error`` when the note fails."""
        try:
            written = self._store.change(instruction_id, entry, noted)
        except Exception as note:
            error.add_note(f"{what}: noting it failed too ({note!r}); the callee stays dialling")
            raise error from note
        if written:
            error.add_note(f"{what} noted on the callee's schedule: the retried dial completes it")
        else:
            error.add_note(f"{what} not noted: the callee's schedule changed meanwhile")

    def _keep_for_later(self, recording: DialRecording, error: Exception) -> DialResult:
        """CM queued the call and recording it failed with ``error``: defer the recording to
        the queue; else note the call on the callee's `dialling` schedule and raise ``error``
        (the retried dial records it). Raises the note's error when that fails too."""
        if self._recordings is not None:
            try:
                self._recordings.defer_dial(recording)
            except Exception as deferral:  # noqa: BLE001 - the note below keeps it instead
                error.add_note(f"deferring its recording failed too: {deferral!r}")
            else:
                return DialResult(DialOutcome.PLACED, recording_deferred=True)
        call = f"call {recording.call_id} (attempt {recording.entry.attempt})"
        self._note(recording.instruction_id, recording.entry, recording.noted(), error, call)
        raise error

    def _record_noted(self, instruction: StoredInstruction, entry: CalleeSchedule) -> DialResult:
        """A retried dial whose first run noted CM's answer on the callee's schedule: complete
        it now, never calling CM again — a refusal ends the callee `not-placed`, an unknown
        outcome makes it `placed` as an unknown outcome does, a queued call is recorded. (A
        redial's schedule still names the previous call in ``call_id``: the refusal and the
        unknown outcome are told by their own marks, never by ``call_id``.)"""
        if entry.reason is not None:  # CM refused: as `_end`, the previous call counts
            return self._end(
                instruction.instruction_id, entry, entry.reason, self._clock(), entry.detail
            )
        try:
            stale = stale_after(request_for(instruction.request, entry.callee or ""))
        except InvalidRequest:  # erased meanwhile, or today's rules refuse it
            stale = 0
        if entry.detail == UNKNOWN_OUTCOME_NOTE:
            asked_at = datetime.fromisoformat(entry.queued_at or iso(self._clock()))
            self._hold_redialled(instruction.instruction_id, entry, asked_at, stale)
            placed = placed_unknown(entry)
            if not self._store.change(instruction.instruction_id, entry, placed):
                return DialResult(DialOutcome.SKIPPED)
            return DialResult(DialOutcome.OUTCOME_UNKNOWN)
        recording = noted_recording(instruction, entry, stale)
        if recording is None:  # pragma: no cover - _is_retry_of checked the note
            return DialResult(DialOutcome.SKIPPED)
        record_dial(self._store, recording, late_at=self._clock(), redials=self._redials)
        return DialResult(DialOutcome.PLACED)

    def _hold_redialled(
        self, instruction_id: str, entry: CalleeSchedule, asked_at: datetime, stale: int
    ) -> None:
        """The call ``entry`` (a redial attempt whose CM answer is unknown) redials stays
        held `redialled` until the attempt's call would be expired (``asked_at``, when CM was
        asked, + ``stale`` seconds, the call's stale-after; at least CALLBACK_GRACE from
        now): then the expirer releases it as the callee's result unless the attempt's
        callback came. Written before the callee's schedule names no call any more, so a
        failure in between leaves the deadline set (safe to repeat)."""
        previous = entry.redialled_call
        if previous is None:
            return
        deadline = max(asked_at + timedelta(seconds=stale), self._clock() + CALLBACK_GRACE)
        self._store.hold_redialled_until(instruction_id, previous, deadline)

    def _end(
        self,
        instruction_id: str,
        entry: CalleeSchedule,
        reason: NotPlacedReason,
        now: datetime,
        detail: str | None = None,
    ) -> DialResult:
        if not self._store.change(instruction_id, entry, entry.ended(reason, iso(now), detail)):
            return DialResult(DialOutcome.SKIPPED)
        if entry.call_id is not None:  # a redial that will not happen: the last call counts
            self._store.release_redialled(instruction_id, entry.call_id)
        return DialResult(DialOutcome.NOT_PLACED, reason)

    def _reschedule(
        self, instruction_id: str, entry: CalleeSchedule, moment: datetime
    ) -> DialResult:
        later = replace(entry, status=ScheduleStatus.SCHEDULED, scheduled_for=iso(moment))
        if not self._store.change(instruction_id, entry, later):
            return DialResult(DialOutcome.SKIPPED)
        self._scheduler.schedule(
            ScheduledDial(instruction_id, entry.index, entry.attempt, iso(moment))
        )
        return DialResult(DialOutcome.RESCHEDULED, scheduled_for=iso(moment))


@dataclass(frozen=True, slots=True)
class _Dialling:
    """A callee this dial has claimed: its instruction, its schedule (`dialling`), the
    request CM gets, and the moment of the dial."""

    instruction: StoredInstruction
    entry: CalleeSchedule
    request: DtmfCallRequest
    now: datetime

    @property
    def callee(self) -> str:
        """The number dialled (E.164): the request's one callee (see request_for)."""
        return self.request.all_callees()[0]


def placed_unknown(entry: CalleeSchedule) -> CalleeSchedule:
    """The claimed callee's schedule once CM's answer is unknown: `placed` without a call
    id (no callback of an earlier call is ever taken for this attempt's: a re-delivered one
    redials no more), the call it redials kept in ``redials``."""
    return replace(
        entry,
        status=ScheduleStatus.PLACED,
        call_id=None,
        redials=entry.redialled_call,
        queued_at=None,
        detail=None,
    )


class _NotNow(Exception):
    """The claimed callee may not be dialled yet: at the next allowed moment from
    ``earliest`` (the per-callee limit, the stack's spent second)."""

    def __init__(self, earliest: datetime) -> None:
        super().__init__(earliest)
        self.earliest = earliest


def _entry_of(instruction: StoredInstruction, dial: ScheduledDial) -> CalleeSchedule | None:
    """The callee's schedule the dial names: by its index; a dial created before dials named
    the index names the number — once erased, an erased callee waiting for exactly this
    attempt and moment, or dialled by it with CM's answer noted (several alike: the first;
    each such dial ends one of them, as every one of them is to end alike)."""
    if dial.index is not None:
        return instruction.schedule_of(dial.index)
    if instruction.erased_at is None or dial.callee in instruction.callees:
        return next((s for s in instruction.schedule if s.callee == dial.callee), None)
    return next(
        (
            s
            for s in instruction.schedule
            if s.callee is None and (_is_turn(s, dial) or _is_retry_of(s, dial))
        ),
        None,
    )


def _is_retry_of(entry: CalleeSchedule, dial: ScheduledDial) -> bool:
    """The callee's schedule notes a call this very dial had CM queue (its recording failed)."""
    return (
        entry.status is ScheduleStatus.DIALLING
        and entry.queued_at is not None
        and entry.attempt == dial.attempt
        and entry.scheduled_for == dial.scheduled_for
    )


def _is_turn(entry: CalleeSchedule, dial: ScheduledDial) -> bool:
    return (
        entry.waiting
        and entry.attempt == dial.attempt
        and entry.scheduled_for == dial.scheduled_for
    )


@dataclass(frozen=True, slots=True)
class CancelReport:
    cancelled: int  # callees this request cancelled (0 on a repeat: idempotent)


class CancelInstruction:
    """Use case behind `DELETE /v1/dtmf-calls/{instruction-id}`: every callee still waiting
    becomes `cancelled`; calls already placed with CM go on (CM has no cancel). The
    instruction is then marked cancelled, so that no callee is dialled after the DELETE:
    one a dial held `dialling` (and then put back, failing before CM) and a redial decided
    on a call that was ringing end `cancelled` at their dial, or are never scheduled. (The
    mark comes after the callees it cancelled: a dial that sees it finds only callees this
    cancel did not, and a dial racing the cancel for a callee ends exactly one way.)"""

    def __init__(self, store: ScheduleStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def cancel(self, instruction_id: str, *, owner: str) -> CancelReport:
        """Raises InstructionNotFound as a read does (unknown, another owner's)."""
        instruction = self._store.load_instruction(instruction_id)
        if instruction is None or instruction.owner != owner:
            raise InstructionNotFound(instruction_id)
        ended_at = iso(self._clock())
        cancelled = 0
        for entry in instruction.schedule:
            if entry.waiting and self._store.change(
                instruction_id, entry, entry.ended(NotPlacedReason.CANCELLED, ended_at)
            ):
                cancelled += 1
                if entry.call_id is not None:  # a redial cancelled: the last call counts
                    self._store.release_redialled(instruction_id, entry.call_id)
        if instruction.schedule:
            self._store.mark_cancelled(instruction_id, ended_at)
        return CancelReport(cancelled)
