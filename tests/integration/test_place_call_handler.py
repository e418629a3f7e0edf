"""POST /v1/dtmf-calls through the real handler: moto for AWS, FakeCm for CM."""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.cm import queued
from devtools.lambdas import http_event, sample_event
from dtmf_gateway.domain.signing import SigningKeys, token_is_valid
from tests.conftest import CALLBACK_BASE_URL, PREVIOUS_SIGNING_KEY, PRODUCT_TOKEN, SIGNING_KEY
from tests.support.lambdas import invoke_http

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def sample_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sample_event("place_call.json")["body"])
    return body


def post(module: Any, body: Any = None, *, key: str | None = None, **kwargs: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return invoke_http(module, http_event("place_call.json", body=body, headers=headers, **kwargs))


def instruction_item(aws: Any, instruction_id: str) -> dict[str, Any]:
    [item] = [
        i
        for i in aws.items()
        if i["pk"] == f"instruction#{instruction_id}" and i["sk"] == "instruction"
    ]
    return item


def call_items(aws: Any) -> list[dict[str, Any]]:
    return [i for i in aws.items() if i["sk"].startswith("call#")]


# ------------------------------------------------------------------ the 202 path


def test_places_the_call_and_answers_202(place_call: Any, cm: Any, function_env: Any) -> None:
    result = post(place_call, sample_body())

    assert result.status == 202
    [call] = result.body["calls"]
    assert result.body == {
        "instruction-id": "order-7781-pin",
        "status": "queued",
        "calls": [{"call-id": call["call-id"], "callee": "+31612345678", "status": "queued"}],
    }
    assert UUID.match(call["call-id"])

    [request] = cm.requests
    assert request.url == "https://cm.test/voiceapi/v2/DTMF"
    assert request.headers["X-CM-PRODUCTTOKEN"] == PRODUCT_TOKEN
    sent = json.loads(request.content)
    assert sent["instruction-id"] == "order-7781-pin"
    assert sent["callee"] == "+31612345678"
    assert sent["caller"] == "+31201234567"
    assert sent["min-digits"] == 4
    assert sent["prompt-type"] == "TTS"
    assert "metadata" not in sent

    callback = urlsplit(sent["callback-url"])
    assert f"{callback.scheme}://{callback.netloc}" == CALLBACK_BASE_URL
    assert callback.path == "/v1/callbacks/cm/order-7781-pin"
    [token] = parse_qs(callback.query)["token"]
    keys = SigningKeys(SIGNING_KEY.encode(), PREVIOUS_SIGNING_KEY.encode())
    assert token_is_valid(keys, "order-7781-pin", token)
    assert not token_is_valid(keys, "another-instruction", token)

    instruction = instruction_item(function_env, "order-7781-pin")
    assert instruction["status"] == "queued"  # the placement recorded its calls
    assert instruction["call-ids"] == [call["call-id"].lower()]
    assert instruction["destinations"] == ["+31612345678"]
    assert instruction["metadata"] == {"order-id": "7781", "purpose": "pin-check"}
    assert instruction["owner"] == "arn:aws:iam::123456789012:user/orders-service"
    [stored] = call_items(function_env)
    assert stored["call-id"] == call["call-id"]
    assert stored["status"] == "queued"
    assert stored["callee"] == "+31612345678"
    assert stored["metadata"] == {"order-id": "7781", "purpose": "pin-check"}
    assert stored["stale-at"] > stored["ttl"] - 31 * 86400
    assert stored["pending-shard"] in {str(n) for n in range(8)}


def test_generates_an_instruction_id_when_none_is_given(place_call: Any, cm: Any) -> None:
    body = sample_body()
    del body["instruction-id"]

    result = post(place_call, body)

    assert result.status == 202
    assert UUID.match(result.body["instruction-id"])
    assert cm.bodies()[0]["instruction-id"] == result.body["instruction-id"]


def test_one_call_per_callee(place_call: Any, cm: Any, function_env: Any) -> None:
    body = sample_body()
    del body["callee"]
    body["callees"] = ["+31612345678", "+447400123456"]

    result = post(place_call, body)

    assert result.status == 202
    assert [c["callee"] for c in result.body["calls"]] == ["+31612345678", "+447400123456"]
    assert len({c["call-id"] for c in result.body["calls"]}) == 2
    assert cm.bodies()[0]["callees"] == ["+31612345678", "+447400123456"]
    assert len(call_items(function_env)) == 2


def test_accepts_cm_reply_as_a_single_object(place_call: Any, cm: Any) -> None:
    cm.replies = [lambda body: queued(body, as_object=True)]

    result = post(place_call, sample_body())

    assert result.status == 202
    assert len(result.body["calls"]) == 1


def test_a_callee_cm_did_not_queue_is_reported(place_call: Any, cm: Any, function_env: Any) -> None:
    def partly(body: dict[str, Any]) -> httpx.Response:
        items = queued(body).json()
        items[1].update(success=False, error="Callee is not reachable")
        items[1]["call-id"] = None
        return httpx.Response(200, json=items)

    cm.replies = [partly]
    body = sample_body()
    del body["callee"]
    body["callees"] = ["+31612345678", "+447400123456"]

    result = post(place_call, body)

    assert result.status == 202
    assert result.body["calls"][1] == {
        "call-id": None,
        "callee": "+447400123456",
        "status": "not-placed",
        "error": "Callee is not reachable",
    }
    assert [c["callee"] for c in call_items(function_env)] == ["+31612345678"]


# ------------------------------------------------------------------ refusals change nothing


def assert_nothing_happened(cm: Any, aws: Any) -> None:
    assert cm.requests == []
    assert aws.items() == []


def test_unreadable_json_is_400(place_call: Any, cm: Any, function_env: Any) -> None:
    result = invoke_http(place_call, http_event("place_call.json", raw_body='{"callee": '))

    assert result.status == 400
    assert result.problem["type"] == "urn:dtmf-gateway:problem:bad-request"
    assert_nothing_happened(cm, function_env)


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"callee": "+31612345678", "callee": "+31687654321", "caller": "+31201234567"}',
    ],
)
def test_deep_or_ambiguous_json_is_400_not_500(
    raw: str, place_call: Any, cm: Any, function_env: Any
) -> None:
    result = invoke_http(place_call, http_event("place_call.json", raw_body=raw))
    assert result.status == 400
    assert result.problem["type"] == "urn:dtmf-gateway:problem:bad-request"
    assert_nothing_happened(cm, function_env)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_sent_as_json_is_415(
    content_type: str, place_call: Any, cm: Any, function_env: Any
) -> None:
    event = http_event(
        "place_call.json", body=sample_body(), headers={"Content-Type": content_type}
    )
    result = invoke_http(place_call, event)
    assert result.status == 415
    assert result.problem["type"] == "urn:dtmf-gateway:problem:unsupported-media-type"
    assert result.headers["Accept-Post"] == "application/json"
    assert_nothing_happened(cm, function_env)


def test_invalid_instruction_lists_every_field(place_call: Any, cm: Any, function_env: Any) -> None:
    body = sample_body()
    body.update(
        {"min-digits": 0, "max-ringing-timeout": 61, "timeout": 999, "min-digit": 4},
        voice={"volume": 5},
    )
    body["callback-url"] = "https://evil.example/steal"

    result = post(place_call, body)

    assert result.status == 422
    fields = {e["field"] for e in result.problem["errors"]}
    assert {"min-digits", "max-ringing-timeout", "timeout", "min-digit", "voice.volume"} <= fields
    assert "callback-url" in fields
    assert all(e["message"] for e in result.problem["errors"])
    assert_nothing_happened(cm, function_env)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"callee": "+33612345678"}, "destination-country-not-allowed"),
        ({"callee": "+31900123456"}, "number-type-not-allowed"),
    ],
)
def test_policy_refusal_is_403_naming_the_rule(
    place_call: Any, cm: Any, function_env: Any, change: dict[str, str], rule: str
) -> None:
    result = post(place_call, {**sample_body(), **change})

    assert result.status == 403
    assert result.problem["rules"] == [rule]
    assert_nothing_happened(cm, function_env)


def test_caller_outside_the_allowed_list_is_403(
    place_call: Any, cm: Any, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.lambdas import load_function
    from tests.conftest import _reset_caches

    monkeypatch.setenv("ALLOWED_CALLERS", "+31207654321")
    _reset_caches()
    module = load_function("place_call")

    result = post(module, sample_body())

    assert result.status == 403
    assert result.problem["rules"] == ["caller-not-allowed"]
    assert_nothing_happened(cm, function_env)


def test_reused_instruction_id_is_409(place_call: Any, cm: Any) -> None:
    assert post(place_call, sample_body()).status == 202

    again = post(place_call, sample_body())

    assert again.status == 409
    assert again.problem["type"] == "urn:dtmf-gateway:problem:instruction-id-in-use"
    assert len(cm.requests) == 1


# ------------------------------------------------------------------ idempotency


def test_same_key_same_body_replays_without_calling_again(place_call: Any, cm: Any) -> None:
    body = sample_body()
    del body["instruction-id"]

    first = post(place_call, body, key="k-1")
    second = post(place_call, body, key="k-1")

    assert first.status == second.status == 202
    assert second.body == first.body
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(cm.requests) == 1


def test_same_key_different_body_is_422(place_call: Any, cm: Any) -> None:
    body = sample_body()
    assert post(place_call, body, key="k-2").status == 202

    changed = post(place_call, {**body, "max-attempts": 2}, key="k-2")

    assert changed.status == 422
    assert changed.problem["type"] == "urn:dtmf-gateway:problem:idempotency-key-reused"
    assert len(cm.requests) == 1


def test_same_key_while_in_flight_is_409(place_call: Any, cm: Any) -> None:
    body = sample_body()
    seen: list[Any] = []

    def reenter(sent: dict[str, Any]) -> httpx.Response:
        seen.append(post(place_call, body, key="k-3"))  # the client retries too early
        return queued(sent)

    cm.replies = [reenter]
    first = post(place_call, body, key="k-3")

    assert first.status == 202
    [early] = seen
    assert early.status == 409
    assert early.problem["type"] == "urn:dtmf-gateway:problem:request-in-progress"
    assert len(cm.requests) == 1


def test_keys_are_scoped_to_the_calling_identity(place_call: Any, cm: Any) -> None:
    body = sample_body()
    del body["instruction-id"]

    a = post(place_call, body, key="shared", user_arn="arn:aws:iam::123456789012:user/a")
    b = post(place_call, body, key="shared", user_arn="arn:aws:iam::123456789012:user/b")

    assert a.status == b.status == 202
    assert a.body["instruction-id"] != b.body["instruction-id"]
    assert len(cm.requests) == 2


def test_malformed_idempotency_key_is_422(place_call: Any, cm: Any, function_env: Any) -> None:
    result = post(place_call, sample_body(), key="has spaces in it")

    assert result.status == 422
    assert result.problem["errors"][0]["field"] == "Idempotency-Key"
    assert_nothing_happened(cm, function_env)


# ------------------------------------------------------------------ CM failures


def test_cm_refusal_is_502_with_the_reason_and_can_be_retried(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    cm.replies = [
        lambda _: httpx.Response(
            400,
            json={
                "title": "One or more validation errors occurred.",
                "errors": {"callee": ["The callee is not valid."]},
            },
        ),
        queued,
    ]

    refused = post(place_call, sample_body(), key="k-4")

    assert refused.status == 502
    assert refused.problem["type"] == "urn:dtmf-gateway:problem:cm-refused"
    assert "The callee is not valid." in refused.problem["detail"]
    assert instruction_item(function_env, "order-7781-pin")["status"] == "not-placed"
    assert call_items(function_env) == []

    retried = post(place_call, sample_body(), key="k-4")
    assert retried.status == 202
    assert len(cm.requests) == 2


def test_cm_401_is_502_about_the_product_token(place_call: Any, cm: Any) -> None:
    cm.replies = [lambda _: httpx.Response(401)]

    result = post(place_call, sample_body())

    assert result.status == 502
    assert "product token" in result.problem["detail"]
    assert len(cm.requests) == 1


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (httpx.ReadTimeout("read timed out"), 504),
        (httpx.RemoteProtocolError("server disconnected"), 502),
        (lambda _: httpx.Response(500, text="Internal Server Error"), 502),
        (lambda _: httpx.Response(200, text="<html>proxy error</html>"), 502),
    ],
)
def test_ambiguous_cm_failure_is_never_retried(
    place_call: Any, cm: Any, function_env: Any, reply: Any, status: int
) -> None:
    cm.replies = [reply, queued]

    first = post(place_call, sample_body(), key="k-5")
    replay = post(place_call, sample_body(), key="k-5")
    fresh_key = post(place_call, sample_body(), key="k-6")

    assert first.status == status
    assert first.problem["type"] == "urn:dtmf-gateway:problem:cm-outcome-unknown"
    assert first.problem["instruction-status"] == "unknown"
    assert replay.status == status
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert fresh_key.status == 409  # the instruction id stays taken: it may be ringing
    assert len(cm.requests) == 1
    assert instruction_item(function_env, "order-7781-pin")["status"] == "unknown"


def test_connection_failures_are_retried_because_nothing_reached_cm(
    place_call: Any, cm: Any
) -> None:
    cm.replies = [httpx.ConnectError("connection refused"), queued]

    result = post(place_call, sample_body())

    assert result.status == 202
    assert len(cm.requests) == 2


def test_cm_unreachable_is_502_and_not_placed(place_call: Any, cm: Any, function_env: Any) -> None:
    cm.replies = [httpx.ConnectError("connection refused")]

    result = post(place_call, sample_body())

    assert result.status == 502
    assert result.problem["type"] == "urn:dtmf-gateway:problem:cm-unreachable"
    assert len(cm.requests) == 3  # first try + 2 retries
    assert instruction_item(function_env, "order-7781-pin")["status"] == "not-placed"


def test_busy_cm_is_retried_after_retry_after(place_call: Any, cm: Any) -> None:
    cm.replies = [lambda _: httpx.Response(503, headers={"Retry-After": "1"}), queued]

    result = post(place_call, sample_body())

    assert result.status == 202
    assert len(cm.requests) == 2


def test_busy_cm_asking_for_a_long_wait_is_not_retried(place_call: Any, cm: Any) -> None:
    cm.replies = [lambda _: httpx.Response(429, headers={"Retry-After": "120"}), queued]

    result = post(place_call, sample_body())

    assert result.status == 502
    assert "busy" in result.problem["detail"]
    assert len(cm.requests) == 1


# Threads share the module's Metrics (Lambda never does): one flush empties the other's set.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_requests_from_threads_with_one_key_place_one_call(place_call: Any, cm: Any) -> None:
    body = sample_body()
    del body["instruction-id"]
    results: list[Any] = []

    def send() -> None:
        results.append(post(place_call, body, key="k-threads"))

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cm.requests) == 1
    assert sorted(r.status for r in results).count(202) >= 1
    assert {r.status for r in results} <= {202, 409}


# ------------------------------------------------------------------ calls per callee


@pytest.fixture
def limited_place_call(function_env: Any, cm: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import functools

    from devtools.lambdas import load_function
    from dtmf_gateway.adapters import cm_client
    from tests.conftest import _reset_caches

    monkeypatch.setenv("MAX_CALLS_PER_CALLEE_PER_HOUR", "2")
    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    _reset_caches()
    return load_function("place_call")


def test_a_callee_gets_at_most_the_hourly_limit(
    limited_place_call: Any, cm: Any, function_env: Any
) -> None:
    statuses = [
        post(limited_place_call, {**sample_body(), "instruction-id": f"limit-{n}"}).status
        for n in range(2)
    ]

    third = post(limited_place_call, {**sample_body(), "instruction-id": "limit-2"})

    assert statuses == [202, 202]
    assert third.status == 429
    assert third.problem["rules"] == ["per-callee-limit-reached"]
    assert [e["field"] for e in third.problem["errors"]] == ["callee"]
    assert 1 <= int(third.headers["Retry-After"]) <= 3600
    assert len(cm.requests) == 2
    assert not [i for i in function_env.items() if i["pk"] == "instruction#limit-2"]


def test_an_instruction_refused_for_one_callee_counts_for_none(
    limited_place_call: Any, cm: Any
) -> None:
    for n in range(2):
        post(limited_place_call, {**sample_body(), "instruction-id": f"a-{n}"})
    body = {**sample_body(), "instruction-id": "both"}
    del body["callee"]
    body["callees"] = ["+32470123456", "+31612345678"]

    refused = post(limited_place_call, body)
    first = post(
        limited_place_call, {**sample_body(), "callee": "+32470123456", "instruction-id": "b-1"}
    )
    second = post(
        limited_place_call, {**sample_body(), "callee": "+32470123456", "instruction-id": "b-2"}
    )

    assert refused.status == 429
    assert [e["field"] for e in refused.problem["errors"]] == ["callees[1]"]
    assert (first.status, second.status) == (202, 202)
