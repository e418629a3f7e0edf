"""Issue 12, callbacks: whatever CM sends is stored, at most one result per callee, late
callbacks win, an unexpected shape is counted, and a crash after the write loses nothing.

Handlers in-process on moto; events through the real stream (tests/support/streams.py) and
the real publisher.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.cm import queued
from devtools.lambdas import LambdaContext
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
from dtmf_gateway.domain.expiry import expire_stale_calls
from scripts import rederive
from tests.conftest import REGION, SESSION_LOG
from tests.integration.test_callback_handler import (
    callback_body,
    deliver,
    read,
    token_of,
)
from tests.integration.test_place_call_handler import (
    call_items,
    instruction_item,
    post,
    sample_body,
)


class RuntimeKilled(BaseException):
    """The invocation dies (timeout, out of memory): no answer reaches CM."""


@pytest.fixture
def placed(place_call: Any, cm: Any) -> dict[str, str]:
    call_id = post(place_call, sample_body()).body["calls"][0]["call-id"]
    return {"call_id": call_id, "token": token_of(cm)}


def publish(stream: StreamReader, publish_results: Any) -> None:
    answer = publish_results.handler(stream.next_batch(), LambdaContext())
    assert answer == {"batchItemFailures": []}


def later(days: int = 1) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def expire_all(function_env: Any) -> int:
    pending = DynamoDbPendingCalls(function_env.dynamodb, function_env.table_name, shards=8)
    return expire_stale_calls(pending, clock=later).expired


# ------------------------------------------------------------------ 2: whatever CM sends


def test_a_float_in_result_is_recorded_and_published(
    placed: dict[str, str],
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    """Issue 12 failure 2: `"duration": 12.5` got a 500 on every delivery (boto3 refuses
    floats) and the digits were lost."""
    stream = StreamReader(function_env.table_name, REGION)
    body = callback_body(placed["call_id"])
    body["result"] |= {"duration": 12.5, "code": 10.0, "legs": [{"mos": 4.3, "n": 10**30}]}

    response = deliver(cm_callback, body, placed["token"])

    assert response.status == 200
    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")
    assert call["result"]["duration"] == 12.5
    assert call["result"]["legs"] == [{"mos": 4.3, "n": 10**30}]
    publish(stream, publish_results)
    [event] = bus.received()
    assert event["detail"]["result"]["duration"] == 12.5
    assert event["detail"]["digits"] == "4821"


def test_the_raw_body_is_kept_next_to_the_result(
    placed: dict[str, str], cm_callback: Any, function_env: Any
) -> None:
    body = callback_body(placed["call_id"], extra_key={"nested": [1, 2.5, None, True]})

    deliver(cm_callback, body, placed["token"])

    [item] = call_items(function_env)
    assert json.loads(item["callback-body"]) == body
    assert json.loads(item["result"]) == body["result"]  # JSON text: no number type involved


def test_a_huge_callback_is_stored_within_dynamodbs_item_limit(
    placed: dict[str, str], cm_callback: Any, get_call: Any, function_env: Any
) -> None:
    body = callback_body(placed["call_id"])
    body["result"]["description"] = "x" * 300_000
    body["result"]["many"] = [str(i) for i in range(40_000)]
    body["padding"] = "y" * 50_000

    response = deliver(cm_callback, body, placed["token"])

    assert response.status == 200  # DynamoDB would refuse a 400 KB item: a 500 before
    [item] = call_items(function_env)
    assert len(item["callback-body"].encode()) <= 32 * 1024
    assert len(item["result"].encode()) <= 64 * 1024
    [call] = read(get_call).body["calls"]
    assert call["result"]["code"] == 10
    assert call["outcome"] == "input-received"


# ------------------------------------------------------------------ shape CM did not document


def test_digits_under_another_key_are_counted_and_their_key_logged(
    placed: dict[str, str], cm_callback: Any, get_call: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    body = callback_body(placed["call_id"], digits=None, dtmf="4821")
    logged = len(SESSION_LOG)

    response = deliver(cm_callback, body, placed["token"])

    assert response.status == 200
    [call] = read(get_call).body["calls"]
    assert call["outcome"] == "no-input"  # as CM's documented key says, but not silently:
    out = capsys.readouterr().out
    metric = next(
        json.loads(line) for line in out.splitlines() if "UnexpectedCallbackShape" in line
    )
    assert metric["UnexpectedCallbackShape"] == [1.0]
    lines = SESSION_LOG[logged:]
    warning = next(json.loads(line) for line in lines if '"keys"' in line)
    assert warning["keys"] == ["dtmf"]
    assert not any("4821" in line for line in lines)  # key names only, never values


def test_an_expected_shape_raises_no_metric(
    placed: dict[str, str], cm_callback: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(cm_callback, callback_body(placed["call_id"], digits=None), placed["token"])

    assert "UnexpectedCallbackShape" not in capsys.readouterr().out


# ------------------------------------------------------------------ 6: one result per callee


def test_a_call_the_placement_never_had_is_refused_and_nothing_written(
    placed: dict[str, str], cm_callback: Any, function_env: Any, get_call: Any
) -> None:
    """Issue 12 failure 6: a valid token and a foreign call-id made an extra result."""
    before = function_env.items()

    response = deliver(cm_callback, callback_body("a-call-cm-never-queued"), placed["token"])

    assert response.status == 404
    assert response.problem["type"].endswith(":unknown-call")
    assert function_env.items() == before
    assert len(read(get_call).body["calls"]) == 1


def test_an_overtaking_callback_for_another_call_is_set_aside_never_published(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    early: list[Any] = []

    def reply_after_a_stray_callback(sent: dict[str, Any]) -> httpx.Response:
        token = parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]
        early.append(deliver(cm_callback, callback_body("stray-call", 10, "9999"), token))
        return queued(sent)

    cm.replies = [reply_after_a_stray_callback]

    placed = post(place_call, sample_body())

    assert early[0].body == {"status": "held"}
    publish(stream, publish_results)
    assert bus.received() == []
    [call] = read(get_call).body["calls"]
    assert call["call-id"] == placed.body["calls"][0]["call-id"]
    stray = next(i for i in call_items(function_env) if i["call-id"] == "stray-call")
    assert stray["hold"] == "set-aside"  # kept for audit (its index entry too: issue 15)
    assert expire_all(function_env) == 1  # only the real call; the stray one stays aside
    publish(stream, publish_results)
    assert [e["detail"]["outcome"] for e in bus.received()] == ["expired"]


def test_a_held_call_is_released_by_the_expirer_when_the_placement_never_records(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)

    def call_back_then_time_out(sent: dict[str, Any]) -> httpx.Response:
        token = parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]
        deliver(cm_callback, callback_body("real-call", 10, "4821"), token)
        deliver(cm_callback, callback_body("second-call", 10, "1111"), token)
        raise httpx.ReadTimeout("read timed out")

    cm.replies = [call_back_then_time_out]
    assert post(place_call, sample_body()).status == 504
    publish(stream, publish_results)
    assert bus.received() == []  # held while the placement might still record

    assert expire_all(function_env) == 0

    publish(stream, publish_results)
    [event] = bus.received()  # one result for the one callee; the second call set aside
    assert (event["detail"]["call-id"], event["detail"]["digits"]) == ("real-call", "4821")
    holds = {i["call-id"]: i.get("hold") for i in call_items(function_env)}
    assert holds == {"real-call": None, "second-call": "set-aside"}
    assert [c["call-id"] for c in read(get_call).body["calls"]] == ["real-call"]


# ------------------------------------------------------------------ 8: late callbacks win


def test_a_real_callback_after_expiry_wins_and_is_published_as_a_correction(
    placed: dict[str, str],
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    """Issue 12 failure 8: the call stayed `expired` and the digits were dropped."""
    stream = StreamReader(function_env.table_name, REGION)
    assert expire_all(function_env) == 1
    publish(stream, publish_results)
    [expired] = bus.received()

    late = deliver(cm_callback, callback_body(placed["call_id"]), placed["token"])
    again = deliver(cm_callback, callback_body(placed["call_id"]), placed["token"])

    assert late.status == 200
    assert late.body == {"status": "recorded"}
    assert again.body == {"status": "duplicate"}
    [call] = read(get_call).body["calls"]
    assert (call["status"], call["outcome"], call["digits"]) == (
        "finished",
        "input-received",
        "4821",
    )
    publish(stream, publish_results)
    [correction] = bus.received()  # the expiry was published once, before
    assert expired["detail"]["revision"] == 0
    assert expired["detail"]["corrects"] is None
    assert correction["detail"]["outcome"] == "input-received"
    assert correction["detail"]["corrects"] == "expired"
    assert correction["detail"]["revision"] == 1
    urn = f"urn:dtmf-gateway:result:order-7781-pin:{placed['call_id']}"
    assert expired["resources"] == [urn]
    assert correction["resources"] == [f"{urn}:revision:1"]


# ------------------------------------------------------------------ fault injection


def _crash_after(store: Any, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's write succeeds, then the invocation dies before it can answer."""
    original = getattr(store, method)
    crashed: list[bool] = []

    def write_then_die(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not crashed:
            crashed.append(True)
            raise RuntimeKilled
        return result

    monkeypatch.setattr(store, method, write_then_die)


@pytest.mark.parametrize("redeliveries", [1, 3])
@pytest.mark.parametrize("case", ["queued", "expired", "overtaking"])
def test_a_crash_after_the_write_and_redelivery_give_one_result_one_event(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    redeliveries: int,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    store = cm_callback.record_callback._store
    deliveries: list[Any] = []

    def deliver_with_crash(call_id: str, token: str) -> None:
        method = "hold_call" if case == "overtaking" else "finish_queued_call"
        _crash_after(store, method, monkeypatch)
        with pytest.raises(RuntimeKilled):
            deliver(cm_callback, callback_body(call_id), token)
        monkeypatch.undo()
        deliveries.extend(
            deliver(cm_callback, callback_body(call_id), token) for _ in range(redeliveries)
        )

    if case == "overtaking":

        def reply_after_calling_back(sent: dict[str, Any]) -> httpx.Response:
            reply = queued(sent)
            token = parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]
            deliver_with_crash(reply.json()[0]["call-id"], token)
            return reply

        cm.replies = [reply_after_calling_back]
        call_id = post(place_call, sample_body()).body["calls"][0]["call-id"]
    else:
        call_id = post(place_call, sample_body()).body["calls"][0]["call-id"]
        if case == "expired":
            expire_all(function_env)
            publish(stream, publish_results)
            bus.received()
        deliver_with_crash(call_id, token_of(cm))

    assert all(d.status == 200 for d in deliveries)
    assert {d.body["status"] for d in deliveries} == {"duplicate"}
    publish(stream, publish_results)
    events = [e for e in bus.received() if e["detail"]["outcome"] != "expired"]
    assert len(events) == 1
    assert (events[0]["detail"]["call-id"], events[0]["detail"]["digits"]) == (call_id, "4821")
    [call] = read(get_call).body["calls"]
    assert (call["status"], call["outcome"]) == ("finished", "input-received")
    assert len(call_items(function_env)) == 1
    assert instruction_item(function_env, "order-7781-pin")["status"] == "queued"


# ------------------------------------------------------------------ re-deriving outcomes


def test_rederive_reads_the_stored_bodies_and_publishes_corrections(
    placed: dict[str, str],
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    deliver(
        cm_callback, callback_body(placed["call_id"], digits=None, dtmf="4821"), placed["token"]
    )
    publish(stream, publish_results)
    [first] = bus.received()
    assert first["detail"]["outcome"] == "no-input"
    window = ["--table", function_env.table_name, "--from", "2000-01-01T00:00:00Z"]
    window += ["--to", later().isoformat(), "--digits-key", "dtmf"]

    rederive.main(window)  # dry run

    assert "no-input -> input-received" in capsys.readouterr().out
    assert read(get_call).body["calls"][0]["outcome"] == "no-input"

    rederive.main([*window, "--apply"])
    rederive.main([*window, "--apply"])  # idempotent: nothing left to change

    assert "0 to correct" in capsys.readouterr().out.splitlines()[-1]
    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")
    publish(stream, publish_results)
    [correction] = bus.received()
    assert correction["detail"]["corrects"] == "rederived"
    assert correction["detail"]["revision"] == 1
    assert correction["resources"][0].endswith(f"{placed['call_id']}:revision:1")
