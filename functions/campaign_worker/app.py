"""The campaign worker: validates campaigns (control queue), places their rows (rows queue,
at the event source's maximum concurrency), and ends rows from their `DTMF Result` events
(an EventBridge rule on the stack's bus, `detail.campaign-id` present; a result for a row the
campaign never placed is ignored with a warning, see `domain.campaign_results`).

SQS batches report each failed message alone (ReportBatchItemFailures): it is retried (its
visibility shortened to 30 s, doubling per receive: adapters.campaign_io.SqsRetryBackoff),
then dead-lettered with an alarm; nothing is dropped. A failed result event is retried by
EventBridge's asynchronous invocation, then dead-lettered.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.domain.campaign_results import ResultVerdict
from dtmf_gateway.observability import logger, metrics

worker = wiring.campaign_worker()


def _record(record: dict[str, Any]) -> None:
    message = json.loads(record["body"])
    if (
        record.get("eventSourceARN", "").split(":")[-1]
        == worker.control_queue_url.rsplit("/", 1)[-1]
    ):
        worker.validate.run(str(message["campaign-id"]))
        logger.info("campaign validated", extra={"campaign_id": message["campaign-id"]})
        return
    verdict = worker.place.run(message)
    logger.debug("row", extra={"campaign_id": message.get("campaign-id"), "verdict": verdict})


def _retry_soon(record: dict[str, Any]) -> None:
    """A failed message comes back in 30 s, doubling per receive, not after the queue's
    90-minute visibility timeout; if that fails too, it waits the timeout out."""
    try:
        delay = worker.retries.retry_soon(record)
    except Exception:  # noqa: BLE001 - the message still comes back, later
        logger.warning("campaign message kept its visibility", exc_info=True)
        return
    logger.info("campaign message retried soon", extra={"delay_seconds": delay})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any] | None:
    if "detail-type" in event:  # a DTMF Result of a campaign's row
        detail = event.get("detail") or {}
        verdict = worker.record.run(detail)
        log = logger.warning if verdict == ResultVerdict.IGNORED else logger.info
        log(
            "campaign result",
            extra={
                "campaign_id": detail.get("campaign-id"),
                "instruction_id": detail.get("instruction-id"),
                "verdict": verdict,
            },
        )
        return None
    failures = []
    for record in event.get("Records", []):
        try:
            _record(record)
        except Exception:  # noqa: BLE001 - this message alone is retried, then dead-lettered
            logger.exception("campaign message failed", extra={"id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            _retry_soon(record)
    return {"batchItemFailures": failures}
