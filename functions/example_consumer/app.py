"""Example consumer of `DTMF Result` events (input received), the idiomatic way.

An EventBridge rule delivers the events asynchronously; the Powertools parser validates the
envelope and the detail against the product's own event model. Consumers must be idempotent:
`detail.call-id` identifies the result (each call has exactly one), events may repeat.
Replace the body of `handle_result` with your business logic.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway.domain.events import DtmfResultDetail
from dtmf_gateway.observability import count, logger, metrics


class DtmfResultEvent(EventBridgeModel):
    detail: DtmfResultDetail


def handle_result(result: DtmfResultDetail) -> dict[str, Any]:
    """Business logic goes here (never log the digits: they may be a PIN)."""
    return {
        "instruction-id": result.instruction_id,
        "call-id": result.call_id,
        "outcome": result.outcome.value,
        "metadata": result.metadata,
    }


@metrics.log_metrics
@logger.inject_lambda_context
@event_parser(model=DtmfResultEvent)
def handler(event: DtmfResultEvent, _context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(event.detail.instruction_id)
    handled = handle_result(event.detail)
    count("ResultsConsumed")
    logger.info("result consumed", extra={"call_id": event.detail.call_id, "event_id": event.id})
    return handled
