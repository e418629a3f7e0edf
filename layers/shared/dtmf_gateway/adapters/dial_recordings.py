"""`DialRecordings` on the placement-recordings queue: a scheduled dial's recording, kept.

When CM has queued a scheduled dial's call but recording it failed (a DynamoDB error after
botocore's own retries), dial-call hands the recording to the placement-recordings queue (the
same queue as a direct placement's, `adapters.placement_recordings`, told apart by its
``kind``); `functions/record_placements` applies it with `domain.dial_recording`
(re-applying it changes nothing).

A message body is one JSON object::

    {"kind": "dtmf-gateway/dial-recording", "version": 1,
     "instruction-id": ..., "owner": ..., "caller": ..., "callee": ..., "callee-index": 0,
     "metadata": {...}, "attempt": 1, "scheduled-for": "<ISO-8601>", "call-id": ...,
     "queued-at": "<ISO-8601>", "stale-after-seconds": 123}

``callee-index``, ``attempt`` and ``scheduled-for`` name the dial (the callee's `dialling`
schedule it claimed: its place in the instruction's callees), ``callee`` the number dialled,
``call-id`` and ``queued-at`` the call CM queued. Size: one callee and
metadata of 10 keys of 40 + values of 256 characters (`domain.request_limits`) stay far below
SQS's 256 KiB (tests/unit/test_dial_recordings.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from dtmf_gateway.adapters.placement_recordings import (
    MalformedRecording,
    _field,
    _optional,
    message_fields,
)
from dtmf_gateway.domain.calls import NewInstruction
from dtmf_gateway.domain.dial_recording import DialRecording
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

DIAL_RECORDING_KIND = "dtmf-gateway/dial-recording"
DIAL_RECORDING_VERSION = 1


def message_kind(body: str) -> str | None:
    """The ``kind`` of a message body, None when it has none (not a JSON object)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def _aware(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise MalformedRecording(f"{name!r} is not ISO-8601: {error}") from None
    if moment.tzinfo is None:
        raise MalformedRecording(f"{name!r} has no UTC offset")
    return moment


def dial_recording_body(recording: DialRecording) -> str:
    """The message body of a dial recording (compact JSON, UTF-8 as is). Raises ValueError
    for a naive queued-at or a claim without its moment."""
    record, entry = recording.record, recording.entry
    if record.created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    if entry.scheduled_for is None:
        raise ValueError("a dialled schedule has its moment")
    return json.dumps(
        {
            "kind": DIAL_RECORDING_KIND,
            "version": DIAL_RECORDING_VERSION,
            "instruction-id": record.instruction_id,
            "owner": record.owner,
            "caller": record.caller,
            "callee": record.callees[0],
            "callee-index": entry.index,
            "metadata": record.metadata,
            "attempt": entry.attempt,
            "scheduled-for": entry.scheduled_for,
            "call-id": recording.call_id,
            "queued-at": record.created_at.isoformat(),
            "stale-after-seconds": record.stale_after_seconds,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def parse_dial_recording(body: str) -> DialRecording:
    """The recording of a message body (`dial_recording_body`'s inverse). Raises
    MalformedRecording for anything else: not JSON, another kind or version, a field missing
    or of another type."""
    data = message_fields(body, DIAL_RECORDING_KIND, DIAL_RECORDING_VERSION)
    metadata = _field(data, "metadata", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise MalformedRecording("'metadata' is not an object of strings")
    callee = _field(data, "callee", str)
    index = _field(data, "callee-index", int)
    if index < 0:
        raise MalformedRecording("'callee-index' is below 0")
    attempt = _field(data, "attempt", int)
    if attempt < 1:
        raise MalformedRecording("'attempt' is below 1")
    scheduled_for = _field(data, "scheduled-for", str)
    _aware(scheduled_for, "scheduled-for")
    call_id = _field(data, "call-id", str)
    if not call_id:
        raise MalformedRecording("'call-id' is empty")
    record = NewInstruction(
        instruction_id=_field(data, "instruction-id", str),
        owner=_field(data, "owner", str),
        caller=_optional(data, "caller", str) or "",
        callees=(callee,),
        request={},
        metadata=dict(metadata),
        created_at=_aware(_field(data, "queued-at", str), "queued-at"),
        stale_after_seconds=_field(data, "stale-after-seconds", int),
    )
    entry = CalleeSchedule(callee, ScheduleStatus.DIALLING, scheduled_for, attempt, index=index)
    return DialRecording(entry=entry, call_id=call_id, record=record)


class SqsDialRecordings:
    """`DialRecordings` on the placement-recordings queue: one SendMessage each."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue = queue_url

    def defer_dial(self, recording: DialRecording) -> None:
        """One SendMessage (botocore retries it as configured); raises what it raises
        (ClientError, BotoCoreError) or ValueError (`dial_recording_body`)."""
        self._sqs.send_message(QueueUrl=self._queue, MessageBody=dial_recording_body(recording))
