"""schemas/openapi.json is current, and what the handlers really answer conforms to it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devtools.lambdas import sample_event
from tests.integration.test_callback_handler import callback_body, deliver, read, token_of
from tests.integration.test_place_call_handler import post, sample_body

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((ROOT / "schemas" / "openapi.json").read_text())


def conforms(instance: Any, component: str) -> None:
    schema = {"$ref": f"#/components/schemas/{component}", "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


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
        "/v1/callbacks/cm/{instruction-id}",
    }


def test_request_sample_conforms() -> None:
    conforms(json.loads(sample_event("place_call.json")["body"]), "DtmfCallRequest")


def test_real_responses_conform(place_call: Any, cm: Any, cm_callback: Any, get_call: Any) -> None:
    placed = post(place_call, sample_body())
    conforms(placed.body, "PlacementAccepted")
    conforms(read(get_call).body, "InstructionView")

    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))
    conforms(read(get_call).body, "InstructionView")


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
    conforms(refused.problem, "Problem")
