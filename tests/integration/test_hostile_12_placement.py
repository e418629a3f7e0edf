"""Hostile review of issue 12 (placement): CM replies and keys that could ring twice."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from devtools.cm import FakeCm, queued
from devtools.streams import StreamReader
from dtmf_gateway.domain.placement import derived_instruction_id
from tests.conftest import REGION
from tests.integration.test_callback_guarantees import expire_all
from tests.integration.test_callback_handler import (
    callback_body,
    deliver,
    read,
    token_of,
)
from tests.integration.test_place_call_handler import call_items, post, sample_body
from tests.integration.test_placement_faults import (
    Faults,
    LambdaKilled,
    age_in_progress_records,
)

KEY = "order-7781-retry"
OTHER_PRINCIPAL = "arn:aws:iam::123456789012:user/another-service"
OWNER = "arn:aws:iam::123456789012:user/orders-service"  # the sample event's principal


# ------------------------------------------------------------------ never ring twice


def _without_call_ids(sent: dict[str, Any]) -> httpx.Response:
    items = queued(sent).json()
    for item in items:
        del item["call-id"]
    return httpx.Response(200, json=items)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda _sent: httpx.Response(200, json=[]), id="empty-list"),
        pytest.param(lambda _sent: httpx.Response(200, json={}), id="empty-object"),
        pytest.param(_without_call_ids, id="success-without-call-id"),
    ],
)
def test_a_2xx_reply_that_names_no_call_is_outcome_unknown_and_never_placed_again(
    reply: Any, place_call: Any, cm: FakeCm, cm_callback: Any, get_call: Any
) -> None:
    """CM accepted the instruction (2xx) but its reply names no call id: CM may well have
    queued the calls. It used to be answered 502 `cm-refused` ("nothing was placed, retrying
    is safe"), the instruction marked `not-placed` — so the retry with the same key placed a
    second CM instruction, and the real calls' callbacks were refused (404)."""
    cm.replies = [reply, queued]

    first = post(place_call, sample_body(), key=KEY)
    retry = post(place_call, sample_body(), key=KEY)
    retry_without_key = post(place_call, sample_body())

    assert first.status == 502
    assert first.problem["type"].endswith(":cm-outcome-unknown")
    assert retry.status == 502  # the stored answer, replayed
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry_without_key.status == 409
    assert len(cm.requests) == 1
    # a callback of the call CM did queue is kept (held), not refused
    answer = deliver(cm_callback, callback_body("cm-call-1"), token_of(cm))
    assert answer.body == {"status": "held"}


def test_the_same_key_with_another_body_after_a_crash_places_nothing_new(
    place_call: Any, cm: FakeCm, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: "the same key with another body is 422". A client that makes a new
    `instruction-id` per HTTP attempt but keeps its Idempotency-Key: the first attempt
    dies after CM queued the call; the retry (another body) is placed with CM again."""
    faults = Faults(monkeypatch, cm)
    faults.arm("after-cm-accepted")
    with pytest.raises(LambdaKilled):
        post(place_call, sample_body(), key=KEY)
    age_in_progress_records(function_env)
    other = {**sample_body(), "instruction-id": "order-7781-pin-attempt-2"}

    retry = post(place_call, other, key=KEY)

    assert len(cm.requests) == 1
    assert retry.status == 422
    assert retry.problem["type"].endswith(":idempotency-key-reused")


def test_another_principal_cannot_take_the_id_derived_from_my_key(
    place_call: Any, cm: FakeCm, get_call: Any
) -> None:
    squatted = derived_instruction_id(OWNER, KEY)  # keys are often guessable (order numbers)
    squatting = {**sample_body(), "instruction-id": squatted}
    first = post(place_call, squatting, user_arn=OTHER_PRINCIPAL)
    mine = {k: v for k, v in sample_body().items() if k != "instruction-id"}

    answer = post(place_call, mine, key=KEY)

    assert first.status == 422  # the derived form is reserved: nobody can send it
    assert first.problem["errors"][0]["field"] == "instruction-id"
    assert answer.status == 202


# ------------------------------------------------------------------ CM's odd replies


def test_a_reply_for_a_callee_we_did_not_ask_for_makes_no_second_result(
    place_call: Any,
    cm: FakeCm,
    cm_callback: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)

    def one_more(sent: dict[str, Any]) -> httpx.Response:
        items = queued(sent).json()
        stranger = {**items[0], "call-id": "stranger-call", "callee": "+31699999999"}
        return httpx.Response(200, json=[*items, stranger])

    cm.replies = [one_more]
    placed_answer = post(place_call, sample_body())
    stranger = deliver(
        cm_callback, callback_body("stranger-call", callee="+31699999999"), token_of(cm)
    )
    expire_all(function_env)
    answer = publish_results.handler(stream.next_batch(), _context())

    assert all(c["callee"] for c in placed_answer.body["calls"])
    assert all(i["callee"] for i in call_items(function_env))
    assert answer == {"batchItemFailures": []}
    assert len(bus.received()) == 1  # one callee, one result
    assert stranger.status == 404  # not a call of ours: refused, nothing written
    assert "stranger-call" not in [c["call-id"] for c in placed_answer.body["calls"]]
    assert "stranger-call" not in [i["call-id"] for i in call_items(function_env)]


def test_one_call_id_for_two_callees_keeps_the_first_callee(
    place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    def same_id(sent: dict[str, Any]) -> httpx.Response:
        items = queued(sent).json()
        items[1]["call-id"] = items[0]["call-id"]
        return httpx.Response(200, json=items)

    cm.replies = [same_id]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = ["+31612345678", "+447400123456"]

    answer = post(place_call, body)

    [call] = call_items(function_env)
    assert call["callee"] == "+31612345678"
    # the 202 names the call once, as the first callee's
    assert [(c["call-id"], c["callee"]) for c in answer.body["calls"]] == [
        (call["call-id"], "+31612345678")
    ]


def _context() -> Any:
    from devtools.lambdas import LambdaContext

    return LambdaContext()


# ------------------------------------------------------------------ a callback for the other callee

TWO_CALLEES = ["+31612345678", "+447400123456"]


def _one_call_id_for_two_callees(place_call: Any, cm: FakeCm) -> str:
    """Places an instruction for TWO_CALLEES to which CM answers one call id for both; the id."""

    def same_id(sent: dict[str, Any]) -> httpx.Response:
        items = queued(sent).json()
        items[1]["call-id"] = items[0]["call-id"]
        return httpx.Response(200, json=items)

    cm.replies = [same_id]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = TWO_CALLEES
    answer = post(place_call, body)
    assert answer.status == 202
    [call] = answer.body["calls"]
    return str(call["call-id"])


def test_a_callback_naming_the_second_callee_is_never_published_as_the_firsts(
    place_call: Any,
    cm: FakeCm,
    cm_callback: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    get_call: Any,
) -> None:
    """CM named one call id for two callees; the placement gave it to the first. The callback
    for that id naming the second callee (their digits) used to be recorded against the
    first callee's call and published as the first callee's result."""
    stream = StreamReader(function_env.table_name, REGION)
    call_id = _one_call_id_for_two_callees(place_call, cm)

    others = deliver(
        cm_callback, callback_body(call_id, digits="9999", callee="447400123456"), token_of(cm)
    )
    redelivered = deliver(
        cm_callback, callback_body(call_id, digits="9999", callee="+447400123456"), token_of(cm)
    )
    expire_all(function_env)
    answer = publish_results.handler(stream.next_batch(), _context())

    assert others.status == 409
    assert others.problem["type"].endswith(":callee-mismatch")
    assert redelivered.status == 409  # CM redelivering it changes nothing either
    assert answer == {"batchItemFailures": []}
    [event] = bus.received()  # the first callee's call, expired: one result, not the digits
    assert event["detail"]["callee"] == "+31612345678"
    assert event["detail"]["outcome"] == "expired"
    assert "9999" not in json.dumps(event)
    [call] = call_items(function_env)
    assert "digits" not in call
    [shown] = read(get_call).body["calls"]
    assert shown["callee"] == "+31612345678"
    assert "9999" not in json.dumps(shown)


def test_after_a_refused_callback_the_first_callee_s_own_callback_is_recorded(
    place_call: Any,
    cm: FakeCm,
    cm_callback: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    """The stored call keeps waiting for its own callback, in whichever form CM writes the
    number (here with the international prefix); a late other callee's callback after it is
    refused too, never published as a correction."""
    stream = StreamReader(function_env.table_name, REGION)
    call_id = _one_call_id_for_two_callees(place_call, cm)

    others = deliver(
        cm_callback, callback_body(call_id, digits="9999", callee="+447400123456"), token_of(cm)
    )
    own = deliver(
        cm_callback, callback_body(call_id, digits="4821", callee="0031612345678"), token_of(cm)
    )
    late = deliver(
        cm_callback, callback_body(call_id, digits="9999", callee="07400123456"), token_of(cm)
    )
    answer = publish_results.handler(stream.next_batch(), _context())

    assert others.status == 409
    assert own.status == 200
    assert own.body == {"status": "recorded"}
    assert late.status == 409
    assert answer == {"batchItemFailures": []}
    [event] = bus.received()
    assert (event["detail"]["callee"], event["detail"]["digits"]) == ("+31612345678", "4821")
