"""Signed webhooks: result events from the bus → one signed POST each to the instruction's
`webhook-url`, at most WebhookConcurrencyPerHost at once per host, retried with backoff.

Two event sources, one function:
- the webhook queue (events from rule WebhookRule, and retries waiting out their backoff):
  each event with a webhook is queued in its host's lane;
- the lanes (a FIFO queue, one message group per host lane): one attempt per message; a
  failure goes back to the webhook queue, delayed by its backoff, and the last one to the DLQ.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.domain.webhooks import Verdict, WebhookMessage
from dtmf_gateway.observability import count, logger, metrics

deliver = wiring.deliver_webhook()
queue = wiring.webhook_queue()
lanes = wiring.webhook_lanes()
dead_letters = wiring.webhook_dead_letters()


def _number(record: SQSRecord, name: str) -> int:
    attribute = record.message_attributes[name]
    value = attribute.string_value if attribute is not None else None
    return int(value) if value and value.isdigit() else 0


def _schedule(record: SQSRecord, message: WebhookMessage) -> bool:
    """A webhook-queue message: queued in its lane (or, early, kept waiting); True when
    done with it, False when it must come back (still waiting out its backoff)."""
    wait = _number(record, "not-before") - int(time.time())
    if wait > 0:
        queue.defer(record.receipt_handle, min(wait, 43200))
        return False
    lane = deliver.lane(message)
    if lane is not None:
        attempts = _number(record, "attempt")
        lanes.to_lane(
            record.body,
            lane=lane,
            message_id=message.webhook_id,
            attempt=attempts,
            source=record.message_id,
        )
    return True


def _attempt(record: SQSRecord, message: WebhookMessage) -> None:
    """A lane message: one attempt; a failure is retried later or dead-lettered."""
    attempt = _number(record, "attempt") + 1
    outcome = deliver.attempt(message, attempt)
    log = {"instruction_id": message.instruction_id, "webhook_id": message.webhook_id}
    if outcome.verdict is Verdict.DELIVERED:
        count("WebhooksDelivered")
        logger.info("webhook delivered", extra={**log, "attempt": attempt})
        return
    if outcome.verdict is Verdict.NO_WEBHOOK:
        return
    count("WebhookAttemptsFailed")
    last = outcome.verdict is Verdict.GIVE_UP
    logger.warning(
        "webhook attempt failed",
        extra={**log, "attempt": attempt, "reason": outcome.reason, "last": last},
    )
    if last:
        count("WebhooksNotDeliverable")
        dead_letters.dead_letter(record.body, f"attempt {attempt}: {outcome.reason}")
    else:
        queue.retry(
            record.body, attempts=attempt, delay_seconds=outcome.delay_seconds, now=time.time()
        )


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, _context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.records:
        try:
            message = WebhookMessage.from_event(json.loads(record.body))
        except ValueError as error:  # JSONDecodeError included: never a result event
            count("WebhooksNotDeliverable")
            logger.error("not a result event: dead-lettered", extra={"reason": str(error)})
            dead_letters.dead_letter(record.body, f"not a result event: {error}")
            continue
        if record.event_source_arn.endswith(".fifo"):
            _attempt(record, message)
        elif not _schedule(record, message):
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
