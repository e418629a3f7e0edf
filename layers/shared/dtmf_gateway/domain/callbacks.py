"""Recording CM's `dtmf-finished` callbacks exactly once, whatever order they arrive in.

CM does not sign callbacks and does not document retries, so the use case assumes the worst:
duplicates, out-of-order delivery, a callback that overtakes the placing function's write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dtmf_gateway.domain.callees import callees_echoed, is_other_callee, matching_callee
from dtmf_gateway.domain.calls import CallStatus, Hold, InstructionStatus, Outcome, iso, utc_now
from dtmf_gateway.domain.digits import InputRules
from dtmf_gateway.domain.digits_protection import (
    DigitsMode,
    digits_match,
    is_redacted,
    protects,
    redacted_body,
)
from dtmf_gateway.domain.errors import MalformedCallback
from dtmf_gateway.domain.reading import PLACEMENT_GRACE
from dtmf_gateway.domain.stored import (
    CallFinish,
    CmResult,
    FinishStatus,
    StoredCall,
    StoredInstruction,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import CallbackStore, CorrectionStore, DigitKeySource
    from dtmf_gateway.domain.redialling import Redials

DTMF_FINISHED = "dtmf-finished"  # the callback type that ends a call; others are ignored

CODE_UNANSWERED = 9
CODE_FINISHED = 10
CODE_FAILED = 11
CODE_REJECTED = 12


def unexpected_shape(callback: CmCallback, raw: object) -> list[str]:
    """The unexpected top-level keys of an answered call's callback (code 10) that carries no
    digits under `digits`: the digits may sit under one of them (CM documents the key only by
    description). Empty when the shape is the expected one."""
    if callback.result.code != CODE_FINISHED or callback.digits:
        return []
    return unexpected_keys(raw)


# The keys of a `dtmf-finished` body the gateway knows (CM's reference page); others are kept
# in the stored body and, when an answered call carries no digits, reported by name.
KNOWN_KEYS = frozenset(
    {"type", "call-id", "instruction-id", "caller", "callee", "digits", "result"}
)

# Storage bounds, so that a call item stays far under DynamoDB's 400 KB whatever CM sends.
RESULT_LIMIT_BYTES = 64 * 1024  # `result` as compact JSON, after trimming long strings
CALLBACK_BODY_LIMIT_BYTES = 32 * 1024  # the body as received, cut beyond this
DIGITS_LIMIT = 256  # characters of `digits` stored (the event's limit)
TRIM_MARK = "…[trimmed]"  # ends every string the gateway shortened
TRIMMED_KEY = "trimmed-by-gateway"  # `true` in a result reduced to its documented keys


def _text_or_none(value: object) -> object:
    """Text as is; an integer CM sent as a JSON number as its decimal text; anything else
    (an object, a list, a float, a boolean) as absent — the stored body keeps it."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class CmCallback(BaseModel):
    """CM's callback body, parsed tolerantly: `type`, `call-id` and `result.code` are needed;
    every other key may hold any JSON value (a non-text value of a text key reads as absent,
    an integer as its text)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    call_id: str = Field(alias="call-id", min_length=1, max_length=64)
    instruction_id: str | None = Field(default=None, alias="instruction-id")
    caller: str | None = None
    callee: str | None = None
    digits: str | None = None
    result: CmResult

    _tolerant = field_validator(
        "call_id", "instruction_id", "caller", "callee", "digits", mode="before"
    )(_text_or_none)


def parse_callback(instruction_id: str, raw: object) -> CmCallback:
    """The callback body (parsed JSON, any value) for the instruction of the callback URL.

    Raises MalformedCallback naming the missing or malformed fields, or when the body names
    another instruction. Total: any JSON value gives a CmCallback or MalformedCallback.
    """
    try:
        callback = CmCallback.model_validate(raw)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"]))[:64] or "body" for e in error.errors()})
        raise MalformedCallback(f"missing or malformed: {', '.join(fields[:10])}") from None
    if callback.instruction_id not in (None, "", instruction_id):
        raise MalformedCallback("the body's instruction-id does not match the callback URL")
    return callback


def unexpected_keys(raw: object) -> list[str]:
    """The top-level keys of a callback body that CM's reference page does not name (sorted,
    each cut to 64 characters, at most 20): logged by name when an answered call carried no
    digits — never their values, which may be the digits."""
    if not isinstance(raw, dict):
        return []
    return sorted(k[:64] for k in raw if k not in KNOWN_KEYS)[:20]


def _compact(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _trim_strings(value: Any, cap: int) -> Any:
    """`value` with every string (keys too) longer than `cap` characters cut, with TRIM_MARK."""
    if isinstance(value, str):
        return value if len(value) <= cap else value[:cap] + TRIM_MARK
    if isinstance(value, list):
        return [_trim_strings(v, cap) for v in value]
    if isinstance(value, dict):
        return {_trim_strings(k, cap): _trim_strings(v, cap) for k, v in value.items()}
    return value


def bounded_result(result: dict[str, Any], limit: int = RESULT_LIMIT_BYTES) -> dict[str, Any]:
    """CM's `result` as received when its compact JSON fits `limit` bytes; else with long
    strings cut (TRIM_MARK); else only its documented keys, cut, plus `TRIMMED_KEY: true`.
    The stored callback body keeps (the first 32 KB of) what CM sent."""
    if len(_compact(result)) <= limit:
        return result
    for cap in (4096, 1024, 256, 64):
        trimmed: dict[str, Any] = _trim_strings(result, cap)
        if len(_compact(trimmed)) <= limit:
            return trimmed
    documented = ("code", "description", "sip-disconnect-code", "sip-disconnect-reason")
    kept = {k: result[k] for k in documented if k in result}
    return {**_trim_strings(kept, 1024), TRIMMED_KEY: True}


def bounded_body(text: str, limit: int = CALLBACK_BODY_LIMIT_BYTES) -> str:
    """The callback body as received, cut to at most `limit` UTF-8 bytes (then ending with
    TRIM_MARK, and no longer valid JSON)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(TRIM_MARK.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + TRIM_MARK


def outcome_for(code: int, digits: str | None, rules: InputRules) -> Outcome:
    """Outcome from CM's result code, the digits re-checked against the instruction's rules.

    Unknown codes count as `failed`: CM only documents 9-12, and a call we cannot read as
    answered must not look like a success.
    """
    if code == CODE_UNANSWERED:
        return Outcome.UNANSWERED
    if code == CODE_REJECTED:
        return Outcome.REJECTED
    if code != CODE_FINISHED:
        return Outcome.FAILED
    if not digits:
        return Outcome.NO_INPUT
    return Outcome.INPUT_RECEIVED if rules.check(digits) else Outcome.INVALID_INPUT


class CallbackVerdict(StrEnum):
    RECORDED = "recorded"  # this callback ended the call (or corrected its expiry)
    HELD = "held"  # recorded, not published until the placement confirms the call
    DUPLICATE = "duplicate"  # the call had already ended: nothing changed
    UNKNOWN_INSTRUCTION = "unknown-instruction"
    UNKNOWN_CALL = "unknown-call"
    # the stored call is another callee's than the one the callback names (CM named one call
    # id for two callees): nothing written, the call keeps waiting for its own callback
    CALLEE_MISMATCH = "callee-mismatch"


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """What recording one callback did. `outcome` is set when something was written;
    `corrected` when the call had expired and this callback's real outcome replaced it."""

    verdict: CallbackVerdict
    outcome: Outcome | None = None
    corrected: bool = False


class RecordCallback:
    """Use case behind the callback route: at most one result per call, and only for the
    calls the placement recorded (see README, "CM callbacks")."""

    def __init__(
        self,
        store: CallbackStore,
        clock: Callable[[], datetime] = utc_now,
        digit_keys: DigitKeySource | None = None,
        redials: Callable[[], Redials] | None = None,
    ) -> None:
        """``redials`` (round 2, #16) builds the redial scheduling on first need (a scheduled
        instruction's callback), so callbacks of instructions placed at once never load it."""
        self._store = store
        self._clock = clock
        self._redials = redials
        self._digit_keys = digit_keys  # issue 19: read only for verify-mode instructions

    def record(
        self, instruction_id: str, callback: CmCallback, callback_body: str | None = None
    ) -> CallbackRecord:
        """Record `callback` (parsed) for the instruction; `callback_body` is the body as
        received (stored cut to CALLBACK_BODY_LIMIT_BYTES).

        * the call is queued → it ends (RECORDED); it expired → its real outcome replaces the
          expiry, published as a correction (RECORDED, `corrected`); it ended → DUPLICATE;
        * the placement recorded its call ids and this one is not among them, the
          instruction was not placed, or the callee is not one of its callees → UNKNOWN_CALL,
          nothing written;
        * the placement has not recorded its calls yet (`placing`, `unknown`) → HELD: stored,
          published once the placement (or, after PLACEMENT_GRACE, the expirer) confirms it;
        * the stored call with this id is another callee's than the number the callback names
          (in none of CM's forms, `callees.callees_echoed`) → CALLEE_MISMATCH, nothing
          written: the call keeps waiting for its own callback (or expires). A callback
          naming no number, or a call or instruction whose numbers were erased, is never
          refused for its callee.
        """
        instruction = self._store.load_instruction(instruction_id)
        if instruction is None:
            return CallbackRecord(CallbackVerdict.UNKNOWN_INSTRUCTION)
        rules = InputRules.from_values(
            instruction.min_digits, instruction.max_digits, instruction.regex
        )
        outcome = outcome_for(callback.result.code, callback.digits, rules)
        finish = CallFinish(
            call_id=callback.call_id.lower(),
            callee=_matching_callee(instruction, callback.callee),
            outcome=outcome,
            digits=(callback.digits or None) and callback.digits[:DIGITS_LIMIT],
            result=bounded_result(callback.result.model_dump(by_alias=True, exclude_none=True)),
            finished_at=iso(self._clock()),
            callback_body=None if callback_body is None else bounded_body(callback_body),
        )
        finish = self._protected(instruction, callback, finish, callback_body)
        named = _named_callees(instruction, callback.callee)
        other = _scheduled_for_another(instruction, finish.call_id, named)  # redial no one
        if (
            not other
            and self._redials is not None
            and instruction.schedule
            and self._redials().after(instruction, finish.call_id, outcome, self._clock())
        ):  # round 2 (#16): a later attempt follows; this call is not the callee's result
            finish = replace(finish, hold=Hold.REDIALLED)
        status: FinishStatus | None = (
            FinishStatus.OTHER_CALLEE
            if other
            else self._store.finish_queued_call(instruction, finish, named)
        )
        if status is FinishStatus.ERASED:  # issue 19: erased meanwhile; the erased
            return self.record(instruction_id, callback, callback_body)  # instruction ends it
        if status is FinishStatus.NOT_FOUND:
            status = self._finish_unstored(instruction, finish, named)
        if status is None or status is FinishStatus.OTHER_CALLEE:  # refused, nothing written
            mismatch = status is FinishStatus.OTHER_CALLEE
            return CallbackRecord(
                CallbackVerdict.CALLEE_MISMATCH if mismatch else CallbackVerdict.UNKNOWN_CALL
            )
        if status is FinishStatus.HELD:
            return CallbackRecord(CallbackVerdict.HELD, outcome)
        if status in (FinishStatus.RECORDED, FinishStatus.CORRECTED):
            return CallbackRecord(
                CallbackVerdict.RECORDED, outcome, corrected=status is FinishStatus.CORRECTED
            )
        return CallbackRecord(CallbackVerdict.DUPLICATE)

    # -- issue 19: what is kept of the digits -------------------------------------------------

    def _protected(
        self,
        instruction: StoredInstruction,
        callback: CmCallback,
        finish: CallFinish,
        callback_body: str | None,
    ) -> CallFinish:
        """`finish` as it may be stored: in `omit` and `verify` mode without the digits (and
        with the callback body redacted), in `verify` mode with `verified`; once the
        instruction's personal data is erased, without digits nor body."""
        if instruction.erased_at is not None:
            verified = False if instruction.digits_mode == DigitsMode.VERIFY else None
            return replace(finish, digits=None, callback_body=None, verified=verified)
        if not protects(instruction.digits_mode):
            return finish
        verified = None
        if instruction.digits_mode == DigitsMode.VERIFY:
            verified = finish.outcome is Outcome.INPUT_RECEIVED and self._matches(
                instruction, callback.digits
            )
        body = redacted_body(callback_body)
        return replace(
            finish,
            digits=None,
            callback_body=None if body is None else bounded_body(body),
            verified=verified,
        )

    def _matches(self, instruction: StoredInstruction, digits: str | None) -> bool:
        if self._digit_keys is None:  # pragma: no cover - wiring always gives the keys
            raise RuntimeError("verify mode needs the digits hash keys")
        return digits_match(
            self._digit_keys.digit_keys(),
            digits,
            instruction.instruction_id,
            instruction.expected_digits_hash,
        )

    # -- end of issue 19's block ------------------------------------------------------------

    def _finish_unstored(
        self, instruction: StoredInstruction, finish: CallFinish, named: frozenset[str] | None
    ) -> FinishStatus | None:
        """A callback for a call the table does not hold (yet); None: refuse it."""
        if instruction.status == InstructionStatus.NOT_PLACED:
            return None  # not a call we can have placed
        if finish.callee is None and instruction.erased_at is None:
            return None  # not a callee we asked for (an erased instruction names none: its
            # call ids decide, below or when the placement's recording releases the hold)
        if instruction.call_ids is None:  # the placement has not recorded its calls
            created = datetime.fromisoformat(instruction.created_at)
            release_at = max(created + PLACEMENT_GRACE, self._clock())
            status = self._store.hold_call(instruction, finish, release_at)
            if status is not FinishStatus.PLACEMENT_RECORDED:
                return self._after_unseen_write(instruction, finish, status, named)
            reloaded = self._store.load_instruction(instruction.instruction_id)
            if reloaded is None or reloaded.call_ids is None:  # pragma: no cover - defensive
                return None
            instruction = reloaded
        if finish.call_id not in (instruction.call_ids or ()):
            return None  # the placement recorded its calls, and not this one
        status = self._store.finish_unseen_call(instruction, finish)
        return self._after_unseen_write(instruction, finish, status, named)

    def _after_unseen_write(
        self,
        instruction: StoredInstruction,
        finish: CallFinish,
        status: FinishStatus,
        named: frozenset[str] | None,
    ) -> FinishStatus:
        if status is FinishStatus.ALREADY_STORED:  # the placement wrote it meanwhile
            return self._store.finish_queued_call(instruction, finish, named)
        return status


def _matching_callee(instruction: StoredInstruction, callee: str | None) -> str | None:
    """The instruction's own E.164 form of the callback's callee, if it is one we asked for
    (CM may format the number differently: `+31…`, `0031…`, `31…`, `06…`)."""
    return matching_callee([c for c in instruction.callees if c is not None], callee)


def _named_callees(instruction: StoredInstruction, callee: str | None) -> frozenset[str] | None:
    """The instruction's callees the callback's callee may be (empty: a number that is none of
    them); None when there is nothing to compare: the callback names no number, or the
    instruction's numbers were erased (issue 19)."""
    if instruction.erased_at is not None:
        return None
    return callees_echoed([c for c in instruction.callees if c is not None], callee)


def _scheduled_for_another(
    instruction: StoredInstruction, call_id: str, named: frozenset[str] | None
) -> bool:
    """Whether the instruction's schedule names call ``call_id`` for a callee other than the
    callback names: refused before a redial is decided on it (round 2, #16)."""
    entry = next((e for e in instruction.schedule if e.call_id == call_id), None)
    return entry is not None and is_other_callee(entry.callee, named)


# ---------------------------------------------------------------- re-deriving outcomes


def rederived(
    call: StoredCall, instruction: StoredInstruction, digits_key: str = "digits"
) -> CallFinish | None:
    """The call's outcome and digits derived again from its stored callback body, reading
    the digits under `digits_key` (when CM turns out to send them under another key); None
    when nothing would change, or the call has no complete stored body (cut, or none)."""
    if (
        call.status is not CallStatus.FINISHED
        or call.hold is not None
        or not call.callback_body
        or protected_from_rederiving(call, instruction)  # issue 19
    ):
        return None
    try:
        raw = json.loads(call.callback_body)
    except ValueError:  # cut at CALLBACK_BODY_LIMIT_BYTES
        return None
    if not isinstance(raw, dict):
        return None
    body = {k: v for k, v in raw.items() if k not in ("digits", digits_key)}
    # the digits under `digits_key`; a body that has none there keeps those under `digits`
    # (a range can hold both shapes: re-deriving must never drop digits CM did send)
    body["digits"] = raw.get(digits_key) or raw.get("digits")
    try:
        callback = parse_callback(instruction.instruction_id, body)
    except MalformedCallback:
        return None
    rules = InputRules.from_values(
        instruction.min_digits, instruction.max_digits, instruction.regex
    )
    outcome = outcome_for(callback.result.code, callback.digits, rules)
    digits = (callback.digits or None) and callback.digits[:DIGITS_LIMIT]
    if (outcome, digits) == (call.outcome, call.digits):
        return None
    return CallFinish(
        call_id=call.call_id,
        callee=call.callee,
        outcome=outcome,
        digits=digits,
        result=call.result or {},
        finished_at=call.finished_at or iso(utc_now()),
        callback_body=call.callback_body,
    )


def protected_from_rederiving(call: StoredCall, instruction: StoredInstruction) -> bool:
    """Issue 19: a call whose digits were not kept (`omit`/`verify` mode, a redacted body) or
    whose personal data was erased cannot be re-derived: its stored body has no digits, and
    re-reading it would wrongly turn `input-received` into `no-input`."""
    return (
        protects(instruction.digits_mode)
        or protects(call.digits_mode)
        or instruction.erased_at is not None
        or is_redacted(call.callback_body)
    )


@dataclass(frozen=True, slots=True)
class RederiveReport:
    examined: int  # finished calls in the range
    changed: list[tuple[str, str, Outcome, Outcome]]  # (instruction, call, was, now)
    written: int  # corrections written (0 on a dry run)
    protected: int = 0  # issue 19: calls left alone, their digits not kept or erased


def rederive_outcomes(
    store: CorrectionStore,
    finished_from: datetime,
    finished_to: datetime,
    *,
    digits_key: str = "digits",
    apply: bool = False,
) -> RederiveReport:
    """Re-derive the outcome of every call that finished in [from, to) from its stored
    callback body; with `apply`, write each change as a correction (`revision` + 1,
    `corrects: rederived`), which the outbox publishes. Idempotent: a second run finds
    nothing to change."""
    instructions: dict[str, StoredInstruction | None] = {}
    examined, written, protected = 0, 0, 0
    changed: list[tuple[str, str, Outcome, Outcome]] = []
    for call in store.finished_calls(iso(finished_from), iso(finished_to)):
        examined += 1
        if call.instruction_id not in instructions:
            instructions[call.instruction_id] = store.load_instruction(call.instruction_id)
        instruction = instructions[call.instruction_id]
        if instruction is not None and protected_from_rederiving(call, instruction):
            protected += 1
            continue
        finish = None if instruction is None else rederived(call, instruction, digits_key)
        if finish is None or call.outcome is None:
            continue
        changed.append((call.instruction_id, call.call_id, call.outcome, finish.outcome))
        if apply and store.correct(call, finish):
            written += 1
    return RederiveReport(examined=examined, changed=changed, written=written, protected=protected)
