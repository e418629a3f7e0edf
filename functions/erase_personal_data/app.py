"""DELETE /v1/dtmf-calls/{instruction-id}/personal-data — erase an instruction's personal data.

Numbers, digits, prompts, metadata and stored callback bodies go (issue 19, see
`domain.erasure`); ids, statuses, outcomes and times stay, and the answer is the instruction
view with `erased-at`. Idempotent. Only the IAM principal that placed the instruction may
erase it; to anyone else it does not exist (404, as GET).
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
erase_instruction = wiring.erase_instruction()


@app.delete("/dtmf-calls/<raw_instruction_id>/personal-data")
def erase_personal_data(raw_instruction_id: str) -> Response[str]:
    instruction_id = named_instruction_id(raw_instruction_id)  # decoded once; 404 if malformed
    logger.set_correlation_id(instruction_id)
    owner = gateway.caller(app)
    state = erase_instruction.erase(instruction_id, owner=owner)
    count("PersonalDataErased")
    logger.info("personal data erased", extra={"calls": len(state.calls)})
    return json_response(instruction_view(state))


register(app, read_problems())


handler = gateway.lambda_handler(app)
