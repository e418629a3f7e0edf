"""scripts/republish.py on moto: from the publisher's DLQ (its own letters and Lambda's
on-failure records) and from the table for a time range; dry run by default; idempotent."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dtmf_gateway.adapters.dynamodb.calls_table import to_item
from dtmf_gateway.domain.calls import iso

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("republish", ROOT / "scripts" / "republish.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["republish"] = module
    spec.loader.exec_module(module)
    return module


republish = _script()


def _put(aws: Any, item: dict[str, Any]) -> None:
    aws.dynamodb.put_item(TableName=aws.table_name, Item=to_item(item))


def _ended_call(n: int, *, minutes_ago: int, **changes: Any) -> dict[str, Any]:
    finished = NOW - timedelta(minutes=minutes_ago)
    return {
        "pk": f"instruction#i-{n}",
        "sk": f"call#c-{n}",
        "record-type": "call",
        "instruction-id": f"i-{n}",
        "call-id": f"c-{n}",
        "caller": "+31201234567",
        "callee": "+31612345678",
        "status": "finished",
        "outcome": "input-received",
        "digits": "4821",
        "result": {"code": 10, "description": "Finished successfully"},
        "metadata": {},
        "queued-at": iso(finished - timedelta(minutes=1)),
        "finished-at": iso(finished),
        "ttl": int((NOW + timedelta(days=30)).timestamp()),
        **changes,
    }


def _instruction(n: int, callees: list[str]) -> dict[str, Any]:
    return {
        "pk": f"instruction#i-{n}",
        "sk": "instruction",
        "record-type": "instruction",
        "instruction-id": f"i-{n}",
        "owner": "arn:aws:iam::123456789012:user/t",
        "caller": "+31201234567",
        "destinations": callees,
        "status": "placing",
        "created-at": iso(NOW - timedelta(hours=1)),
    }


@pytest.fixture
def stored(function_env: Any) -> Any:
    _put(function_env, _ended_call(1, minutes_ago=30))
    # stored before callees were normalised: repaired from the instruction
    _put(function_env, _instruction(2, ["+31612345678"]))
    _put(function_env, _ended_call(2, minutes_ago=30, callee="0031612345678"))
    _put(function_env, _ended_call(3, minutes_ago=30, ttl=int(NOW.timestamp()) - 60))  # gone
    _put(function_env, _ended_call(4, minutes_ago=600))  # outside the range
    return function_env


def _run(aws: Any, bus: Any, *args: str, queue_url: str = "") -> int:
    extra = ["--queue-url", queue_url] if queue_url else []
    code: int = republish.main(["--table", aws.table_name, "--bus", bus.name, *extra, *args])
    return code


def _urns(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["resources"][0] for e in events)


def _range() -> list[str]:
    since = iso(NOW - timedelta(hours=1))
    return ["range", "--since", since, "--until", iso(NOW)]


def test_a_time_range_is_a_dry_run_unless_applied(stored: Any, bus: Any) -> None:
    assert _run(stored, bus, *_range()) == 0
    assert bus.received() == []

    assert _run(stored, bus, "--apply", *_range()) == 0

    events = bus.received()
    assert _urns(events) == [
        "urn:dtmf-gateway:result:i-1:c-1",
        "urn:dtmf-gateway:result:i-2:c-2",
    ]
    assert {e["detail"]["callee"] for e in events} == {"+31612345678"}


@pytest.mark.parametrize("where", ["before", "after"])
def test_apply_is_taken_before_or_after_the_source(stored: Any, bus: Any, where: str) -> None:
    """README and docs/operations.md show both `--apply dlq` and `dlq --apply`."""
    args = ["--apply", *_range()] if where == "before" else [*_range(), "--apply"]

    assert _run(stored, bus, *args) == 0

    assert len(bus.received()) == 2


def test_republishing_twice_sends_the_same_events(stored: Any, bus: Any) -> None:
    _run(stored, bus, "--apply", *_range())
    first = sorted(json.dumps(e["detail"], sort_keys=True) for e in bus.received())
    _run(stored, bus, "--apply", *_range())
    second = sorted(json.dumps(e["detail"], sort_keys=True) for e in bus.received())

    assert first == second


def test_the_dead_letter_queue_both_kinds_then_emptied(
    stored: Any, bus: Any, publisher_dlq: str
) -> None:
    letter = {
        "kind": "dtmf-gateway/set-aside",
        "instruction-id": "i-2",
        "call-id": "c-2",
        "stream-record": "1",
        "reason": "invalid event: callee: string_pattern_mismatch",
        "set-aside-at": iso(NOW),
    }
    arrival = (NOW - timedelta(minutes=600)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    on_failure = {
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": "1",
            "endSequenceNumber": "2",
            "approximateArrivalOfFirstRecord": arrival,
            "approximateArrivalOfLastRecord": arrival,
            # one record per ended call: the time range holds c-4 alone (a batch of more
            # records than the range holds calls is kept, test_hostile_stop8_republish)
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x",
        },
    }
    for body in (letter, on_failure):
        bus.sqs.send_message(QueueUrl=publisher_dlq, MessageBody=json.dumps(body))

    assert _run(stored, bus, "dlq", queue_url=publisher_dlq) == 0  # dry run
    assert bus.received() == []
    assert _run(stored, bus, "--apply", "dlq", queue_url=publisher_dlq) == 0

    assert _urns(bus.received()) == [
        "urn:dtmf-gateway:result:i-2:c-2",
        "urn:dtmf-gateway:result:i-4:c-4",
    ]
    left = bus.sqs.receive_message(QueueUrl=publisher_dlq, MaxNumberOfMessages=10)
    assert left.get("Messages", []) == []


def test_a_letter_that_still_makes_no_event_is_reported_and_kept(
    function_env: Any, bus: Any, publisher_dlq: str
) -> None:
    _put(function_env, _ended_call(5, minutes_ago=5, caller=None))
    letter = {"kind": "dtmf-gateway/set-aside", "instruction-id": "i-5", "call-id": "c-5"}
    bus.sqs.send_message(QueueUrl=publisher_dlq, MessageBody=json.dumps(letter))

    assert _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq) == 1

    assert bus.received() == []
    attributes = bus.sqs.get_queue_attributes(
        QueueUrl=publisher_dlq,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert sum(int(v) for v in attributes.values()) == 1  # kept, not deleted


def test_the_dry_run_names_a_correction_by_the_resources_id_it_is_published_under(
    function_env: Any, bus: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _put(function_env, _ended_call(5, minutes_ago=30, revision=2, corrects="rederived"))

    assert _run(function_env, bus, *_range()) == 0
    printed = capsys.readouterr().out
    _run(function_env, bus, "--apply", *_range())

    [urn] = _urns(bus.received())
    assert urn == "urn:dtmf-gateway:result:i-5:c-5:revision:2"
    assert f"would     {urn}\n" in printed


@pytest.mark.parametrize("source", ["range", "dlq"])
def test_a_call_still_holding_personal_data_of_an_erased_instruction_is_republished_without_it(
    function_env: Any, bus: Any, publisher_dlq: str, source: str
) -> None:
    """A call item can still hold the numbers and digits after its instruction was erased:
    the placement scrubs the calls it writes only once it finds the erasure's mark, a
    callback that read the instruction before the erasure writes the digits (see
    domain.erased_results). The publisher reads the instruction's mark before it publishes;
    the operator's re-publish must too, or it brings the personal data back onto the bus."""
    erased_at = iso(NOW - timedelta(minutes=1))
    _put(function_env, {**_instruction(6, []), "erased-at": erased_at, "status": "queued"})
    _put(function_env, _ended_call(6, minutes_ago=30, metadata={"order-id": "o-981"}))
    args = [*_range(), "--apply"]
    if source == "dlq":
        letter = {"kind": "dtmf-gateway/set-aside", "instruction-id": "i-6", "call-id": "c-6"}
        bus.sqs.send_message(QueueUrl=publisher_dlq, MessageBody=json.dumps(letter))
        args = ["--apply", "dlq"]

    assert _run(function_env, bus, *args, queue_url=publisher_dlq) == 0

    [event] = bus.received()
    text = json.dumps(event)
    for personal in ("+31612345678", "+31201234567", "4821", "o-981"):
        assert personal not in text
    assert event["detail"]["erased-at"] == erased_at
    assert event["resources"] == ["urn:dtmf-gateway:result:i-6:c-6"]
