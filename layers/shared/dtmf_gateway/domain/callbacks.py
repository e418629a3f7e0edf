"""Recording CM's `dtmf-finished` callbacks exactly once, whatever order they arrive in.

CM does not sign callbacks and does not document retries, so the use case assumes the worst:
duplicates, out-of-order delivery, a callback that overtakes the placing function's write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dtmf_gateway.domain.callees import matching_callee
from dtmf_gateway.domain.calls import (
    CallFinish,
    CmResult,
    FinishStatus,
    InstructionStatus,
    Outcome,
    StoredInstruction,
    iso,
    utc_now,
)
from dtmf_gateway.domain.digits import InputRules
from dtmf_gateway.domain.errors import MalformedCallback

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import CallbackStore

DTMF_FINISHED = "dtmf-finished"  # the callback type that ends a call; others are ignored

CODE_UNANSWERED = 9
CODE_FINISHED = 10
CODE_FAILED = 11
CODE_REJECTED = 12


class CmCallback(BaseModel):
    """CM's callback body, parsed tolerantly: `type`, `call-id`, `result.code` required."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    call_id: str = Field(alias="call-id", min_length=1, max_length=64)
    instruction_id: str | None = Field(default=None, alias="instruction-id")
    caller: str | None = None
    callee: str | None = None
    digits: str | None = Field(default=None, max_length=256)
    result: CmResult


def parse_callback(instruction_id: str, raw: object) -> CmCallback:
    """The callback body (parsed JSON) for the instruction of the callback URL.

    Raises MalformedCallback naming the missing or malformed fields, or when the body names
    another instruction.
    """
    try:
        callback = CmCallback.model_validate(raw)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in error.errors()})
        raise MalformedCallback(f"missing or malformed: {', '.join(fields)}") from None
    if callback.instruction_id not in (None, "", instruction_id):
        raise MalformedCallback("the body's instruction-id does not match the callback URL")
    return callback


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
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    UNKNOWN_INSTRUCTION = "unknown-instruction"
    UNKNOWN_CALL = "unknown-call"


class RecordCallback:
    def __init__(self, store: CallbackStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def record(
        self, instruction_id: str, callback: CmCallback
    ) -> tuple[CallbackVerdict, Outcome | None]:
        instruction = self._store.load_instruction(instruction_id)
        if instruction is None:
            return CallbackVerdict.UNKNOWN_INSTRUCTION, None
        rules = InputRules.from_values(
            instruction.min_digits, instruction.max_digits, instruction.regex
        )
        outcome = outcome_for(callback.result.code, callback.digits, rules)
        finish = CallFinish(
            call_id=callback.call_id.lower(),
            callee=_matching_callee(instruction, callback.callee),
            outcome=outcome,
            digits=callback.digits or None,
            result=callback.result.model_dump(by_alias=True, exclude_none=True),
            finished_at=iso(self._clock()),
        )
        status = self._store.finish_queued_call(instruction, finish)
        if status is FinishStatus.NOT_FOUND:
            if instruction.status == InstructionStatus.NOT_PLACED or finish.callee is None:
                # Not a call we can have placed: refused, nothing written.
                return CallbackVerdict.UNKNOWN_CALL, None
            status = self._store.finish_unseen_call(instruction, finish)
            if status is FinishStatus.ALREADY_STORED:  # the placement wrote it meanwhile
                status = self._store.finish_queued_call(instruction, finish)
        if status is FinishStatus.RECORDED:
            return CallbackVerdict.RECORDED, outcome
        return CallbackVerdict.DUPLICATE, None


def _matching_callee(instruction: StoredInstruction, callee: str | None) -> str | None:
    """The instruction's own E.164 form of the callback's callee, if it is one we asked for
    (CM may format the number differently: `+31…`, `0031…`, `31…`, `06…`)."""
    return matching_callee(instruction.callees, callee)
