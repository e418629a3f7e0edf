"""`PlacementRecordings` on an SQS queue: a placement's recording, kept for later.

When CM has queued an instruction's calls but `InstructionStore.record_queued_calls` failed
(a DynamoDB error after botocore's own retries), place-call hands the recording to the
placement-recordings queue; `functions/record_placements` applies the very same
`record_queued_calls` from it (re-applying it changes nothing: a call item is written only
while it has no status, the instruction's fields are SET).

A message body is one JSON object::

    {"kind": "dtmf-gateway/placement-recording", "version": 1,
     "instruction": {"instruction-id": ..., "owner": ..., "caller": ..., "callees": [...],
                     "request": {...}, "metadata": {...}, "created-at": "<ISO-8601>",
                     "stale-after-seconds": 123, "idempotency-key": ...,
                     "expected-digits-hash": ..., "campaign-id": ..., "body-hash": ...,
                     "placing-until": ...},
     "queued": [{"call-id": ..., "callee": ..., "success": true, "error": null}, ...],
     "replies": [... CM's replies in the 202's order, queued and refused ...]}

Size: SQS takes at most 256 KiB (262,144 bytes) per message. A request is bounded by
`domain.request_limits` (20 callees, three prompts of 1,000 characters, metadata of 10 keys
of 40 + values of 256 characters, ...): the largest instruction, every character 4 bytes
of UTF-8, encodes to 28,314 bytes with its 20 replies, and
``tests/unit/test_placement_recordings.py`` checks it stays below a quarter of the limit
with 20 more replies of 300-character errors. CM's reply errors are CM's own text, cut to
300 characters by the CM client (`cm_client._MAX_REASON`, as its refusal reasons), so a
recording of one reply per callee always fits. One that still does not fit (CM answering far
more replies than callees) is refused by SendMessage: the deferral fails (a bookkeeping
error) and the replies noted on the instruction keep it — this module never truncates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

RECORDING_KIND = "dtmf-gateway/placement-recording"
RECORDING_VERSION = 1


class MalformedRecording(ValueError):
    """A message that is not a placement recording this version can apply."""


@dataclass(frozen=True, slots=True)
class PlacementRecording:
    """The arguments of one `record_queued_calls` call."""

    instruction: NewInstruction
    queued: tuple[CmQueuedCall, ...]
    replies: tuple[CmQueuedCall, ...]


def _call(call: CmQueuedCall) -> dict[str, Any]:
    return {
        "call-id": call.call_id,
        "callee": call.callee,
        "success": call.success,
        "error": call.error,
    }


def _instruction(instruction: NewInstruction) -> dict[str, Any]:
    if instruction.schedule:  # an immediate placement's instruction has none
        raise ValueError("a scheduled instruction's recording is not deferred")
    if instruction.created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return {
        "instruction-id": instruction.instruction_id,
        "owner": instruction.owner,
        "caller": instruction.caller,
        "callees": list(instruction.callees),
        "request": instruction.request,
        "metadata": instruction.metadata,
        "created-at": instruction.created_at.isoformat(),
        "stale-after-seconds": instruction.stale_after_seconds,
        "idempotency-key": instruction.idempotency_key,
        "expected-digits-hash": instruction.expected_digits_hash,
        "campaign-id": instruction.campaign_id,
        "body-hash": instruction.body_hash,
        "placing-until": instruction.placing_until,
    }


def recording_body(
    instruction: NewInstruction,
    queued: Sequence[CmQueuedCall],
    replies: Sequence[CmQueuedCall],
) -> str:
    """The message body of a recording (compact JSON, UTF-8 as is). Raises ValueError for
    an instruction this format does not carry (a scheduled one, a naive `created_at`)."""
    return json.dumps(
        {
            "kind": RECORDING_KIND,
            "version": RECORDING_VERSION,
            "instruction": _instruction(instruction),
            "queued": [_call(c) for c in queued],
            "replies": [_call(c) for c in replies],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _field[T](data: Mapping[str, Any], name: str, kind: type[T] | tuple[type, ...]) -> T:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise MalformedRecording(f"{name!r} is missing or not {kind}")
    return value  # type: ignore[return-value]


def _optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise MalformedRecording(f"{name!r} is not {kind.__name__} or null")
    return value


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedRecording(f"{name!r} is not a list of strings")
    return value


def _parse_call(data: Any) -> CmQueuedCall:
    if not isinstance(data, dict):
        raise MalformedRecording("a call is not an object")
    success = data.get("success")
    if not isinstance(success, bool):
        raise MalformedRecording("a call's 'success' is not true or false")
    return CmQueuedCall(
        call_id=_optional(data, "call-id", str),
        callee=_optional(data, "callee", str),
        success=success,
        error=_optional(data, "error", str),
    )


def _parse_calls(data: Mapping[str, Any], name: str) -> tuple[CmQueuedCall, ...]:
    return tuple(_parse_call(c) for c in _field(data, name, list))


def _parse_instruction(data: Any) -> NewInstruction:
    if not isinstance(data, dict):
        raise MalformedRecording("'instruction' is not an object")
    metadata = _field(data, "metadata", dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise MalformedRecording("'metadata' is not an object of strings")
    try:
        created_at = datetime.fromisoformat(_field(data, "created-at", str))
    except ValueError as error:
        raise MalformedRecording(f"'created-at' is not ISO-8601: {error}") from None
    if created_at.tzinfo is None:
        raise MalformedRecording("'created-at' has no UTC offset")
    return NewInstruction(
        instruction_id=_field(data, "instruction-id", str),
        owner=_field(data, "owner", str),
        caller=_field(data, "caller", str),
        callees=tuple(_strings(data.get("callees"), "callees")),
        request=_field(data, "request", dict),
        metadata=dict(metadata),
        created_at=created_at,
        stale_after_seconds=_field(data, "stale-after-seconds", int),
        idempotency_key=_optional(data, "idempotency-key", str),
        expected_digits_hash=_optional(data, "expected-digits-hash", str),
        campaign_id=_optional(data, "campaign-id", str),
        body_hash=_optional(data, "body-hash", str),
        placing_until=_optional(data, "placing-until", int),
    )


def message_fields(body: str, kind: str, version: int) -> dict[str, Any]:
    """A message body's JSON object when it is of ``kind`` at ``version``; MalformedRecording
    otherwise (not JSON, not an object, another kind or version)."""
    try:
        data = json.loads(body)
    except ValueError as error:
        raise MalformedRecording(f"not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise MalformedRecording(f"not a {kind} message")
    if data.get("version") != version:
        raise MalformedRecording(f"version {data.get('version')!r} (this reads {version})")
    return data


def parse_recording(body: str) -> PlacementRecording:
    """The recording of a message body (`recording_body`'s inverse). Raises
    MalformedRecording for anything else: not JSON, another kind or version, a field
    missing or of another type, a call for a callee the instruction does not name."""
    data = message_fields(body, RECORDING_KIND, RECORDING_VERSION)
    recording = PlacementRecording(
        instruction=_parse_instruction(data.get("instruction")),
        queued=_parse_calls(data, "queued"),
        replies=_parse_calls(data, "replies"),
    )
    if not recording.queued or any(not c.success or not c.call_id for c in recording.queued):
        raise MalformedRecording("'queued' must name at least one queued call, each with its id")
    named = {*recording.instruction.callees, None}
    if any(c.callee not in named for c in (*recording.queued, *recording.replies)):
        # the placement maps CM's replies onto the instruction's own callees, or None when
        # CM's reply matched none (callees.with_own_callees): another number is forged
        raise MalformedRecording("a call names a callee the instruction does not name")
    return recording


class SqsPlacementRecordings:
    """`PlacementRecordings` on the placement-recordings queue: one SendMessage each."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue = queue_url

    def defer(
        self,
        instruction: NewInstruction,
        queued: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall],
    ) -> None:
        """One SendMessage (botocore retries it as configured); raises what it raises
        (ClientError, BotoCoreError) or ValueError (`recording_body`)."""
        self._sqs.send_message(
            QueueUrl=self._queue, MessageBody=recording_body(instruction, queued, replies)
        )
