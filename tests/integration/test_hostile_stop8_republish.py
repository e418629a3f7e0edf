"""Hostile review (round 2, stop 8) of scripts/republish.py: as an operator mid-incident and
as a newcomer. Each test asserts what an operator or a consumer would notice: a result lost
from the dead-letter queue, personal data of an erased instruction on the bus or the screen,
an event the publisher would not send, a traceback instead of a report.

Fixtures as tests/integration/test_republish.py (moto: function_env, bus, publisher_dlq).
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest

from devtools.lambdas import LambdaContext
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dead_letters import SET_ASIDE_KIND
from dtmf_gateway.domain.calls import iso
from tests.conftest import REGION
from tests.integration.test_republish import (
    NOW,
    _ended_call,
    _instruction,
    _put,
    _range,
    _run,
    _urns,
    republish,
)

CALLER = "+31201234567"
CALLEE = "+31612345678"
DIGITS = "4821"
# what a call of an erased instruction must never carry onto the bus or the screen
PERSONAL = (CALLER, CALLEE, "31612345678", "0612345678", DIGITS, "o-981", "Jan de Vries")


def _letter(n: int | str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "kind": SET_ASIDE_KIND,
        "instruction-id": f"i-{n}",
        "call-id": call_id or f"c-{n}",
        "stream-record": "1",
        "reason": "invalid event: callee: string_pattern_mismatch",
        "set-aside-at": iso(NOW),
    }


def _on_failure(minutes_ago: int) -> dict[str, Any]:
    arrival = (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": "1",
            "endSequenceNumber": "2",
            "approximateArrivalOfFirstRecord": arrival,
            "approximateArrivalOfLastRecord": arrival,
            "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x",
        },
    }


def _send(bus: Any, queue: str, *bodies: Any) -> None:
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        bus.sqs.send_message(QueueUrl=queue, MessageBody=text)


def _left_on(bus: Any, queue: str) -> int:
    """Messages still on the queue, visible or hidden (not deleted)."""
    attributes = bus.sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def _visible_on(bus: Any, queue: str) -> int:
    attributes = bus.sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _erased_instruction(n: int, callees: int = 1) -> dict[str, Any]:
    """An instruction as DELETE .../personal-data leaves it: callees nulled, no caller."""
    item = {
        **_instruction(n, [None] * callees),  # type: ignore[list-item]
        "erased-at": iso(NOW - timedelta(minutes=1)),
        "status": "queued",
        "call-ids": [f"c-{n}"],
    }
    del item["caller"]
    return item


def _holding(n: int, **changes: Any) -> dict[str, Any]:
    """An ended call of instruction i-<n> still holding every kind of personal data."""
    body = json.dumps({"digits": DIGITS, "callee": CALLEE, "name": "Jan de Vries"})
    return _ended_call(
        n, minutes_ago=30, metadata={"order-id": "o-981"}, **{"callback-body": body, **changes}
    )


# ------------------------------------------------------------------ nothing lost from the DLQ


def test_an_on_failure_record_of_a_rederived_correction_is_republished_or_kept(
    function_env: Any, bus: Any, publisher_dlq: str
) -> None:
    """scripts/rederive.py corrects calls that ended days ago and keeps their `finished-at`
    (domain.callbacks: `finished_at=call.finished_at`). When that correction's stream batch
    fails, Lambda's on-failure record carries the stream's arrival (now); republish reads
    it as `finished-at` in arrival ±5 minutes, finds nothing, says `published 0 event(s)`,
    exits 0 and deletes the record: the correction is never published and nothing says so."""
    _put(
        function_env,
        _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"),
    )
    _send(bus, publisher_dlq, _on_failure(minutes_ago=1))

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    published = "urn:dtmf-gateway:result:i-9:c-9:revision:1" in _urns(bus.received())
    kept = _left_on(bus, publisher_dlq) == 1 and code != 0
    assert published or kept, "the correction was neither published nor kept on the DLQ"


def test_an_on_failure_record_whose_call_makes_no_event_is_kept(
    function_env: Any, bus: Any, publisher_dlq: str
) -> None:
    """docs/operations.md: 'a message whose call still makes no valid event is reported
    (`PROBLEM`) and kept'. For Lambda's on-failure records the PROBLEM is printed but the
    record is deleted: after fixing the item, `dlq` again finds nothing to do."""
    _put(function_env, _ended_call(8, minutes_ago=1, caller=None))
    _send(bus, publisher_dlq, _on_failure(minutes_ago=1))

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 1
    assert bus.received() == []
    assert _left_on(bus, publisher_dlq) == 1, "the on-failure record was deleted"


def test_a_set_aside_call_not_placed_letter_is_not_deleted_as_not_stored(
    function_env: Any, bus: Any, publisher_dlq: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The publisher also sets aside `DTMF Call Not Placed` events it cannot publish
    (domain.publishing._unplaced_letter: call-id `(not placed)`). republish reads the letter
    as a call that is 'not stored (deleted or never written)', publishes nothing, exits 0 and
    deletes it: the letter (the only trace of the unpublished event) is gone. It should be
    reported and kept (republish cannot build that event)."""
    _put(function_env, _instruction(7, [CALLEE]))
    _send(bus, publisher_dlq, _letter(7, "(not placed)"))

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert "PROBLEM" in capsys.readouterr().out
    assert code == 1
    assert _left_on(bus, publisher_dlq) == 1, "the not-placed letter was deleted"


# ------------------------------------------------------------------ a report, not a traceback


@pytest.mark.parametrize(
    "body",
    [
        "hello from the console",  # someone's `aws sqs send-message` test
        "[1, 2]",
        json.dumps({"kind": SET_ASIDE_KIND, "instruction-id": "i-1"}),  # no call-id
    ],
    ids=["not-json", "a-list", "letter-without-call-id"],
)
def test_a_message_it_cannot_read_is_reported_and_the_rest_published(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    capsys: pytest.CaptureFixture[str],
    body: str,
) -> None:
    """One stray message on the DLQ must not stop the run with a traceback: the others are
    published, the stray one reported (`PROBLEM ... not understood`) and kept, exit 1."""
    _put(function_env, _ended_call(1, minutes_ago=30))
    _send(bus, publisher_dlq, body, _letter(1))

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 1
    assert "PROBLEM" in capsys.readouterr().out
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-1:c-1"]
    assert _left_on(bus, publisher_dlq) == 1


def test_a_dry_run_that_meets_a_stray_message_leaves_the_queue_visible(
    function_env: Any, bus: Any, publisher_dlq: str
) -> None:
    """A dry run hides every message it reads for 5 minutes and shows them again at the end;
    when it stops on a message it cannot read, the letters it read before stay hidden and the
    operator's next `dlq` (or the console) sees an empty queue mid-incident."""
    _put(function_env, _ended_call(1, minutes_ago=30))
    _send(bus, publisher_dlq, _letter(1))
    _send(bus, publisher_dlq, "hello from the console")

    with contextlib.suppress(Exception):  # the crash itself is the test above's finding
        _run(function_env, bus, "dlq", queue_url=publisher_dlq)

    assert _visible_on(bus, publisher_dlq) == 2


def test_a_call_needing_repair_with_a_key_claim_at_its_instruction_slot_is_reported(
    function_env: Any, bus: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key claim (`record-type` `key-claim`, calls_table) sits at the slot of an instruction
    `k-<32 hex>`; the publisher's erasure read treats it as not an instruction. republish's
    callee repair reads it as one (`instruction_from_item`) and dies on its missing `status`
    (KeyError): the run's other results are not published either."""
    slot = "k-" + "ab" * 16
    claim = {
        "pk": f"instruction#{slot}",
        "sk": "instruction",
        "record-type": "key-claim",
        "instruction-id": "i-explicit",
        "owner": "arn:aws:iam::123456789012:user/t",
        "idempotency-key": "key-1",
        "body-hash": "0" * 64,
        "ttl": int((NOW + timedelta(hours=24)).timestamp()),
    }
    _put(function_env, claim)
    stale = _ended_call(1, minutes_ago=30, callee="0031612345678")  # needs the repair
    _put(
        function_env,
        {**stale, "pk": f"instruction#{slot}", "instruction-id": slot, "call-id": "c-k"},
    )
    _put(function_env, _ended_call(2, minutes_ago=30))

    code = _run(function_env, bus, "--apply", *_range())

    assert code == 1
    out = capsys.readouterr().out
    assert f"PROBLEM  {slot}/c-k" in out
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-2:c-2"]


# ------------------------------------------------------------------ erased: as the publisher


def _erased_world(aws: Any) -> None:
    """An erased instruction with three callees whose calls still hold their numbers and
    digits (the erasure raced the placement's recording and a callback), one of them a
    correction (`revision` 2), one in verify mode, one stored before callees were
    normalised (`0031…`)."""
    _put(aws, _erased_instruction(6, callees=3))
    base = _holding(6)
    _put(aws, base)
    _put(
        aws,
        {**base, "sk": "call#c-6b", "call-id": "c-6b", "revision": 2, "corrects": "rederived"},
    )
    _put(
        aws,
        {
            **base,
            "sk": "call#c-6c",
            "call-id": "c-6c",
            "callee": "0031612345678",
            "digits-mode": "verify",
            "verified": True,
        },
    )


def test_erased_multi_callee_calls_go_out_exactly_as_the_publisher_sends_them(
    function_env: Any, bus: Any, publish_results: Any
) -> None:
    """Guard: the same items, once through the outbox publisher (stream INSERT of the ended
    calls) and once through `republish range --apply`: the same events, none with personal
    data."""
    stream = StreamReader(function_env.table_name, REGION)
    _erased_world(function_env)
    assert publish_results.handler(stream.next_batch(), LambdaContext()) == {
        "batchItemFailures": []
    }
    by_publisher = bus.received()

    assert _run(function_env, bus, "--apply", *_range()) == 0
    by_republish = bus.received()

    def shape(events: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps([e["resources"], e["detail"]], sort_keys=True) for e in events)

    assert len(by_publisher) == 3
    assert shape(by_republish) == shape(by_publisher)
    text = json.dumps(by_republish)
    for personal in PERSONAL:
        assert personal not in text


def test_erased_calls_in_a_mixed_dlq_batch_go_out_without_personal_data(
    function_env: Any, bus: Any, publisher_dlq: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Guard: letters for an erased call, a correction of it, a healthy call and a call that
    still makes no event, in one run: the erased ones are published without personal data,
    the broken one is reported and kept, the others deleted; nothing printed names a number
    or the digits, in the dry run nor in --apply."""
    _erased_world(function_env)
    _put(function_env, _ended_call(1, minutes_ago=30))
    _put(function_env, _instruction(5, ["+31687654321"]))
    _put(function_env, _ended_call(5, minutes_ago=30, callee="0031699999999"))  # unrepairable
    _send(
        bus,
        publisher_dlq,
        _letter(6),
        _letter(6, "c-6b"),
        _letter(6, "c-6c"),
        _letter(1),
        _letter(5),
    )

    assert _run(function_env, bus, "dlq", queue_url=publisher_dlq) == 1  # dry run
    dry = capsys.readouterr().out
    assert _visible_on(bus, publisher_dlq) == 5
    assert _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq) == 1
    applied = capsys.readouterr().out

    events = bus.received()
    assert _urns(events) == [
        "urn:dtmf-gateway:result:i-1:c-1",
        "urn:dtmf-gateway:result:i-6:c-6",
        "urn:dtmf-gateway:result:i-6:c-6b:revision:2",
        "urn:dtmf-gateway:result:i-6:c-6c",
    ]
    erased = [e for e in events if e["detail"]["instruction-id"] == "i-6"]
    assert all(e["detail"]["erased-at"] for e in erased)
    for personal in PERSONAL:
        assert personal not in json.dumps(erased)
    for personal in (*PERSONAL, "31699999999", "0031699999999", "31687654321"):
        assert personal not in dry
        assert personal not in applied
    assert "PROBLEM  i-5/c-5" in applied
    assert _left_on(bus, publisher_dlq) == 1


def test_a_call_marked_erased_itself_with_its_instruction_gone_is_scrubbed(
    function_env: Any, bus: Any
) -> None:
    """Guard: no instruction item to read (gone before its calls), but the call carries its
    own `erased-at`: it still goes out without the numbers it holds."""
    _put(function_env, _holding(3, **{"erased-at": iso(NOW - timedelta(minutes=2))}))

    assert _run(function_env, bus, "--apply", *_range()) == 0

    [event] = bus.received()
    for personal in PERSONAL:
        assert personal not in json.dumps(event)


# ------------------------------------------------------------------ the operator's next step


def test_a_run_whose_publishing_failed_leaves_the_letters_for_the_next_run(
    function_env: Any, bus: Any, publisher_dlq: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/operations.md: a message is deleted once every event it stands for reached the
    bus. It is not deleted, but an --apply run that failed leaves every message it read
    hidden for 5 minutes (only the dry run shows them again): the operator fixes the cause
    (here a wrong bus name), runs again at once and is told there is nothing to publish."""
    _put(function_env, _ended_call(1, minutes_ago=30))
    _send(bus, publisher_dlq, _letter(1))
    names = ["--table", function_env.table_name, "--bus", "no-such-bus"]
    wrong = republish.main([*names, "--queue-url", publisher_dlq, "--apply", "dlq"])
    assert wrong != 0
    assert "FAILED" in capsys.readouterr().out
    assert bus.received() == []

    assert _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq) == 0

    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-1:c-1"]


def test_a_range_given_backwards_is_refused_not_an_empty_success(
    function_env: Any, bus: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--since` after `--until` (typed the wrong way round mid-incident) scans the whole
    table, finds nothing and says `published 0 event(s)` with exit 0: it should be refused
    (exit 2, as argparse refuses a malformed time)."""
    _put(function_env, _ended_call(1, minutes_ago=30))
    since, until = iso(NOW), iso(NOW - timedelta(hours=1))

    with pytest.raises(SystemExit) as refused:
        _run(function_env, bus, "--apply", "range", "--since", since, "--until", until)

    assert refused.value.code == 2
    assert bus.received() == []


# ------------------------------------------------------------------ the batch, from the stream


SEQ = 300000000000000000000  # DynamoDB stream sequence numbers: 21+ digits
SHARD = "shardId-00000001796000000000-0a1b2c3d"  # as DynamoDB names them (28+ characters)


def _batch(minutes_ago: int, first: int, last: int) -> dict[str, Any]:
    record = _on_failure(minutes_ago)
    record["DDBStreamBatchInfo"].update(
        shardId=SHARD, startSequenceNumber=str(SEQ + first), endSequenceNumber=str(SEQ + last)
    )
    return record


def _streams_stub(
    monkeypatch: pytest.MonkeyPatch, pages: list[list[dict[str, Any]]], *, open_shard: bool = False
) -> Any:
    """republish's `dynamodbstreams` client answering from `pages` (records' keys and
    sequence numbers), as DynamoDB Streams answers GetShardIterator and GetRecords; an open
    shard's last page still has a next iterator (a closed one's has none)."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("dynamodbstreams", region_name=REGION)
    stub = Stubber(client)
    stub.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-0"},
        {
            "StreamArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x",
            "ShardId": SHARD,
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "SequenceNumber": str(SEQ + 1),
        },
    )
    for n, records in enumerate(pages):
        last = n == len(pages) - 1
        page: dict[str, Any] = {"Records": records}
        if not last or open_shard:
            page["NextShardIterator"] = f"it-{n + 1}"
        stub.add_response("get_records", page, {"ShardIterator": f"it-{n}", "Limit": 1000})
    stub.activate()
    real = republish.boto3.client

    def client_for(service: str, *args: Any, **kwargs: Any) -> Any:
        return client if service == "dynamodbstreams" else real(service, *args, **kwargs)

    monkeypatch.setattr(republish.boto3, "client", client_for)
    return stub


def _record(
    sequence: int,
    pk: str,
    sk: str,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A MODIFY as GetRecords returns it; a call's new image ends it (`finished`), so the
    publisher's filter lets it through; an instruction's images as given (plain)."""
    from dtmf_gateway.adapters.dynamodb.calls_table import to_item

    keys = {"pk": pk, "sk": sk}
    change: dict[str, Any] = {
        "Keys": to_item(keys),
        "SequenceNumber": str(SEQ + sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "NewImage": to_item({**keys, **(new or {"status": "finished"})}),
    }
    if old is not None:
        change["OldImage"] = to_item({**keys, **old})
    return {"eventName": "MODIFY", "dynamodb": change}


def _scheduled_instruction(instruction_id: str, callee_status: str) -> dict[str, Any]:
    """A scheduled instruction's plain item, its one callee's schedule in `callee_status`."""
    entry: dict[str, Any] = {"status": callee_status}
    if callee_status == "not-placed":
        entry.update({"reason": "deadline-passed", "ended-at": iso(NOW)})
    return {
        "instruction-id": instruction_id,
        "status": "scheduled",
        "created-at": iso(NOW - timedelta(hours=1)),
        "destinations": [CALLEE],
        "schedule": {"0": entry},
    }


def test_an_on_failure_record_read_back_from_the_stream_publishes_its_correction(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the stream's 24 hours the batch is read back by its shard and sequence numbers:
    the correction whose `finished-at` is two days old is found by its key, published, and
    the record deleted. Records before and after the batch are not the batch's."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _put(function_env, _ended_call(3, minutes_ago=1))  # ended in the window, not in the batch
    _send(bus, publisher_dlq, _batch(minutes_ago=1, first=1, last=2))
    stub = _streams_stub(
        monkeypatch,
        [
            [_record(1, "instruction#i-9", "call#c-9")],
            [_record(3, "instruction#i-3", "call#c-3")],  # after the batch's last
        ],
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    stub.assert_no_pending_responses()
    assert code == 0
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9:revision:1"]
    assert _left_on(bus, publisher_dlq) == 0


def test_an_on_failure_batch_holding_a_not_placed_change_is_kept(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A batch's change of a scheduled instruction that ended a callee unplaced is a `DTMF
    Call Not Placed` this tool cannot re-publish: its calls are published, the record
    reported (by instruction id, never a number) and kept."""
    _put(function_env, _ended_call(9, minutes_ago=30))
    _send(bus, publisher_dlq, _batch(minutes_ago=1, first=1, last=2))
    _streams_stub(
        monkeypatch,
        [
            [
                _record(1, "instruction#i-9", "call#c-9"),
                _record(
                    2,
                    "instruction#i-7",
                    "instruction",
                    new=_scheduled_instruction("i-7", "not-placed"),
                    old=_scheduled_instruction("i-7", "scheduled"),
                ),
            ]
        ],
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "DTMF Call Not Placed of i-7" in out, out
    assert CALLEE not in out
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]
    assert _left_on(bus, publisher_dlq) == 1


def test_a_batch_past_the_streams_24_hours_is_matched_by_time_and_kept_when_short(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The stream keeps 24 hours: an older batch is matched by time, and kept (reported)
    when that finds fewer calls than the batch had records."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("dynamodbstreams", region_name=REGION)
    stub = Stubber(client)
    stub.add_client_error("get_shard_iterator", "TrimmedDataAccessException")
    stub.activate()
    real = republish.boto3.client
    monkeypatch.setattr(
        republish.boto3,
        "client",
        lambda service, *a, **k: client if service == "dynamodbstreams" else real(service, *a, **k),
    )
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _send(bus, publisher_dlq, _batch(minutes_ago=1, first=1, last=1))

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    out = capsys.readouterr().out
    assert code == 1
    assert "TrimmedDataAccessException" in out and "PROBLEM" in out
    assert bus.received() == []
    assert _left_on(bus, publisher_dlq) == 1


def test_a_batch_ending_at_the_shards_newest_record_is_read_whole(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's last record is often the newest on its (open) shard: nothing after it to
    mark the end, and GetRecords then answers empty pages with a next iterator. The batch
    is read whole, not given up on and matched by time (which misses the correction)."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _put(function_env, _ended_call(8, minutes_ago=30))
    _send(bus, publisher_dlq, _batch(minutes_ago=1, first=1, last=2))
    stub = _streams_stub(
        monkeypatch,
        [
            [_record(1, "instruction#i-8", "call#c-8")],
            [_record(2, "instruction#i-9", "call#c-9")],
        ],
        open_shard=True,
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    stub.assert_no_pending_responses()
    assert code == 0
    assert _urns(bus.received()) == [
        "urn:dtmf-gateway:result:i-8:c-8",
        "urn:dtmf-gateway:result:i-9:c-9:revision:1",
    ]
    assert _left_on(bus, publisher_dlq) == 0
