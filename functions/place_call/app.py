"""POST /v1/dtmf-calls — validate a DTMF instruction, place it with CM, answer 202.

Route → use case (behind idempotency) → response; every error is answered by the catalogue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.api.body import json_body
from dtmf_gateway.api.catalogues import placement_problems
from dtmf_gateway.api.identity import principal
from dtmf_gateway.api.problems import register
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.observability import count, count_by, logger, metrics

app = APIGatewayRestResolver(strip_prefixes=["/v1"])
placement = wiring.placement()


@app.post("/dtmf-calls")
def create_dtmf_call() -> Response[str]:
    count("PlaceRequests")
    event = app.current_event
    request = parse_dtmf_call_request(
        json_body(
            event.body,
            is_base64=bool(event.is_base64_encoded),
            content_type=event.headers.get("content-type"),
        )
    )
    if request.instruction_id:
        logger.set_correlation_id(request.instruction_id)
    answer = placement.answer(
        request,
        owner=principal(event.request_context.identity),
        idempotency_key=event.headers.get("idempotency-key") or None,
        lambda_context=app.lambda_context,
    )
    logger.set_correlation_id(answer.instruction_id)
    if answer.status == 202 and not answer.replayed:
        count("CallsPlaced", answer.queued_calls)
        logger.info(
            f"instruction {answer.body.get('status', 'queued')}",  # or scheduled (#16)
            extra={"calls": answer.queued_calls},
        )
    elif not answer.replayed:
        count_by("CmErrors", "kind", "outcome-unknown")
        logger.warning("CM outcome unknown", extra={"http_status": answer.status})
    return answer.response()


register(app, placement_problems())


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
