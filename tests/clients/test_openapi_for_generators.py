"""schemas/openapi.json is what a client generator needs (openapi-generator, openapi-python-
client, Kiota): a unique lowerCamelCase operationId per operation, request and success bodies
as named components, problems as `allOf` over the one `Problem` component; and the typed client
has a method for each of the contract's dtmf-calls routes the document has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from botocore.credentials import Credentials

from dtmf_gateway_client import DtmfGatewayClient

DOCUMENT = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "openapi.json").read_text()
)
OPERATIONS = [
    (method, path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in {"get", "put", "post", "delete", "patch"}
]
# the contract's routes (README "Using the API"; round 2: cancel and list) → client method
CLIENT_METHODS = {
    ("post", "/v1/dtmf-calls"): "place",
    ("get", "/v1/dtmf-calls/{instruction-id}"): "get",
    ("delete", "/v1/dtmf-calls/{instruction-id}"): "cancel",
    ("get", "/v1/dtmf-calls"): "list",
}


def _ref(schema: dict[str, Any]) -> str:
    return str(schema.get("$ref", ""))


def test_every_operation_has_a_unique_lower_camel_case_operation_id() -> None:
    ids = [operation.get("operationId", "") for _, _, operation in OPERATIONS]

    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]+", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_bodies_are_named_components_and_problems_share_one() -> None:
    for method, path, operation in OPERATIONS:
        for content in operation.get("requestBody", {}).get("content", {}).values():
            assert _ref(content["schema"]).startswith("#/components/schemas/"), (method, path)
        for status, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                schema = content["schema"]
                if media == "application/problem+json":
                    assert _ref(schema["allOf"][0]) == "#/components/schemas/Problem"
                else:
                    assert _ref(schema).startswith("#/components/schemas/"), (path, status)


def test_the_client_calls_each_dtmf_calls_route_of_the_contract_the_document_has() -> None:
    present = {(m, p) for m, p, _ in OPERATIONS} & set(CLIENT_METHODS)
    seen: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method.lower(), request.url.path))
        body: dict[str, Any] = {"instruction-id": "x", "status": "queued", "calls": []}
        return httpx.Response(200, json={"items": [], "next-token": None, **body})

    client = DtmfGatewayClient(
        "https://api.example/v1",
        "eu-west-1",
        Credentials("a", "b"),
        transport=httpx.MockTransport(answer),
    )
    for route, method in CLIENT_METHODS.items():
        args = ({"callee": "+31612345678"},) if method == "place" else ("x",)
        getattr(client, method)(*(args if "{" in route[1] or method == "place" else ()))

    assert {("post", "/v1/dtmf-calls"), ("get", "/v1/dtmf-calls/{instruction-id}")} <= present
    called = {(m, re.sub(r"/x$", "/{instruction-id}", p)) for m, p in seen}
    assert present <= called
    assert called == set(CLIENT_METHODS)
