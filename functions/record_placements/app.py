"""The placement-recordings queue: recordings place-call could not write when CM had queued
the calls (a DynamoDB error), applied now with the same `record_queued_calls`
(domain.placement_recording: a late one's calls are stale no earlier than CALLBACK_GRACE
after it is applied, so the expirer still finds them).

Applying one writes the calls' items and pending-index entries (so a call without a callback
is expired), names the calls and CM's replies on the instruction and ends its
`placing-until` (so a retry with the key gets the 202 replay), and releases the callbacks
held for the placement. Re-applying it changes nothing (a call item is written only while it
has no status; the rest is SET), so SQS's at-least-once delivery is safe.

A message that fails is reported in `batchItemFailures` and comes back (the queue's
visibility timeout) until its `maxReceiveCount`, then waits in the DLQ (alarmed, runbook
"Placement recordings DLQ"). A malformed message is reported at once, never applied.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.adapters.placement_recordings import MalformedRecording, parse_recording
from dtmf_gateway.observability import logger, metrics

recordings = wiring.apply_placement_recording()


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, _context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.records:
        try:
            recording = parse_recording(record.body)
        except MalformedRecording as error:
            logger.error(
                "not a placement recording: left to the DLQ",
                extra={"message_id": record.message_id, "reason": str(error)[:300]},
            )
            failures.append({"itemIdentifier": record.message_id})
            continue
        instruction_id = recording.instruction.instruction_id
        try:
            recordings.apply(recording.instruction, recording.queued, recording.replies)
        except Exception:  # noqa: BLE001 - retried by SQS, then kept in the DLQ
            logger.exception(
                "placement recording failed: retried",
                extra={"instruction_id": instruction_id, "message_id": record.message_id},
            )
            failures.append({"itemIdentifier": record.message_id})
            continue
        logger.info(
            "placement recorded",
            extra={"instruction_id": instruction_id, "calls": len(recording.queued)},
        )
    return {"batchItemFailures": failures}
