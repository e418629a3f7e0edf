"""Issue 12: the outbox under faults. The real publishing use case and the real EventBridge
adapter against a scripted PutEvents: entries failing one by one, whole requests failing,
the invocation dying after PutEvents succeeded but before the batch was acknowledged, data
the bus refuses. Every stored result reaches the bus at least once, always with the same
`resources` id and the same detail; what can never be published is set aside, alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import call_from_item
from dtmf_gateway.adapters.eventbridge import (
    MAX_ENTRY_BYTES,
    EventBridgeResultPublisher,
    entry_size,
)
from dtmf_gateway.domain.publishing import Change, publish_ended_calls
from tests.fakes import InMemoryDeadLetters


class Crash(BaseException):
    """Not an Exception: nothing in the product may catch it."""


@dataclass
class ScriptedEvents:
    """PutEvents: each call takes the next fault from `script` (then succeeds): `ok`,
    `entry` (every other entry fails, retryable), `whole` (throttled), `crash` (succeeds, then
    the invocation dies before it can acknowledge). Entries over 256 KB are refused, as AWS
    does. `bus` holds every entry the bus accepted."""

    script: Iterator[str]
    bus: list[dict[str, Any]] = field(default_factory=list)
    crash_pending: bool = False

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        fault = next(self.script, "ok")
        if fault == "whole":
            error = {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}
            raise ClientError(error, "PutEvents")  # type: ignore[arg-type]
        if sum(entry_size(e) for e in Entries) > MAX_ENTRY_BYTES:
            error = {"Error": {"Code": "ValidationException", "Message": "too large"}}
            raise ClientError(error, "PutEvents")  # type: ignore[arg-type]
        results: list[dict[str, Any]] = []
        for n, entry in enumerate(Entries):
            if fault == "entry" and n % 2 == 0:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                self.bus.append(entry)
                results.append({"EventId": f"e{len(self.bus)}"})
        if fault == "crash":
            self.crash_pending = True
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}


class CrashingPublisher(EventBridgeResultPublisher):
    def publish(self, details: Any) -> Any:
        failures = super().publish(details)
        events = cast("ScriptedEvents", self._events)
        if events.crash_pending:
            events.crash_pending = False
            raise Crash
        return failures


def ended_item(n: int, **changes: Any) -> dict[str, Any]:
    item = {
        "record-type": "call",
        "instruction-id": f"i-{n // 3}",
        "call-id": f"c-{n}",
        "caller": "+31201234567",
        "callee": "+31612345678",
        "status": "finished",
        "outcome": "input-received",
        "digits": "4821",
        "result": {"code": 10, "description": "Finished successfully"},
        "metadata": {},
        "queued-at": "2026-11-29T05:15:00.000Z",
        "finished-at": "2026-11-29T05:16:00.000Z",
        **changes,
    }
    return {k: v for k, v in item.items() if v is not None}


def stream_of(items: list[dict[str, Any]]) -> list[Change]:
    queued = {"status": "queued", "outcome": None, "finished-at": None}
    return [
        Change(f"{n:021d}", call_from_item({**i, **queued}), call_from_item(i))
        for n, i in enumerate(items)
    ]


def deliver(
    stream: list[Change], events: ScriptedEvents, batch_size: int = 10
) -> InMemoryDeadLetters:
    """Lambda's stream semantics: batches from a checkpoint; a crashed invocation retries the
    same batch; reported failures move the checkpoint to the first failed record."""
    publisher = CrashingPublisher(events, "bus")  # type: ignore[arg-type]
    dead_letters = InMemoryDeadLetters()
    checkpoint = 0
    for _ in range(1000):
        if checkpoint >= len(stream):
            return dead_letters
        batch = stream[checkpoint : checkpoint + batch_size]
        try:
            report = publish_ended_calls(batch, publisher, dead_letters)
        except Crash:
            continue
        failed = set(report.failed)
        first = next((i for i, c in enumerate(batch) if c.record_id in failed), len(batch))
        checkpoint += first
    raise AssertionError("the stream never drained")


def on_bus(events: ScriptedEvents) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for entry in events.bus:
        seen.setdefault(entry["Resources"][0], set()).add(entry["Detail"])
    return seen


def urn(item: dict[str, Any]) -> str:
    return f"urn:dtmf-gateway:result:{item['instruction-id']}:{item['call-id']}"


FAULTS = ("ok", "entry", "whole", "crash")


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_still_puts_every_result_on_the_bus_with_one_id(fault: str) -> None:
    items = [ended_item(n) for n in range(25)]
    events = ScriptedEvents(iter([fault] * 3))

    deliver(stream_of(items), events)

    seen = on_bus(events)
    assert set(seen) == {urn(i) for i in items}  # at least once each
    assert all(len(details) == 1 for details in seen.values())  # duplicates are identical


@settings(max_examples=60, deadline=None)
@given(
    script=st.lists(st.sampled_from(FAULTS), max_size=30),
    size=st.integers(min_value=1, max_value=40),
    batch_size=st.integers(min_value=1, max_value=50),
    huge=st.sets(st.integers(min_value=0, max_value=39), max_size=4),
)
def test_any_sequence_of_faults_loses_no_result_and_changes_no_id(
    script: list[str], size: int, batch_size: int, huge: set[int]
) -> None:
    big = {"code": 10, "description": "x" * 300_000}
    items = [ended_item(n, result=big if n in huge else None) for n in range(size)]
    events = ScriptedEvents(iter(script))

    dead_letters = deliver(stream_of(items), events, batch_size)

    seen = on_bus(events)
    assert set(seen) == {urn(i) for i in items}
    assert all(len(details) == 1 for details in seen.values())
    assert dead_letters.letters == []
    for entry in events.bus:
        assert entry_size(entry) <= MAX_ENTRY_BYTES


def test_a_300kb_description_is_shortened_and_holds_no_batch_mate() -> None:
    """3b: the entry fits, says what was cut, and its nine batch-mates go with it."""
    items = [ended_item(n) for n in range(10)]
    items[4]["result"] = {"code": 10, "description": "d" * 300_000, "duration": 12}
    events = ScriptedEvents(iter([]))

    deliver(stream_of(items), events)

    seen = on_bus(events)
    assert set(seen) == {urn(i) for i in items}
    [detail] = (json.loads(d) for d in seen[urn(items[4])])
    assert detail["truncated"] == ["/result/description"]
    assert detail["result"]["description"].startswith("ddd")
    assert detail["result"]["duration"] == 12
    assert all(
        "truncated" not in json.loads(d) for u, ds in seen.items() if u != urn(items[4]) for d in ds
    )


def test_an_item_that_makes_no_valid_event_is_set_aside_alone() -> None:
    items = [ended_item(n) for n in range(10)]
    items[3]["callee"] = "0031612345678"  # what a stored echo of CM once was
    items[6]["caller"] = None
    events = ScriptedEvents(iter(["entry"]))

    dead_letters = deliver(stream_of(items), events)

    assert set(on_bus(events)) == {urn(i) for n, i in enumerate(items) if n not in (3, 6)}
    # a retried batch sets its bad records aside again: letters may repeat (re-publishing
    # is idempotent), and none is missing
    assert {(x.call_id, x.record_id) for x in dead_letters.letters} == {
        ("c-3", f"{3:021d}"),
        ("c-6", f"{6:021d}"),
    }
    assert "callee" in dead_letters.letters[0].reason
    assert "0031" not in dead_letters.letters[0].reason


def test_entries_the_bus_refuses_as_invalid_are_set_aside_and_the_rest_published() -> None:
    class Refusing(ScriptedEvents):
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            if len(Entries) > 1:
                error = {"Error": {"Code": "ValidationException", "Message": "bad entry"}}
                raise ClientError(error, "PutEvents")  # type: ignore[arg-type]
            if "c-2" in Entries[0]["Detail"]:
                return {
                    "FailedEntryCount": 1,
                    "Entries": [{"ErrorCode": "MalformedDetail", "ErrorMessage": "no"}],
                }
            return super().put_events(Entries)

    items = [ended_item(n) for n in range(5)]
    events = Refusing(iter([]))

    dead_letters = deliver(stream_of(items), events)

    assert set(on_bus(events)) == {urn(i) for n, i in enumerate(items) if n != 2}
    [letter] = dead_letters.letters
    assert letter.call_id == "c-2"
    assert "MalformedDetail" in letter.reason


def test_when_the_dead_letter_queue_is_down_the_record_is_retried_not_lost() -> None:
    items = [ended_item(0, callee=None), ended_item(1)]
    dead_letters = InMemoryDeadLetters()
    dead_letters.unavailable = True
    publisher = EventBridgeResultPublisher(ScriptedEvents(iter([])), "bus")  # type: ignore[arg-type]

    report = publish_ended_calls(stream_of(items), publisher, dead_letters)

    assert report.failed == [f"{0:021d}"]
    assert report.published == 1


def test_calls_past_their_retention_are_gone_for_the_publisher() -> None:
    """5 (publisher): an ended call whose ttl has passed is never published nor retried."""
    items = [ended_item(0, ttl=1_000_000_000), ended_item(1, ttl=4_000_000_000), ended_item(2)]
    events = ScriptedEvents(iter([]))
    publisher = EventBridgeResultPublisher(events, "bus")  # type: ignore[arg-type]

    report = publish_ended_calls(stream_of(items), publisher, InMemoryDeadLetters())

    assert set(on_bus(events)) == {urn(items[1]), urn(items[2])}
    assert (report.gone, report.failed) == (1, [])
