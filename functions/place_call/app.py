"""POST /v1/dtmf-calls — validate a DTMF instruction, place it with CM, answer 202.

Thin: parse the event, call the use case, map its errors to problem+json.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.api.body import BadRequest, UnsupportedMediaType, json_body
from dtmf_gateway.api.identity import principal
from dtmf_gateway.api.placement import InvalidIdempotencyKey
from dtmf_gateway.api.problems import json_response, problem
from dtmf_gateway.domain.errors import CalleeLimitReached, InvalidRequest, PolicyRefused
from dtmf_gateway.domain.placement import PlacementFailed
from dtmf_gateway.domain.ports import InstructionAlreadyExists
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
    result = placement.place(
        request,
        owner=principal(app.current_event.request_context.identity),
        idempotency_key=event.headers.get("idempotency-key") or None,
        lambda_context=app.lambda_context,
    )
    instruction_id = result.body.get("instruction-id")
    logger.set_correlation_id(instruction_id)
    replayed = "Idempotent-Replayed" in result.headers
    if result.http_status == 202 and not replayed:
        queued = sum(1 for call in result.body["calls"] if call["status"] == "queued")
        count("CallsPlaced", queued)
        logger.info("instruction queued", extra={"calls": queued})
    elif not replayed:
        count_by("CmErrors", "kind", "outcome-unknown")
        logger.warning("CM outcome unknown", extra={"http_status": result.http_status})
    return json_response(result.http_status, result.body, result.headers)


@app.exception_handler(BadRequest)
def _bad_request(error: BadRequest) -> Response[str]:
    count_by("RequestsRefused", "reason", "unreadable-body")
    return problem(400, "bad-request", "The request body could not be read", str(error))


# TEMPORARY (request branch): until the problem catalogue (seams) registers
# UnsupportedMediaType -> 415 "unsupported-media-type" with Accept-Post: application/json.
@app.exception_handler(UnsupportedMediaType)
def _unsupported_media_type(error: UnsupportedMediaType) -> Response[str]:
    count_by("RequestsRefused", "reason", "unsupported-media-type")
    return problem(
        415,
        "unsupported-media-type",
        "The body must be JSON",
        str(error),
        headers={"Accept-Post": "application/json"},
    )


@app.exception_handler(InvalidRequest)
def _invalid(error: InvalidRequest) -> Response[str]:
    count_by("RequestsRefused", "reason", "invalid-request")
    fields = ", ".join(p.field for p in error.problems)
    return problem(
        422,
        "invalid-request",
        "The instruction is not valid",
        f"{len(error.problems)} field(s) are not valid: {fields}",
        extensions={"errors": [{"field": p.field, "message": p.message} for p in error.problems]},
    )


@app.exception_handler(InvalidIdempotencyKey)
def _invalid_key(error: InvalidIdempotencyKey) -> Response[str]:
    count_by("RequestsRefused", "reason", "invalid-idempotency-key")
    return problem(
        422,
        "invalid-request",
        "The Idempotency-Key header is not valid",
        str(error),
        extensions={"errors": [{"field": "Idempotency-Key", "message": str(error)}]},
    )


@app.exception_handler(PolicyRefused)
def _policy(error: PolicyRefused) -> Response[str]:
    rules = sorted({v.rule for v in error.violations})
    for rule in rules:
        count_by("RequestsRefused", "reason", rule)
    return problem(
        403,
        "policy-refused",
        "The dialling policy refuses this instruction",
        "; ".join(v.message for v in error.violations),
        extensions={
            "rules": rules,
            "errors": [
                {"field": v.field, "rule": v.rule, "message": v.message} for v in error.violations
            ],
        },
    )


@app.exception_handler(CalleeLimitReached)
def _too_many(error: CalleeLimitReached) -> Response[str]:
    count_by("RequestsRefused", "reason", CalleeLimitReached.RULE)
    return problem(
        429,
        "policy-refused",
        "Too many calls to the same number",
        f"{', '.join(error.fields)} already had {error.limit} call(s) this hour, the most this "
        "service allows; nothing was placed.",
        headers={"Retry-After": str(error.retry_after_seconds)},
        extensions={
            "rules": [CalleeLimitReached.RULE],
            "errors": [
                {"field": f, "rule": CalleeLimitReached.RULE, "message": "too many calls this hour"}
                for f in error.fields
            ],
        },
    )


@app.exception_handler(InstructionAlreadyExists)
def _exists(error: InstructionAlreadyExists) -> Response[str]:
    count_by("RequestsRefused", "reason", "instruction-id-in-use")
    return problem(
        409,
        "instruction-id-in-use",
        "The instruction-id is already in use",
        f"instruction-id {error.instruction_id!r} was used before. Send a new instruction-id, "
        "or repeat the first request with the same Idempotency-Key to get its response.",
        extensions={"instruction-id": error.instruction_id},
    )


@app.exception_handler(IdempotencyValidationError)
def _key_reused(_: IdempotencyValidationError) -> Response[str]:
    count_by("RequestsRefused", "reason", "idempotency-key-reused")
    return problem(
        422,
        "idempotency-key-reused",
        "The Idempotency-Key was used with a different body",
        "An Idempotency-Key identifies one instruction: use a new key for a different body.",
    )


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_flight(_: IdempotencyAlreadyInProgressError) -> Response[str]:
    count_by("RequestsRefused", "reason", "idempotency-key-in-flight")
    return problem(
        409,
        "request-in-progress",
        "A request with this Idempotency-Key is still being processed",
        "Retry in a few seconds to get its response.",
        headers={"Retry-After": "2"},
    )


@app.exception_handler(PlacementFailed)
def _not_placed(error: PlacementFailed) -> Response[str]:
    kind = "unreachable" if error.unreachable else "refused"
    count_by("CmErrors", "kind", kind)
    logger.warning("CM placed nothing", extra={"cm_error": kind})
    return problem(
        502,
        "cm-unreachable" if error.unreachable else "cm-refused",
        "CM could not be reached" if error.unreachable else "CM refused the instruction",
        f"{error.reason}. No call was placed; the request can be retried.",
        extensions={"instruction-id": error.instruction_id, "instruction-status": "not-placed"},
    )


@app.exception_handler(Exception)
def _unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    count_by("RequestsRefused", "reason", "internal-error")
    return problem(
        500,
        "internal-error",
        "Internal error",
        "The request failed unexpectedly; it is safe to retry with the same Idempotency-Key.",
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
