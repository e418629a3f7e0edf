"""Issue 15: recording a placement's calls on the instruction, and what came first.

The placement names its calls on the instruction with one conditional write that succeeds
only while no erasure (issue 19) and no overtaking callback (held) has marked it; when one
has, the write is made again returning the instruction, and the placement acts on it. These
tests put an erasure or a callback in the window between the refused first write and the
second one (fault injection, handlers in-process on moto), and check what a user sees: every
overtaking callback is released or set aside exactly as without the window, and an erasure is
never undone.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.cm import queued
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from tests.conftest import REGION
from tests.integration.test_callback_guarantees import publish
from tests.integration.test_callback_handler import callback_body, deliver, read
from tests.integration.test_erasure import CALLEE, erase
from tests.integration.test_place_call_handler import call_items, post, sample_body


def _in_the_window(monkeypatch: pytest.MonkeyPatch, land: Any) -> list[Any]:
    """Run `land()` after the placement's first recording write was refused and before it
    records again; the answers `land` gave."""
    original = DynamoDbInstructionStore._record_and_settle
    landed: list[Any] = []

    def land_then_record(self: Any, *args: Any, **kwargs: Any) -> Any:
        landed.append(land())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDbInstructionStore, "_record_and_settle", land_then_record)
    return landed


def _token(sent: dict[str, Any]) -> str:
    return parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]


def test_callbacks_that_land_after_the_refused_write_are_settled(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stray callback is held before CM answers (so the first write is refused); in the
    window the real call's callback is recorded and a second stray one is held: the real one
    is published once, both stray ones are set aside (none left waiting for the placement)."""
    stream = StreamReader(function_env.table_name, REGION)
    sent: list[dict[str, Any]] = []
    call_ids: list[str] = []

    def stray_callback_then_queue(body: dict[str, Any]) -> httpx.Response:
        sent.append(body)
        assert deliver(cm_callback, callback_body("stray-1"), _token(body)).body == {
            "status": "held"
        }
        reply = queued(body)
        call_ids.append(reply.json()[0]["call-id"])
        return reply

    def two_callbacks() -> list[Any]:
        token = _token(sent[0])
        return [
            deliver(cm_callback, callback_body(call_ids[0], 10, "4821"), token).body,
            deliver(cm_callback, callback_body("stray-2"), token).body,
        ]

    cm.replies = [stray_callback_then_queue]
    landed = _in_the_window(monkeypatch, two_callbacks)

    placed = post(place_call, sample_body())

    assert placed.status == 202
    assert landed == [[{"status": "recorded"}, {"status": "held"}]]
    publish(stream, publish_results)
    events = bus.received()
    assert [(e["detail"]["call-id"], e["detail"]["digits"]) for e in events] == [
        (call_ids[0], "4821")
    ]
    [call] = read(get_call).body["calls"]
    assert (call["call-id"], call["outcome"]) == (call_ids[0], "input-received")
    holds = {i["call-id"]: i.get("hold") for i in call_items(function_env)}
    assert holds == {call_ids[0]: None, "stray-1": "set-aside", "stray-2": "set-aside"}


def test_an_erasure_that_lands_after_the_refused_write_is_not_undone(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def stray_callback_then_queue(body: dict[str, Any]) -> httpx.Response:
        deliver(cm_callback, callback_body("stray-call"), _token(body))
        return queued(body)

    cm.replies = [stray_callback_then_queue]
    landed = _in_the_window(monkeypatch, lambda: erase(erase_personal_data))

    placed = post(place_call, sample_body())

    assert placed.status == 202
    assert [a.status for a in landed] == [200]
    calls = call_items(function_env)
    assert len(calls) == 2
    assert all("callee" not in c and c["metadata"] == {} for c in calls)
    assert CALLEE not in json.dumps(function_env.items(), default=str)


def test_a_placement_that_meets_no_one_records_its_calls_once(
    place_call: Any,
    cm: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing came first: the first write records the calls, there is no second one."""
    landed = _in_the_window(monkeypatch, lambda: None)

    placed = post(place_call, sample_body())

    assert placed.status == 202
    assert landed == []
    [instruction] = [i for i in function_env.items() if i["sk"] == "instruction"]
    assert instruction["status"] == "queued"
    assert instruction["call-ids"] == [placed.body["calls"][0]["call-id"]]
    assert "placing-until" not in instruction
