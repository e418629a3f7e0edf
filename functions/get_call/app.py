"""GET /v1/dtmf-calls/{instruction-id} — the instruction and its calls, read-only.

Only the IAM principal that placed the instruction may read it (roles count as one
principal whatever their session name).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.api.identity import principal
from dtmf_gateway.api.problems import json_response, problem
from dtmf_gateway.api.views import instruction_view
from dtmf_gateway.observability import count, logger, metrics

app = APIGatewayRestResolver(strip_prefixes=["/v1"])
reader = wiring.instruction_reader()


@app.get("/dtmf-calls/<instruction_id>")
def get_dtmf_call(instruction_id: str) -> Response[str]:
    count("StatusReads")
    logger.set_correlation_id(instruction_id)
    found = reader.load(instruction_id)
    caller = principal(app.current_event.request_context.identity)
    if found is None or found[0].get("owner") != caller:
        # Results can hold PINs: only the principal that placed the instruction reads them,
        # and to anyone else it does not exist.
        return problem(
            404,
            "not-found",
            "No such instruction",
            f"There is no instruction {instruction_id!r} (or its retention period has passed).",
        )
    instruction, calls = found
    return json_response(200, instruction_view(instruction, calls))


@app.exception_handler(Exception)
def _unexpected(_: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return problem(500, "internal-error", "Internal error", "The request failed unexpectedly.")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
