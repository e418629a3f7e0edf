"""The small interfaces the domain needs from the outside world.

Adapters (httpx CM client, the DynamoDB stores, Secrets Manager, EventBridge) implement them
in `dtmf_gateway.adapters`; the unit tests use the in-memory fakes of `tests/fakes.py`. The
errors they raise live in `dtmf_gateway.domain.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import (
        CmQueuedCall,
        InstructionStatus,
        KeyClaim,
        NewInstruction,
        Outcome,
    )
    from dtmf_gateway.domain.dial_recording import DialRecording
    from dtmf_gateway.domain.digits_protection import DigitKeys
    from dtmf_gateway.domain.events import DtmfResultDetail
    from dtmf_gateway.domain.not_placed import NotPlacedDetail
    from dtmf_gateway.domain.placement_replay import PlacedBefore
    from dtmf_gateway.domain.request import DtmfCallRequest
    from dtmf_gateway.domain.schedules import CalleeSchedule
    from dtmf_gateway.domain.stored import CallFinish, FinishStatus, StoredCall, StoredInstruction


class CmApi(Protocol):
    def place(
        self,
        request: DtmfCallRequest,
        *,
        instruction_id: str,
        callback_url: str,
        time_budget_seconds: float | None = None,
    ) -> list[CmQueuedCall]:
        """Queue the instruction with CM: one reply per callee, in CM's order.

        ``time_budget_seconds`` is a hard wall-clock deadline for the whole exchange (None:
        the adapter's own limit); past it the answer is CmOutcomeUnknown(timed_out=True).
        Raises CmRejected / CmUnreachable (nothing placed) or CmOutcomeUnknown (calls may ring).
        """
        ...


class InstructionStore(Protocol):
    """What placing writes."""

    def claim_key(self, claim: KeyClaim) -> None:
        """Bind the key of ``claim.scope`` to ``claim.body_hash`` until ``claim.expires_at``:
        one conditional write that succeeds when the scope is free (or its claim expired) or
        already bound to the same hash. Raises IdempotencyKeyReused when the scope is bound
        to another body — by another claim, or by the instruction whose id it is (a request
        that derived its id from the key)."""
        ...

    def release_key(self, claim: KeyClaim) -> None:
        """Unbind ``claim`` (its placement surely placed nothing); a no-op when the scope is
        no longer bound to its hash."""
        ...

    def reserve(self, instruction: NewInstruction) -> None:
        """Store the instruction as `placing`; raises InstructionAlreadyExists when taken
        (with what a replay needs of the instruction that holds it: its ``found``, a
        ``placement_replay.PlacedBefore``), IdempotencyKeyReused when its (derived) id is the
        scope of a live key claim."""
        ...

    def holder_of(self, instruction_id: str) -> PlacedBefore | None:
        """The instruction a reservation of ``instruction_id`` would meet (what a replay
        needs of it), None when a reservation would take the id (unused, a key claim, or an
        earlier attempt that surely placed nothing). One strongly consistent read, no
        write: a request refused for its moment (`not-after`) still answers as its
        instruction did when it has one (hostile review, stop 7)."""
        ...

    def mark(
        self,
        instruction_id: str,
        status: InstructionStatus,
        reason: str,
        *,
        timed_out: bool = False,
    ) -> None:
        """Record that placing ended without queued calls (`unknown` or `not-placed`), why,
        and (unknown) whether CM timed out; the instruction's answer is complete."""
        ...

    def answered(self, instruction_id: str) -> None:
        """Record that the instruction's answer is complete (a scheduled one's schedules are
        created): a retry with its key replays it from now on."""
        ...

    def record_queued_calls(
        self,
        instruction: NewInstruction,
        calls: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall] = (),
    ) -> None:
        """Store one record per queued call (one write each), then name the calls on the
        instruction with CM's ``replies`` in the 202's order (queued and refused: what a
        replay renders), one write that also completes its answer.

        Must not overwrite a call whose callback was recorded first.
        """
        ...

    def note_pending_recording(
        self, instruction: NewInstruction, replies: Sequence[CmQueuedCall]
    ) -> None:
        """Issue 15: keep CM's ``replies`` (queued and refused) on the reserved instruction
        whose ``record_queued_calls`` failed, while its recording waits: a retry with its
        key is then told the request is in progress, a read shows the queued calls, and the
        expirer applies the recording at its calls' stale time if nothing has by then.
        Does nothing once the recording was applied. Raises what the store raises."""
        ...


class PlacementRecordings(Protocol):
    """Where a placement's recording goes when it cannot be written now: a durable queue
    whose consumer applies the same ``InstructionStore.record_queued_calls`` later."""

    def defer(
        self,
        instruction: NewInstruction,
        queued: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall],
    ) -> None:
        """Keep ``record_queued_calls(instruction, queued, replies)`` durably for later:
        once this returns, the recording is applied at least once (re-applying it changes
        nothing). Raises whatever the queue raises when it could not be kept."""
        ...


class CalleeQuota(Protocol):
    def acquire(self, callees: Sequence[str], now: datetime) -> list[str]:
        """Count one call to each callee in the current window; return the callees that are
        already at the limit (then nothing is counted for any of them)."""
        ...


class CallbackUrls(Protocol):
    def for_instruction(self, instruction_id: str) -> str:
        """The URL CM must POST the instruction's results to (token included)."""
        ...


class DigitKeySource(Protocol):
    """Issue 19: the keys of the expected-digits hash (a secret, rotated like the callback
    signing key)."""

    def digit_keys(self) -> DigitKeys:
        """The current (and previous) key; ConfigurationError when the secret is unusable."""
        ...


class ErasureStore(Protocol):
    """Issue 19: what erasing an instruction's personal data writes (each step idempotent)."""

    def erase_instruction(self, instruction_id: str, erased_at: str) -> None:
        """Remove the numbers, prompts, metadata and expected-digits hash of the instruction
        item, and mark it erased at ``erased_at`` (ISO-8601 UTC; an earlier mark stays)."""
        ...

    def erase_call(self, instruction_id: str, call_id: str, erased_at: str) -> None:
        """Remove the numbers, digits, metadata and stored callback body of one call, and
        mark it erased at ``erased_at`` (an earlier mark stays)."""
        ...

    def erase_idempotency_record(self, owner: str, idempotency_key: str) -> None:
        """Remove the numbers from the answer stored under (owner, Idempotency-Key), so a
        replay cannot bring them back; a no-op when no answer is stored."""
        ...


class ErasureMarks(Protocol):
    """Issue 19: the outbox's last look before it publishes results: which of their
    instructions had their personal data erased."""

    def erased(self, instruction_ids: Collection[str]) -> dict[str, str]:
        """The `erased-at` (ISO-8601 UTC) of each of ``instruction_ids`` whose personal data
        was erased, read strongly consistently; one not erased (or gone) is absent. Raises
        the store's error when it cannot be read (the publisher's batch is then retried)."""
        ...


class CallbackStore(Protocol):
    """What recording a callback reads and writes."""

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None: ...

    def finish_queued_call(
        self,
        instruction: StoredInstruction,
        finish: CallFinish,
        named: frozenset[str] | None = None,
    ) -> FinishStatus:
        """End a stored queued call: RECORDED; DUPLICATE if it already ended; NOT_FOUND if no
        call with this id is stored. ``named``: the callees (E.164) the callback's `callee`
        may be (None: it names no number); a stored call whose callee is a number not in it
        is left as it is: OTHER_CALLEE (a stored call without a number is never refused)."""
        ...

    def finish_unseen_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        """Store the call already ended (its callback came before the placement's write):
        RECORDED; ALREADY_STORED if the placement stored it meanwhile (then finish it with
        finish_queued_call)."""
        ...

    def hold_call(
        self, instruction: StoredInstruction, finish: CallFinish, release_at: datetime
    ) -> FinishStatus:
        """Store the call ended but held (Hold.AWAITING_PLACEMENT), named on the instruction
        so the placement finds it, and on the pending index at `release_at` so the expirer
        settles it if the placement never does: HELD; PLACEMENT_RECORDED if the placement
        has recorded its call ids meanwhile (nothing written); ALREADY_STORED if a call with
        this id is stored."""
        ...


class CorrectionStore(Protocol):
    """What re-deriving outcomes reads and writes (scripts/rederive.py)."""

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None: ...

    def finished_calls(self, finished_from: str, finished_to: str) -> Iterable[StoredCall]:
        """Finished calls with `finished-at` in [from, to) (ISO-8601 UTC, see calls.iso)."""
        ...

    def correct(self, call: StoredCall, finish: CallFinish) -> bool:
        """Write `finish` as a correction of `call` (revision + 1, `corrects: rederived`);
        False when the call changed since it was read."""
        ...


class InstructionReader(Protocol):
    def load(self, instruction_id: str) -> tuple[StoredInstruction, list[StoredCall]] | None:
        """The instruction and its calls (in no particular order); None when not stored."""
        ...


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A call past its stale-after moment; ``ended``: it had already ended when read (a
    callback, an expiry or a settlement came first), so nothing is left to do for it."""

    instruction_id: str
    call_id: str
    ended: bool = False
    #: issue 15: not a call but its instruction, whose recording waits with CM's replies
    #: noted on it (`InstructionStore.note_pending_recording`), at its calls' stale time
    recording: bool = False


@dataclass(frozen=True, slots=True)
class HeldCall:
    """A held call and its instruction: the call ids the placement recorded (None: not
    recorded) and the callees of the instruction's other calls that are not held.

    Round 2 (#16): ``redialled`` — the call is held until a deadline (its redial attempt's
    CM answer was lost, `ScheduleStore.hold_redialled_until`; held `redialled`, or still
    awaiting its placement): then
    ``callees_with_a_call`` also counts the other calls held awaiting their placement (a
    late callback of that attempt). ``redialled_by_schedule``: a call held awaiting its
    placement that a later attempt of its callee redials (`CalleeSchedule.redials_call`),
    one not ended unplaced."""

    callee: str | None
    placement_call_ids: tuple[str, ...] | None
    callees_with_a_call: frozenset[str]
    redialled: bool = False
    redialled_by_schedule: bool = False


class PendingCalls(Protocol):
    def stale(self, now: datetime, keep_going: Callable[[], bool]) -> Iterable[PendingCall]:
        """Calls whose stale-after moment is at or before `now` that no earlier run handled,
        oldest first (within a part of the index), ended ones included (``ended``).

        A call counts as handled once the next one is asked for, or the iteration ends.
        `keep_going()` is asked before each call; False ends the iteration there, keeping
        what was handled, and the next run goes on from it. No call is ever skipped; a call
        may come again in a later run (handling it again must be harmless)."""
        ...

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        """Queued → expired; False when it already ended (a callback won) or is held.
        Raises `StaleEntryUnusable` when the store refuses the request itself."""
        ...

    def held(self, call: PendingCall) -> HeldCall | None:
        """The call if it is held (Hold.AWAITING_PLACEMENT), with what settling it needs."""
        ...

    def settle(self, call: PendingCall, *, release: bool, redialled: bool = False) -> bool:
        """Release a held call (published) or set it aside (Hold.SET_ASIDE, never
        published) — with ``redialled``, hold it `redialled` instead (a later attempt of its
        callee follows it); False if it was no longer held. A call held `redialled` until a
        deadline (HeldCall.redialled) is released, or kept `redialled` without its
        deadline."""
        ...

    def apply_recording(self, entry: PendingCall) -> list[PendingCall]:
        """Issue 15: for an entry with ``recording``, apply the recording noted on its
        instruction (`record_queued_calls`, unless something applied it first) and return
        the calls CM queued, each with whether it has ended; empty when nothing is noted.
        Raises `StaleEntryUnusable` when the store can never apply it (retrying cannot
        help), like `expire`."""
        ...


@dataclass(frozen=True, slots=True)
class PublishFailure:
    """One detail the bus did not take: its index in the batch, why, and whether retrying
    cannot help (``permanent``: then it is set aside, never retried)."""

    index: int
    reason: str
    permanent: bool


class ResultPublisher(Protocol):
    def publish(
        self, details: Sequence[DtmfResultDetail | NotPlacedDetail]
    ) -> list[PublishFailure]:
        """Publish each detail; return those NOT published (each detail at most once)."""
        ...


@dataclass(frozen=True, slots=True)
class SetAside:
    """A stored result that cannot be published as it is: where it is stored (the calls
    table's instruction and call id), the stream record that carried it, and why."""

    instruction_id: str
    call_id: str
    record_id: str
    reason: str


class DeadLetters(Protocol):
    def set_aside(self, letters: Sequence[SetAside]) -> list[int]:
        """Keep each letter for an operator (the publisher's DLQ); return the indexes of
        those that could NOT be kept (their records must then be retried)."""
        ...


# ---------------------------------------------------------------- round 2 (#16): schedules


@dataclass(frozen=True, slots=True)
class ScheduledDial:
    """What a one-time schedule hands the dial function: dial the callee at ``index`` (0-based,
    in the instruction's callees) for its ``attempt`` (1 = first CM call) planned at
    ``scheduled_for`` (ISO-8601 UTC). Never the number: the schedule outlives an erasure.

    ``callee`` (E.164, ``index`` None) only in a schedule created before dials named the
    index (their inputs named the number); nothing creates such a dial any more."""

    instruction_id: str
    index: int | None
    attempt: int
    scheduled_for: str
    callee: str | None = None


class DialScheduler(Protocol):
    def schedule(self, dial: ScheduledDial) -> None:
        """Create the one-time schedule that hands ``dial`` to the dial function at (not
        before) ``dial.scheduled_for``; idempotent (the same dial twice: one schedule)."""
        ...


class ScheduleStore(Protocol):
    """What dialling and cancelling a scheduled instruction read and write. Every change of a
    callee's schedule is conditional on what the writer last saw: False when it changed."""

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        """The instruction (a strongly consistent read), None when not stored."""
        ...

    def claim(self, instruction_id: str, expected: CalleeSchedule) -> bool:
        """``expected`` (scheduled, at its moment and attempt) → dialling."""
        ...

    def change(self, instruction_id: str, expected: CalleeSchedule, new: CalleeSchedule) -> bool:
        """Replace the callee's schedule by ``new`` while it is still ``expected`` (status,
        moment and attempt)."""
        ...

    def record_call(
        self, instruction: NewInstruction, call_id: str, callee: str, attempt: int = 1
    ) -> Outcome | None:
        """Store the queued call (``instruction.created_at`` is its queued-at; ``attempt`` the
        how-manieth CM call for the callee), as `InstructionStore.record_queued_calls` does
        for one call, without naming it on the instruction; when the instruction's personal
        data were erased by then (issue 19), the call just written is erased too. When CM's
        callback overtook it (the call ended, held awaiting placement), that outcome is
        returned and the call stays held for `settle_overtaken`; else None."""
        ...

    def settle_overtaken(self, instruction_id: str, call_id: str, *, redialled: bool) -> None:
        """The call whose callback overtook its recording (still held awaiting placement):
        released as the callee's result, or held `redialled` (a later attempt follows); a
        no-op when it is not held so (any more)."""
        ...

    def release_redialled(self, instruction_id: str, call_id: str) -> bool:
        """A callee's last call, held `redialled`, becomes its result after all (no later
        attempt was placed): its hold removed, so the outbox publishes it. False when it held
        none."""
        ...

    def mark_cancelled(self, instruction_id: str, at: str) -> None:
        """Mark the instruction cancelled at ``at`` (ISO-8601 UTC; an earlier mark stays):
        `StoredInstruction.cancelled_at`, read by every later dial and redial decision."""
        ...

    def hold_redialled_until(self, instruction_id: str, call_id: str, deadline: datetime) -> bool:
        """The call held `redialled` whose redial attempt's CM answer was lost is settled by
        the expirer at ``deadline`` (aware; `expiry.settle_held`): released as the callee's
        result then, unless a later call of its callee came (that attempt's late callback).
        A call still held awaiting its placement (its overtaken recording not settled yet)
        gets the deadline too, and keeps it when it is later held `redialled`. Safe to
        repeat; False when it is held neither way (released already, or not held)."""
        ...

    def call_attempt(self, instruction_id: str, call_id: str) -> int | None:
        """The attempt recorded on the call (1 for its callee's first CM call; None: no such
        call, or none recorded)."""
        ...


class DialRecordings(Protocol):
    """Where a scheduled dial's recording goes when it cannot be written now (the
    placement-recordings queue; its consumer applies `dial_recording.record_dial` later)."""

    def defer_dial(self, recording: DialRecording) -> None:
        """Keep ``recording`` durably: once this returns, it is applied at least once
        (re-applying it changes nothing). Raises whatever the queue raises when it could not
        be kept."""
        ...
