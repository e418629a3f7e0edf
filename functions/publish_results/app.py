"""DynamoDB stream → `DTMF Result` events: the outbox relay.

Reports partial batch failures by sequence number, so only the records whose events did not
reach the bus for a retryable reason are retried (bisected on error, bounded retries, then the
on-failure queue). Records that cannot be published as they are go to the same queue at once,
sent by the publisher itself, and are acknowledged (see domain.publishing).
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import heap, wiring
from dtmf_gateway.adapters.dynamodb.stream import changes
from dtmf_gateway.domain.publishing import publish_ended_calls
from dtmf_gateway.observability import count, logger, metrics

publisher = wiring.result_publisher()
dead_letters = wiring.dead_letters()
# issue 19: a result whose instruction was erased goes out without its personal data
erasures = wiring.erasure_marks()


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=DynamoDBStreamEvent)
def handler(event: DynamoDBStreamEvent, _context: LambdaContext) -> dict[str, Any]:
    report = publish_ended_calls(changes(event), publisher, dead_letters, erasures=erasures)
    count("ResultsPublished", report.published)
    if report.gone:
        count("ResultsPastRetention", report.gone)
    for letter in report.set_aside:
        logger.error(
            "result set aside on the dead-letter queue",
            extra={
                "instruction_id": letter.instruction_id,
                "call_id": letter.call_id,
                "reason": letter.reason,
            },
        )
    if report.set_aside:
        count("ResultsSetAside", len(report.set_aside))
    if report.failed:
        count("ResultsNotPublished", len(report.failed))
        logger.warning(
            "results not published, will be retried",
            extra={"failed": len(report.failed), "reasons": report.retry_reasons},
        )
    return {"batchItemFailures": [{"itemIdentifier": rid} for rid in report.failed]}


heap.freeze_init_objects()  # the end of init: init's objects leave the collector's sight
