"""Hostile review, stop 7: CM's call id is used as a DynamoDB sort key, logged and called
back; one the callback route would refuse (over 64 characters, blank, control characters)
is a broken answer: the outcome unknown (`502 cm-outcome-unknown`, calls may ring), never
recorded, never noted for the expirer to trip on."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devtools.cm import FakeCm, queued
from dtmf_gateway.adapters.cm_client import MAX_CALL_ID
from dtmf_gateway.domain.callbacks import CmCallback
from dtmf_gateway.domain.calls import utc_now
from tests.conftest import Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_noted_recordings import expire_at
from tests.integration.test_place_call_handler import post, sample_body

KEY = "order-7781-call-ids"


def with_call_id(call_id: str) -> Any:
    def reply(sent: dict[str, Any]) -> httpx.Response:
        [item] = queued(sent).json()
        item["call-id"] = call_id
        return httpx.Response(200, json=[item])

    return reply


def test_the_client_bound_is_the_callback_routes() -> None:
    [bound] = [
        m.max_length
        for m in CmCallback.model_fields["call_id"].metadata
        if hasattr(m, "max_length")
    ]
    assert bound == MAX_CALL_ID


@pytest.mark.parametrize(
    "call_id",
    [
        pytest.param("f" * 1100, id="over-dynamodb-key-limit"),
        pytest.param("a" * (MAX_CALL_ID + 1), id="one-over-the-callback-bound"),
        pytest.param("   ", id="blank"),
        pytest.param("call\n1", id="control-character"),
    ],
)
def test_a_call_id_no_callback_could_carry_is_an_unknown_outcome(
    call_id: str, place_call: Any, cm: FakeCm, function_env: Aws
) -> None:
    cm.replies = [with_call_id(call_id)]

    answer = post(place_call, sample_body(), key=KEY)
    retry = post(place_call, sample_body(), key=KEY)
    report = expire_at(utc_now() + timedelta(days=1))

    assert answer.status == 502, answer.body
    assert answer.problem["type"].endswith(":cm-outcome-unknown")
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (502, "true")
    assert len(cm.requests) == 1  # never placed again: the calls may ring
    assert call_id not in json.dumps(function_env.items(), default=str)
    assert report.set_aside == 0


def test_a_call_id_at_the_bound_is_placed_and_its_callback_taken(
    place_call: Any, cm: FakeCm, cm_callback: Any, function_env: Aws
) -> None:
    call_id = "c" * MAX_CALL_ID
    cm.replies = [with_call_id(call_id)]

    answer = post(place_call, sample_body(), key=KEY)
    callback = deliver(cm_callback, callback_body(call_id), token_of(cm))

    assert answer.status == 202, answer.body
    assert [c["call-id"] for c in answer.body["calls"]] == [call_id]
    assert callback.status == 200, callback.body
