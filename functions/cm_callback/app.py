"""POST /v1/callbacks/cm/{instruction-id}?token=… — CM's `dtmf-finished`, recorded once.

No IAM here (CM cannot sign): the token, an HMAC of the instruction id, is the
authentication, checked in constant time before anything else is looked at.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from dtmf_gateway import wiring
from dtmf_gateway.api.body import BadRequest, json_body
from dtmf_gateway.api.problems import json_response, problem
from dtmf_gateway.domain.callbacks import CallbackVerdict, CmCallback
from dtmf_gateway.domain.signing import token_is_valid
from dtmf_gateway.observability import count, count_by, logger, metrics

app = APIGatewayRestResolver(strip_prefixes=["/v1"])
secrets = wiring.managed_secrets()
record_callback = wiring.record_callback()

DTMF_FINISHED = "dtmf-finished"


def _forbidden() -> Response[str]:
    count("CallbackForbidden")
    return problem(403, "forbidden", "Forbidden", "The callback token is missing or not valid.")


@app.post("/callbacks/cm/<instruction_id>")
def receive_callback(instruction_id: str) -> Response[str]:
    count("CallbacksReceived")
    event = app.current_event
    token = (event.query_string_parameters or {}).get("token")
    if not token_is_valid(secrets.signing_keys(), instruction_id, token):
        return _forbidden()
    logger.set_correlation_id(instruction_id)

    callback = _parse(
        instruction_id, json_body(event.body, is_base64=bool(event.is_base64_encoded))
    )
    if callback.type != DTMF_FINISHED:
        count_by("CallbacksIgnored", "type", "other")
        logger.info("callback of another type ignored", extra={"callback_type": callback.type[:32]})
        return json_response(200, {"status": "ignored"})

    verdict, outcome = record_callback.record(instruction_id, callback)
    if verdict is CallbackVerdict.RECORDED:
        count_by("CallbacksRecorded", "outcome", str(outcome))
        logger.info("call finished", extra={"call_id": callback.call_id, "outcome": str(outcome)})
        return json_response(200, {"status": "recorded"})
    if verdict is CallbackVerdict.DUPLICATE:
        count("CallbacksDuplicate")
        logger.info("duplicate callback acknowledged", extra={"call_id": callback.call_id})
        return json_response(200, {"status": "duplicate"})
    count_by("CallbacksRefused", "reason", verdict.value)
    logger.warning("callback refused", extra={"reason": verdict.value, "call_id": callback.call_id})
    return problem(
        404,
        verdict.value,
        "Unknown call" if verdict is CallbackVerdict.UNKNOWN_CALL else "Unknown instruction",
        "The callback does not belong to a call this instruction placed; nothing was recorded.",
    )


def _parse(instruction_id: str, raw: object) -> CmCallback:
    try:
        callback = CmCallback.model_validate(raw)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) or "body" for e in error.errors()})
        raise BadRequest(f"missing or malformed: {', '.join(fields)}") from None
    if callback.instruction_id not in (None, "", instruction_id):
        raise BadRequest("the body's instruction-id does not match the callback URL")
    return callback


@app.exception_handler(BadRequest)
def _bad_request(error: BadRequest) -> Response[str]:
    count_by("CallbacksRefused", "reason", "malformed")
    return problem(
        400, "malformed-callback", "The callback body is not a CM dtmf-finished body", str(error)
    )


@app.exception_handler(Exception)
def _unexpected(_: Exception) -> Response[str]:
    # 500 makes CM (if it retries) deliver again; the write is conditional, so that is safe.
    logger.exception("unexpected error")
    return problem(500, "internal-error", "Internal error", "The callback could not be recorded.")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
