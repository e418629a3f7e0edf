"""The placement-recordings queue: recordings place-call could not write when CM had queued
the calls (a DynamoDB error), applied now with the same `record_queued_calls`
(domain.placement_recording: a late one's calls are stale no earlier than CALLBACK_GRACE
after it is applied, so the expirer still finds them).

Applying one writes the calls' items and pending-index entries (so a call without a callback
is expired), names the calls and CM's replies on the instruction and ends its
`placing-until` (so a retry with the key gets the 202 replay), and releases the callbacks
held for the placement. Re-applying it changes nothing (a call item is written only while it
has no status; the rest is SET), so SQS's at-least-once delivery is safe.

Since the scheduled dials' fallback, the queue also carries `dtmf-gateway/dial-recording`
messages (adapters.dial_recordings): a scheduled dial's call, applied with
`domain.dial_recording` (the call recorded, the callee's schedule `placed`; the call erased
again when the instruction was erased meanwhile). Re-applying one changes nothing either.

A message that fails is reported in `batchItemFailures` and comes back (the queue's
visibility timeout) until its `maxReceiveCount`, then waits in the DLQ (alarmed, runbook
"Placement recordings DLQ"). A malformed message is reported at once, never applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.adapters.dial_recordings import (
    DIAL_RECORDING_KIND,
    message_kind,
    parse_dial_recording,
)
from dtmf_gateway.adapters.placement_recordings import MalformedRecording, parse_recording
from dtmf_gateway.observability import logger, metrics

recordings = wiring.apply_placement_recording()
dial_recordings = wiring.apply_dial_recording()
# Powertools' partial batch response (`batchItemFailures`); a batch whose every message fails
# is answered the same way (not raised): each comes back alone, then waits in the DLQ
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def apply(record: SQSRecord) -> None:
    """Apply one message's recording; raises (the message is reported failed) when it is
    malformed (never applied: the DLQ keeps it) or the writes fail (retried by SQS)."""
    if message_kind(record.body) == DIAL_RECORDING_KIND:
        apply_dial(record)
        return
    recording = _parsed(record, parse_recording, "placement")
    instruction_id = recording.instruction.instruction_id
    _applied(
        record,
        instruction_id,
        "placement",
        lambda: recordings.apply(recording.instruction, recording.queued, recording.replies),
    )
    logger.info(
        "placement recorded",
        extra={"instruction_id": instruction_id, "calls": len(recording.queued)},
    )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=apply, processor=processor, context=context
    )


def apply_dial(record: SQSRecord) -> None:
    """Apply one scheduled dial's recording; raises as `apply` does."""
    recording = _parsed(record, parse_dial_recording, "dial")
    _applied(record, recording.instruction_id, "dial", lambda: dial_recordings.apply(recording))
    logger.info(
        "scheduled dial recorded",
        extra={"instruction_id": recording.instruction_id, "attempt": recording.entry.attempt},
    )


def _parsed[T](record: SQSRecord, parse: Callable[[str], T], kind: str) -> T:
    """The message's recording; a malformed one is logged (`kind`: placement, dial) and its
    MalformedRecording raised."""
    try:
        return parse(record.body)
    except MalformedRecording as error:
        logger.error(
            f"not a {kind} recording: left to the DLQ",
            extra={"message_id": record.message_id, "reason": str(error)[:300]},
        )
        raise


def _applied(record: SQSRecord, instruction_id: str, kind: str, write: Callable[[], None]) -> None:
    """``write`` the recording; what it raises is logged and raised (SQS retries it)."""
    try:
        write()
    except Exception:
        logger.exception(
            f"{kind} recording failed: retried",
            extra={"instruction_id": instruction_id, "message_id": record.message_id},
        )
        raise
