"""Instruction ids in paths (issue 12, failures 4 and 7; issue 15): decoded exactly once,
garbage never 500.

The callback route and GET are driven in-process with both event shapes API Gateway can
produce: a REST API's payload 1.0 event, its path still percent-encoded, and an HTTP API's
payload 2.0 event, its path already decoded (by API Gateway; the local emulator does the
same). Any path string at all is answered 403 (callback route) / 404 (GET) in either shape.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.lambdas import http_event
from dtmf_gateway.api.event_shapes import as_http_api
from dtmf_gateway.api.paths import path_instruction_id
from dtmf_gateway.domain.request_limits import INSTRUCTION_ID_PATTERN
from tests.conftest import SESSION_LOG
from tests.integration.test_callback_handler import callback_body, token_of
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import invoke_http
from tests.support.rest_events import rest_event

ODD_ID = "order:7781"
# how the path reaches the function: "http" — an HTTP API's payload 2.0 event, `path_id` is
# the path as API Gateway decoded it; "rest" — a REST API's payload 1.0 event, `path_id` is
# the path as the client sent it (encoded)
SHAPES = ("http", "rest")


def _shaped(event: dict[str, Any], shape: str, path: str, path_id: str) -> dict[str, Any]:
    if shape == "http":
        return event
    return rest_event(event, path=path, path_parameters={"instruction-id": path_id})


def callback_event(
    path_id: str, body: Any, token: str | None, shape: str = "http"
) -> dict[str, Any]:
    path = f"/callbacks/cm/{path_id}"
    event = http_event(
        "cm_callback.json",
        body=body,
        path_parameters={"instruction-id": path_id},
        query={"token": token} if token is not None else {},
        path=path,
    )
    return _shaped(event, shape, path, path_id)


def get_event(path_id: str, shape: str = "http") -> dict[str, Any]:
    path = f"/dtmf-calls/{path_id}"
    event = http_event("get_call.json", path_parameters={"instruction-id": path_id}, path=path)
    return _shaped(event, shape, path, path_id)


@pytest.mark.parametrize(("shape", "path_id"), [("rest", quote(ODD_ID, safe="")), ("http", ODD_ID)])
def test_an_id_with_a_colon_works_in_either_event_shape(
    shape: str, path_id: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    placed = post(place_call, {**sample_body(), "instruction-id": ODD_ID})
    assert placed.status == 202
    call_id = placed.body["calls"][0]["call-id"]
    body = {**callback_body(call_id), "instruction-id": ODD_ID}

    recorded = invoke_http(cm_callback, callback_event(path_id, body, token_of(cm), shape))
    read = invoke_http(get_call, get_event(path_id, shape))

    assert recorded.status == 200, recorded.body
    assert recorded.body == {"status": "recorded"}
    assert read.status == 200
    assert read.body["instruction-id"] == ODD_ID
    assert read.body["calls"][0]["digits"] == "4821"


@pytest.mark.parametrize(
    ("shape", "path_id"),
    [("rest", quote(quote(ODD_ID, safe=""), safe="")), ("http", quote(ODD_ID, safe=""))],
)
def test_an_id_is_decoded_once_not_twice(
    shape: str, path_id: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    """A client's `order%253A7781` is the encoding of `order%3A7781`, which is no id (no `%`
    allowed): a REST API hands it as sent, an HTTP API decoded once (`order%3A7781`) — decoding
    once more would wrongly find `order:7781`."""
    assert post(place_call, {**sample_body(), "instruction-id": ODD_ID}).status == 202

    assert invoke_http(get_call, get_event(path_id, shape)).status == 404
    body = callback_body("c-1")
    callback = invoke_http(cm_callback, callback_event(path_id, body, token_of(cm), shape))
    assert callback.status == 403


MALFORMED = [
    "",
    ".",
    "..",
    "a/b",
    "/",
    "//",
    "%",
    "%zz",
    "%2",
    "%FF",
    "%C3%28",
    "%00",
    "a%2Fb",
    "order%3A7781%",
    "a\x00b",
    "line\nbreak",
    "\udcff",
    "tab\there",
    "x" * 65,
    "é",
    "a b",
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("path_id", MALFORMED)
def test_a_malformed_path_is_403_on_the_callback_route_and_404_on_get(
    path_id: str, shape: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    assert post(place_call, sample_body()).status == 202
    token = token_of(cm)

    callback = invoke_http(cm_callback, callback_event(path_id, callback_body("c-1"), token, shape))
    read = invoke_http(get_call, get_event(path_id, shape))

    assert callback.status == 403
    assert callback.problem["type"] == "urn:dtmf-gateway:problem:forbidden"
    assert read.status == 404
    assert read.problem["type"] == "urn:dtmf-gateway:problem:not-found"


@pytest.mark.parametrize("path_id", ["order-7781-pin?x", "a?b", "?", "order-7781-pin?token=t"])
def test_a_question_mark_an_http_api_decoded_into_the_path_names_no_id(
    path_id: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    """An HTTP API hands `rawPath` percent-decoded: `%3F` arrives as `?`. No id contains `?`,
    so the segment names none (even when the part before it is a real id), never 500."""
    assert post(place_call, sample_body()).status == 202
    token = token_of(cm)

    callback = invoke_http(cm_callback, callback_event(path_id, callback_body("c-1"), token))
    read = invoke_http(get_call, get_event(path_id))

    assert callback.status == 403
    assert read.status == 404
    assert read.problem["type"] == "urn:dtmf-gateway:problem:not-found"


_path_text = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                *("%", "%2", "%3A", "%zz", "%FF", "%C3"),
                *("/", "//", ".", "..", "\x00", "\udcff", "a", "9", ":"),
            ]
        ),
        max_size=8,
    ).map("".join),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(path_id=_path_text, shape=st.sampled_from(SHAPES))
def test_any_path_string_is_answered_without_a_5xx(
    path_id: str, shape: str, cm_callback: Any, get_call: Any
) -> None:
    """Generative: whatever text sits where the id goes, in either event shape, the callback
    route (no valid token) answers 403 and GET answers 404 (nothing is stored), never 500."""
    token = "A" * 43

    callback = invoke_http(cm_callback, callback_event(path_id, callback_body("c-1"), token, shape))
    read = invoke_http(get_call, get_event(path_id, shape))

    assert callback.status == 403, (shape, path_id, callback.body)
    assert read.status == 404, (shape, path_id, read.body)


_valid_id = st.from_regex(INSTRUCTION_ID_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 64)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(instruction_id=_valid_id)
def test_every_id_is_decoded_exactly_once_in_either_event_shape(
    instruction_id: str, place_call: Any, get_call: Any
) -> None:
    """Generative: any id the API accepts is found through a REST event (path encoded by the
    client) and an HTTP API event (path decoded by API Gateway), and never through a path
    that was encoded once more than that (which would need a second decoding)."""
    placed = post(place_call, {**sample_body(), "instruction-id": instruction_id})
    assert placed.status in (202, 409), placed.body  # 409: an earlier example placed it
    once = quote(instruction_id, safe="")

    for shape, found, twice in (
        ("rest", once, quote(once, safe="")),
        ("http", instruction_id, once),
    ):
        read = invoke_http(get_call, get_event(found, shape))
        assert read.status == 200, (shape, found, read.body)
        assert read.body["instruction-id"] == instruction_id
        if twice != found:  # an id of only safe characters encodes to itself
            assert invoke_http(get_call, get_event(twice, shape)).status == 404, (shape, twice)


@given(instruction_id=_valid_id)
def test_every_valid_id_survives_a_url_round_trip(instruction_id: str) -> None:
    """An id the request model accepts comes back unchanged through a URL (dot segments
    normalised, as clients and API Gateway do): from a REST event's encoded path, decoded once
    when the event is read, and from an HTTP API's decoded path as given."""
    url = httpx.URL(f"https://api.example.com/v1/callbacks/cm/{quote(instruction_id, safe='')}")
    encoded = url.raw_path.decode().split("?")[0].rsplit("/", 1)[-1]
    rest = as_http_api(rest_event(get_event(encoded), path=f"/dtmf-calls/{encoded}"))

    assert url.path == f"/v1/callbacks/cm/{instruction_id}"
    assert path_instruction_id(rest["rawPath"].rsplit("/", 1)[-1]) == instruction_id
    assert path_instruction_id(instruction_id) == instruction_id


def test_an_error_line_never_carries_the_previous_invocations_id(
    place_call: Any, cm: Any, cm_callback: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, failure 7: the logger's correlation id leaked into the next invocation."""
    placed = post(place_call, sample_body())
    ok = invoke_http(
        cm_callback,
        callback_event(
            "order-7781-pin", callback_body(placed.body["calls"][0]["call-id"]), token_of(cm)
        ),
    )
    assert ok.status == 200

    def broken() -> Any:
        raise RuntimeError("secrets unavailable")

    monkeypatch.setattr(cm_callback.secrets, "signing_keys", broken)
    before = len(SESSION_LOG)
    failed = invoke_http(cm_callback, callback_event("other-id", callback_body("c-2"), "t"))

    errors = [json.loads(line) for line in SESSION_LOG[before:] if '"level":"ERROR"' in line]
    assert failed.status == 500
    assert errors
    assert all(e.get("correlation_id") != "order-7781-pin" for e in errors)
    assert all("call_id" not in e for e in errors)


# ------------------------------------------------------------------ retention (failure 5)


def test_an_instruction_past_its_retention_is_404_before_the_sweep(
    place_call: Any, cm: Any, get_call: Any, function_env: Any
) -> None:
    """DynamoDB's TTL sweep can lag by days; the README promises 404 once retention ends."""
    assert post(place_call, sample_body()).status == 202
    assert invoke_http(get_call, get_event("order-7781-pin")).status == 200
    for item in function_env.items():
        if item["pk"] == "instruction#order-7781-pin":
            function_env.dynamodb.update_item(
                TableName=function_env.table_name,
                Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
                UpdateExpression="SET #ttl = :past",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":past": {"N": "1700000000"}},
            )

    read = invoke_http(get_call, get_event("order-7781-pin"))

    assert read.status == 404
    assert "retention" in read.problem["detail"]


def test_retention_is_read_per_item() -> None:
    """Items at their deadline are gone; items without a `ttl` (old data) are kept."""
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader

    class Pages:
        def query(self, **_: Any) -> dict[str, Any]:
            def item(sk: str, ttl: int | None) -> dict[str, Any]:
                base = {
                    "pk": {"S": "instruction#i"},
                    "sk": {"S": sk},
                    "instruction-id": {"S": "i"},
                    "call-id": {"S": sk.removeprefix("call#")},
                    "status": {"S": "placing" if sk == "instruction" else "queued"},
                    "caller": {"S": "+31201234567"},
                    "created-at": {"S": "2026-01-01T00:00:00+00:00"},
                    "record-type": {"S": "instruction" if sk == "instruction" else "call"},
                }
                return base if ttl is None else {**base, "ttl": {"N": str(ttl)}}

            return {
                "Items": [
                    item("instruction", 2_000),
                    item("call#kept", 2_000),
                    item("call#gone", 1_000),
                    item("call#old", None),
                ]
            }

    reader = DynamoDbInstructionReader(Pages(), "t", epoch_seconds=lambda: 1_000)  # type: ignore[arg-type]
    found = reader.load("i")
    assert found is not None
    assert sorted(c.call_id for c in found[1]) == ["kept", "old"]
    assert DynamoDbInstructionReader(Pages(), "t", epoch_seconds=lambda: 2_000).load("i") is None  # type: ignore[arg-type]
