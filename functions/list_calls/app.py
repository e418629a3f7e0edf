"""GET /v1/dtmf-calls — the caller's own instructions, newest first (round 2, #16).

Filters `status`, `outcome`, `created-from` (inclusive), `created-to` (exclusive); `limit`
1-100 (20); `next-token` as the previous page gave it (bound to the caller: another
principal's token, or a forged one, is `422`). Served from an index, never a scan.
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.catalogues import list_problems
from dtmf_gateway.api.list_query import encode_token, parse_list_query
from dtmf_gateway.api.models import json_response
from dtmf_gateway.api.problems import register
from dtmf_gateway.api.read_models import InstructionList
from dtmf_gateway.api.views import instruction_view
from dtmf_gateway.observability import count, logger

app = gateway.resolver()
list_instructions = wiring.list_instructions()
secrets = wiring.managed_secrets()


@app.get("/dtmf-calls")
def list_dtmf_calls() -> Response[str]:
    count("StatusReads")
    owner = gateway.caller(app)
    keys = secrets.signing_keys()
    usable = [k for k in (keys.current, keys.previous) if k]
    query = parse_list_query(app.current_event.query_string_parameters or {}, owner, usable)
    page = list_instructions.list(owner, query)
    token = encode_token(page.next, owner, keys.current) if page.next else None
    body = InstructionList(items=[instruction_view(s) for s in page.items], next_token=token)
    logger.info("list", extra={"items": len(page.items), "more": token is not None})
    return json_response(body)


register(app, list_problems())


handler = gateway.lambda_handler(app)
