"""A scheduled dial's deferred recording (adapters.dial_recordings): what dial-call sends to
the placement-recordings queue is exactly what record-placements applies, it fits an SQS
message, and anything else of its kind is refused as malformed (never applied)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dial_recordings import (
    DIAL_RECORDING_KIND,
    dial_recording_body,
    message_kind,
    parse_dial_recording,
)
from dtmf_gateway.adapters.placement_recordings import (
    RECORDING_KIND,
    MalformedRecording,
    parse_recording,
)
from dtmf_gateway.domain.calls import NewInstruction, iso
from dtmf_gateway.domain.dial_recording import DialRecording
from dtmf_gateway.domain.request_limits import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
)
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

#: SQS's largest message (SendMessage, "MessageBody"): 256 KiB.
SQS_MAX_MESSAGE_BYTES = 262_144

texts = st.text(max_size=40)
moments = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]),
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
)


@st.composite
def recordings(draw: st.DrawFn) -> DialRecording:
    callee = draw(texts)
    entry = CalleeSchedule(
        callee,
        ScheduleStatus.DIALLING,
        iso(draw(moments)),
        attempt=draw(st.integers(min_value=1, max_value=10)),
        index=draw(st.integers(min_value=0, max_value=19)),
    )
    record = NewInstruction(
        instruction_id=draw(texts),
        owner=draw(texts),
        caller=draw(texts),
        callees=(callee,),
        request={},
        metadata=draw(st.dictionaries(texts, texts, max_size=5)),
        created_at=draw(moments),
        stale_after_seconds=draw(st.integers(min_value=0, max_value=10**6)),
    )
    return DialRecording(entry=entry, call_id=draw(texts.filter(bool)), record=record)


@settings(max_examples=150, deadline=None)
@given(recording=recordings())
def test_any_dial_recording_round_trips(recording: DialRecording) -> None:
    body = dial_recording_body(recording)

    assert parse_dial_recording(body) == recording
    assert message_kind(body) == DIAL_RECORDING_KIND


GOOD = DialRecording(
    entry=CalleeSchedule(
        "+31612345678", ScheduleStatus.DIALLING, "2027-06-10T10:30:00Z", 2, index=0
    ),
    call_id="5f0c7a1e-6a9b-4c53-8f7e-3b1d2a4c5e6f",
    record=NewInstruction(
        instruction_id="order-7781-pin",
        owner="arn:aws:iam::123456789012:user/orders-service",
        caller="+3197010203040",
        callees=("+31612345678",),
        request={},
        metadata={"order-id": "7781"},
        created_at=datetime(2027, 6, 10, 10, 30, 20, tzinfo=UTC),
        stale_after_seconds=420,
    ),
)


def test_the_largest_dial_recording_fits_an_sqs_message_with_room_to_spare() -> None:
    wide = "🔢"  # 4 bytes in UTF-8: the widest character
    metadata = {
        f"{n}".rjust(MAX_METADATA_KEY_LENGTH, "k"): wide * MAX_METADATA_VALUE_LENGTH
        for n in range(MAX_METADATA_KEYS)
    }
    record = NewInstruction(**{**_fields(GOOD.record), "metadata": metadata})

    size = len(dial_recording_body(DialRecording(GOOD.entry, GOOD.call_id, record)).encode())

    assert size < SQS_MAX_MESSAGE_BYTES // 16, size


def _fields(record: NewInstruction) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def test_the_two_kinds_on_the_queue_are_told_apart() -> None:
    body = dial_recording_body(GOOD)

    assert message_kind(body) != RECORDING_KIND
    with pytest.raises(MalformedRecording):
        parse_recording(body)  # never applied as a direct placement's recording
    assert message_kind("not json") is None
    assert message_kind("[]") is None


def changed(name: str, value: Any) -> str:
    data = json.loads(dial_recording_body(GOOD))
    data[name] = value
    return json.dumps(data)


def without(name: str) -> str:
    data = json.loads(dial_recording_body(GOOD))
    del data[name]
    return json.dumps(data)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        json.dumps({"kind": RECORDING_KIND, "version": 1}),
        changed("version", 2),
        changed("attempt", 0),
        changed("attempt", True),
        changed("attempt", "1"),
        changed("call-id", ""),
        changed("call-id", None),
        changed("callee", None),
        changed("callee-index", -1),
        changed("callee-index", "0"),
        changed("callee-index", None),
        without("callee-index"),
        changed("metadata", {"a": 1}),
        changed("queued-at", "yesterday"),
        changed("queued-at", "2027-06-10T10:30:20"),  # no offset
        changed("scheduled-for", "soon"),
        changed("stale-after-seconds", "60"),
        without("instruction-id"),
        without("owner"),
        without("scheduled-for"),
    ],
)
def test_anything_else_is_malformed(body: str) -> None:
    with pytest.raises(MalformedRecording):
        parse_dial_recording(body)
