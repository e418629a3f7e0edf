"""DELETE /v1/dtmf-calls/{instruction-id} — cancel every callee not yet ringing (round 2, #16).

Only the instruction's owner may (404 otherwise, as GET); idempotent (a repeat cancels
nothing more and answers the same view); calls already placed with CM go on.
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.catalogues import read_problems
from dtmf_gateway.api.models import json_response
from dtmf_gateway.api.paths import named_instruction_id
from dtmf_gateway.api.problems import register
from dtmf_gateway.api.views import instruction_view
from dtmf_gateway.observability import count, logger

app = gateway.resolver()
cancel_instruction = wiring.cancel_instruction()
read_instruction = wiring.read_instruction()


@app.delete("/dtmf-calls/<raw_instruction_id>")
def cancel_dtmf_call(raw_instruction_id: str) -> Response[str]:
    count("CancelRequests")
    instruction_id = named_instruction_id(raw_instruction_id)  # decoded once; 404 if malformed
    logger.set_correlation_id(instruction_id)
    owner = gateway.caller(app)
    report = cancel_instruction.cancel(instruction_id, owner=owner)
    logger.info("cancel", extra={"cancelled": report.cancelled})
    return json_response(instruction_view(read_instruction.read(instruction_id, owner=owner)))


register(app, read_problems())


handler = gateway.lambda_handler(app)
