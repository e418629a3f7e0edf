"""Scheduled: calls that never got a callback become `expired` (and are published as such).

A run drains every stale call within the invocation's time (its remaining time minus a
margin), however many there are; what is left when time runs out is taken by the next run,
from where this one stopped (the pending-calls adapter keeps a cursor per index shard).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.domain.expiry import expire_stale_calls
from dtmf_gateway.observability import count, logger, metrics

pending = wiring.pending_calls()


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = expire_stale_calls(
        pending, seconds_left=lambda: context.get_remaining_time_in_millis() / 1000
    )
    count("CallsExpired", report.expired)
    if not report.finished:
        count("ExpiryBacklogLeft")
    logger.info(
        "expiry run",
        extra={
            "examined": report.examined,
            "expired": report.expired,
            "skipped": report.skipped,  # stale calls that had already ended (issue 15)
            "finished": report.finished,
            "schedule": event.time,
        },
    )
    return {"examined": report.examined, "expired": report.expired, "finished": report.finished}
