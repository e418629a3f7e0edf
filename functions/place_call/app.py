"""POST /v1/dtmf-calls — validate a DTMF instruction, place it with CM, answer 202.

Route → use case (behind idempotency) → response; every error is answered by the catalogue.
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.body import json_body
from dtmf_gateway.api.catalogues import placement_problems
from dtmf_gateway.api.problems import register
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.observability import count, count_by, logger, record

app = gateway.resolver()
placement = wiring.placement()
webhook_targets = wiring.webhook_targets()


@app.post("/dtmf-calls")
def create_dtmf_call() -> Response[str]:
    count("PlaceRequests")
    event = app.current_event
    headers = event.headers  # (a new case-insensitive dict at each access)
    request = parse_dtmf_call_request(
        json_body(
            event.body,
            is_base64=bool(event.is_base64_encoded),
            content_type=headers.get("content-type"),
        ),
        webhook_targets=webhook_targets,
    )
    if request.instruction_id:
        logger.set_correlation_id(request.instruction_id)
    answer = placement.answer(
        request,
        owner=gateway.caller(app),
        idempotency_key=headers.get("idempotency-key"),
        lambda_context=app.lambda_context,
    )
    logger.set_correlation_id(answer.instruction_id)
    if answer.status == 202 and not answer.replayed:
        count("CallsPlaced", answer.queued_calls)
        record(  # in the request's metrics document: one log line (issue 15)
            f"instruction {answer.body.get('status', 'queued')}",  # or scheduled (#16)
            calls=answer.queued_calls,
        )
    elif not answer.replayed:
        count_by("CmErrors", "kind", "outcome-unknown")
        logger.warning("CM outcome unknown", extra={"http_status": answer.status})
    return answer.response()


register(app, placement_problems())

handler = gateway.lambda_handler(app, cold_start_metric=True, prime="place_call")
