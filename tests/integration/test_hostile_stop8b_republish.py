"""Hostile review (round 2, stop 8b) of scripts/republish.py's read-back of Lambda's
on-failure records from the calls table's stream (`_stream_keys` / `_read_batch`), as an
operator mid-incident. Each test asserts what an operator or a consumer would notice: a
result lost from the dead-letter queue, a phone number on the screen, a message kept for
ever with a false reason, a result presented as the batch's that was not in it, a run that
never ends.

How DynamoDB Streams and Lambda really behave, as these tests model it:
- The publisher's event source mapping (template.yaml, `CallChanges`) has FilterCriteria:
  only INSERT/MODIFY whose NewImage `status` is finished/expired/scheduled reach the
  function. A batch, and so its on-failure record's start/end sequence numbers, spans the
  shard's records in between that were filtered out (calls' `queued` INSERTs, the
  instructions' own status changes, the `callee#<e164>` quota counters, expiry cursors).
  With `PublishParallelizationFactor` > 1 it also spans other partition keys' records,
  processed by other concurrent batches.
- GetRecords answers LimitExceededException when a shard is read too often (Lambda reads
  the same shard), ExpiredIteratorException 15 minutes after the iterator was got, and
  InternalServerError; none of these says the stream cannot be read.

Fixtures as tests/integration/test_hostile_stop8_republish.py (moto: function_env, bus,
publisher_dlq; botocore's Stubber for the streams client).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REGION
from tests.integration.test_hostile_stop8_republish import (
    CALLEE,
    SEQ,
    _batch,
    _left_on,
    _letter,
    _send,
)
from tests.integration.test_republish import _ended_call, _put, _run, _urns, republish

RECEIVE_SECONDS = 20  # per receive of ten messages
CORRECTION = "urn:dtmf-gateway:result:i-9:c-9:revision:1"


def _stub(
    monkeypatch: pytest.MonkeyPatch,
    pages: list[list[dict[str, Any]] | str],
    *,
    open_shard: bool = False,
    iterator_error: str | None = None,
) -> Any:
    """republish's `dynamodbstreams` client: GetShardIterator, then one GetRecords answer per
    entry of `pages` (a list of records, or an error code for that call); an open shard's
    last page still has a next iterator."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("dynamodbstreams", region_name=REGION)
    stub = Stubber(client)
    if iterator_error:
        stub.add_client_error("get_shard_iterator", iterator_error)
    else:
        stub.add_response("get_shard_iterator", {"ShardIterator": "it-0"})
    for n, records in enumerate(pages):
        if isinstance(records, str):
            stub.add_client_error("get_records", records)
            continue
        page: dict[str, Any] = {"Records": records}
        if n < len(pages) - 1 or open_shard:
            page["NextShardIterator"] = f"it-{n + 1}"
        stub.add_response("get_records", page)
    stub.activate()
    real = republish.boto3.client

    def client_for(service: str, *args: Any, **kwargs: Any) -> Any:
        return client if service == "dynamodbstreams" else real(service, *args, **kwargs)

    monkeypatch.setattr(republish.boto3, "client", client_for)
    return stub


def _change(
    sequence: int | str, pk: str, sk: str, status: str | None = None, event: str = "MODIFY"
) -> dict[str, Any]:
    """A stream record as GetRecords returns it (NEW_AND_OLD_IMAGES); `sequence` is added
    to SEQ unless given whole as text."""
    change: dict[str, Any] = {
        "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
        "SequenceNumber": sequence if isinstance(sequence, str) else str(SEQ + sequence),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if status is not None:
        change["NewImage"] = {"pk": {"S": pk}, "sk": {"S": sk}, "status": {"S": status}}
    return {"eventName": event, "dynamodb": change}


def _on_failure(first: int, last: int, size: int) -> dict[str, Any]:
    record = _batch(minutes_ago=1, first=first, last=last)
    record["DDBStreamBatchInfo"]["batchSize"] = size
    return record


# ------------------------------------------------------------------ records the batch never had


def test_a_quota_counter_in_the_batchs_range_prints_no_phone_number(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every placement bumps the callee's hourly counter (`callee#<e164>`, calls_table.py).
    Its MODIFY lies in the shard between the batch's records (filtered out of the batch by
    the event source mapping). republish takes every record in the range for the batch's and
    prints `PROBLEM ... its batch holds a change of callee#+31612345678 (a DTMF Call Not
    Placed)`: the callee's number on the operator's screen (and in any terminal log or
    ticket it is pasted into), even when that instruction's personal data was erased."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=3, size=1))
    _stub(
        monkeypatch,
        [
            [
                _change(1, "instruction#i-9", "call#c-9", "queued", event="INSERT"),
                _change(2, f"callee#{CALLEE}", "hour#2026120101"),
                _change(3, "instruction#i-9", "call#c-9", "finished"),
            ]
        ],
    )

    _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    out = capsys.readouterr().out
    for personal in (CALLEE, CALLEE.lstrip("+")):
        assert personal not in out, f"the callee's number was printed:\n{out}"


def test_an_instructions_own_status_change_in_the_range_is_no_not_placed_event(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A placement writes its instruction (`status` queued) between its calls' changes; the
    filter keeps it out of the batch (only `scheduled` instructions reach the publisher).
    republish reads it back as 'a DTMF Call Not Placed', reports a PROBLEM, exits 1 and keeps
    the record, on every run, for ever: the operator is told to chase a not-placed event
    that never existed, and the alarm never clears. The batch (one finished call) was
    published whole: the record should be deleted."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=3, size=1))
    _stub(
        monkeypatch,
        [
            [
                _change(1, "instruction#i-9", "call#c-9", "queued", event="INSERT"),
                _change(2, "instruction#i-9", "instruction", "queued"),
                _change(3, "instruction#i-9", "call#c-9", "finished"),
            ]
        ],
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    out = capsys.readouterr().out
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]
    assert "Not Placed" not in out, out
    assert code == 0
    assert _left_on(bus, publisher_dlq) == 0


def test_a_call_whose_queued_insert_lies_in_the_range_is_not_published_as_the_batchs(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Call c-3's INSERT (`queued`, filtered out) lies between the batch's records; its
    result came later, in another batch that reached the bus. republish names it as the
    failed batch's and publishes it again (a repeat to every consumer, presented as a lost
    result). With PublishParallelizationFactor > 1 the range also holds other partition
    keys' records, handled by other concurrent batches. The batch had one record: c-9."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _put(function_env, _ended_call(3, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=2, size=1))
    _stub(
        monkeypatch,
        [
            [
                _change(1, "instruction#i-3", "call#c-3", "queued", event="INSERT"),
                _change(2, "instruction#i-9", "call#c-9", "finished"),
            ]
        ],
    )

    _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]


# ------------------------------------------------------------------ a passing error is no trim


@pytest.mark.parametrize(
    ("pages", "iterator_error"),
    [
        (["LimitExceededException"], None),  # Lambda reads the same shard
        (
            [[_change(1, "instruction#i-8", "call#c-8", "finished")], "ExpiredIteratorException"],
            None,
        ),
        (["InternalServerError"], None),
        ([], "InternalServerError"),
    ],
    ids=["throttled", "iterator-expired", "server-error", "server-error-on-iterator"],
)
def test_a_passing_stream_error_does_not_delete_a_batch_with_an_unpublished_correction(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    pages: list[list[dict[str, Any]] | str],
    iterator_error: str | None,
) -> None:
    """The batch: a correction of c-9 (scripts/rederive.py, `finished-at` two days old) and
    c-8. The stream is within its 24 hours and readable, but one request fails with an error
    that passes (throttled by the shard's read limit, which Lambda's own reader shares; an
    iterator past its 15 minutes; a server error; botocore's own retries of the throttle
    and the 5xx spent). republish treats that like a trimmed
    stream and matches by time; the window is busy (c-7 ended too), so it finds 2 calls for
    a batch of 2, publishes c-8 and c-7, exits 0 and deletes the record: the correction is
    never published and nothing says so. docs/operations.md gives the time fallback for a
    stream that cannot be read (older than 24 h, no access), not for a throttled read."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _put(function_env, _ended_call(8, minutes_ago=1))
    _put(function_env, _ended_call(7, minutes_ago=2))  # a busy window: not in the batch
    _send(bus, publisher_dlq, _on_failure(first=1, last=2, size=2))
    _stub(monkeypatch, pages, iterator_error=iterator_error)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    published = CORRECTION in _urns(bus.received())
    kept = _left_on(bus, publisher_dlq) == 1 and code != 0
    assert published or kept, "the correction was neither published nor kept on the DLQ"


def test_an_on_failure_record_without_its_batch_size_is_not_deleted_unread(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trimmed stream and an on-failure record without `batchSize` (hand-made, or cut by a
    redrive tool): the time match finds nothing, `0 < 0` is false, and the record is deleted
    with `published 0 event(s)`, exit 0: the batch is gone unread."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    record = _on_failure(first=1, last=2, size=2)
    del record["DDBStreamBatchInfo"]["batchSize"]
    _send(bus, publisher_dlq, record)
    _stub(monkeypatch, [], iterator_error="TrimmedDataAccessException")

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code != 0
    assert _left_on(bus, publisher_dlq) == 1


# ------------------------------------------------------------------ a run that ends


class _SlowQueue:
    """SQS as it behaves for a run that takes time: a received message is hidden for its
    VisibilityTimeout, then visible again with a new receipt handle. Each receive costs
    `seconds` of the run's time (the previous ten messages' work: fifty consistent reads and
    erasure reads per on-failure record, a table scan for each trimmed one). Gives up (answers
    empty) after `cap` receives, so that a run that would never end does end here."""

    def __init__(self, bodies: list[str], seconds: float, cap: int) -> None:
        self.clock = 0.0
        self.seconds = seconds
        self.cap = cap
        self.receives = 0
        self.reads: dict[str, int] = {}
        self.visible_at = {f"m-{n}": 0.0 for n in range(len(bodies))}
        self.bodies = dict(zip(self.visible_at, bodies, strict=True))
        self.handles: dict[str, str] = {}

    def receive_message(self, *, VisibilityTimeout: int, **_: Any) -> dict[str, Any]:
        self.receives += 1
        if self.receives > self.cap:
            return {}
        self.clock += self.seconds
        due = [m for m, at in self.visible_at.items() if at <= self.clock][:10]
        messages = []
        for message_id in due:
            self.visible_at[message_id] = self.clock + VisibilityTimeout
            self.reads[message_id] = self.reads.get(message_id, 0) + 1
            handle = f"{message_id}/{self.reads[message_id]}"
            self.handles[handle] = message_id
            body = self.bodies[message_id]
            messages.append({"MessageId": message_id, "ReceiptHandle": handle, "Body": body})
        return {"Messages": messages}

    def delete_message(self, *, ReceiptHandle: str, **_: Any) -> None:
        self.visible_at.pop(self.handles[ReceiptHandle], None)

    def change_message_visibility(self, *, ReceiptHandle: str, **_: Any) -> None:
        message_id = self.handles[ReceiptHandle]
        if message_id in self.visible_at:
            self.visible_at[message_id] = self.clock


def test_a_dlq_that_takes_longer_than_the_hiding_time_to_read_is_read_once(
    function_env: Any, bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an hour-long bus outage the DLQ holds hundreds of messages. A run hides each
    for HIDDEN_SECONDS (300 s) and reads on until a receive comes back empty; when reading
    the whole queue takes longer than that (here 200 messages at 2 s each), the first ones
    are visible again before the last are read, so a receive is never empty: the run reads
    the queue round and round, never gets to publish anything (publishing comes after the
    planning), and never ends. Each message should be read once per run."""
    import json

    queue = _SlowQueue(
        [json.dumps(_letter(n)) for n in range(200)], seconds=RECEIVE_SECONDS, cap=200
    )
    real = republish.boto3.client
    monkeypatch.setattr(
        republish.boto3,
        "client",
        lambda service, *a, **k: queue if service == "sqs" else real(service, *a, **k),
    )

    _run(function_env, bus, "dlq", queue_url="https://sqs.local/000000000000/dlq")

    assert queue.receives <= queue.cap, "the run never came to an end (stopped by the test)"
    assert max(queue.reads.values()) == 1, "messages were read again in the same run"


# ------------------------------------------------------------------ guards that held


def test_sequence_numbers_are_compared_as_numbers_across_a_digit_boundary(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: a batch from 999999999999999999999 (21 digits) to 1000000000000000000001 (22):
    as text the end is 'smaller' than the start. Both records are read and published, the
    one after the batch is not."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _put(function_env, _ended_call(8, minutes_ago=1))
    _put(function_env, _ended_call(7, minutes_ago=1))
    record = _on_failure(first=1, last=2, size=2)
    record["DDBStreamBatchInfo"].update(
        startSequenceNumber="999999999999999999999", endSequenceNumber="1000000000000000000001"
    )
    _send(bus, publisher_dlq, record)
    stub = _stub(
        monkeypatch,
        [
            [
                _change("999999999999999999999", "instruction#i-9", "call#c-9", "finished"),
                _change("1000000000000000000001", "instruction#i-8", "call#c-8", "finished"),
                _change("1000000000000000000002", "instruction#i-7", "call#c-7", "finished"),
            ]
        ],
        open_shard=True,
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    stub.assert_no_pending_responses()
    assert code == 0
    assert _urns(bus.received()) == [
        "urn:dtmf-gateway:result:i-8:c-8",
        "urn:dtmf-gateway:result:i-9:c-9",
    ]
    assert _left_on(bus, publisher_dlq) == 0


def test_empty_pages_on_an_open_shard_are_paged_through_to_the_batch(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: GetRecords may answer empty pages before the records ('it might take multiple
    calls to get to a portion of the shard that contains stream records', API reference);
    a few of them are paged through and the batch is read whole."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _send(bus, publisher_dlq, _on_failure(first=1, last=1, size=1))
    _stub(
        monkeypatch,
        [[], [], [], [_change(1, "instruction#i-9", "call#c-9", "finished")]],
        open_shard=True,
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 0
    assert _urns(bus.received()) == [CORRECTION]
    assert _left_on(bus, publisher_dlq) == 0


def test_a_stream_that_never_reaches_the_batch_is_read_a_bounded_time_and_kept(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Guard: an open shard answering nothing but empty pages is read at most STREAM_PAGES
    times (no endless read); the stream was readable, so the batch is not matched by time
    (a busy window could pass for it): kept, reported, exit 1, and visible again."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _send(bus, publisher_dlq, _on_failure(first=1, last=1, size=1))
    stub = _stub(monkeypatch, [[] for _ in range(republish.STREAM_PAGES)], open_shard=True)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    stub.assert_no_pending_responses()
    assert code == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "matched by time" not in out, out
    assert bus.received() == []
    assert _left_on(bus, publisher_dlq) == 1


def test_a_malformed_stream_answer_is_reported_not_a_traceback(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Guard: an on-failure record whose sequence numbers are not numbers: reported, kept."""
    record = _on_failure(first=1, last=1, size=1)
    record["DDBStreamBatchInfo"]["startSequenceNumber"] = "not-a-number"
    _send(bus, publisher_dlq, record)
    _stub(monkeypatch, [])

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 1
    assert "PROBLEM" in capsys.readouterr().out
    assert _left_on(bus, publisher_dlq) == 1


# ------------------------------------------------------------------ added with the fixes


def test_a_scheduled_instructions_change_that_ended_no_callee_unplaced_is_no_problem(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled instruction's change passes the filter (its status is `scheduled`) but
    published nothing unless a callee ended unplaced in it (a redial moved on, a callee was
    dialled): the batch's call is published and the record deleted, not kept for ever."""
    from dtmf_gateway.adapters.dynamodb.calls_table import to_item

    waiting = {"status": "scheduled", "scheduled-for": "2026-12-02T09:00:00.000Z"}
    instruction = {
        "pk": "instruction#i-7",
        "sk": "instruction",
        "instruction-id": "i-7",
        "status": "scheduled",
        "created-at": "2026-12-01T00:00:00.000Z",
        "destinations": [CALLEE],
    }
    moved = _change(2, "instruction#i-7", "instruction")
    moved["dynamodb"]["NewImage"] = to_item({**instruction, "schedule": {"0": waiting}})
    moved["dynamodb"]["OldImage"] = to_item(
        {**instruction, "schedule": {"0": {**waiting, "scheduled-for": "2026-12-01T09:00Z"}}}
    )
    _put(function_env, _ended_call(9, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=2, size=2))
    _stub(monkeypatch, [[_change(1, "instruction#i-9", "call#c-9", "finished"), moved]])

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 0
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]
    assert _left_on(bus, publisher_dlq) == 0


class _NewestHandleQueue(_SlowQueue):
    """DeleteMessage takes only a message's newest receipt handle (SQS: 'you must provide
    the most recently received receipt handle')."""

    def delete_message(self, *, ReceiptHandle: str, **_: Any) -> None:
        message_id = self.handles[ReceiptHandle]
        assert ReceiptHandle == f"{message_id}/{self.reads[message_id]}", "an old handle"
        super().delete_message(ReceiptHandle=ReceiptHandle)


def test_a_message_received_again_in_a_run_is_published_once_and_deleted_by_its_new_handle(
    function_env: Any,
    bus: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A slow run (each receive 200 s: trimmed streams' table scans) sees its first messages
    come back after the hiding time: each is planned and published once, deleted with the
    handle it came back with, and the run stops at a receive of nothing new, saying to run
    again; the next run reads the rest."""
    import json

    for n in range(25):
        _put(function_env, _ended_call(n, minutes_ago=1))
    queue = _NewestHandleQueue([json.dumps(_letter(n)) for n in range(25)], seconds=200, cap=50)
    real = republish.boto3.client
    monkeypatch.setattr(
        republish.boto3,
        "client",
        lambda service, *a, **k: queue if service == "sqs" else real(service, *a, **k),
    )

    first = _run(function_env, bus, "--apply", "dlq", queue_url="https://sqs.local/0/dlq")
    out = capsys.readouterr().out
    urns = _urns(bus.received())
    second = _run(function_env, bus, "--apply", "dlq", queue_url="https://sqs.local/0/dlq")

    assert (first, second) == (0, 0)
    assert max(queue.reads.values()) > 1  # the slow run did see messages come back
    assert len(urns) == len(set(urns)) == 20
    assert "run again" in out
    assert len(urns) + len(_urns(bus.received())) == 25
    assert queue.visible_at == {}  # every message deleted
    assert queue.receives < queue.cap


def test_max_messages_bounds_a_run_and_says_to_run_again(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--max-messages 3` on a queue of five: three are read and published, the run says
    more may be waiting, and the next run publishes the other two."""
    for n in range(5):
        _put(function_env, _ended_call(n, minutes_ago=1))
        _send(bus, publisher_dlq, _letter(n))

    first = _run(
        function_env, bus, "--apply", "dlq", "--max-messages", "3", queue_url=publisher_dlq
    )
    out = capsys.readouterr().out
    published = len(_urns(bus.received()))
    second = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert (first, second) == (0, 0)
    assert published == 3
    assert len(_urns(bus.received())) == 2  # the bus capture drains: the other two
    assert "run again" in out
    assert _left_on(bus, publisher_dlq) == 0


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_max_messages_below_one_is_refused(value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        republish.main(
            ["--table", "t", "--bus", "b", "--queue-url", "q", "dlq", "--max-messages", value]
        )
    assert exit_.value.code == 2
