"""POST /v1/callbacks/cm/{instruction-id}?token=… — CM's `dtmf-finished`, recorded once.

No IAM here (CM cannot sign): the token, an HMAC of the instruction id, is the
authentication, checked in constant time before anything else is looked at. The id is
percent-decoded once first (`api.paths`); a malformed path, like a wrong token, is 403.
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.acknowledgements import acknowledged, ignored
from dtmf_gateway.api.body import callback_json, callback_text
from dtmf_gateway.api.catalogues import callback_problems
from dtmf_gateway.api.models import CallbackAcknowledged, build
from dtmf_gateway.api.paths import path_instruction_id
from dtmf_gateway.api.problems import CallbackForbidden, register
from dtmf_gateway.domain.callbacks import DTMF_FINISHED, parse_callback
from dtmf_gateway.domain.signing import token_is_valid
from dtmf_gateway.domain.stored import CmResult
from dtmf_gateway.observability import count, logger

app = gateway.resolver(iam=False)  # CM cannot sign: the token authenticates
secrets = wiring.managed_secrets()
record_callback = wiring.record_callback()
build(CmResult, CallbackAcknowledged)  # every recorded callback needs both


@app.post("/callbacks/cm/<raw_instruction_id>")
def receive_callback(raw_instruction_id: str) -> Response[str]:
    count("CallbacksReceived")
    event = app.current_event
    token = (event.query_string_parameters or {}).get("token")
    instruction_id = path_instruction_id(raw_instruction_id)  # decoded once; None: malformed
    if instruction_id is None or not token_is_valid(secrets.signing_keys(), instruction_id, token):
        raise CallbackForbidden
    logger.set_correlation_id(instruction_id)
    received = callback_text(event.body, is_base64=bool(event.is_base64_encoded))
    raw = callback_json(received)
    callback = parse_callback(instruction_id, raw)
    if callback.type != DTMF_FINISHED:
        return ignored(callback)
    return acknowledged(record_callback.record(instruction_id, callback, received), callback, raw)


register(app, callback_problems())

handler = gateway.lambda_handler(app, correlate=False, prime="cm_callback")
