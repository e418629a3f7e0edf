"""Issue 15: a placement whose recording failed notes CM's replies on its instruction; when the
placement-recordings queue failed too (or never succeeds), the expirer applies the noted
recording at its calls' stale time. Real place-call, cm-callback, erase and record-placements
handlers in-process (moto, FakeCm), the real expirer use case on the DynamoDB adapter."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import httpx
import pytest

from devtools.cm import FakeCm, queued
from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.expiry import expire_stale_calls
from tests.conftest import REGION, Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_erasure import erase
from tests.integration.test_place_call_handler import instruction_item, post, sample_body
from tests.integration.test_placement_recordings import (
    Flaky,
    call_items,
    queued_messages,
    run_record_placements,
)

KEY = "order-7781-noted"
INSTRUCTION = "order-7781-pin"
NUMBER = "612345678"


@pytest.fixture
def failing_recording(monkeypatch: pytest.MonkeyPatch) -> Flaky:
    return Flaky(monkeypatch)


@pytest.fixture
def no_queue(function_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Flaky:
    """The placement's recording fails once and the placement-recordings queue is gone."""
    boto3.client("sqs", region_name=REGION).delete_queue(
        QueueUrl=function_env.placement_recordings_queue_url
    )
    return Flaky(monkeypatch)


def expire_at(when: Any) -> Any:
    from dtmf_gateway import wiring

    return expire_stale_calls(wiring.pending_calls(), clock=lambda: when)


def test_before_its_calls_are_stale_the_noted_recording_waits(
    place_call: Any, cm: FakeCm, function_env: Aws, no_queue: Flaky
) -> None:
    post(place_call, sample_body(), key=KEY)

    report = expire_at(utc_now() + timedelta(minutes=5))

    assert report.examined == 0
    assert call_items(function_env, INSTRUCTION) == {}
    assert instruction_item(function_env, INSTRUCTION)["status"] == "placing"


def test_the_expirer_applies_it_once_and_a_retry_then_gets_the_replay(
    place_call: Any, cm: FakeCm, function_env: Aws, no_queue: Flaky
) -> None:
    first = post(place_call, sample_body(), key=KEY)
    later = utc_now() + timedelta(days=1)

    assert expire_at(later).expired == 1
    again = expire_at(later + timedelta(minutes=5))
    retry = post(place_call, sample_body(), key=KEY)

    assert again.expired == 0
    [call] = call_items(function_env, INSTRUCTION).values()
    assert call["status"] == "expired" and call["callee"] == "+31" + NUMBER
    assert call["call-id"] == first.body["calls"][0]["call-id"]
    assert "placing-until" not in instruction_item(function_env, INSTRUCTION)
    assert retry.status == 202 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.body == first.body
    assert len(cm.requests) == 1


def test_a_callback_that_came_first_keeps_its_result_and_is_not_expired(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, no_queue: Flaky
) -> None:
    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    callback = deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    expire_at(utc_now() + timedelta(minutes=5))  # the held callback is settled: released

    report = expire_at(utc_now() + timedelta(days=1))

    assert callback.status == 200
    assert report.expired == 0
    [call] = call_items(function_env, INSTRUCTION).values()
    assert call["status"] == "finished" and call["outcome"] == "input-received"
    assert "hold" not in call


def test_a_callback_for_a_call_cm_did_not_queue_for_it_is_set_aside(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, no_queue: Flaky
) -> None:
    """The noted replies name the placement's calls: a held callback for another call id of
    the callee is set aside, as once the calls are recorded (not released by the callee rule).
    """
    post(place_call, sample_body(), key=KEY)
    deliver(cm_callback, callback_body("00000000-0000-4000-8000-00000000f00d"), token_of(cm))

    expire_at(utc_now() + timedelta(minutes=5))
    report = expire_at(utc_now() + timedelta(days=1))

    calls = call_items(function_env, INSTRUCTION)
    assert calls["00000000-0000-4000-8000-00000000f00d"]["hold"] == "set-aside"
    assert report.expired == 1  # the call CM queued, whose callback never came


def test_an_erasure_while_it_waits_leaves_no_number_once_applied(
    place_call: Any, cm: FakeCm, function_env: Aws, erase_personal_data: Any, no_queue: Flaky
) -> None:
    post(place_call, {**sample_body(), "metadata": {"order-id": "7781"}}, key=KEY)
    erase(erase_personal_data, INSTRUCTION)

    assert expire_at(utc_now() + timedelta(days=1)).expired == 1

    [call] = call_items(function_env, INSTRUCTION).values()
    assert call["status"] == "expired"
    assert NUMBER not in json.dumps(function_env.items(), default=str)


def test_a_queued_recording_applied_after_the_expirer_changes_nothing(
    place_call: Any, cm: FakeCm, function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue took it but every consumer attempt failed until the expirer applied the
    note; the consumer's success afterwards (a DLQ redrive) leaves the expired call as is."""
    Flaky(monkeypatch, failures=2)
    post(place_call, sample_body(), key=KEY)
    assert run_record_placements(function_env)["batchItemFailures"]

    assert expire_at(utc_now() + timedelta(days=1)).expired == 1
    assert run_record_placements(function_env) == {"batchItemFailures": []}

    [call] = call_items(function_env, INSTRUCTION).values()
    assert call["status"] == "expired"
    assert expire_at(utc_now() + timedelta(days=2)).expired == 0


def test_cms_unbounded_reply_texts_are_cut_so_the_recording_fits_its_queue(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Flaky
) -> None:
    """CM's error text of a refused callee is CM's own (any length): cut to 300 characters,
    the deferred recording fits SQS's 256 KiB and is applied from the queue."""
    huge = "Callee is not reachable " + "x" * 300_000

    def refused_at_length(sent: dict[str, Any]) -> httpx.Response:
        items = queued(sent).json()
        items[1].update(success=False, error=huge)
        items[1]["call-id"] = None
        return httpx.Response(200, json=items)

    cm.replies = [refused_at_length]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    answer = post(place_call, body | {"callees": ["+31612345678", "+31687654321"]}, key=KEY)

    [message] = queued_messages(function_env)
    assert run_record_placements(function_env) == {"batchItemFailures": []}

    assert answer.status == 202
    assert answer.body["calls"][1]["error"] == huge[:300]
    assert len(message["body"].encode()) < 262_144
    assert len(call_items(function_env, INSTRUCTION)) == 1
