"""Webhook queue → one signed POST per result event to its instruction's `webhook-url`.

Each SQS message is a result event from the bus (rule WebhookRule). A failed attempt comes
back after its exponential backoff (the message's visibility); after the last attempt the
queue's redrive moves it to WebhookDLQ (alarmed; README "Webhooks" says how to replay).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.domain.webhooks import Verdict, WebhookMessage
from dtmf_gateway.observability import count, logger, metrics

deliver = wiring.deliver_webhook()
retries = wiring.webhook_retries()


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, _context: LambdaContext) -> dict[str, Any]:
    failures: list[dict[str, str]] = []
    for record in event.records:
        attempt = int(record.attributes.approximate_receive_count or 1)
        try:
            message = WebhookMessage.from_event(json.loads(record.body))
        except ValueError as error:  # JSONDecodeError included: never a result event
            count("WebhooksNotDeliverable")
            logger.error("not a result event: dead-lettered", extra={"reason": str(error)})
            retries.retry_after(record.receipt_handle, 0)  # straight on to the redrive
            failures.append({"itemIdentifier": record.message_id})
            continue
        outcome = deliver.attempt(message, attempt)
        log = {"instruction_id": message.instruction_id, "webhook_id": message.webhook_id}
        if outcome.verdict is Verdict.DELIVERED:
            count("WebhooksDelivered")
            logger.info("webhook delivered", extra={**log, "attempt": attempt})
        elif outcome.verdict is not Verdict.NO_WEBHOOK:
            count("WebhookAttemptsFailed")
            last = outcome.verdict is Verdict.GIVE_UP
            if last:
                count("WebhooksNotDeliverable")
            logger.warning(
                "webhook attempt failed",
                extra={**log, "attempt": attempt, "reason": outcome.reason, "last": last},
            )
            retries.retry_after(record.receipt_handle, outcome.delay_seconds)
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
