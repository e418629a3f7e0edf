"""GET /v1/dtmf-calls/{instruction-id} — the instruction and its calls, read-only.

Only the IAM principal that placed the instruction may read it (roles count as one
principal whatever their session name); to anyone else it does not exist (404). The id is
percent-decoded once (`api.paths`); a path that names no valid id is 404 too.
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.catalogues import read_problems
from dtmf_gateway.api.models import build, json_response
from dtmf_gateway.api.paths import named_instruction_id
from dtmf_gateway.api.problems import register
from dtmf_gateway.api.read_models import CallView, InstructionView
from dtmf_gateway.api.views import instruction_view
from dtmf_gateway.observability import count, logger

app = gateway.resolver()
read_instruction = wiring.read_instruction()
build(InstructionView, CallView)  # every answer is one: not left to the first request


@app.get("/dtmf-calls/<raw_instruction_id>")
def get_dtmf_call(raw_instruction_id: str) -> Response[str]:
    count("StatusReads")
    instruction_id = named_instruction_id(raw_instruction_id)  # decoded once; 404 if malformed
    logger.set_correlation_id(instruction_id)
    owner = gateway.caller(app)
    state = read_instruction.read(instruction_id, owner=owner)
    return json_response(instruction_view(state))


register(app, read_problems())

handler = gateway.lambda_handler(app)
