"""Scheduled: calls that never got a callback become `expired` (and are published as such).

A run drains every stale call within the invocation's time (its remaining time minus a
margin), however many there are; what is left when time runs out is taken by the next run,
from where this one stopped (the pending-calls adapter keeps a cursor per index shard). An
entry DynamoDB can never handle is logged, counted (`ExpiryEntriesSetAside`, alarmed) and
passed, so it never holds back the others.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from dtmf_gateway import wiring
from dtmf_gateway.domain.errors import StaleEntryUnusable
from dtmf_gateway.domain.expiry import expire_stale_calls
from dtmf_gateway.domain.ports import PendingCall
from dtmf_gateway.observability import count, logger, metrics

pending = wiring.pending_calls()


def _set_aside(entry: PendingCall, unusable: StaleEntryUnusable) -> None:
    """An entry DynamoDB can never handle, passed (runbook: docs/operations.md
    #expiry-entry-set-aside): logged by instruction id — never by number — and alarmed."""
    count("ExpiryEntriesSetAside")
    logger.error(
        "expiry entry set aside: the store can never handle it",
        extra={
            "instruction_id": entry.instruction_id,
            "call_id": entry.call_id[:64],  # as the callback route bounds it
            "call_id_length": len(entry.call_id),
            "recording": entry.recording,
            "reason": unusable.reason,
        },
    )


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = expire_stale_calls(
        pending,
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
        on_set_aside=_set_aside,
    )
    count("CallsExpired", report.expired)
    if not report.finished:
        count("ExpiryBacklogLeft")
    logger.info(
        "expiry run",
        extra={
            "examined": report.examined,
            "expired": report.expired,
            "skipped": report.skipped,  # stale calls that had already ended (issue 15)
            "set_aside": report.set_aside,  # entries the store can never handle, passed
            "finished": report.finished,
            "schedule": event.time,
        },
    )
    return {"examined": report.examined, "expired": report.expired, "finished": report.finished}
