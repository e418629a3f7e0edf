"""Placing an instruction: policy, quota, reservation, CM, and what came of it.

Knows nothing of HTTP, boto3 or Powertools: it talks to CM and storage through the ports and
returns a :class:`PlacementResult`; `dtmf_gateway.api` renders it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dtmf_gateway.domain.callees import attributed_replies
from dtmf_gateway.domain.calls import (
    CALLBACK_GRACE,
    CmQueuedCall,
    InstructionStatus,
    KeyClaim,
    NewInstruction,
    utc_now,
)
from dtmf_gateway.domain.digits_protection import digits_hash
from dtmf_gateway.domain.errors import (
    CalleeLimitReached,
    CmOutcomeUnknown,
    CmRejected,
    CmUnreachable,
    IdempotencyKeyReused,
    InstructionAlreadyExists,
    InvalidRequest,
    PlacementFailed,
)
from dtmf_gateway.domain.ids import DERIVED_ID_PREFIX
from dtmf_gateway.domain.key_binding import body_hash, canonical_bodies, placing_until
from dtmf_gateway.domain.schedules import CalleeSchedule, SchedulePlan, SchedulingRules, plan

if TYPE_CHECKING:
    from dtmf_gateway.domain.placement_replay import Replay
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.ports import (
        CallbackUrls,
        CalleeQuota,
        CmApi,
        DialScheduler,
        DigitKeySource,
        InstructionStore,
        PlacementRecordings,
    )
    from dtmf_gateway.domain.request import DtmfCallRequest

# A call lasts at most: ringing + per attempt (prompt + keys + invalid prompt). Prompts are
# estimated generously from their length (TTS reads ~12 characters a second); audio files have
# an unknown length, so they get a fixed allowance.
_TTS_CHARS_PER_SECOND = 10
_FILE_PROMPT_SECONDS = 120
_PROMPT_SLACK_SECONDS = 5

#: How long an Idempotency-Key is remembered: its instruction's answer and its key claim.
IDEMPOTENCY_TTL = timedelta(hours=24)


def _prompt_seconds(text: str | None, prompt_type: str) -> int:
    if not text:
        return 0
    if prompt_type == "File":
        return _FILE_PROMPT_SECONDS
    return len(text) // _TTS_CHARS_PER_SECOND + _PROMPT_SLACK_SECONDS


def max_call_seconds(request: DtmfCallRequest) -> int:
    """Upper bound on how long a call of this instruction can take, ringing included."""
    per_attempt = (
        _prompt_seconds(request.prompt, request.prompt_type)
        + (request.max_digits + 1) * request.timeout / 1000
        + _prompt_seconds(request.invalid_prompt, request.invalid_prompt_type)
    )
    valid = _prompt_seconds(request.valid_prompt, request.valid_prompt_type)
    return int(request.max_ringing_timeout + request.max_attempts * per_attempt + valid) + 1


def stale_after(request: DtmfCallRequest) -> int:
    """Seconds after queueing when a call without a callback may be expired."""
    return max_call_seconds(request) + int(CALLBACK_GRACE.total_seconds())


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _stored_request(request: DtmfCallRequest) -> dict[str, Any]:
    """The request as the instruction keeps it: without its metadata (kept apart), never
    `expected-digits` (only its keyed hash, issue 19), and without top-level fields that are
    null (issue 15: the instruction stays under 1 KB, one write unit per write; readers take
    a missing field as null, as `dialling.request_for` does)."""
    stored = request.model_dump(by_alias=True, mode="json", exclude={"metadata", "expected_digits"})
    return {key: value for key, value in stored.items() if value is not None}


def derived_instruction_id(owner: str, idempotency_key: str) -> str:
    """The instruction id of a request that names none but carries an Idempotency-Key:
    ``k-`` + the first 32 hex digits of sha256(owner "\\n" key). Fixed before CM is called,
    so every retry of that request — whatever step the first attempt died at — reserves the
    same id and can never place a second instruction."""
    digest = hashlib.sha256(f"{owner}\n{idempotency_key}".encode()).hexdigest()
    return DERIVED_ID_PREFIX + digest[:32]


@dataclass(frozen=True, slots=True)
class PlacementContext:
    """Who places (``owner``, the IAM principal), under which ``idempotency_key`` (or None),
    and ``time_budget_seconds``: how long CM may take at most (None: the CM client's own
    limit), chosen by the caller so that the outcome can still be recorded afterwards;
    ``invocation_seconds``: how long this attempt may run at all (a retry meanwhile is told
    the request is in progress; None: ``key_binding.MAX_PLACING``)."""

    owner: str
    idempotency_key: str | None = None
    time_budget_seconds: float | None = None
    invocation_seconds: float | None = None
    campaign_id: str | None = None  # set when a campaign's row places it (events carry it)
    #: Called right before CM is called (a campaign's pacing: the gate sits next to the
    #: request it paces); whatever it raises means "not now": the reservation is marked
    #: `not-placed` (so the same id can be placed later) and the error raised on.
    before_cm: Callable[[], None] | None = None

    def instruction_id(self, request: DtmfCallRequest, new_id: Callable[[], str]) -> str:
        """The request's own id, else the one derived from the key, else a fresh one."""
        if request.instruction_id:
            return request.instruction_id
        if self.idempotency_key is not None:
            return derived_instruction_id(self.owner, self.idempotency_key)
        return new_id()

    def key_claim(
        self, request: DtmfCallRequest, now: datetime, body: str | None = None
    ) -> KeyClaim | None:
        """The claim binding the key to this body, needed when the request names its own
        ``instruction-id`` and carries a key (None otherwise: a derived id's reservation
        binds the key itself, and without a key there is nothing to bind)."""
        if not request.instruction_id or self.idempotency_key is None:
            return None
        return KeyClaim(
            scope=derived_instruction_id(self.owner, self.idempotency_key),
            owner=self.owner,
            idempotency_key=self.idempotency_key,
            body_hash=hashlib.sha256(
                (request.canonical_json() if body is None else body).encode()
            ).hexdigest(),
            instruction_id=request.instruction_id,
            claimed_at=now,
            expires_at=now + IDEMPOTENCY_TTL,
        )


@dataclass(frozen=True, slots=True)
class PlacementResult:
    """What placing an instruction came to, when CM may have placed something.

    ``calls`` are CM's replies in the instruction's callee order: the queued ones
    (``success`` and a call id) and those CM refused, each given to one of its callees
    (callees.attributed_replies: a reply no callee can be given is not among them).
    ``outcome_unknown`` is set (and ``calls`` empty) when CM may have queued calls but gave
    no usable answer: the instruction is recorded as `unknown` and its id stays taken.
    """

    instruction_id: str
    calls: tuple[CmQueuedCall, ...] = ()
    outcome_unknown: CmOutcomeUnknown | None = None
    scheduled: tuple[CalleeSchedule, ...] = ()  # round 2 (#16): placed later, per callee
    replayed: bool = False  # issue 15: the answer of an earlier request with the same key

    @property
    def queued(self) -> list[CmQueuedCall]:
        return [c for c in self.calls if c.success and c.call_id]


class PlaceInstruction:
    """Use case: check the policy and the quota, bind the Idempotency-Key to the body (an
    explicit id only), reserve the instruction id, queue the calls with CM, record them.

    The key is bound durably before CM is called, independent of the idempotency layer's
    in-progress window: a retry with the same key and another body after *any* crash is
    IdempotencyKeyReused, never a second CM instruction. With a derived id the reservation
    itself is the binding (the id is the key's scope); with an explicit id a key claim is
    written at that scope (one more write), and released when CM surely placed nothing.
    """

    def __init__(
        self,
        *,
        cm: CmApi,
        store: InstructionStore,
        callback_urls: CallbackUrls,
        policy: DialPolicy,
        clock: Callable[[], datetime] = utc_now,
        new_instruction_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_bookkeeping_error: Callable[[Exception], None] = lambda _: None,
        quota: CalleeQuota | None = None,
        calls_per_callee_per_hour: int = 0,
        digit_keys: DigitKeySource | None = None,
        scheduler: DialScheduler | None = None,
        scheduling: SchedulingRules | None = None,
        recordings: PlacementRecordings | None = None,
        on_recording_deferred: Callable[[Exception], None] = lambda _: None,
        on_unattributed_replies: Callable[[str, tuple[CmQueuedCall, ...]], None] = (
            lambda *_: None
        ),
    ) -> None:
        self._cm = cm
        self._store = store
        self._callback_urls = callback_urls
        self._policy = policy
        self._clock = clock
        self._new_id = new_instruction_id
        self._on_bookkeeping_error = on_bookkeeping_error
        self._quota = quota if calls_per_callee_per_hour > 0 else None
        self._limit = calls_per_callee_per_hour
        self._digit_keys = digit_keys  # issue 19: verify mode's expected-digits hash
        self._scheduler = scheduler
        self._scheduling = scheduling or SchedulingRules()
        # a recording that cannot be written now is deferred (nothing accepted is lost)
        self._recordings = recordings
        self._on_recording_deferred = on_recording_deferred
        # (instruction id, CM's queued replies no callee of it can be given): an alarm
        self._on_unattributed = on_unattributed_replies

    def place(self, request: DtmfCallRequest, context: PlacementContext) -> PlacementResult:
        """Place the instruction.

        Raises InvalidRequest (the rules of the moment: `schedules.plan`, a request that
        could never be placed), PolicyRefused, CalleeLimitReached, IdempotencyKeyReused (the
        key is bound to another body), InstructionAlreadyExists or PlacementFailed (nothing
        placed, a retry is safe). An ambiguous CM failure is *returned*
        (``outcome_unknown``) rather than raised, so the idempotency layer stores its answer
        and a retried request cannot ring anyone twice.
        """
        self._policy.enforce(request)
        now = _to_milliseconds(self._clock())  # as stored: a scheduled replay re-plans at it
        try:
            later = plan(request, now, self._scheduling)
        except InvalidRequest as refused:  # e.g. `not-after` passed: a retry's first answer?
            return self._refused(request, context, now, refused)
        if later is not None:
            return self._schedule(request, context, later, now)
        self._count_calls_per_callee(request)
        instruction, claim, replayed = self._bind(request, context, now)
        if replayed is not None:
            return replayed
        try:
            return self._place_reserved(request, context, instruction, claim)
        except PlacementFailed:
            raise  # marked `not-placed`: the id (and the key) may be placed again
        except Exception:
            # The attempt answers with an error: its window ends now (a retry meets the
            # reservation, 409 instruction-id-in-use, as after Powertools deleted its record).
            if instruction.placing_until is not None:
                self._end_window(instruction.instruction_id)
            raise

    def _place_reserved(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        instruction: NewInstruction,
        claim: KeyClaim | None,
    ) -> PlacementResult:
        """CM and the recording of what it answered, the instruction reserved."""
        instruction_id = instruction.instruction_id
        callback_url = self._callback_urls.for_instruction(instruction_id)
        if context.before_cm is not None:
            try:
                context.before_cm()
            except Exception:
                self._store.mark(instruction_id, InstructionStatus.NOT_PLACED, "not sent (paced)")
                self._release(claim)
                raise
        try:
            replies = self._cm.place(
                request,
                instruction_id=instruction_id,
                callback_url=callback_url,
                time_budget_seconds=context.time_budget_seconds,
            )
            calls = self._attributed(instruction, replies)
        except (CmRejected, CmUnreachable) as error:
            self._store.mark(instruction_id, InstructionStatus.NOT_PLACED, error.reason)
            self._release(claim)
            raise PlacementFailed(
                instruction_id, error.reason, unreachable=isinstance(error, CmUnreachable)
            ) from error
        except CmOutcomeUnknown as error:
            self._store.mark(
                instruction_id, InstructionStatus.UNKNOWN, error.reason, timed_out=error.timed_out
            )
            return PlacementResult(instruction_id, outcome_unknown=error)

        result = PlacementResult(instruction_id, calls=calls)
        if not result.queued:
            reasons = "; ".join(r.error or "refused" for r in replies) or "no call was queued"
            self._store.mark(instruction_id, InstructionStatus.NOT_PLACED, reasons)
            self._release(claim)
            raise PlacementFailed(instruction_id, reasons, unreachable=False)
        try:
            self._store.record_queued_calls(instruction, result.queued, result.calls)
        except Exception as error:  # noqa: BLE001 - the calls ring whatever our storage does
            # CM has queued the calls: failing now would invite a retry that rings people
            # twice. The 202 stands; the recording is handed to a durable queue.
            self._defer_recording(instruction, result, error)
        return result

    def _attributed(
        self, instruction: NewInstruction, replies: Sequence[CmQueuedCall]
    ) -> tuple[CmQueuedCall, ...]:
        """CM's ``replies`` given to the instruction's own callees (attributed_replies). The
        calls CM queued that no callee can be given are reported (``on_unattributed_replies``)
        and recorded nowhere: their callbacks are refused, never a result. Raises
        CmOutcomeUnknown when CM queued calls but none is a callee's: calls may ring, so
        never "nothing placed" (a retry could ring a callee twice)."""
        attributed = attributed_replies(instruction.callees, replies)
        strangers = attributed.unattributed_queued
        if strangers:
            self._on_unattributed(instruction.instruction_id, strangers)
            if not any(c.success and c.call_id for c in attributed.calls):
                raise CmOutcomeUnknown(
                    "CM queued calls but its reply gives none to a callee of the instruction",
                    timed_out=False,
                )
        return attributed.calls

    def _defer_recording(
        self, instruction: NewInstruction, result: PlacementResult, error: Exception
    ) -> None:
        """Hand the recording that just failed with ``error`` to `PlacementRecordings` (its
        consumer applies the same `record_queued_calls`: the calls' items and index entries,
        the instruction's call ids and replies, the end of its `placing-until`, the release of
        held callbacks), then note CM's replies on the instruction (`note_pending_recording`:
        what a read, a retry and the expirer act on until it is applied; the expirer applies
        it itself when the queue did not take it). A queue that failed is a bookkeeping error
        (operators must see it) whose notes say whether the note still keeps the recording.
        """
        deferral: Exception | None = error if self._recordings is None else None
        if self._recordings is not None:
            try:
                self._recordings.defer(instruction, result.queued, result.calls)
            except Exception as failed:  # noqa: BLE001 - the answer (202) stands
                deferral = failed  # its __context__ is `error`
        try:
            self._store.note_pending_recording(instruction, result.calls)
        except Exception as note:  # noqa: BLE001 - the answer (202) stands
            if deferral is None:  # the queue has it; the read side answers as before the note
                error.add_note(f"noting CM's replies on the instruction failed too: {note!r}")
                self._on_recording_deferred(error)
            else:
                deferral.add_note(f"noting CM's replies failed too ({note!r}): nothing keeps it")
                self._on_bookkeeping_error(deferral)
            return
        if deferral is None:
            self._on_recording_deferred(error)
            return
        deferral.add_note("CM's replies are noted on the instruction: the expirer applies them")
        self._on_bookkeeping_error(deferral)

    def _bind(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        now: datetime,
        schedule: tuple[CalleeSchedule, ...] = (),
    ) -> tuple[NewInstruction, KeyClaim | None, PlacementResult | None]:
        """Bind the key (when there is one) and reserve the instruction: the instruction,
        its key claim (explicit id) and, when an earlier request with the key holds the id,
        that request's answer instead (placement_replay). Raises what claim_key, reserve and
        placement_replay.replay raise."""
        instruction = self._new_instruction(request, context, schedule, now)
        bodies = canonical_bodies(request, self._digit_keys) if context.idempotency_key else ()
        claim, bound = self._claim_key(request, context, now, bodies)
        if bound is not None:  # the instruction is the key's record: its body, and until when
            instruction = dataclasses.replace(
                instruction,
                body_hash=body_hash(bound),
                placing_until=placing_until(now, context.invocation_seconds),
            )
        elif context.campaign_id is not None:  # a redelivered row tells a live placer from a
            # dead one by it (campaign_taken_rows)
            instruction = dataclasses.replace(
                instruction, placing_until=placing_until(now, context.invocation_seconds)
            )
        try:
            self._store.reserve(instruction)
        except InstructionAlreadyExists as taken:
            # a retry (or another request) met the instruction
            answer = self._answer_of(taken, request, context, now, bodies=bodies, claim=claim)
            return instruction, claim, answer
        return instruction, claim, None

    def _answer_of(
        self,
        taken: InstructionAlreadyExists,
        request: DtmfCallRequest,
        context: PlacementContext,
        now: datetime,
        *,
        bodies: tuple[str, ...],
        claim: KeyClaim | None = None,
    ) -> PlacementResult:
        """The answer to a request whose id the instruction ``taken`` found holds: that
        instruction's own (placement_replay.replay, marked replayed) when this (owner, key,
        body) placed it; raises ``taken`` (its ``claim`` released) when another request
        did, or what replay raises."""
        # only a request that met an instruction loads the replay
        from dtmf_gateway.domain.placement_replay import PlacedBefore, placed_under, replay

        key = context.idempotency_key
        if not placed_under(taken, owner=context.owner, idempotency_key=key):
            # the explicit id is another request's: this key placed nothing there, so
            # its claim is released (README: a claim is "released only when CM placed nothing")
            self._release(claim)
            found = taken.found
            if isinstance(found, PlacedBefore) and found.owner != context.owner:
                # another principal's: answered without pointing to what it cannot read
                raise InstructionAlreadyExists(taken.instruction_id, found, foreign=True)
            raise taken
        found = replay(
            taken,
            owner=context.owner,
            idempotency_key=key,
            hashes=tuple(body_hash(b) for b in bodies),
            now=now,
            ttl=IDEMPOTENCY_TTL,
        )
        if found.scheduled:
            return self._replay_schedule(request, found)
        return PlacementResult(
            found.instruction_id,
            calls=found.calls,
            outcome_unknown=found.outcome_unknown,
            replayed=True,
        )

    def _refused(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        now: datetime,
        refused: InvalidRequest,
    ) -> PlacementResult:
        """A request refused for the moment it came at (`not-after` passed, or no callee
        could be called before it) — unless its id is held: a retry of an accepted request
        (same Idempotency-Key and body, or same `instruction-id`) is answered as the
        reservation would answer it (its replay, 409 instruction-id-in-use, 422 key
        reused...), so a client never takes a ringing instruction for a refused one
        (hostile review, stop 7). One read (`holder_of`) when the request names an id or
        carries a key; never a write. Raises ``refused`` when no instruction holds the id.
        """
        if request.instruction_id is None and context.idempotency_key is None:
            raise refused
        instruction_id = context.instruction_id(request, self._new_id)
        found = self._store.holder_of(instruction_id)
        if found is None:
            raise refused
        bodies = canonical_bodies(request, self._digit_keys) if context.idempotency_key else ()
        taken = InstructionAlreadyExists(instruction_id, found)
        return self._answer_of(taken, request, context, now, bodies=bodies)

    def _claim_key(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        now: datetime,
        bodies: tuple[str, ...],
    ) -> tuple[KeyClaim | None, str | None]:
        """The key claim of an explicit id with a key, written, and the canonical body the
        key is bound to (None without a key). The body under the previous digits key is
        tried when the current one is refused (issue 19: a rotation between a request and
        its retry)."""
        for index, body in enumerate(bodies):
            claim = context.key_claim(request, now, body)
            if claim is None:
                return None, body
            try:
                self._store.claim_key(claim)
            except IdempotencyKeyReused:
                if index == len(bodies) - 1:
                    raise
                continue
            return claim, body
        return None, None

    def _replay_schedule(self, request: DtmfCallRequest, found: Replay) -> PlacementResult:
        """The 202 a scheduled instruction was answered with: the plan of this same body
        (the hashes matched) as of the instruction's creation, which is what it stored."""
        created = datetime.fromisoformat(found.created_at.replace("Z", "+00:00"))
        earlier = plan(request, created, self._scheduling)
        callees = () if earlier is None else earlier.callees
        return PlacementResult(found.instruction_id, scheduled=callees, replayed=True)

    def _new_instruction(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        schedule: tuple[CalleeSchedule, ...] = (),
        now: datetime | None = None,
    ) -> NewInstruction:
        """The instruction to store: the request without its metadata (kept apart) and never
        `expected-digits` (only its keyed hash, issue 19); `schedule` set when placed later."""
        instruction_id = context.instruction_id(request, self._new_id)
        return NewInstruction(
            instruction_id=instruction_id,
            owner=context.owner,
            caller=request.caller.e164,
            callees=tuple(request.all_callees()),
            request=_stored_request(request),
            metadata=dict(request.metadata or {}),
            created_at=self._clock() if now is None else now,
            stale_after_seconds=stale_after(request),
            idempotency_key=context.idempotency_key,
            expected_digits_hash=self._expected_digits_hash(request, instruction_id),
            schedule=schedule,
            campaign_id=context.campaign_id,
        )

    def _expected_digits_hash(self, request: DtmfCallRequest, instruction_id: str) -> str | None:
        """Issue 19: the keyed hash of ``expected-digits`` (verify mode), bound to the id."""
        if request.expected_digits is None:
            return None
        if self._digit_keys is None:
            raise RuntimeError("digits-mode verify needs the digits hash key")  # wiring gives it
        return digits_hash(self._digit_keys.digit_keys(), request.expected_digits, instruction_id)

    def _schedule(
        self,
        request: DtmfCallRequest,
        context: PlacementContext,
        later: SchedulePlan,
        now: datetime,
    ) -> PlacementResult:
        """Round 2 (#16): store the instruction `scheduled`, one schedule per callee, and
        create each callee's one-time schedule (the dial function places it). Nothing is
        placed now; the per-callee limit counts at dial time. When a schedule cannot be
        created the instruction is `not-placed` (its schedules find it so and do nothing)
        and the error propagates: a retry is safe. Raises InvalidRequest (`not-after`),
        storing nothing, when no callee could ever be called (a campaign's row excepted)."""
        if self._scheduler is None:  # pragma: no cover - wiring always gives one
            raise RuntimeError("a scheduled instruction needs a DialScheduler")
        if context.campaign_id is None:  # a campaign's row has no one to answer: it is
            # stored, its callees `not-placed` (the campaign counts their events)
            from dtmf_gateway.domain.request_schedule import never_placed_problems

            if problems := never_placed_problems(later.callees):
                return self._refused(request, context, now, InvalidRequest(problems))
        instruction, claim, replayed = self._bind(request, context, now, later.callees)
        if replayed is not None:
            return replayed
        try:
            for dial in later.dials(instruction.instruction_id):
                self._scheduler.schedule(dial)
        except Exception:
            self._store.mark(
                instruction.instruction_id, InstructionStatus.NOT_PLACED, "scheduler unavailable"
            )
            self._release(claim)
            raise
        if instruction.placing_until is not None:  # the key's answer is complete (issue 15)
            self._store.answered(instruction.instruction_id)
        return PlacementResult(instruction.instruction_id, scheduled=later.callees)

    def _end_window(self, instruction_id: str) -> None:
        try:
            self._store.answered(instruction_id)
        except Exception as error:  # noqa: BLE001 - the window then ends with the invocation
            self._on_bookkeeping_error(error)

    def _release(self, claim: KeyClaim | None) -> None:
        """Nothing was placed: the key may carry another body (as a derived id's `not-placed`
        reservation allows). Failing to release only keeps the key bound: the safe side."""
        if claim is None:
            return
        try:
            self._store.release_key(claim)
        except Exception as error:  # noqa: BLE001 - the answer (nothing placed) stands
            self._on_bookkeeping_error(error)

    def _count_calls_per_callee(self, request: DtmfCallRequest) -> None:
        if self._quota is None:
            return
        now = self._clock()
        over = set(self._quota.acquire(request.all_callees(), now))
        if over:
            next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            raise CalleeLimitReached(
                [path for path, number in request.callee_fields() if number in over],
                self._limit,
                retry_after_seconds=max(1, int((next_hour - now).total_seconds())),
            )
