"""Write schemas/openapi.json: the API's OpenAPI 3.1 description — the contract.

Generated, never edited: Powertools' event handler describes the routes from the request
model the API validates with and the response models the handlers answer with
(dtmf_gateway.api.models); every error response comes from the problem catalogue
(dtmf_gateway.api.problems), whose builders are run on their declared examples, so each
operation lists exactly the statuses, problem `type`s (an enum per status), headers and
example bodies the handlers can answer. API Gateway's own answers (403 for a missing or
wrong signature, 429 throttling, 500/502/504 integration failures) are added per operation.

Run with `make schema`; tests/integration/test_openapi.py fails until the file is current,
checks that what the handlers really answer conforms to it, and validates the document
(openapi-spec-validator) and every example in it. The fuzz gate (tests/e2e/test_fuzz.py)
holds the deployed stack to it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "shared"))

from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: E402
from aws_lambda_powertools.event_handler.openapi.models import (  # noqa: E402
    Server,
    ServerVariable,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query  # noqa: E402

from dtmf_gateway.api import catalogues, problems  # noqa: E402
from dtmf_gateway.api.campaigns import (  # noqa: E402
    CAMPAIGN_INSTRUCTION_REF,
    CampaignAccepted,
    CampaignView,
    DtmfCampaignRequest,
    campaign_problems,
)
from dtmf_gateway.api.models import (  # noqa: E402
    JSON,
    PROBLEM_JSON,
    VERSION_HEADER,
    CallbackAcknowledged,
    PlacementAccepted,
    Problem,
    dump,
)
from dtmf_gateway.api.placement import IDEMPOTENCY_KEY_PATTERN, REPLAYED_HEADER  # noqa: E402
from dtmf_gateway.api.read_models import InstructionList, InstructionView  # noqa: E402
from dtmf_gateway.domain.campaigns import CAMPAIGN_ID_MAX_LENGTH, ROW_KEYS  # noqa: E402
from dtmf_gateway.domain.request import DtmfCallRequest  # noqa: E402
from dtmf_gateway.domain.request_fields import E164_JSON_SCHEMA  # noqa: E402
from dtmf_gateway.domain.request_limits import (  # noqa: E402
    INSTRUCTION_ID_MAX_LENGTH,
    INSTRUCTION_ID_PATTERN,
    MAX_CALLEES,
)

OPENAPI_FILE = ROOT / "schemas" / "openapi.json"
PLACE, GET, CALLBACK = "placeDtmfCall", "getDtmfCall", "receiveCmCallback"
ERASE = "eraseDtmfCallPersonalData"  # issue 19
CANCEL, LIST = "cancelDtmfCall", "listDtmfCalls"  # round 2 (#16)
CREATE_CAMPAIGN, GET_CAMPAIGN = "createDtmfCampaign", "getDtmfCampaign"  # round 2 (#17)
#: The campaign controls: POST /v1/dtmf-campaigns/{campaign-id}/<action> (one route serves all).
CAMPAIGN_ACTIONS = {
    "pause": "pauseDtmfCampaign",
    "resume": "resumeDtmfCampaign",
    "cancel": "cancelDtmfCampaign",
}
CAMPAIGN_OPERATIONS = (CREATE_CAMPAIGN, GET_CAMPAIGN, *CAMPAIGN_ACTIONS.values())
EXAMPLE_CAMPAIGN_ID = "reminders-2026-12"
EXAMPLE_ID = "order-7781-pin"
EXAMPLE_CALL_ID = "a7bd3b2e-2a6f-4c3e-9c1f-0d7e5f2b8a11"


def _json_answer(status: int, description: str, model: type[Any]) -> dict[int, Any]:
    """A route's `responses`: one answer, its body the JSON of `model`."""
    return {status: {"description": description, "content": {JSON: {"model": model}}}}


def build() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.post(
        "/v1/dtmf-calls",
        operation_id=PLACE,
        summary="Place a DTMF call",
        description="CM's Request DTMF instruction (kebab-case keys) minus callback-url, plus "
        "metadata. Exactly one of callee and callees. SigV4 (service execute-api).",
        responses=_json_answer(202, "calls queued with CM", PlacementAccepted),
        tags=["calls"],
    )
    def place_call(
        instruction: Annotated[DtmfCallRequest, Body()],
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=255)
        ] = None,
    ) -> PlacementAccepted:
        raise NotImplementedError  # documentation only: functions/place_call/app.py serves it

    @app.get(
        "/v1/dtmf-calls/<instruction_id>",
        operation_id=GET,
        summary="An instruction, its calls and their results",
        responses=_json_answer(200, "found", InstructionView),
        tags=["calls"],
    )
    def get_call(instruction_id: str) -> InstructionView:
        raise NotImplementedError

    @app.delete(
        "/v1/dtmf-calls/<instruction_id>/personal-data",
        operation_id=ERASE,
        summary="Erase an instruction's personal data",
        description="Numbers (callee, callees, caller), digits, prompts, metadata and stored "
        "callback bodies are removed; ids, statuses, outcomes and times stay. Idempotent. "
        "SigV4 (service execute-api); only the principal that placed it.",
        responses=_json_answer(
            200, "erased (or erased before): the instruction with `erased-at`", InstructionView
        ),
        tags=["calls"],
    )
    def erase_personal_data(instruction_id: str) -> InstructionView:
        raise NotImplementedError

    @app.delete(
        "/v1/dtmf-calls/<instruction_id>",
        operation_id=CANCEL,
        summary="Cancel every callee not yet ringing (round 2)",
        description="Scheduled callees (and those waiting for their moment) become cancelled, "
        "each with a `DTMF Call Not Placed` event; calls already placed with CM go on. "
        "Idempotent.",
        responses=_json_answer(200, "the instruction", InstructionView),
        tags=["calls"],
    )
    def cancel_call(instruction_id: str) -> InstructionView:
        raise NotImplementedError

    @app.get(
        "/v1/dtmf-calls",
        operation_id=LIST,
        summary="Your own instructions, newest first (round 2)",
        description="Served from an index. `status` matches the instruction's status, "
        "`outcome` any of its calls; `created-from` inclusive, `created-to` exclusive (RFC "
        "3339 with an offset). `next-token` is opaque and bound to the caller. A bad "
        "value, or any other query parameter, is 422 naming the parameter.",
        responses=_json_answer(200, "a page", InstructionList),
        tags=["calls"],
    )
    def list_calls(  # noqa: PLR0917 - one parameter per query key, as the route documents them
        status: Annotated[str | None, Query()] = None,
        outcome: Annotated[str | None, Query()] = None,
        created_from: Annotated[str | None, Query(alias="created-from")] = None,
        created_to: Annotated[str | None, Query(alias="created-to")] = None,
        limit: Annotated[int | None, Query(ge=1, le=100)] = None,
        next_token: Annotated[str | None, Query(alias="next-token")] = None,
    ) -> InstructionList:
        raise NotImplementedError

    @app.post(
        "/v1/callbacks/cm/<instruction_id>",
        operation_id=CALLBACK,
        summary="CM's dtmf-finished callback (for CM, not for clients)",
        description="The callback URL the service gives CM, token included; no SigV4.",
        responses=_json_answer(
            200,
            "recorded, held (recorded; published once the placement confirms the call), a "
            "duplicate acknowledged, or another type ignored",
            CallbackAcknowledged,
        ),
        tags=["callbacks"],
    )
    def cm_callback(instruction_id: str, token: Annotated[str, Query()]) -> CallbackAcknowledged:
        raise NotImplementedError

    _campaign_routes(app)
    return app


def _campaign_routes(app: APIGatewayRestResolver) -> None:
    """/v1/dtmf-campaigns (round 2, #17): functions/campaigns/app.py serves them."""

    @app.post(
        "/v1/dtmf-campaigns",
        operation_id=CREATE_CAMPAIGN,
        summary="Start a campaign: one instruction template, many callees (round 2)",
        description="Every row is validated before the first call; each row becomes the "
        "instruction `{campaign-id}.{row-number}`, paced by the stack. Exactly one of "
        "`callees` and `callees-s3-uri`. SigV4 (service execute-api).",
        responses=_json_answer(202, "accepted (status `validating`)", CampaignAccepted),
        tags=["campaigns"],
    )
    def create_campaign(
        campaign: Annotated[DtmfCampaignRequest, Body()],
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=255)
        ] = None,
    ) -> CampaignAccepted:
        raise NotImplementedError

    @app.get(
        "/v1/dtmf-campaigns/<campaign_id>",
        operation_id=GET_CAMPAIGN,
        summary="A campaign's status, counts and results (round 2)",
        description="Only the principal that created it; to anyone else it does not exist.",
        responses=_json_answer(200, "found", CampaignView),
        tags=["campaigns"],
    )
    def get_campaign(campaign_id: str) -> CampaignView:
        raise NotImplementedError

    for action, operation_id in CAMPAIGN_ACTIONS.items():
        _campaign_control(app, action, operation_id)


def _campaign_control(app: APIGatewayRestResolver, action: str, operation_id: str) -> None:
    effect = {
        "pause": "no more rows are placed until it is resumed (also while `validating`)",
        "resume": "a paused campaign places its rows again",
        "cancel": "rows not yet placed end `not-placed` (reason `cancelled`), each with a "
        "`DTMF Call Not Placed` event; calls already ringing finish",
    }[action]

    @app.post(
        f"/v1/dtmf-campaigns/<campaign_id>/{action}",
        operation_id=operation_id,
        summary=f"{action.capitalize()} a campaign (round 2)",
        description=f"Takes effect within seconds: {effect}. Idempotent; a transition the "
        "campaign's status does not allow is `409` `campaign-state-conflict`.",
        responses=_json_answer(200, "the campaign", CampaignView),
        tags=["campaigns"],
    )
    def control(campaign_id: str) -> CampaignView:
        raise NotImplementedError


SIGV4 = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "AWS Signature Version 4, service execute-api",
    "x-amazon-apigateway-authtype": "awsSigv4",
}
_UNUSED = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

# ---------------------------------------------------------------- what API Gateway answers
GATEWAY_ERROR = {
    "type": "object",
    "description": "API Gateway's own answer, before or instead of the service: "
    "`message` (or `Message`, for IAM's refusals) says why.",
    "properties": {"message": {"type": "string"}, "Message": {"type": "string"}},
    "minProperties": 1,
}
_GATEWAY = {
    403: "not signed, a wrong signature or an unknown key, or the principal may not invoke "
    "this route (IAM)",
    429: "throttled by the stage's rate or burst limit",
    500: "API Gateway could not call the function",
    502: "the function failed or answered something API Gateway cannot use",
    504: "the function did not answer within API Gateway's 29 seconds",
}
_GATEWAY_STATUSES = {
    PLACE: (403, 429, 500, 502, 504),
    GET: (403, 429, 500, 502, 504),
    ERASE: (403, 429, 500, 502, 504),
    CANCEL: (403, 429, 500, 502, 504),
    LIST: (403, 429, 500, 502, 504),
    CALLBACK: (429, 500, 502, 504),
    **dict.fromkeys(CAMPAIGN_OPERATIONS, (403, 429, 500, 502, 504)),
}
_GATEWAY_EXAMPLES = {
    403: {"message": "Missing Authentication Token"},
    429: {"message": "Too Many Requests"},
    500: {"message": "Internal server error"},
    502: {"message": "Internal server error"},
    504: {"message": "Endpoint request timed out"},
}

# ---------------------------------------------------------------- response headers
HEADERS: dict[str, dict[str, Any]] = {
    VERSION_HEADER: {
        "description": "The semantic version of the stack that answered (its `Version` output). "
        'On every answer of the functions; API Gateway\'s own errors (`{"message": …}`) '
        "do not have it.",
        "schema": {"type": "string"},
        "example": "0.2.0",
    },
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key and body (nothing was placed again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again (RFC 9110 §10.2.3).",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Location": {
        "description": "The instruction this answer is about: GET it for its state.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Accept-Post": {
        "description": "The media type the body must have (RFC 9110 Accept-Post).",
        "schema": {"type": "string"},
    },
}


def _answers() -> dict[str, list[problems.ProblemAnswer]]:
    """Every problem each operation can answer, built by the catalogue from its examples."""
    placing = problems.documented_answers(catalogues.placement_problems())
    placing += [
        catalogues.outcome_unknown(EXAMPLE_ID, e) for e in catalogues.OUTCOME_UNKNOWN_EXAMPLES
    ]
    return {
        PLACE: placing,
        GET: problems.documented_answers(catalogues.read_problems()),
        ERASE: problems.documented_answers(catalogues.read_problems()),
        CANCEL: problems.documented_answers(catalogues.read_problems()),
        LIST: problems.documented_answers(catalogues.list_problems()),
        CALLBACK: problems.documented_answers(catalogues.callback_problems()),
        **_campaign_answers(),
    }


def _campaign_answers() -> dict[str, list[problems.ProblemAnswer]]:
    """The campaign routes share one catalogue (functions/campaigns/app.py): each operation
    lists the answers it can reach — only the create reads a body (400, 415, 422) or takes
    an id (`campaign-id-in-use`); the others name a campaign (404, `campaign-state-conflict`
    for the controls)."""
    every = problems.documented_answers(campaign_problems())
    body = {400, 415, 422}
    create = [a for a in every if a.status != 404 and a.slug != "campaign-state-conflict"]
    named = [a for a in every if a.status not in body and a.slug != "campaign-id-in-use"]
    return {
        CREATE_CAMPAIGN: create,
        GET_CAMPAIGN: [a for a in named if a.status != 409],
        **dict.fromkeys(CAMPAIGN_ACTIONS.values(), named),
    }


def _header(name: str) -> dict[str, Any]:
    if name not in HEADERS:
        raise LookupError(f"the problem catalogue answers header {name!r}: describe it in HEADERS")
    return HEADERS[name]


def _problem_responses(
    answers: list[problems.ProblemAnswer], gateway: tuple[int, ...]
) -> dict[str, Any]:
    by_status: dict[int, list[problems.ProblemAnswer]] = defaultdict(list)
    for answer in answers:
        by_status[answer.status].append(answer)
    responses: dict[str, Any] = {}
    for status in sorted(set(by_status) | set(gateway)):
        found = by_status.get(status, [])
        titles = list(dict.fromkeys(a.title for a in found))
        if status in gateway:
            titles.append(f"API Gateway: {_GATEWAY[status]}")
        content: dict[str, Any] = {}
        if found:
            examples: dict[str, Any] = {}
            for answer in found:
                example = {"summary": answer.title, "value": dump(answer.body())}
                if example in examples.values():
                    continue  # one answer registered for two exceptions: shown once
                name = answer.slug
                count = 2
                while name in examples:
                    name, count = f"{answer.slug}-{count}", count + 1
                examples[name] = example
            types = sorted({problems.PROBLEM_TYPE_PREFIX + a.slug for a in found})
            content[PROBLEM_JSON] = {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "type": "object",
                            "properties": {"type": {"enum": types}, "status": {"const": status}},
                        },
                    ]
                },
                "examples": examples,
            }
        if status in gateway:
            content[JSON] = {
                "schema": {"$ref": "#/components/schemas/GatewayError"},
                "example": _GATEWAY_EXAMPLES[status],
            }
        response: dict[str, Any] = {"description": "; ".join(titles), "content": content}
        headers = sorted({name for a in found for name in a.headers})
        if headers:
            response["headers"] = {name: _header(name) for name in headers}
        responses[str(status)] = response
    return responses


# ---------------------------------------------------------------- examples
def _request_examples() -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "place_call.json").read_text())
    one = json.loads(event["body"])
    several = {key: value for key, value in one.items() if key not in ("callee", "instruction-id")}
    several["callees"] = ["+31612345678", "+32470123456"]
    minimal = {
        "callee": "+31612345678",
        "caller": "+31201234567",
        "prompt": "Press 1 to confirm your appointment, 2 to cancel it.",
        "valid-prompt": "Thank you.",
        "min-digits": 1,
        "max-digits": 1,
        "regex": "[12]",
    }
    return {
        "pin": {"summary": "One callee, a four digit PIN", "value": one},
        "several-callees": {"summary": "The same prompt to two numbers", "value": several},
        "minimal": {"summary": "Only what is required, press 1 or 2", "value": minimal},
    }


_ACCEPTED = {
    "instruction-id": EXAMPLE_ID,
    "status": "queued",
    "calls": [{"call-id": EXAMPLE_CALL_ID, "callee": "+31612345678", "status": "queued"}],
}
_VIEW = {
    "instruction-id": EXAMPLE_ID,
    "status": "finished",
    "caller": "+31201234567",
    "callees": ["+31612345678"],
    "metadata": {"order-id": "7781", "purpose": "pin-check"},
    "created-at": "2025-06-01T10:15:00.123Z",
    "calls": [
        {
            "call-id": EXAMPLE_CALL_ID,
            "callee": "+31612345678",
            "status": "finished",
            "outcome": "input-received",
            "digits": "4821",
            "result": {"code": 10, "description": "Finished"},
            "queued-at": "2025-06-01T10:15:00.456Z",
            "finished-at": "2025-06-01T10:15:41.002Z",
        }
    ],
}


_CAMPAIGN_REQUEST_EXAMPLES = {
    "inline": {
        "summary": "Two callees inline, each with its own name and day",
        "value": {
            "campaign-id": EXAMPLE_CAMPAIGN_ID,
            "instruction": {
                "caller": "+31201234567",
                "prompt": "Hello {{name}}, press 1 to confirm your appointment on {{day}}.",
                "valid-prompt": "Thank you.",
                "min-digits": 1,
                "max-digits": 1,
                "regex": "[12]",
                "metadata": {"round": "december"},
            },
            "callees": [
                {
                    "callee": "+31612345678",
                    "metadata": {"patient": "p-1"},
                    "variables": {"name": "Anna", "day": "Monday"},
                },
                {
                    "callee": "+31687654321",
                    "metadata": {"patient": "p-2"},
                    "variables": {"name": "Bob", "day": "Tuesday"},
                },
            ],
            "calls-per-second": 5,
            "max-concurrent-calls": 50,
            "skip-invalid-rows": False,
        },
    },
    "s3-list": {
        "summary": "A list in the campaign bucket (CSV: a `callee` column, then variables)",
        "value": {
            "instruction": {
                "caller": "+31201234567",
                "prompt": "Hello {{name}}, press 1 to confirm.",
                "valid-prompt": "Thank you.",
                "max-digits": 1,
            },
            "callees-s3-uri": "s3://dtmf-gateway-campaigns-123456789012/lists/december.csv",
        },
    },
}
_CAMPAIGN_VIEW = {
    "campaign-id": EXAMPLE_CAMPAIGN_ID,
    "status": "running",
    "counts": {
        "rows": 50,
        "invalid-rows": 0,
        "duplicate-rows": 3,
        "placed": 30,
        "finished": 27,
        "input-received": 24,
        "unanswered": 3,
    },
    "calls-per-second": 5.0,
    "max-concurrent-calls": 50,
    "created-at": "2026-12-01T09:00:00.000Z",
    "started-at": "2026-12-01T09:00:02.310Z",
    "finished-at": None,
    "estimated-finish-at": "2026-12-01T09:00:12.000Z",
    "errors-uri": None,
    "results-uri": None,
}


# ---------------------------------------------------------------- the document
def _e164_refs(node: Any, e164: dict[str, Any]) -> Any:
    """Every inline copy of the phone number schema becomes a $ref to components.E164."""
    if isinstance(node, dict):
        if {k: v for k, v in node.items() if k != "title"} == e164:
            return {"$ref": "#/components/schemas/E164"}
        return {k: _e164_refs(v, e164) for k, v in node.items()}
    if isinstance(node, list):
        return [_e164_refs(v, e164) for v in node]
    return node


def _instruction_id_parameter(operation: dict[str, Any]) -> None:
    for parameter in operation["parameters"]:
        if parameter["in"] == "path":
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": INSTRUCTION_ID_MAX_LENGTH,
                "pattern": INSTRUCTION_ID_PATTERN,
            }
            parameter["description"] = "the instruction-id (given in the request, or the 202's)"
            parameter["example"] = EXAMPLE_ID


def openapi() -> dict[str, Any]:
    raw = build().get_openapi_json_schema(
        title="dtmf-gateway",
        version="1",
        summary="Call a person, collect the digits they type, publish the result",
        servers=[
            Server(
                url="https://{api-id}.execute-api.{region}.amazonaws.com",
                description="The deployed API (stack outputs ApiId and the region)",
                variables={
                    "api-id": ServerVariable(
                        default="a1b2c3d4e5", description="the stack output ApiId"
                    ),
                    "region": ServerVariable(
                        default="eu-west-1", description="the AWS region of the stack"
                    ),
                },
            )
        ],
    )
    # Python names in Powertools routes; the contract's names on the wire.
    for name in ("instruction", "campaign"):
        raw = raw.replace(f"{{{name}_id}}", f"{{{name}-id}}")
        raw = raw.replace(f'"{name}_id"', f'"{name}-id"')
    document: dict[str, Any] = json.loads(raw)
    answers = _answers()
    for operations in document["paths"].values():
        for operation in operations.values():
            name = operation["operationId"]
            responses = operation["responses"]
            responses.pop("422", None)  # Powertools' own validation error: never answered
            responses.update(_problem_responses(answers[name], _GATEWAY_STATUSES[name]))
            operation["security"] = [] if name == CALLBACK else [{"sigv4": []}]
            if name in CAMPAIGN_OPERATIONS:
                _campaign_id_parameter(operation)
            elif name not in (PLACE, LIST):
                _instruction_id_parameter(operation)
    _placement(document["paths"]["/v1/dtmf-calls"]["post"])
    _campaigns(document["paths"])
    for operations in document["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                response.setdefault("headers", {})[VERSION_HEADER] = HEADERS[VERSION_HEADER]
    get = document["paths"]["/v1/dtmf-calls/{instruction-id}"]["get"]
    get["responses"]["200"]["content"][JSON]["example"] = _VIEW
    callback = document["paths"]["/v1/callbacks/cm/{instruction-id}"]["post"]
    callback["responses"]["200"]["content"][JSON]["example"] = {"status": "recorded"}
    callback["parameters"][1]["description"] = "the token the service put in the callback URL"

    schemas = document["components"]["schemas"]
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas["GatewayError"] = GATEWAY_ERROR
    problem = Problem.model_json_schema(
        by_alias=True, mode="serialization", ref_template="#/components/schemas/{model}"
    )
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    e164 = dict(E164_JSON_SCHEMA)
    schemas["E164"] = {**e164, "title": "E164"}
    schemas["DtmfCallRequest"] = _request_schema(_e164_refs(schemas["DtmfCallRequest"], e164))
    schemas[CAMPAIGN_INSTRUCTION_REF.rsplit("/", 1)[-1]] = _campaign_instruction_schema(
        schemas["DtmfCallRequest"]
    )
    schemas["DtmfCampaignRequest"] = _campaign_request_schema(schemas["DtmfCampaignRequest"])
    document["components"]["securitySchemes"] = {"sigv4": SIGV4}
    return document


def _request_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Exactly one of callee and callees (an explicit null counts as absent); the callee
    list's bounds (both are enforced by the model's validators, invisible to pydantic's
    schema)."""
    callees = schema["properties"]["callees"]["anyOf"][0]
    callees.update({"minItems": 1, "maxItems": MAX_CALLEES, "uniqueItems": True})
    schema["oneOf"] = [
        {
            "required": ["callee"],
            "properties": {"callee": {"$ref": "#/components/schemas/E164"}},
        },
        {
            "required": ["callees"],
            "properties": {"callees": {"type": "array"}},
        },
    ]
    return schema


def _campaign_id_parameter(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": CAMPAIGN_ID_MAX_LENGTH,
                "pattern": INSTRUCTION_ID_PATTERN,
            }
            parameter["description"] = "the campaign-id (given in the request, or the 202's)"
            parameter["example"] = EXAMPLE_CAMPAIGN_ID


def _campaign_instruction_schema(request: dict[str, Any]) -> dict[str, Any]:
    """A campaign's `instruction`: DtmfCallRequest without the keys each row supplies (and so
    without its exactly-one-of-callee-and-callees rule)."""
    schema = json.loads(json.dumps(request))
    schema.pop("oneOf", None)
    for key in ROW_KEYS:
        schema["properties"].pop(key, None)
    schema["required"] = [k for k in schema.get("required", []) if k not in ROW_KEYS]
    schema["title"] = "CampaignInstruction"
    schema["description"] = (
        "The DTMF instruction of POST /v1/dtmf-calls without callee, callees and "
        "instruction-id (each row supplies them); `{{name}}` in the prompts is filled from "
        "each row's `variables`, and the filled instruction is validated like a single POST."
    )
    return schema


def _campaign_request_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Exactly one of `callees` and `callees-s3-uri` (an explicit null counts as absent), as
    the parser enforces (invisible to pydantic's schema)."""
    schema["oneOf"] = [
        {"required": ["callees"], "properties": {"callees": {"type": "array"}}},
        {"required": ["callees-s3-uri"], "properties": {"callees-s3-uri": {"type": "string"}}},
    ]
    return schema


def _campaigns(paths: dict[str, Any]) -> None:
    create = paths["/v1/dtmf-campaigns"]["post"]
    create["requestBody"]["content"][JSON]["examples"] = _CAMPAIGN_REQUEST_EXAMPLES
    _idempotency_key(
        create,
        "Without `campaign-id`: the campaign id is derived from the key, so a retried create "
        "is the same campaign (202 again); another body under it is 409.",
    )
    accepted = create["responses"]["202"]
    accepted["content"][JSON]["example"] = {
        "campaign-id": EXAMPLE_CAMPAIGN_ID,
        "status": "validating",
    }
    accepted["links"] = {
        "GetDtmfCampaign": {
            "operationId": GET_CAMPAIGN,
            "parameters": {"campaign-id": "$response.body#/campaign-id"},
            "description": "The campaign's status, counts and results",
        }
    }
    views = [paths["/v1/dtmf-campaigns/{campaign-id}"]["get"]]
    views += [paths[f"/v1/dtmf-campaigns/{{campaign-id}}/{a}"]["post"] for a in CAMPAIGN_ACTIONS]
    for operation in views:
        operation["responses"]["200"]["content"][JSON]["example"] = _CAMPAIGN_VIEW


def _idempotency_key(operation: dict[str, Any], description: str) -> dict[str, Any]:
    """The operation's `Idempotency-Key` header parameter, named and described, with the
    pattern both POST routes check (`api.placement.checked_idempotency_key`)."""
    parameter: dict[str, Any] = next(
        p for p in operation["parameters"] if p["name"].lower() == "idempotency-key"
    )
    parameter["name"] = "Idempotency-Key"
    parameter["description"] = description
    parameter["schema"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": f"^{IDEMPOTENCY_KEY_PATTERN.pattern}$",
    }
    return parameter


def _placement(operation: dict[str, Any]) -> None:
    operation["requestBody"]["content"][JSON]["examples"] = _request_examples()
    parameter = _idempotency_key(
        operation,
        "Repeat a request safely: the same key and body within 24 hours get the first answer "
        "again (Idempotent-Replayed: true) and place nothing.",
    )
    parameter["example"] = "order-7781-pin-1"
    responses = operation["responses"]
    accepted = responses["202"]
    accepted["content"][JSON]["example"] = _ACCEPTED
    for status in ("202", "502", "504"):  # what the idempotency layer stores and replays
        responses[status].setdefault("headers", {})[REPLAYED_HEADER] = HEADERS[REPLAYED_HEADER]
    accepted["links"] = {
        "GetDtmfCall": {
            "operationId": GET,
            "parameters": {"instruction-id": "$response.body#/instruction-id"},
            "description": "The instruction's state, calls and results",
        }
    }


def main() -> None:
    OPENAPI_FILE.write_text(json.dumps(openapi(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
