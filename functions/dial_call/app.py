"""A one-time schedule fired (EventBridge Scheduler, round 2 #16): dial one scheduled callee.

The schedule's input names the dial (instruction, callee index, attempt, moment); the use case
re-checks the deadline, quiet hours, the dialling policy and the per-callee limit, claims
the callee with a conditional write (a schedule that fires twice places once), and places
with CM. An input that is not a dial is logged and dropped: retrying cannot mend it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dtmf_gateway import wiring
from dtmf_gateway.api.placement import time_budget
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.observability import count, count_by, logger, metrics

dialler = wiring.dial_scheduled_call()


class DialInput(BaseModel):
    """The schedule's input (adapters.scheduler.dial_input): the callee by its index, or (a
    schedule created before inputs named the index) by its number."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instruction_id: str = Field(alias="instruction-id", min_length=1, max_length=64)
    callee_index: int | None = Field(default=None, alias="callee-index", ge=0, le=999)
    callee: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    attempt: int = Field(ge=1, le=10)
    scheduled_for: str = Field(alias="scheduled-for", min_length=1, max_length=40)

    @model_validator(mode="after")
    def _names_the_callee(self) -> DialInput:
        if (self.callee_index is None) == (self.callee is None):
            raise ValueError("names the callee by callee-index or callee, exactly one")
        return self


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        dial = DialInput.model_validate(event)
    except ValidationError as error:
        count("DialsMalformed")
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        logger.error("not a dial: dropped", extra={"fields": fields})
        return {"outcome": "malformed"}
    logger.set_correlation_id(dial.instruction_id)
    try:
        result = dialler.dial(
            ScheduledDial(
                dial.instruction_id,
                dial.callee_index,
                dial.attempt,
                dial.scheduled_for,
                dial.callee,
            ),
            time_budget_seconds=time_budget(context),
        )
    except Exception:
        # the invocation is retried (then DialCallDLQ); the notes say what became of a call
        # CM queued (domain.dial_recording)
        logger.exception("scheduled dial failed: retried", extra={"attempt": dial.attempt})
        raise
    count_by("ScheduledDials", "outcome", result.outcome.value)
    if result.recording_deferred:
        logger.warning(
            "call queued; its recording failed and waits in the placement-recordings queue"
        )
    logger.info(
        "scheduled dial",
        extra={
            "outcome": result.outcome.value,
            "reason": result.reason,
            # the rule or the fields refused (names only: never a number or digits)
            "detail": result.detail,
            "attempt": dial.attempt,
        },
    )
    return {"outcome": result.outcome.value}
