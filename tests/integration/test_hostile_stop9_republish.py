"""Hostile review (round 2, stop 9) of scripts/republish.py after bd8e891: the publisher's
filter applied to an on-failure record's range, passing stream errors kept, and
`dlq --max-messages` reading each message once. As an operator mid-incident and as a hostile
input source. Each failing test says what an operator or a consumer would notice: a result
lost (its message deleted, its event never published), a traceback instead of a report, a
message kept for ever with a false reason.

Fixtures and fakes as tests/integration/test_hostile_stop8b_republish.py (moto for
DynamoDB/EventBridge/SQS; botocore's Stubber for the dynamodbstreams client; fake SQS
queues for what moto does not do).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_hostile_stop8_republish import _left_on, _letter, _send
from tests.integration.test_hostile_stop8b_republish import (
    CORRECTION,
    _change,
    _NewestHandleQueue,
    _on_failure,
    _stub,
)
from tests.integration.test_republish import _ended_call, _put, _run, _urns, republish

QUEUE_URL = "https://sqs.local/000000000000/dlq"


def _use_queue(monkeypatch: pytest.MonkeyPatch, queue: Any) -> None:
    real = republish.boto3.client
    monkeypatch.setattr(
        republish.boto3,
        "client",
        lambda service, *a, **k: queue if service == "sqs" else real(service, *a, **k),
    )


class _OnceQueue:
    """A queue that answers one receive with `messages` as given (ids, handles, bodies as the
    test sets them), then nothing; records deletes and visibility changes."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.pending = [messages]
        self.deleted: list[str] = []
        self.shown: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": self.pending.pop(0)} if self.pending else {}

    def delete_message(self, *, ReceiptHandle: str, **_: Any) -> None:
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, *, ReceiptHandle: str, **_: Any) -> None:
        self.shown.append(ReceiptHandle)


# ------------------------------------------------------------------ the queue


def test_two_messages_without_a_message_id_are_not_taken_for_one(
    function_env: Any, bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two different letters whose receive carries no `MessageId` (a hostile or broken
    SQS-compatible endpoint, a proxy that strips it): both are filed under the id 'None', the
    second is taken for the first 'received again', is never planned, and its receipt
    handle replaces the first's in the delete list. `--apply` publishes c-1 only, exits 0
    and deletes c-2's letter: c-2's result is lost (and c-1's letter stays hidden for 5
    minutes, never shown again)."""
    _put(function_env, _ended_call(1, minutes_ago=1))
    _put(function_env, _ended_call(2, minutes_ago=1))
    queue = _OnceQueue(
        [
            {"ReceiptHandle": "h-1", "Body": json.dumps(_letter(1))},
            {"ReceiptHandle": "h-2", "Body": json.dumps(_letter(2))},
        ]
    )
    _use_queue(monkeypatch, queue)

    _run(function_env, bus, "--apply", "dlq", queue_url=QUEUE_URL)

    published = _urns(bus.received())
    lost = "urn:dtmf-gateway:result:i-2:c-2" not in published and "h-2" in queue.deleted
    assert not lost, f"c-2's letter was deleted, its result never published ({published})"
    assert "h-1" in queue.deleted or "h-1" in queue.shown, "c-1's letter left hidden"


def test_the_same_message_twice_in_one_receive_is_published_once_and_deleted_by_its_newest(
    function_env: Any, bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: SQS's at-least-once delivery hands one message out twice in one receive (two
    receipt handles): it is planned once, published once and deleted with the later handle."""
    _put(function_env, _ended_call(1, minutes_ago=1))
    body = json.dumps(_letter(1))
    queue = _OnceQueue(
        [
            {"MessageId": "m-1", "ReceiptHandle": "m-1/1", "Body": body},
            {"MessageId": "m-1", "ReceiptHandle": "m-1/2", "Body": body},
        ]
    )
    _use_queue(monkeypatch, queue)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=QUEUE_URL)

    assert code == 0
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-1:c-1"]
    assert queue.deleted == ["m-1/2"]
    assert queue.shown == []


class _NewestHandleOnlyQueue(_NewestHandleQueue):
    """ChangeMessageVisibility, like DeleteMessage, acts on the newest receipt handle only."""

    def change_message_visibility(self, *, ReceiptHandle: str, **_: Any) -> None:
        message_id = self.handles[ReceiptHandle]
        assert ReceiptHandle == f"{message_id}/{self.reads[message_id]}", "an old handle"
        super().change_message_visibility(ReceiptHandle=ReceiptHandle)


def test_a_slow_dry_run_shows_every_message_again_by_its_newest_handle(
    function_env: Any, bus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: a slow dry run (each receive 200 s) sees its first messages come back; at its
    end every message it read is made visible again with the handle it last came with, so
    the operator's next run (or the console) sees the whole queue at once."""
    for n in range(25):
        _put(function_env, _ended_call(n, minutes_ago=1))
    queue = _NewestHandleOnlyQueue([json.dumps(_letter(n)) for n in range(25)], 200, 50)
    _use_queue(monkeypatch, queue)

    code = _run(function_env, bus, "dlq", queue_url=QUEUE_URL)

    assert code == 0
    assert max(queue.reads.values()) > 1
    assert bus.received() == []
    assert all(queue.visible_at[m] <= queue.clock for m in queue.reads), "a message left hidden"


def test_a_failed_publish_after_re_receipts_keeps_only_its_message_and_shows_it_again(
    function_env: Any, bus: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Guard (changed with the fix of the reviewer's "one refused event holds every message"
    note): `--apply` on a slow run whose first messages came back, one event refused by the
    bus: the failure is printed, exit 1, the message standing for that event is kept and made
    visible again by its newest handle, and the others it read (whose events reached the bus)
    are deleted, so the next run does not publish them again."""
    from dtmf_gateway.domain.ports import PublishFailure

    for n in range(25):
        _put(function_env, _ended_call(n, minutes_ago=1))
    queue = _NewestHandleOnlyQueue([json.dumps(_letter(n)) for n in range(25)], 200, 50)
    _use_queue(monkeypatch, queue)
    monkeypatch.setattr(
        republish.EventBridgeResultPublisher,
        "publish",
        lambda *_: [PublishFailure(0, "InternalFailure", permanent=False)],
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=QUEUE_URL)

    assert code == 1
    assert "FAILED" in capsys.readouterr().out
    kept = [m for m in queue.visible_at if m in queue.reads]  # m-20..24 were never read
    assert kept == ["m-0"]  # of the messages read, the refused event's alone is kept
    assert all(at <= queue.clock for at in queue.visible_at.values() if at), "left hidden"


def test_a_message_standing_for_a_refused_event_is_kept_when_another_names_it_too(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two letters name the same call, a third another: the bus refuses the shared call's
    event. Both letters naming it are kept (each stands for it), the third is deleted."""
    from dtmf_gateway.domain.ports import PublishFailure

    for n in (1, 2):
        _put(function_env, _ended_call(n, minutes_ago=1))
    for body in (_letter(1), _letter(2), _letter(1)):
        _send(bus, publisher_dlq, body)
    real = republish.EventBridgeResultPublisher.publish

    def refuse_c1(self: Any, details: list[Any]) -> list[PublishFailure]:
        refused = [i for i, d in enumerate(details) if d.call_id == "c-1"]
        real(self, [d for d in details if d.call_id != "c-1"])
        return [PublishFailure(i, "InternalFailure", permanent=False) for i in refused]

    monkeypatch.setattr(republish.EventBridgeResultPublisher, "publish", refuse_c1)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code == 1
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-2:c-2"]
    assert _left_on(bus, publisher_dlq) == 2


# ------------------------------------------------------------------ stream records


@pytest.mark.parametrize("damage", ["no-keys", "no-pk"])
def test_a_malformed_stream_record_in_the_range_is_reported_not_a_traceback(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    """A record in the batch's range that passes the filter check (INSERT/MODIFY, status
    finished) but lacks `Keys`, or has a call `sk` without `pk` (botocore's model allows
    both; DynamoDB never writes them: a corrupted or forged record, a stream proxy):
    republish crashes with a KeyError traceback (exit 1 from Python, not the tool), before
    publishing anything, though a malformed record in `_read_batch` is handled. Every later
    run crashes on the same message, so the letter before it (c-1) is never re-published and
    the DLQ cannot be drained.
    docs/operations.md: a message the tool cannot read is reported (`PROBLEM`) and kept."""
    _put(function_env, _ended_call(1, minutes_ago=1))
    _put(function_env, _ended_call(9, minutes_ago=1))
    bad = _change(1, "instruction#i-9", "call#c-9", "finished")
    if damage == "no-keys":
        del bad["dynamodb"]["Keys"]
    else:
        del bad["dynamodb"]["Keys"]["pk"]
    _send(bus, publisher_dlq, _letter(1), _on_failure(first=1, last=1, size=1))
    _stub(monkeypatch, [[bad]])

    try:
        code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)
    except Exception as error:  # noqa: BLE001 - the defect is the traceback itself
        pytest.fail(f"the run crashed: {type(error).__name__}: {error}")

    assert "urn:dtmf-gateway:result:i-1:c-1" in _urns(bus.received())
    assert code == 1
    assert "PROBLEM" in capsys.readouterr().out
    assert _left_on(bus, publisher_dlq) == 1  # the on-failure record, kept


def test_a_backwards_sequence_range_is_not_deleted_as_an_empty_batch(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An on-failure record whose start sequence number is after its end (hand-edited,
    swapped by a redrive script): the iterator starts at the start, its first record is
    past the end, so the batch is read as *no records*; nothing is planned, the run says
    `published 0 event(s)`, exits 0 and deletes the record. The correction in it (c-9,
    revision 1) is never published. `range` refuses a backwards range; `dlq` should too
    (report and keep)."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    record = _on_failure(first=3, last=1, size=1)
    _send(bus, publisher_dlq, record)
    _stub(monkeypatch, [[_change(3, "instruction#i-9", "call#c-9", "finished")]], open_shard=True)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    published = CORRECTION in _urns(bus.received())
    kept = _left_on(bus, publisher_dlq) == 1 and code != 0
    assert published or kept, "the batch was deleted unread"


def test_a_shard_that_ends_before_the_batchs_last_record_is_no_whole_batch(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_read_batch` returns on the batch's last sequence number; when instead the shard
    ends (no NextShardIterator) before it, the records read so far are taken for the whole
    batch ('the shard closed after the batch's last record' — but then the last record would
    have been seen). Here the on-failure record names a batch of two ending at +3 (a
    correction of c-9), the shard answers only c-8 at +1 and ends: c-8 is published, the
    record deleted, exit 0, the correction lost. The last record was not reached: it should
    be treated as such (matched by time: one call for two records, kept)."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _put(function_env, _ended_call(8, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=3, size=2))
    _stub(monkeypatch, [[_change(1, "instruction#i-8", "call#c-8", "finished")]])

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    published = CORRECTION in _urns(bus.received())
    kept = _left_on(bus, publisher_dlq) == 1 and code != 0
    assert published or kept, "the correction was neither published nor kept on the DLQ"


def test_a_readable_range_longer_than_the_page_limit_is_not_matched_by_time(
    function_env: Any, bus: Any, publisher_dlq: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy shard: between the batch's first record (c-8) and its last (a correction of
    c-9) lie more records than STREAM_PAGES (20) pages of GetRecords return (1 MB or 1,000
    records a page: placements' queued INSERTs, counters, instructions' progress, other
    keys' records with PublishParallelizationFactor > 1; or an open shard's empty pages).
    The stream is within its 24 hours and readable, yet republish gives up, treats it like a
    trimmed stream and matches by time: the window is busy (c-7 ended too), 2 calls for a
    batch of 2, so c-8 and c-7 are published, the record deleted, exit 0: the correction is
    lost. docs/operations.md promises the time match only when the stream cannot be read
    (trimmed, gone, no access, malformed); a read cut short should keep the message."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _put(function_env, _ended_call(8, minutes_ago=1))
    _put(function_env, _ended_call(7, minutes_ago=2))  # a busy window: not in the batch
    pages: list[list[dict[str, Any]] | str] = [
        [_change(1, "instruction#i-8", "call#c-8", "finished")]
    ]
    pages += [
        [_change(2 + n, f"instruction#i-q{n}", f"call#c-q{n}", "queued", event="INSERT")]
        for n in range(republish.STREAM_PAGES - 1)
    ]
    _send(bus, publisher_dlq, _on_failure(first=1, last=100, size=2))
    _stub(monkeypatch, pages, open_shard=True)

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    published = CORRECTION in _urns(bus.received())
    kept = _left_on(bus, publisher_dlq) == 1 and code != 0
    assert published or kept, "the correction was neither published nor kept on the DLQ"


@pytest.mark.parametrize("size", [0, -1])
def test_a_batch_size_below_one_is_no_batch_size(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    """A trimmed stream and an on-failure record whose `batchSize` is 0 or negative
    (hand-made, cut by a redrive tool; Lambda never sends a batch of none): the time match
    finds nothing, `0 < 0` is false, and the record is deleted with `published 0
    event(s)`, exit 0: the batch is gone unread. A missing batchSize is kept; a size that
    says nothing should be too."""
    _put(function_env, _ended_call(9, minutes_ago=2 * 24 * 60, revision=1, corrects="rederived"))
    _send(bus, publisher_dlq, _on_failure(first=1, last=2, size=size))
    _stub(monkeypatch, [], iterator_error="TrimmedDataAccessException")

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    assert code != 0
    assert _left_on(bus, publisher_dlq) == 1


def test_a_stream_position_the_service_rejects_as_invalid_is_not_retried_for_ever(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/operations.md: 'a record whose stream position is malformed' is matched by time.
    A position botocore lets through but DynamoDB Streams refuses (`ValidationException`: a
    sequence number or stream ARN of the right length that is not a real one) is taken for a
    passing error: `PROBLEM ... could not be read from the stream now ... run again`, on
    every run, for ever; the time match the docs promise never happens (here it would find
    the batch's one call and publish it)."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _send(bus, publisher_dlq, _on_failure(first=1, last=1, size=1))
    _stub(monkeypatch, [], iterator_error="ValidationException")

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    out = capsys.readouterr().out
    assert "run again" not in out, out
    assert "matched by time" in out, out
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]
    assert code == 0


# ------------------------------------------------------------------ guards on the filter


def test_remove_and_non_string_status_records_in_the_range_are_left_out(
    function_env: Any,
    bus: Any,
    publisher_dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Guard: a TTL REMOVE of an old call, a MODIFY whose status is a number, and a counter
    (`callee#<e164>`) whose status is `finished` as a set lie in the range: the filter lets
    none through, so none is published or reported (no phone number printed); the batch's
    call is published and the record deleted."""
    _put(function_env, _ended_call(9, minutes_ago=1))
    _put(function_env, _ended_call(5, minutes_ago=1))
    removed = _change(2, "instruction#i-5", "call#c-5", "finished", event="REMOVE")
    numeric = _change(3, "instruction#i-5", "call#c-5")
    numeric["dynamodb"]["NewImage"] = {"status": {"N": "1"}}
    counter = _change(4, "callee#+31612345678", "hour#2026120101")
    counter["dynamodb"]["NewImage"] = {"status": {"SS": ["finished"]}}
    _send(bus, publisher_dlq, _on_failure(first=1, last=5, size=1))
    _stub(
        monkeypatch,
        [
            [
                _change(1, "instruction#i-9", "call#c-9", "queued", event="INSERT"),
                removed,
                numeric,
                counter,
                _change(5, "instruction#i-9", "call#c-9", "finished"),
            ]
        ],
    )

    code = _run(function_env, bus, "--apply", "dlq", queue_url=publisher_dlq)

    out = capsys.readouterr().out
    assert code == 0
    assert _urns(bus.received()) == ["urn:dtmf-gateway:result:i-9:c-9"]
    assert "31612345678" not in out
    assert _left_on(bus, publisher_dlq) == 0


def test_max_messages_equal_to_the_queue_reads_it_all_and_publishes_once(
    function_env: Any, bus: Any, publisher_dlq: str
) -> None:
    """Guard: `--max-messages 3` on a queue of exactly three: all three published once,
    deleted, exit 0."""
    for n in range(3):
        _put(function_env, _ended_call(n, minutes_ago=1))
        _send(bus, publisher_dlq, _letter(n))

    code = _run(function_env, bus, "--apply", "dlq", "--max-messages", "3", queue_url=publisher_dlq)

    assert code == 0
    assert len(_urns(bus.received())) == 3
    assert _left_on(bus, publisher_dlq) == 0
