"""Scheduled: calls that never got a callback become `expired` (and are published as such)."""

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
def handler(event: EventBridgeEvent, _context: LambdaContext) -> dict[str, Any]:
    report = expire_stale_calls(pending)
    count("CallsExpired", report.expired)
    logger.info(
        "expiry run",
        extra={"examined": report.examined, "expired": report.expired, "schedule": event.time},
    )
    return {"examined": report.examined, "expired": report.expired}
