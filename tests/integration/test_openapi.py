# ruff: noqa: F811  (the campaign fixtures, imported, are parameters here)
"""schemas/openapi.json is current, valid OpenAPI 3.1 with valid examples, and what the
handlers really answer (status, problem type, headers, body) is what it documents."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from openapi_spec_validator import validate

from devtools.cm import queued
from devtools.lambdas import LambdaContext, http_event, sample_event
from dtmf_gateway.api.models import VERSION_HEADER
from dtmf_gateway.domain.campaigns import parse_campaign_request
from dtmf_gateway.domain.errors import InvalidRequest
from tests.integration.test_callback_handler import callback_body, deliver, read, token_of
from tests.integration.test_campaign_handlers import (  # noqa: F401  (fixtures)
    INSTRUCTION,
    Campaigns,
    api,
    campaigns,
    request,
    worker,
)
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import HttpResult, invoke_http

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((ROOT / "schemas" / "openapi.json").read_text())
PLACE = ("/v1/dtmf-calls", "post")
GET = ("/v1/dtmf-calls/{instruction-id}", "get")
CALLBACK = ("/v1/callbacks/cm/{instruction-id}", "post")
CREATE_CAMPAIGN = ("/v1/dtmf-campaigns", "post")
GET_CAMPAIGN = ("/v1/dtmf-campaigns/{campaign-id}", "get")


def check(instance: Any, schema: dict[str, Any]) -> None:
    whole = {**schema, "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(whole).validate(instance)


def conforms(instance: Any, component: str) -> None:
    check(instance, {"$ref": f"#/components/schemas/{component}"})


def answers_as_documented(operation: tuple[str, str], result: HttpResult) -> None:
    """The status is documented for the operation, the body conforms to that status's schema
    (for a problem: its `type` is one of that status's enum), every header it sets for the
    client is documented."""
    path, method = operation
    responses = OPENAPI["paths"][path][method]["responses"]
    assert str(result.status) in responses, f"undocumented status {result.status}"
    response = responses[str(result.status)]
    content_type = result.headers.get("Content-Type", "application/json")
    assert content_type in response["content"], (content_type, list(response["content"]))
    check(result.body, response["content"][content_type]["schema"])
    assert result.headers.get(VERSION_HEADER) == os.environ["DTMF_GATEWAY_VERSION"], VERSION_HEADER
    own = {"Content-Type"}
    for name in set(result.headers) - own:
        assert name in response.get("headers", {}), f"undocumented header {name}"


def test_openapi_document_is_generated_from_the_code() -> None:
    path = ROOT / "scripts" / "generate_openapi.py"
    spec = importlib.util.spec_from_file_location("generate_openapi", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_openapi"] = module  # pydantic resolves the models' names through it
    spec.loader.exec_module(module)

    assert json.loads(json.dumps(module.openapi(), sort_keys=True)) == OPENAPI, "make schema"


def test_the_contract_paths_are_described() -> None:
    assert set(OPENAPI["paths"]) == {
        "/v1/dtmf-calls",
        "/v1/dtmf-calls/{instruction-id}",
        "/v1/dtmf-calls/{instruction-id}/personal-data",  # issue 19
        "/v1/callbacks/cm/{instruction-id}",
        # round 2 (#17)
        "/v1/dtmf-campaigns",
        "/v1/dtmf-campaigns/{campaign-id}",
        "/v1/dtmf-campaigns/{campaign-id}/pause",
        "/v1/dtmf-campaigns/{campaign-id}/resume",
        "/v1/dtmf-campaigns/{campaign-id}/cancel",
    }


def test_request_sample_conforms() -> None:
    conforms(json.loads(sample_event("place_call.json")["body"]), "DtmfCallRequest")


def test_the_document_is_valid_openapi() -> None:
    validate(OPENAPI)


def test_operations_have_stable_ids_and_post_links_to_get() -> None:
    ids = {op["operationId"] for ops in OPENAPI["paths"].values() for op in ops.values()}
    assert ids == {
        "placeDtmfCall",
        "getDtmfCall",
        "cancelDtmfCall",  # round 2 (#16)
        "listDtmfCalls",  # round 2 (#16)
        "receiveCmCallback",
        "eraseDtmfCallPersonalData",  # issue 19
        "createDtmfCampaign",  # round 2 (#17)
        "getDtmfCampaign",
        "pauseDtmfCampaign",
        "resumeDtmfCampaign",
        "cancelDtmfCampaign",
    }
    link = OPENAPI["paths"]["/v1/dtmf-calls"]["post"]["responses"]["202"]["links"]["GetDtmfCall"]
    assert link == {
        "operationId": "getDtmfCall",
        "parameters": {"instruction-id": "$response.body#/instruction-id"},
        "description": link["description"],
    }


def test_a_campaigns_202_links_to_its_get() -> None:
    accepted = OPENAPI["paths"]["/v1/dtmf-campaigns"]["post"]["responses"]["202"]
    link = accepted["links"]["GetDtmfCampaign"]
    assert link["operationId"] == "getDtmfCampaign"
    assert link["parameters"] == {"campaign-id": "$response.body#/campaign-id"}


def test_servers_load_without_patching() -> None:
    (server,) = OPENAPI["servers"]
    variables = server["variables"]
    assert set(variables) == {"api-id", "region"}
    url = server["url"]
    for name, variable in variables.items():
        url = url.replace("{" + name + "}", variable["default"])
    assert url == "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"


def _examples() -> list[tuple[str, Any, dict[str, Any]]]:
    found = []
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            where = f"{method} {path}"
            for parameter in operation.get("parameters", []):
                if "example" in parameter:
                    found.append(
                        (f"{where} {parameter['name']}", parameter["example"], parameter["schema"])
                    )
            media = (
                [(f"{where} body", operation["requestBody"]["content"]["application/json"])]
                if "requestBody" in operation
                else []
            )
            for status, response in operation["responses"].items():
                media += [(f"{where} {status} {ct}", m) for ct, m in response["content"].items()]
            for name, item in media:
                if "example" in item:
                    found.append((name, item["example"], item["schema"]))
                for key, example in item.get("examples", {}).items():
                    found.append((f"{name} {key}", example["value"], item["schema"]))
    for name, schema in OPENAPI["components"]["schemas"].items():
        for example in schema.get("examples", []):
            found.append((name, example, schema))
    return found


def test_every_example_conforms_to_its_schema() -> None:
    examples = _examples()
    assert len(examples) >= 30  # requests, responses, each problem type, parameters

    for name, example, schema in examples:
        try:
            check(example, schema)
        except jsonschema.ValidationError as error:
            raise AssertionError(f"{name}: {error.message}") from None


def test_every_problem_type_of_the_catalogue_has_an_example() -> None:
    for path, operations in OPENAPI["paths"].items():
        for operation in operations.values():
            for response in operation["responses"].values():
                problem = response["content"].get("application/problem+json")
                if problem is None:
                    continue
                types = problem["schema"]["allOf"][1]["properties"]["type"]["enum"]
                shown = {e["value"]["type"] for e in problem["examples"].values()}
                assert shown == set(types), path


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"callee": "+31612345678"}, True),
        ({"callees": ["+31612345678", "+32470123456"]}, True),
        ({"callee": "+31612345678", "callees": None}, True),  # null = absent
        ({"callee": "+31612345678", "callees": ["+32470123456"]}, False),
        ({}, False),
        ({"callee": None, "callees": None}, False),
        ({"callee": "0612345678"}, False),  # not E.164
        ({"callees": []}, False),
        ({"callees": ["+31612345678", "+31612345678"]}, False),
    ],
)
def test_the_document_says_exactly_one_of_callee_and_callees(
    body: dict[str, Any], valid: bool
) -> None:
    instance = {
        "caller": "+31201234567",
        "prompt": "Type your PIN",
        "valid-prompt": "Thank you",
        **body,
    }
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/DtmfCallRequest", "components": OPENAPI["components"]}
    )

    assert validator.is_valid(instance) is valid


def test_real_responses_conform(place_call: Any, cm: Any, cm_callback: Any, get_call: Any) -> None:
    placed = post(place_call, sample_body())
    answers_as_documented(PLACE, placed)
    answers_as_documented(GET, read(get_call))

    delivered = deliver(
        cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm)
    )
    answers_as_documented(CALLBACK, delivered)
    answers_as_documented(GET, read(get_call))
    answers_as_documented(GET, read(get_call, "no-such-instruction"))
    for refused in (
        deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), "bad-token"),
        deliver(cm_callback, None, token_of(cm), raw="{not json"),
    ):
        assert refused.status >= 400
        answers_as_documented(CALLBACK, refused)


@pytest.mark.parametrize("instruction_id", ["\x98\x9a\u00e2", "a b", "\u00e9t\u00e9"])
def test_ids_the_router_cannot_match_are_refused_as_documented(
    cm_callback: Any, cm: Any, get_call: Any, instruction_id: str
) -> None:
    """Found by the fuzz gate: such a path was a 500 (Powertools' not-found went to the
    catch-all); now the callback is 403 and the GET 404, as documented."""
    refused = deliver(cm_callback, callback_body("c-1"), "tok", instruction_id=instruction_id)
    unknown = read(get_call, instruction_id)

    assert (refused.status, unknown.status) == (403, 404)
    answers_as_documented(CALLBACK, refused)
    answers_as_documented(GET, unknown)


def test_replays_and_refused_media_types_conform(place_call: Any, cm: Any) -> None:
    first = post(place_call, sample_body(), key="k-1")
    again = post(place_call, sample_body(), key="k-1")
    not_json = invoke_http(
        place_call,
        http_event("place_call.json", body=sample_body(), headers={"Content-Type": "text/plain"}),
    )

    assert again.headers.get("Idempotent-Replayed") == "true"
    assert not_json.status == 415
    for result in (first, again, not_json):
        answers_as_documented(PLACE, result)


@pytest.mark.parametrize(
    "body",
    [
        {**sample_body(), "min-digits": 0, "voice": {"volume": 9}},
        {**sample_body(), "callee": "+31900123456"},
        sample_body(),  # the second time: instruction-id in use
    ],
)
def test_problems_conform(place_call: Any, body: dict[str, Any]) -> None:
    post(place_call, sample_body())

    refused = post(place_call, body)

    assert refused.status >= 400
    answers_as_documented(PLACE, refused)


def test_a_held_callback_answers_as_documented(place_call: Any, cm: Any, cm_callback: Any) -> None:
    """A callback that overtakes the placement is answered `{"status": "held"}`: the
    document's CallbackAcknowledged lists it (it listed only recorded/duplicate/ignored)."""
    early: list[HttpResult] = []

    def reply_after_calling_back(sent: dict[str, Any]) -> Any:
        reply = queued(sent)
        call_id = reply.json()[0]["call-id"]
        token = parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]
        early.append(deliver(cm_callback, callback_body(call_id, 10, "4821"), token))
        return reply

    cm.replies = [reply_after_calling_back]
    post(place_call, sample_body())

    assert early[0].body == {"status": "held"}
    answers_as_documented(CALLBACK, early[0])


# ---------------------------------------------------------------- campaigns (round 2, #17)


def _control(action: str) -> tuple[str, str]:
    return (f"/v1/dtmf-campaigns/{{campaign-id}}/{action}", "post")


def test_real_campaign_responses_conform(
    api: Any, worker: Any, campaigns: Campaigns, cm: Any
) -> None:
    body = {
        "campaign-id": "oa-1",
        "instruction": INSTRUCTION,
        "callees": [{"callee": "+31612345678", "variables": {"name": "A"}}],
    }
    created = invoke_http(api, request("POST", "/v1/dtmf-campaigns", body))
    assert created.status == 202, created.body
    answers_as_documented(CREATE_CAMPAIGN, created)
    worker.handler({"Records": campaigns.drain(campaigns.control)}, LambdaContext())
    answers_as_documented(GET_CAMPAIGN, invoke_http(api, request("GET", "/v1/dtmf-campaigns/oa-1")))
    for action, status in [("pause", 200), ("resume", 200), ("cancel", 200), ("resume", 409)]:
        got = invoke_http(api, request("POST", f"/v1/dtmf-campaigns/oa-1/{action}"))
        assert got.status == status, (action, got.body)
        answers_as_documented(_control(action), got)
    refused = [
        ("GET", "/v1/dtmf-campaigns/no-such-campaign", None, GET_CAMPAIGN),
        ("GET", "/v1/dtmf-campaigns/a%20b", None, GET_CAMPAIGN),
        ("POST", "/v1/dtmf-campaigns/no-such-campaign/pause", None, _control("pause")),
        ("POST", "/v1/dtmf-campaigns", {**body, "callees-s3-uri": "s3://b/k"}, CREATE_CAMPAIGN),
        ("POST", "/v1/dtmf-campaigns", {**body, "calls-per-second": 99}, CREATE_CAMPAIGN),
        ("POST", "/v1/dtmf-campaigns", {**body, "skip-invalid-rows": True}, CREATE_CAMPAIGN),
    ]
    for method, path, sent, operation in refused:
        got = invoke_http(api, request(method, path, sent))
        assert got.status in (404, 409, 422), (path, got.status, got.body)
        answers_as_documented(operation, got)
    unreadable = request("POST", "/v1/dtmf-campaigns")
    unreadable["body"] = "{not json"
    not_json = request("POST", "/v1/dtmf-campaigns", body)
    not_json["headers"]["content-type"] = "text/plain"
    for event, status in [(unreadable, 400), (not_json, 415)]:
        got = invoke_http(api, event)
        assert got.status == status, got.body
        answers_as_documented(CREATE_CAMPAIGN, got)


_TEMPLATE = {"caller": "+31201234567", "prompt": "Hello {{name}}", "valid-prompt": "Thanks"}
_ROWS = [{"callee": "+31612345678", "variables": {"name": "A"}}]


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"instruction": _TEMPLATE, "callees": _ROWS}, True),
        ({"instruction": _TEMPLATE, "callees-s3-uri": "s3://bucket-1/lists/a.csv"}, True),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "callees-s3-uri": None}, True),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "campaign-id": "x" * 40}, True),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "calls-per-second": 0.1}, True),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "max-concurrent-calls": 1000}, True),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "skip-invalid-rows": True}, True),
        ({"instruction": _TEMPLATE}, False),  # neither list
        ({"instruction": _TEMPLATE, "callees": _ROWS, "callees-s3-uri": "s3://b-1/k"}, False),
        ({"instruction": _TEMPLATE, "callees": []}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS * 10_001}, False),
        ({"instruction": _TEMPLATE, "callees-s3-uri": "https://bucket-1/k"}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "campaign-id": "x" * 41}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "campaign-id": "..."}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "calls-per-second": 0.09}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "max-concurrent-calls": 0}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "max-concurrent-calls": 1001}, False),
        ({"instruction": _TEMPLATE, "callees": _ROWS, "skip-invalid-rows": "yes"}, False),
        ({"instruction": {**_TEMPLATE, "callee": "+31612345678"}, "callees": _ROWS}, False),
        ({"instruction": {**_TEMPLATE, "instruction-id": "x"}, "callees": _ROWS}, False),
        ({"instruction": {"prompt": "Hi", "valid-prompt": "Thanks"}, "callees": _ROWS}, False),
        ({"callees": _ROWS}, False),  # no instruction
    ],
)
def test_the_campaign_document_and_the_parser_agree(body: dict[str, Any], valid: bool) -> None:
    """The document's DtmfCampaignRequest (stated from the parser's constants) accepts what
    the handler's parser accepts, and refuses what it refuses (422)."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/DtmfCampaignRequest", "components": OPENAPI["components"]}
    )
    try:
        parse_campaign_request(body, max_calls_per_second=10, default_calls_per_second=1)
        parsed = True
    except InvalidRequest:
        parsed = False

    assert (validator.is_valid(body), parsed) == (valid, valid)
