"""Hostile review of issue 18's typed client: what a misbehaving answer or a careless id makes
the client do. Each test is a finding; see the commit that added it."""

from __future__ import annotations

import httpx
import pytest

from dtmf_gateway_client import RateLimited
from tests.clients.test_client import ACCEPTED, INSTRUCTION, Recorder, problem, view


def test_a_per_callee_limit_is_raised_at_once_not_slept_out_and_then_placed() -> None:
    """README: `429 policy-refused` (per-callee-limit-reached) is a dialling rule, its
    Retry-After the end of the clock hour. Sleeping that out inside `place` blocks the caller
    for up to an hour, three times, and then rings the callee long after the caller meant to:
    the caller must decide, so the client raises it at once."""
    limited = problem(
        429, "policy-refused", rules=["per-callee-limit-reached"], errors=[{"field": "callee"}]
    )
    limited.headers["retry-after"] = "1800"
    recorder = Recorder(limited, httpx.Response(202, json=ACCEPTED))

    with pytest.raises(RateLimited) as raised:
        recorder.client().place(INSTRUCTION)

    assert raised.value.retry_after == 1800
    assert recorder.slept == []
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("retry_after", ["inf", "1e9", "86400"])
def test_an_absurd_retry_after_is_not_slept(retry_after: str) -> None:
    """A proxy (or a hostile endpoint) answering `Retry-After: inf` made the client call
    `time.sleep(inf)` (OverflowError) and `1e9` sleep for 31 years: a wait longer than the
    client's own cap is raised, not slept."""
    throttled = httpx.Response(429, json={"message": "Too Many Requests"})
    throttled.headers["retry-after"] = retry_after
    recorder = Recorder(throttled)

    with pytest.raises(RateLimited):
        recorder.client().place(INSTRUCTION)

    assert all(0 <= s <= 60 for s in recorder.slept), recorder.slept


def test_a_short_throttle_is_still_retried_with_the_same_key() -> None:
    throttled = httpx.Response(429, json={"message": "Too Many Requests"})
    throttled.headers["retry-after"] = "2"
    recorder = Recorder(throttled, httpx.Response(202, json=ACCEPTED))

    recorder.client().place(INSTRUCTION)

    assert recorder.slept == [2.0]
    keys = {r.headers["idempotency-key"] for r in recorder.requests}
    assert len(keys) == 1


@pytest.mark.parametrize("instruction_id", ["", ".", "..", "..."])
@pytest.mark.parametrize("method", ["get", "cancel"])
def test_an_id_that_is_not_an_id_is_refused_locally(method: str, instruction_id: str) -> None:
    """`get("..")` sent `GET {api}/v1` and `get(".")` / `get("")` `GET {api}/v1/dtmf-calls/`
    (dot segments are resolved by the URL, the empty id leaves the list route), and `cancel`
    the same with DELETE: an id of only dots (README: never valid) or none must not become
    another route."""
    recorder = Recorder(httpx.Response(200, json=view()))

    with pytest.raises(ValueError, match="instruction-id"):
        getattr(recorder.client(), method)(instruction_id)

    assert recorder.requests == []


@pytest.mark.parametrize(
    "answer",
    [httpx.ReadTimeout("no answer"), problem(500, "internal-error")],
    ids=["transport", "problem"],
)
def test_a_placement_that_fails_tells_the_caller_the_key_to_retry_with(
    answer: httpx.Response | Exception,
) -> None:
    """The client generates the Idempotency-Key and keeps it across its own retries; when
    those run out it raised a bare httpx.ReadTimeout (or ServerError) that did not say which
    key it had used. The caller's natural retry, `place(pin)` again, is a new key: a new
    instruction, which rings the callee a second time if the first one reached CM."""
    recorder = Recorder(answer)
    client = recorder.client()

    with pytest.raises(Exception) as raised:  # noqa: PT011 - either kind
        client.place(INSTRUCTION)

    sent = {r.headers["idempotency-key"] for r in recorder.requests}
    assert sent == {raised.value.idempotency_key}  # type: ignore[attr-defined]
    recorder.answers = [httpx.Response(202, json=ACCEPTED)]
    client.place(INSTRUCTION, idempotency_key=raised.value.idempotency_key)  # type: ignore[attr-defined]
    assert recorder.requests[-1].headers["idempotency-key"] in sent


@pytest.mark.parametrize("method", ["cancel", "list"])
def test_a_route_the_stack_does_not_serve_is_not_reported_as_an_unknown_instruction(
    method: str,
) -> None:
    """README lists cancel and list as "the round-2 routes", but this stack serves only POST
    and GET /v1/dtmf-calls[/{id}] and DELETE …/personal-data: API Gateway answers them `404
    {"message": "Not Found"}`, which the client raised as a plain NotFound — read as "no such
    instruction" (README: unknown id or another principal's)."""
    from dtmf_gateway_client import NotFound

    recorder = Recorder(httpx.Response(404, json={"message": "Not Found"}))
    client = recorder.client()

    with pytest.raises(NotFound) as raised:
        client.cancel("order-1") if method == "cancel" else client.list()

    assert raised.value.type is None
    assert "no such route" in raised.value.detail
