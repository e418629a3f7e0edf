"""The typed client (clients/python/dtmf-gateway-client) against the contract, over a mocked
transport: signing, the idempotency key kept across its own retries, typed problems, and the
round-2 routes (cancel, list) that the local stack does not serve yet."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from botocore.credentials import Credentials

from dtmf_gateway_client import (
    Conflict,
    DtmfGatewayClient,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
)

API = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
CREDENTIALS = Credentials("AKIDEXAMPLE", "secret", token="session-token")
INSTRUCTION = {"callee": "+31612345678", "caller": "+31201234567", "prompt": "PIN?"}
ACCEPTED = {
    "instruction-id": "order-1",
    "status": "queued",
    "calls": [{"call-id": "c-1", "callee": "+31612345678", "status": "queued"}],
}


def view(status: str = "queued", call_status: str = "queued", **extra: object) -> dict[str, object]:
    return {
        "instruction-id": "order-1",
        "status": status,
        "caller": "+31201234567",
        "callees": ["+31612345678"],
        "metadata": {},
        "created-at": "2026-11-30T07:00:00Z",
        "calls": [{"call-id": "c-1", "callee": "+31612345678", "status": call_status, **extra}],
    }


def problem(status: int, slug: str, **extra: object) -> httpx.Response:
    body = {"type": f"urn:dtmf-gateway:problem:{slug}", "title": slug, "status": status}
    return httpx.Response(
        status,
        json={"detail": "d", **body, **extra},
        headers={"content-type": "application/problem+json"},
    )


class Recorder:
    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.slept: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kwargs: object) -> DtmfGatewayClient:
        return DtmfGatewayClient(
            API,
            "eu-west-1",
            CREDENTIALS,
            transport=httpx.MockTransport(self.handler),
            sleep=self.slept.append,
            **kwargs,  # type: ignore[arg-type]
        )


def test_requests_are_sigv4_signed_for_execute_api_in_the_region() -> None:
    calls = Recorder(httpx.Response(200, json=view()))

    calls.client().get("order-1")

    [request] = calls.requests
    authorization = request.headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert re.search(r"/eu-west-1/execute-api/aws4_request, SignedHeaders=", authorization)
    assert "x-amz-date" in request.headers
    assert request.headers["x-amz-security-token"] == "session-token"
    assert request.url.path == "/v1/dtmf-calls/order-1"


def test_place_generates_an_idempotency_key_and_keeps_it_across_its_retries() -> None:
    calls = Recorder(
        httpx.ConnectTimeout("slow"),
        problem(503, "service-unavailable"),
        problem(409, "request-in-progress"),
        httpx.Response(202, json=ACCEPTED, headers={"idempotent-replayed": "true"}),
    )

    placed = calls.client().place(INSTRUCTION)

    keys = {r.headers["idempotency-key"] for r in calls.requests}
    assert len(calls.requests) == 4
    assert len(keys) == 1
    uuid.UUID(keys.pop())
    assert placed.instruction_id == "order-1"
    assert placed.replayed
    assert placed.calls[0].call_id == "c-1"
    assert json.loads(calls.requests[0].content) == INSTRUCTION
    assert calls.slept == [0.5, 1.0, 2.0]


def test_a_given_idempotency_key_is_sent_as_is() -> None:
    calls = Recorder(httpx.Response(202, json=ACCEPTED))

    calls.client().place(INSTRUCTION, idempotency_key="order-1-pin")

    assert calls.requests[0].headers["idempotency-key"] == "order-1-pin"


def test_a_422_raises_invalid_request_with_every_field() -> None:
    errors = [
        {"field": "min-digits", "message": "must be 1-64"},
        {"field": "webhook-url", "message": "host not allowed"},
    ]
    calls = Recorder(problem(422, "invalid-request", errors=errors))

    with pytest.raises(InvalidRequest) as raised:
        calls.client().place(INSTRUCTION)

    assert raised.value.status == 422
    assert raised.value.type == "invalid-request"
    assert [e.field for e in raised.value.errors] == ["min-digits", "webhook-url"]
    assert len(calls.requests) == 1  # never retried


@pytest.mark.parametrize(
    ("answer", "kind", "slug"),
    [
        (problem(409, "instruction-id-in-use"), Conflict, "instruction-id-in-use"),
        (
            problem(403, "destination-country-not-allowed"),
            Forbidden,
            "destination-country-not-allowed",
        ),
        (httpx.Response(403, json={"message": "Missing Authentication Token"}), Forbidden, None),
        (problem(404, "not-found"), NotFound, "not-found"),
    ],
)
def test_final_problems_are_typed_and_not_retried(
    answer: httpx.Response, kind: type[Exception], slug: str | None
) -> None:
    calls = Recorder(answer)

    with pytest.raises(kind) as raised:
        calls.client().place(INSTRUCTION)

    assert raised.value.type == slug
    assert len(calls.requests) == 1


def test_429_waits_its_retry_after_then_raises_it_when_retries_run_out() -> None:
    limited = problem(429, "per-callee-limit-reached")
    limited.headers["retry-after"] = "7"
    calls = Recorder(limited)

    with pytest.raises(RateLimited) as raised:
        calls.client(max_retries=2).place(INSTRUCTION)

    assert raised.value.retry_after == 7
    assert calls.slept == [7, 7]
    assert len(calls.requests) == 3


def test_wait_polls_until_every_callee_is_final() -> None:
    calls = Recorder(
        httpx.Response(200, json=view()),
        httpx.Response(200, json=view("queued", "queued")),
        httpx.Response(
            200, json=view("finished", "finished", outcome="input-received", digits="4821")
        ),
    )

    done = calls.client().wait("order-1", poll_interval=0.25)

    assert done.calls[0].digits == "4821"
    assert len(calls.requests) == 3
    assert calls.slept == [0.25, 0.25]


def test_wait_gives_up_after_its_timeout() -> None:
    calls = Recorder(httpx.Response(200, json=view()))

    with pytest.raises(TimeoutError, match="not final"):
        calls.client().wait("order-1", timeout=0)


def test_cancel_is_a_delete_of_the_instruction() -> None:
    calls = Recorder(httpx.Response(200, json=view("cancelled", "cancelled")))

    cancelled = calls.client().cancel("spring.7")

    [request] = calls.requests
    assert (request.method, request.url.path) == ("DELETE", "/v1/dtmf-calls/spring.7")
    assert cancelled.is_final


def test_list_sends_the_contract_query_and_iterates_every_page() -> None:
    first = {"items": [view()], "next-token": "t2"}
    second = {"items": [view("finished", "finished")], "next-token": None}
    calls = Recorder(httpx.Response(200, json=first), httpx.Response(200, json=second))

    found = list(
        calls.client().iter_instructions(
            status="queued", created_from="2026-11-01T00:00:00Z", limit=1
        )
    )

    assert len(found) == 2
    one, two = (dict(r.url.params) for r in calls.requests)
    assert one == {"status": "queued", "created-from": "2026-11-01T00:00:00Z", "limit": "1"}
    assert two == {**one, "next-token": "t2"}
    assert all(r.url.path == "/v1/dtmf-calls" for r in calls.requests)


def test_a_bad_list_query_names_the_parameter() -> None:
    calls = Recorder(problem(422, "invalid-query", errors=[{"field": "limit", "message": "1-100"}]))

    with pytest.raises(InvalidRequest) as raised:
        calls.client().list(limit=500)

    assert raised.value.errors[0].field == "limit"


def test_the_api_url_may_come_with_or_without_the_stage() -> None:
    for base in (API, API.removesuffix("/v1"), API + "/"):
        calls = Recorder(httpx.Response(200, json=view()))
        DtmfGatewayClient(
            base, "eu-west-1", CREDENTIALS, transport=httpx.MockTransport(calls.handler)
        ).get("x")
        assert calls.requests[0].url.path == "/v1/dtmf-calls/x"


def test_unknown_keys_in_answers_are_kept() -> None:
    calls = Recorder(httpx.Response(200, json={**view(), "erased-at": "2026-11-30T08:00:00Z"}))

    got = calls.client().get("order-1")

    assert got.model_extra == {"erased-at": "2026-11-30T08:00:00Z"}
