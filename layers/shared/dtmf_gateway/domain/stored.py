"""The records as stored and read back: an instruction and its calls as the callback, the
reads (GET, list), the expirer and the events need them, a call's end as a callback reports
it, what ending it in storage did, and CM's `result` object.

Apart from `domain.calls` (the statuses, outcomes and the records a placement writes): a
placement never reads these, so place-call's cold start does not load them
(tests/unit/test_cold_path_imports.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dtmf_gateway.domain.calls import (
    TERMINAL_CALL_STATUSES,
    CallStatus,
    Correction,
    Hold,
    InstructionStatus,
    Outcome,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import CmQueuedCall
    from dtmf_gateway.domain.schedules import CalleeSchedule


class CmResult(BaseModel):
    """CM's `result` object of a finished call, as received (new keys CM adds are kept)."""

    # built on first use: only the callback, GET and the publisher read it
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    code: int = Field(
        description="CM result code: 9 Cancelled, 10 Finished, 11 Failed, 12 Rejected"
    )
    description: str | None = None
    sip_disconnect_code: str | None = Field(default=None, alias="sip-disconnect-code")
    sip_disconnect_reason: str | None = Field(default=None, alias="sip-disconnect-reason")

    @field_validator("description", "sip_disconnect_code", "sip_disconnect_reason", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        """CM documents these as text; any other JSON value (a number, a list) is kept as its
        JSON text rather than refusing the callback."""
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class StoredInstruction:
    """An instruction as stored: what the callback, the status read and the events need."""

    instruction_id: str
    owner: str
    status: InstructionStatus  # as stored; the status clients see is derived (domain.reading)
    caller: str | None  # None once erased (issue 19)
    callees: tuple[str | None, ...]  # each None once erased
    metadata: dict[str, str]
    created_at: str  # ISO-8601 UTC, as written (see iso)
    status_reason: str | None = None  # why placing ended without calls (CM's reason)
    min_digits: int | None = None  # the instruction's own digit rules, to re-check callbacks
    max_digits: int | None = None
    regex: str | None = None
    call_ids: tuple[str, ...] | None = None  # the calls the placement recorded (lower case);
    # None until it has (then a callback for another call id is refused)
    # issue 19: what is kept of the typed digits, and personal data erased
    digits_mode: str = "plain"  # DigitsMode value (domain.digits_protection)
    expected_digits_hash: str | None = None  # verify mode: the keyed hash, never the digits
    erased_at: str | None = None  # ISO-8601 UTC: personal data erased (domain.erasure)
    idempotency_key: str | None = None  # the Idempotency-Key it was placed with, if any
    # round 2 (#16): a scheduled instruction's callees (domain.schedules) and its request
    schedule: tuple[CalleeSchedule, ...] = ()
    request: dict[str, Any] = field(default_factory=dict)
    campaign_id: str | None = None  # the campaign whose row this is
    #: issue 15: the calls CM queued while their recording waits (it failed; the
    #: placement-recordings queue or the expirer applies it): empty once recorded
    awaiting_recording: tuple[CmQueuedCall, ...] = ()
    # round 2 (#16): ISO-8601 UTC, when a DELETE cancelled it: no callee is dialled after it
    # (one claimed at that moment, then put back, and any redial: domain.dialling)
    cancelled_at: str | None = None

    def schedule_of(self, index: int) -> CalleeSchedule | None:
        """The schedule of the callee at ``index`` (0-based, in ``callees``)."""
        return next((s for s in self.schedule if s.index == index), None)


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One call as stored. Read tolerantly: a field the item lacks is None (or empty), and
    whoever needs it (the event model) refuses the record."""

    instruction_id: str
    call_id: str
    caller: str | None
    callee: str | None
    status: CallStatus | None
    outcome: Outcome | None = None
    digits: str | None = None
    result: dict[str, Any] | None = None  # CM's result object, as received
    metadata: dict[str, str] = field(default_factory=dict)
    queued_at: str | None = None
    finished_at: str | None = None
    hold: Hold | None = None  # set: ended but not published (see Hold)
    revision: int = 0  # 0 as first ended; each correction adds one
    corrects: Correction | None = None  # what the latest revision corrected
    callback_body: str | None = None  # CM's callback body as received (size-capped)
    retained_until: datetime | None = None  # past it, the call is gone (retention, as GET)
    # issue 19: verify mode's comparison, and the instruction's digits mode (non-plain only)
    verified: bool | None = None
    digits_mode: str | None = None
    erased_at: str | None = None  # the instruction's personal data was erased (numbers gone)
    attempt: int | None = None  # round 2 (#16): the how-manieth CM call for its callee
    campaign_id: str | None = None  # the campaign whose row placed it (events carry it)

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES

    def gone(self, now: datetime) -> bool:
        """True once the call is past its retention: nobody may see or be sent it."""
        return self.retained_until is not None and now >= self.retained_until


@dataclass(frozen=True, slots=True)
class CallFinish:
    """A call's end as a callback reports it (``callee`` known only when the callback
    overtook the placement)."""

    call_id: str
    callee: str | None
    outcome: Outcome
    digits: str | None
    result: dict[str, Any]  # bounded (see domain.callbacks.bounded_json)
    finished_at: str
    callback_body: str | None = None  # the body as received, size-capped
    verified: bool | None = None  # issue 19: verify mode only
    hold: Hold | None = None  # round 2 (#16): REDIALLED when a later attempt follows


class FinishStatus(StrEnum):
    """What ending a call in storage did."""

    RECORDED = "recorded"  # this callback ended the call
    CORRECTED = "corrected"  # the call had expired: this callback's outcome replaced it
    HELD = "held"  # hold_call: stored, awaiting the placement's confirmation
    DUPLICATE = "duplicate"  # the call had already ended: nothing changed
    NOT_FOUND = "not-found"  # finish_queued_call: no call with this id is stored (yet)
    ALREADY_STORED = "already-stored"  # finish_unseen_call/hold_call: the placement stored it
    PLACEMENT_RECORDED = "placement-recorded"  # hold_call: the placement recorded its call ids
    # finish_queued_call (issue 19): the call was erased after its instruction was read, so
    # what this callback would keep was decided on numbers and digits that must go: nothing
    # written, record again from the instruction as it now is
    ERASED = "erased"
    # finish_queued_call: the stored call is another callee's than the one the callback names
    # (CM named one call id for two callees): nothing written, the call keeps waiting
    OTHER_CALLEE = "other-callee"
