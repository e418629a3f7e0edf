"""Instruction ids in paths (issue 12, failures 4 and 7): decoded exactly once, garbage never 500.

The callback route and GET are driven in-process with both event shapes API Gateway can
produce: the path parameter still percent-encoded (REST API) and already decoded (HTTP API,
the local emulator). Any path string at all is answered 403 (callback route) / 404 (GET).
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
from dtmf_gateway.api.paths import path_instruction_id
from dtmf_gateway.domain.request_limits import INSTRUCTION_ID_PATTERN
from tests.conftest import SESSION_LOG
from tests.integration.test_callback_handler import callback_body, token_of
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import invoke_http

ODD_ID = "order:7781"


def callback_event(path_id: str, body: Any, token: str | None) -> dict[str, Any]:
    return http_event(
        "cm_callback.json",
        body=body,
        path_parameters={"instruction-id": path_id},
        query={"token": token} if token is not None else {},
        path=f"/callbacks/cm/{path_id}",
    )


def get_event(path_id: str) -> dict[str, Any]:
    return http_event(
        "get_call.json", path_parameters={"instruction-id": path_id}, path=f"/dtmf-calls/{path_id}"
    )


@pytest.mark.parametrize("path_id", [quote(ODD_ID, safe=""), ODD_ID], ids=["encoded", "decoded"])
def test_an_id_with_a_colon_works_in_either_event_shape(
    path_id: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    placed = post(place_call, {**sample_body(), "instruction-id": ODD_ID})
    assert placed.status == 202
    call_id = placed.body["calls"][0]["call-id"]
    body = {**callback_body(call_id), "instruction-id": ODD_ID}

    recorded = invoke_http(cm_callback, callback_event(path_id, body, token_of(cm)))
    read = invoke_http(get_call, get_event(path_id))

    assert recorded.status == 200, recorded.body
    assert recorded.body == {"status": "recorded"}
    assert read.status == 200
    assert read.body["instruction-id"] == ODD_ID
    assert read.body["calls"][0]["digits"] == "4821"


def test_an_id_is_decoded_once_not_twice(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    """`order%253A7781` is the encoding of `order%3A7781`, which is no id (no `%` allowed):
    decoding twice would wrongly find `order:7781`."""
    assert post(place_call, {**sample_body(), "instruction-id": ODD_ID}).status == 202
    twice = quote(quote(ODD_ID, safe=""), safe="")

    assert invoke_http(get_call, get_event(twice)).status == 404
    body = callback_body("c-1")
    assert invoke_http(cm_callback, callback_event(twice, body, token_of(cm))).status == 403


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


@pytest.mark.parametrize("path_id", MALFORMED)
def test_a_malformed_path_is_403_on_the_callback_route_and_404_on_get(
    path_id: str, place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    assert post(place_call, sample_body()).status == 202
    token = token_of(cm)

    callback = invoke_http(cm_callback, callback_event(path_id, callback_body("c-1"), token))
    read = invoke_http(get_call, get_event(path_id))

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
@given(path_id=_path_text)
def test_any_path_string_is_answered_without_a_5xx(
    path_id: str, cm_callback: Any, get_call: Any
) -> None:
    """Generative: whatever text sits where the id goes, the callback route (no valid token)
    answers 403 and GET answers 404 (nothing is stored), never 500."""
    token = "A" * 43

    callback = invoke_http(cm_callback, callback_event(path_id, callback_body("c-1"), token))
    read = invoke_http(get_call, get_event(path_id))

    assert callback.status == 403, (path_id, callback.body)
    assert read.status == 404, (path_id, read.body)


@given(
    instruction_id=st.from_regex(INSTRUCTION_ID_PATTERN, fullmatch=True).filter(
        lambda s: len(s) <= 64
    )
)
def test_every_valid_id_survives_a_url_round_trip(instruction_id: str) -> None:
    """An id the request model accepts comes back unchanged through a URL (dot segments
    normalised, as clients and API Gateway do) in both the encoded and the decoded shape."""
    url = httpx.URL(f"https://api.example.com/v1/callbacks/cm/{quote(instruction_id, safe='')}")
    segment = url.raw_path.decode().split("?")[0].rsplit("/", 1)[-1]

    assert url.path == f"/v1/callbacks/cm/{instruction_id}"
    assert path_instruction_id(segment) == instruction_id
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
