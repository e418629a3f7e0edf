"""Outbox publishing: stream records of calls that just ended become `DTMF Result` events.

The table's stream is the outbox: the callback handler (and the expirer) only write the
table, and every committed "call ended" change reaches the bus at least once through here.
The stream adapter (`adapters.dynamodb.stream`) turns each record into a :class:`Change`.

What cannot be published as it is (no valid event can be made of the stored call, or the bus
refuses the entry as invalid) is set aside on the publisher's dead-letter queue by itself and
acknowledged: it never holds its batch-mates, and `scripts/republish.py` publishes it once
repaired. Only retryable failures (throttling, the bus unavailable, the dead-letter queue
unavailable) are reported for retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.erased_results import as_published, erasure_marks_of
from dtmf_gateway.domain.events import DtmfResultDetail, detail_from_call
from dtmf_gateway.domain.not_placed import NotPlacedDetail, newly_unplaced, not_placed_detail
from dtmf_gateway.domain.ports import SetAside

if TYPE_CHECKING:
    from datetime import datetime

    from dtmf_gateway.domain.ports import DeadLetters, ErasureMarks, ResultPublisher
    from dtmf_gateway.domain.stored import StoredCall, StoredInstruction


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record: the call before and after (None: absent, or not a call)."""

    record_id: str  # the stream record's sequence number
    old: StoredCall | None
    new: StoredCall | None
    # round 2 (#16): the instruction before and after, when the record is a scheduled one's
    old_instruction: StoredInstruction | None = None
    new_instruction: StoredInstruction | None = None

    @property
    def ends_a_call(self) -> bool:
        """True when this change makes a call's result public: see :func:`is_publishable`."""
        return is_publishable(self.old, self.new)


def is_publishable(old: StoredCall | None, new: StoredCall | None) -> bool:
    """A call's result is published when it becomes public: the call ended (or was absent,
    or held) before and is now ended and not held; or it was corrected (its `revision` went
    up: a late callback after `expired`, a re-derived outcome). Held and set-aside calls
    (`hold`) are never published."""
    if new is None or not new.ended or new.hold is not None:
        return False
    if old is None or not old.ended or old.hold is not None:
        return True
    return new.revision > old.revision


@dataclass(frozen=True, slots=True)
class PublishReport:
    published: int
    skipped: int  # records that are not "a call ended"
    gone: int  # calls past their retention: never published
    failed: list[str]  # record ids to retry (retryable failures only)
    set_aside: list[SetAside]  # kept on the dead-letter queue, acknowledged
    # why the retried ones failed: the bus's error codes (e.g. `AccessDeniedException (whole
    # request)`), distinct, sorted; never values. An operator must see a missing grant.
    retry_reasons: list[str] = field(default_factory=list)


def invalid_event_reason(error: ValidationError) -> str:
    """Why a stored call makes no valid event: field paths and error types, never values
    (they may be phone numbers)."""
    problems = (f"{'.'.join(map(str, e['loc'])) or '$'}: {e['type']}" for e in error.errors())
    return "invalid event: " + "; ".join(problems)


def publish_ended_calls(
    changes: Sequence[Change],
    publisher: ResultPublisher,
    dead_letters: DeadLetters,
    clock: Callable[[], datetime] = utc_now,
    *,
    erasures: ErasureMarks | None = None,
) -> PublishReport:
    """Publish the event of every change that ends a call (those past retention excepted).

    Each ended call is published, set aside (reported in ``set_aside``) or reported in
    ``failed`` for a retry — never more than one of these. Issue 19: a call whose
    instruction ``erasures`` says was erased is published without its personal data
    (domain.erased_results), whatever its stream image holds; the handler always passes
    them (None: the images as they are, for tests of other concerns). Raises what
    ``erasures`` raises (the whole batch is then retried)."""
    now = clock()
    ending = [c.new for c in changes if c.new is not None and c.ends_a_call]
    erased = erasure_marks_of(ending, erasures) if erasures is not None and ending else {}
    details: list[DtmfResultDetail | NotPlacedDetail] = []
    sent: list[Change] = []  # the change of each detail, index for index
    letters: list[SetAside] = []
    skipped = gone = 0
    for change in changes:
        call = change.new
        unplaced = newly_unplaced(change.old_instruction, change.new_instruction)
        if unplaced and change.new_instruction is not None:
            for entry in unplaced:  # round 2 (#16): `DTMF Call Not Placed`
                try:
                    details.append(not_placed_detail(change.new_instruction, entry))
                    sent.append(change)
                except ValidationError as error:
                    letters.append(_unplaced_letter(change, invalid_event_reason(error)))
        elif call is None or not change.ends_a_call:
            skipped += 1
        elif call.gone(now):
            gone += 1
        else:
            try:
                details.append(detail_from_call(as_published(call, erased)))
                sent.append(change)
            except ValidationError as error:
                letters.append(_letter(change, call, invalid_event_reason(error)))
    failed: list[str] = []
    reasons: set[str] = set()
    failures = publisher.publish(details) if details else []
    for failure in failures:
        change = sent[failure.index]
        if failure.permanent and change.new is not None:
            letters.append(_letter(change, change.new, f"refused by the bus: {failure.reason}"))
        elif failure.permanent and change.new_instruction is not None:
            letters.append(_unplaced_letter(change, f"refused by the bus: {failure.reason}"))
        else:
            failed.append(change.record_id)
            reasons.add(failure.reason)
    unkept = set(dead_letters.set_aside(letters)) if letters else set()
    failed += [letter.record_id for i, letter in enumerate(letters) if i in unkept]
    kept = [letter for i, letter in enumerate(letters) if i not in unkept]
    return PublishReport(
        published=len(details) - len(failures),
        skipped=skipped,
        gone=gone,
        failed=failed,
        set_aside=kept,
        retry_reasons=sorted(reasons),
    )


#: The `call-id` of a set-aside `DTMF Call Not Placed` letter: it has no call.
NOT_PLACED_LETTER_CALL_ID = "(not placed)"


def _unplaced_letter(change: Change, reason: str) -> SetAside:
    """A `DTMF Call Not Placed` that cannot be published (its callee is not named: a phone
    number; the instruction's `schedule` holds it)."""
    instruction = change.new_instruction
    return SetAside(
        instruction_id=instruction.instruction_id if instruction else "",
        call_id=NOT_PLACED_LETTER_CALL_ID,
        record_id=change.record_id,
        reason=reason,
    )


def _letter(change: Change, call: StoredCall, reason: str) -> SetAside:
    return SetAside(
        instruction_id=call.instruction_id,
        call_id=call.call_id,
        record_id=change.record_id,
        reason=reason,
    )
