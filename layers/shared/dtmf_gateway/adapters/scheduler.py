"""`DialScheduler` on EventBridge Scheduler (round 2, #16): one one-time ``at()`` schedule per
dial, in the stack's schedule group, deleted by Scheduler once it has run
(``ActionAfterCompletion: DELETE``), targeting the dial function with the dial as its input.

Scheduler invokes with one-minute precision (a schedule at 10:00 runs between 10:00:00 and
10:00:59) and at least once; the dial function copes with both (`domain.dialling`). A moment
already past (or less than MIN_LEAD ahead) is scheduled MIN_LEAD from now: Scheduler does not
promise to run an ``at()`` expression in the past.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dtmf_gateway.domain.calls import utc_now

if TYPE_CHECKING:
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import TargetTypeDef

    from dtmf_gateway.domain.ports import ScheduledDial

#: The least lead a schedule is created with.
MIN_LEAD = timedelta(seconds=60)


def schedule_name(dial: ScheduledDial) -> str:
    """Deterministic per dial (so a retried creation finds the first): ``dial-`` + 40 hex
    digits of sha256(instruction, callee index, attempt, moment) — Scheduler names are at
    most 64 characters of ``[0-9a-zA-Z-_.]``. (A dial of before index keys hashed its
    number in the index's place.)"""
    callee = dial.callee if dial.index is None else f"#{dial.index}"
    text = f"{dial.instruction_id}\n{callee}\n{dial.attempt}\n{dial.scheduled_for}"
    return "dial-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def at_expression(moment: datetime) -> str:
    """``at(yyyy-mm-ddThh:mm:ss)`` in UTC, rounded up to the whole second."""
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({utc.strftime('%Y-%m-%dT%H:%M:%S')})"


def dial_input(dial: ScheduledDial) -> str:
    """The dial function's event: the dial as kebab-case JSON, its callee named by its index
    (``callee-index``), never by its number — the schedule waits, and an erasure of the
    instruction's personal data may come first."""
    callee = {"callee-index": dial.index} if dial.index is not None else {"callee": dial.callee}
    return json.dumps(
        {
            "instruction-id": dial.instruction_id,
            **callee,
            "attempt": dial.attempt,
            "scheduled-for": dial.scheduled_for,
        },
        separators=(",", ":"),
    )


class EventBridgeDialScheduler:
    def __init__(
        self,
        client: EventBridgeSchedulerClient,
        *,
        group_name: str,
        target_arn: str,
        role_arn: str,
        dead_letter_arn: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._scheduler = client
        self._group = group_name
        self._target = target_arn
        self._role = role_arn
        self._dead_letter = dead_letter_arn
        self._clock = clock

    def schedule(self, dial: ScheduledDial) -> None:
        moment = max(datetime.fromisoformat(dial.scheduled_for), self._clock() + MIN_LEAD)
        target: TargetTypeDef = {
            "Arn": self._target,
            "RoleArn": self._role,
            "Input": dial_input(dial),
            "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
        }
        if self._dead_letter:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter}
        try:
            self._scheduler.create_schedule(
                Name=schedule_name(dial),
                GroupName=self._group,
                ScheduleExpression=at_expression(moment),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Target=target,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            # the same dial's schedule exists already: a retried creation
