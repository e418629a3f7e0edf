"""Fault injection for POST /v1/dtmf-calls: never a second CM instruction for one key.

The handler runs in-process on its real adapters (moto for DynamoDB, the real httpx CM client
behind a counting FakeCm transport). A crash is `LambdaKilled`, a BaseException like the
runtime stopping the invocation: nothing in the product catches it, so whatever was written
stays written — including the reserved instruction's `placing-until` (issue 15: the
instruction is the key's record; until round 2 this was Powertools' in-progress record).
"The clock moves past the in-progress expiry" is done by ageing that attribute in the table,
which is what time passing does to it.

Then the client retries with the same Idempotency-Key and body, again and again. Every retry
is answered with the stored response (replay), with 409 `request-in-progress` (the dead
attempt's window has not passed), or with 409 `instruction-id-in-use` naming the instruction
and its Location; and CM receives at most one instruction for the key, exactly one whenever
the first attempt got as far as CM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.cm import FakeCm, queued
from devtools.lambdas import http_event, sample_event
from dtmf_gateway.domain.placement import derived_instruction_id
from tests.support.lambdas import LambdaContext, invoke_http

KEY = "order-7781-retry"
OWNER = "arn:aws:iam::123456789012:user/orders-service"  # the sample event's principal


class LambdaKilled(BaseException):
    """The Lambda runtime ending the invocation (timeout, out of memory): no handler runs."""


def body_without_id() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sample_event("place_call.json")["body"])
    del body["instruction-id"]
    return body


def send(module: Any, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json", "Idempotency-Key": KEY}
    event = http_event("place_call.json", body=body or body_without_id(), headers=headers)
    return invoke_http(module, event)


def age_in_progress_records(aws: Any) -> None:
    """Time passes: every reserved instruction's in-progress window is over."""
    for item in aws.dynamodb.scan(TableName=aws.table_name)["Items"]:
        if "placing-until" in item:
            aws.dynamodb.update_item(
                TableName=aws.table_name,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET #until = :past",
                ExpressionAttributeNames={"#until": "placing-until"},
                ExpressionAttributeValues={":past": {"N": "1"}},
            )


# ------------------------------------------------------------------ crash points

CRASH_POINTS = (
    "before-reservation",
    "after-reservation",
    "during-cm-call",  # CM received the instruction; the function dies waiting (timeout)
    "after-cm-accepted",
    "after-calls-recorded",
    "before-response-sent",  # every write done (until issue 15: before Powertools stored it)
)


class Faults:
    """Arms at most one crash point per attempt (`arm`), at the seams of the real code."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cm: FakeCm) -> None:
        from dtmf_gateway.adapters import cm_client
        from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
        from dtmf_gateway.api.placement import PlacementAnswer

        self.armed: str | None = None
        self.fired: list[str] = []

        def wrap(owner: Any, name: str, before: str | None, after: str | None) -> None:
            original = getattr(owner, name)

            def patched(*args: Any, **kwargs: Any) -> Any:
                self._maybe(before)
                result = original(*args, **kwargs)
                self._maybe(after)
                return result

            monkeypatch.setattr(owner, name, patched)

        wrap(DynamoDbInstructionStore, "claim_key", "before-key-claim", "after-key-claim")
        wrap(DynamoDbInstructionStore, "reserve", "before-reservation", "after-reservation")
        client_class = getattr(cm_client.HttpCmClient, "func", cm_client.HttpCmClient)
        wrap(client_class, "place", None, "after-cm-accepted")
        wrap(DynamoDbInstructionStore, "record_queued_calls", None, "after-calls-recorded")
        wrap(PlacementAnswer, "of", None, "before-response-sent")

        def cm_reply(sent: dict[str, Any]) -> httpx.Response:
            self._maybe("during-cm-call")  # counted by FakeCm before this runs
            return queued(sent)

        cm.replies = [cm_reply]

    def arm(self, point: str | None) -> None:
        self.armed = point

    def _maybe(self, point: str | None) -> None:
        if point is not None and self.armed == point:
            self.armed = None
            self.fired.append(point)
            raise LambdaKilled(point)


@pytest.fixture
def faults(place_call: Any, cm: FakeCm, monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch, cm)


def attempt(module: Any) -> Any | None:
    """One invocation; None when the runtime killed it."""
    try:
        return send(module)
    except LambdaKilled:
        return None


def assert_acceptable(answer: Any, instruction_id: str) -> str:
    """Every answer a retry may get; returns its kind."""
    if answer.status == 202:
        assert answer.body["instruction-id"] == instruction_id
        return "accepted" if "Idempotent-Replayed" not in answer.headers else "replay"
    assert answer.status == 409, answer.body
    slug = answer.problem["type"].rsplit(":", 1)[-1]
    if slug == "instruction-id-in-use":
        assert answer.problem["instruction-id"] == instruction_id
        assert answer.headers["Location"] == f"/v1/dtmf-calls/{instruction_id}"
        return slug
    assert slug == "request-in-progress"
    return slug


# What a retry right after the crash gets (issue 15: the instruction is the key's record, so
# a crash before the reservation left nothing to wait for, and once the calls are named on
# the instruction its answer is complete; with Powertools' in-progress record every retry
# here was 409 request-in-progress), then what the first clean retry after the window gets,
# and how many instructions CM has received for the key by then.
EXPECTED = {
    "before-reservation": ("accepted", "replay", 1),
    "after-reservation": ("request-in-progress", "instruction-id-in-use", 0),
    "during-cm-call": ("request-in-progress", "instruction-id-in-use", 1),
    "after-cm-accepted": ("request-in-progress", "instruction-id-in-use", 1),
    "after-calls-recorded": ("replay", "replay", 1),
    "before-response-sent": ("replay", "replay", 1),
}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_retry_after_a_crash_never_places_a_second_instruction(
    point: str, faults: Faults, place_call: Any, cm: FakeCm, function_env: Any, get_call: Any
) -> None:
    instruction_id = derived_instruction_id(OWNER, KEY)
    faults.arm(point)
    assert attempt(place_call) is None
    assert faults.fired == [point]

    too_early = send(place_call)  # the dead attempt's in-progress window has not passed
    age_in_progress_records(function_env)
    retries = [send(place_call) for _ in range(3)]

    early_kind, expected_kind, expected_instructions = EXPECTED[point]
    assert assert_acceptable(too_early, instruction_id) == early_kind
    kinds = [assert_acceptable(r, instruction_id) for r in retries]
    assert kinds[0] == expected_kind
    assert set(kinds[1:]) <= {"replay", "instruction-id-in-use"}
    assert len(cm.requests) == expected_instructions
    assert {b["instruction-id"] for b in cm.bodies()} <= {instruction_id}
    if expected_kind == "instruction-id-in-use":  # the Location answers
        location = retries[0].headers["Location"]
        event = http_event(
            "get_call.json",
            path_parameters={"instruction-id": location.rsplit("/", 1)[-1]},
            path=location.removeprefix("/v1"),
        )
        read = invoke_http(get_call, event)
        assert read.status == 200
        assert read.body["instruction-id"] == instruction_id


def test_function_timeout_mid_cm_call_then_retries_ring_once(
    faults: Faults, place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    """Issue 12, failure 1: CM queues, the invocation dies, the retry comes after the
    in-progress window: it used to get a new instruction id and a second CM instruction."""
    faults.arm("during-cm-call")
    attempt(place_call)
    age_in_progress_records(function_env)

    retry = send(place_call)

    assert retry.status == 409
    assert retry.problem["instruction-id"] == derived_instruction_id(OWNER, KEY)
    assert len(cm.requests) == 1


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from((None, *CRASH_POINTS)), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_any_sequence_of_crashes_and_retries_places_at_most_once(
    plan: list[tuple[str | None, bool]],
    faults: Faults,
    place_call: Any,
    cm: FakeCm,
    function_env: Any,
) -> None:
    """Each step: one attempt with the key, crashing at the drawn point (None: no crash),
    then maybe time passes. Whatever the sequence, CM sees at most one instruction, and once
    it has seen one, every later answer is a replay or the 409 naming that instruction."""
    with fresh_tables(function_env, cm):
        instruction_id = derived_instruction_id(OWNER, KEY)
        for point, time_passes in plan:
            faults.arm(point)
            answer = attempt(place_call)
            faults.arm(None)
            if answer is not None:
                assert_acceptable(answer, instruction_id)
            if time_passes:
                age_in_progress_records(function_env)
            assert len(cm.requests) <= 1
        age_in_progress_records(function_env)
        final = send(place_call)
        kind = assert_acceptable(final, instruction_id)
        assert kind in {"accepted", "replay", "instruction-id-in-use"}
        assert len(cm.requests) == 1 or (kind == "instruction-id-in-use" and not cm.requests)


# ------------------------------------------------------------------ same key, another body

#: (first body, retry body) under one key: explicit ids, and a switch between an explicit
#: and a derived id (both bind the key at the same slot).
BODIES = {
    "explicit-then-other-explicit": ("order-7781-pin-attempt-1", "order-7781-pin-attempt-2"),
    "explicit-then-derived": ("order-7781-pin-attempt-1", None),
    "derived-then-explicit": (None, "order-7781-pin-attempt-2"),
}
#: Where a first attempt can die; key-claim points exist only with an explicit id.
KEY_CLAIM_POINTS = ("before-key-claim", "after-key-claim")


def _body(instruction_id: str | None) -> dict[str, Any]:
    body = body_without_id()
    return body if instruction_id is None else {**body, "instruction-id": instruction_id}


@pytest.mark.parametrize("bodies", BODIES)
@pytest.mark.parametrize("point", [*KEY_CLAIM_POINTS, *CRASH_POINTS])
def test_after_a_crash_the_same_key_with_another_body_is_422_and_rings_once(
    point: str, bodies: str, faults: Faults, place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    """Issue 12: the key is bound to its first body before CM is called, independent of
    Powertools' in-progress window (which lets an expired in-progress record be overwritten
    without checking the payload hash). Once the first attempt got as far as binding the key,
    every retry with another body is 422 `idempotency-key-reused`; CM has at most the first
    attempt's instruction."""
    first_id, retry_id = BODIES[bodies]
    if point in KEY_CLAIM_POINTS and first_id is None:
        pytest.skip("a derived id claims no key: its reservation binds it")
    faults.arm(point)
    with pytest.raises(LambdaKilled):
        send(place_call, _body(first_id))
    reached_cm = len(cm.requests)
    age_in_progress_records(function_env)

    retries = [send(place_call, _body(retry_id)) for _ in range(2)]

    if point == "before-key-claim" or (first_id is None and point == "before-reservation"):
        # nothing bound the key yet: the other body is a fresh request, placed once
        assert [r.status for r in retries] == [202, 202]
        assert retries[1].headers.get("Idempotent-Replayed") == "true"
        assert len(cm.requests) == 1
        return
    for retry in retries:
        assert retry.status == 422, retry.body
        assert retry.problem["type"].endswith(":idempotency-key-reused")
    assert len(cm.requests) == reached_cm <= 1
    if point not in (*KEY_CLAIM_POINTS, "before-reservation", "after-reservation"):
        assert len(cm.requests) == 1


def test_a_key_whose_explicit_placement_placed_nothing_takes_another_body(
    place_call: Any, cm: FakeCm
) -> None:
    """CM refused (502 cm-refused, nothing placed): the claim is released, so the client may
    fix the body and retry under the same key (as a derived id's `not-placed` allows)."""
    cm.replies = [lambda _sent: httpx.Response(400, json={"message": "invalid caller"})]
    refused = send(place_call, _body("order-7781-pin-attempt-1"))
    cm.replies = [queued]

    fixed = send(place_call, _body("order-7781-pin-attempt-2"))

    assert refused.status == 502
    assert fixed.status == 202
    assert fixed.body["instruction-id"] == "order-7781-pin-attempt-2"


@contextmanager
def fresh_tables(aws: Any, cm: FakeCm) -> Iterator[None]:
    """Hypothesis reuses the fixtures across examples: start each one from empty tables."""
    try:
        yield
    finally:
        _empty(aws, cm)


def _empty(aws: Any, cm: FakeCm) -> None:
    for table, key in ((aws.table_name, ("pk", "sk")), (aws.idempotency_table_name, ("id",))):
        for item in aws.dynamodb.scan(TableName=table)["Items"]:
            aws.dynamodb.delete_item(TableName=table, Key={k: item[k] for k in key})
    cm.requests.clear()


# ------------------------------------------------------------------ the CM deadline


class Drip(httpx.AsyncByteStream):
    """A reply body written one byte every `pause` seconds (headers at once): no per-read
    timeout ever fires."""

    def __init__(self, body: bytes, pause: float) -> None:
        self.body = body
        self.pause = pause
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for byte in self.body:
            await asyncio.sleep(self.pause)
            self.sent += 1
            yield bytes([byte])


def dripping(drips: list[Drip], pause: float = 0.05) -> Callable[[dict[str, Any]], httpx.Response]:
    def reply(sent: dict[str, Any]) -> httpx.Response:
        body = queued(sent).content
        drip = Drip(body, pause)
        drips.append(drip)
        return httpx.Response(200, headers={"Content-Length": str(len(body))}, stream=drip)

    return reply


@dataclass
class ShortContext(LambdaContext):
    remaining_millis: int = 3_200

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def test_a_dripping_cm_ends_at_the_deadline_as_504_unknown(
    place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    """Issue 12, failure 1 (related): httpx's timeouts are per read, so a CM dripping its
    reply used to run far past the limit. The deadline (remaining time minus the recording
    reserve) ends it, the outcome is recorded `unknown`, and a retry never rings again."""
    drips: list[Drip] = []
    cm.replies = [dripping(drips)]
    headers = {"Content-Type": "application/json", "Idempotency-Key": KEY}
    event = http_event("place_call.json", body=body_without_id(), headers=headers)

    response = place_call.handler(event, ShortContext())
    problem = json.loads(response["body"])
    retry = send(place_call)

    assert response["statusCode"] == 504
    assert problem["type"] == "urn:dtmf-gateway:problem:cm-outcome-unknown"
    assert problem["instruction-status"] == "unknown"
    [drip] = drips
    assert 0 < drip.sent < len(drip.body)  # cut off mid-reply
    [item] = [i for i in function_env.items() if i["sk"] == "instruction"]
    assert item["status"] == "unknown"
    assert retry.status == 504
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert len(cm.requests) == 1


def test_too_little_time_left_calls_no_one_and_can_be_retried(
    place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": KEY}
    event = http_event("place_call.json", body=body_without_id(), headers=headers)

    response = place_call.handler(event, ShortContext(remaining_millis=2_500))
    retry = send(place_call)

    assert response["statusCode"] == 502
    assert json.loads(response["body"])["instruction-status"] == "not-placed"
    assert retry.status == 202
    assert len(cm.requests) == 1


@pytest.mark.parametrize("budget", [None, 0.4])
def test_the_client_deadline_covers_the_whole_exchange(budget: float | None) -> None:
    from dtmf_gateway.adapters.cm_client import HttpCmClient
    from dtmf_gateway.domain.errors import CmOutcomeUnknown
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    drips: list[Drip] = []
    fake = FakeCm(replies=[dripping(drips, pause=0.02)])
    client = HttpCmClient(
        base_url="https://cm.test",
        product_token=lambda: "token",
        total_timeout=0.6,
        min_budget=0.1,
        transport=fake.transport,
    )
    request = parse_dtmf_call_request(body_without_id())

    with pytest.raises(CmOutcomeUnknown) as raised:
        client.place(
            request, instruction_id="x", callback_url="https://cb", time_budget_seconds=budget
        )

    assert raised.value.timed_out
    assert 0 < drips[0].sent < len(drips[0].body)
