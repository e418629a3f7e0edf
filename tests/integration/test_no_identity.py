"""A request without an IAM identity is refused on every owned route (issue 15).

API Gateway refuses an unsigned request on an AWS_IAM route before any function runs, but the
functions do not trust that (a route added without AWS_IAM; the local emulator lets a
non-SigV4 `Authorization` header through with no identity: tests/e2e/test_hostile_15_e2e.py).
Whatever the route, the path, the body or the way the identity is missing, the answer is a
403 `forbidden` problem and nothing is placed, read, listed, cancelled, erased or created —
there is no shared owner such requests could act as.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.lambdas import sample_event
from tests.conftest import Aws, FakeCm
from tests.integration.test_campaign_handlers import INSTRUCTION, Campaigns, campaigns
from tests.integration.test_place_call_handler import sample_body
from tests.support.lambdas import invoke_http

__all__ = ["campaigns"]  # the fixture: the campaigns function needs its table and queues

OWNED = "order-7781-pin"  # placed by the sample events' principal before every example
CAMPAIGN = "reminders-2026-12"


@dataclass(frozen=True)
class Route:
    function: str  # functions/<function>/app.py
    method: str
    path: str  # after /v1; "{id}" is filled in
    parameter: str | None = None  # the path parameter's name
    body: bool = False


ROUTES = [
    Route("place_call", "POST", "/dtmf-calls", body=True),
    Route("list_calls", "GET", "/dtmf-calls"),
    Route("get_call", "GET", "/dtmf-calls/{id}", "instruction-id"),
    Route("cancel_call", "DELETE", "/dtmf-calls/{id}", "instruction-id"),
    Route("erase_personal_data", "DELETE", "/dtmf-calls/{id}/personal-data", "instruction-id"),
    Route("campaigns", "POST", "/dtmf-campaigns", body=True),
    Route("campaigns", "GET", "/dtmf-campaigns/{id}", "campaign-id"),
    Route("campaigns", "POST", "/dtmf-campaigns/{id}/pause", "campaign-id"),
    Route("campaigns", "POST", "/dtmf-campaigns/{id}/cancel", "campaign-id"),
]


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def strip(context: dict[str, Any]) -> None:
        target = context
        for key in keys[:-1]:
            target = target[key]
        target.pop(keys[-1], None)

    return strip


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def put(context: dict[str, Any]) -> None:
        target = context
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return put


# every way requestContext can carry no IAM identity
MISSING = {
    "no authorizer": _drop("authorizer"),
    "authorizer null": _set(None, "authorizer"),
    "authorizer {}": _set({}, "authorizer"),
    "no iam": _drop("authorizer", "iam"),
    "iam null": _set(None, "authorizer", "iam"),
    "iam {}": _set({}, "authorizer", "iam"),
    "iam all empty": _set(
        {"userArn": "", "callerId": "", "accountId": "", "accessKey": "", "userId": ""},
        "authorizer",
        "iam",
    ),
    "iam all null": _set(
        {"userArn": None, "callerId": None, "accountId": None, "userId": None},
        "authorizer",
        "iam",
    ),
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _event(
    route: Route, segment: str, missing: str, body: Any, authorization: str | None
) -> dict[str, Any]:
    event = sample_event(f"{route.function}.json")
    path = "/v1" + route.path.replace("{id}", segment)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = route.method
    route_key = f"{route.method} /v1{route.path.replace('{id}', '{' + str(route.parameter) + '}')}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["pathParameters"] = {route.parameter: segment} if route.parameter else None
    event["body"] = json.dumps(body) if route.body else None
    event["headers"]["content-type"] = "application/json"
    event["headers"]["idempotency-key"] = "no-identity-key"
    if authorization is not None:
        event["headers"]["authorization"] = authorization
    MISSING[missing](event["requestContext"])
    return event


def _stored(aws: Aws) -> list[list[dict[str, Any]]]:
    tables = ("calls", "idempotency", "campaigns")
    return [aws.dynamodb.scan(TableName=name)["Items"] for name in tables]


@pytest.fixture
def functions(
    place_call: Any, get_call: Any, erase_personal_data: Any, campaigns: Campaigns
) -> dict[str, Any]:
    from devtools.lambdas import load_function

    return {
        "place_call": place_call,
        "get_call": get_call,
        "erase_personal_data": erase_personal_data,
        "list_calls": load_function("list_calls"),
        "cancel_call": load_function("cancel_call"),
        "campaigns": load_function("campaigns"),
    }


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    missing=st.sampled_from(sorted(MISSING)),
    segment=st.one_of(st.sampled_from([OWNED, CAMPAIGN, "order%3A7781"]), st.text(max_size=20)),
    body=st.one_of(
        st.just({**sample_body(), "instruction-id": "no-identity-1"}),
        st.just(
            {
                "campaign-id": "no-identity-c",
                "instruction": INSTRUCTION,
                "callees": ["+31612345678"],
            }
        ),
        _json,
    ),
    authorization=st.sampled_from([None, "Bearer x", "Basic dGVzdDp0ZXN0", "x"]),
)
def test_no_owned_route_serves_a_request_without_an_iam_identity(
    functions: dict[str, Any],
    function_env: Aws,
    cm: FakeCm,
    route: Route,
    missing: str,
    segment: str,
    body: Any,
    authorization: str | None,
) -> None:
    if not _stored(function_env)[0]:  # the sample principal's instruction, once per test
        placed = invoke_http(functions["place_call"], _owned_placement())
        assert placed.status == 202, placed.body
    before, sent = _stored(function_env), len(cm.requests)

    answer = invoke_http(
        functions[route.function], _event(route, segment, missing, body, authorization)
    )

    assert answer.status == 403, (route, missing, segment, answer.body)
    assert answer.problem["type"] == "urn:dtmf-gateway:problem:forbidden"
    assert answer.problem["status"] == 403
    assert "IAM identity" in answer.problem["detail"]
    assert "DTMF-Gateway-Version" in answer.headers
    assert OWNED not in json.dumps(answer.body)
    assert _stored(function_env) == before
    assert len(cm.requests) == sent


def _owned_placement() -> dict[str, Any]:
    event = sample_event("place_call.json")
    event["body"] = json.dumps({**sample_body(), "instruction-id": OWNED})
    return event


def test_the_callback_route_needs_no_iam_identity(
    place_call: Any, cm: FakeCm, cm_callback: Any
) -> None:
    """CM cannot sign: the callback route is the one route without IAM, authenticated by its
    token, and still served without an identity."""
    from tests.integration.test_callback_handler import callback_body, token_of
    from tests.integration.test_paths import callback_event

    placed = invoke_http(place_call, _owned_placement())
    call_id = placed.body["calls"][0]["call-id"]
    event = callback_event(OWNED, callback_body(call_id), token_of(cm))
    event["requestContext"].pop("authorizer", None)

    assert invoke_http(cm_callback, event).status == 200
