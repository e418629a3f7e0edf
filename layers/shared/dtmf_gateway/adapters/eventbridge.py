"""EventBridge PutEvents in batches of 10, every per-entry failure accounted for."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.domain.events import DETAIL_TYPE, EVENT_SOURCE, DtmfResultDetail

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10


def result_urn(detail: DtmfResultDetail) -> str:
    """The event's `resources` entry: deterministic per result (one per call, and one per
    correction of it: `…:revision:<n>`), so consumers can deduplicate on it."""
    urn = f"urn:dtmf-gateway:result:{detail.instruction_id}:{detail.call_id}"
    return f"{urn}:revision:{detail.revision}" if detail.revision else urn


def result_entry(detail: DtmfResultDetail, bus_name: str) -> PutEventsRequestEntryTypeDef:
    """The PutEvents entry of one DTMF Result (the trace header goes on when Lambda has one)."""
    entry: PutEventsRequestEntryTypeDef = {
        "Source": EVENT_SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": detail.to_json(),
        "EventBusName": bus_name,
        "Resources": [result_urn(detail)],
    }
    trace = os.environ.get("_X_AMZN_TRACE_ID")  # set by Lambda per invocation
    if trace:
        entry["TraceHeader"] = trace
    return entry


class EventBridgeResultPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def publish(self, details: Sequence[DtmfResultDetail]) -> list[int]:
        failed: list[int] = []
        for start in range(0, len(details), MAX_ENTRIES_PER_CALL):
            chunk = details[start : start + MAX_ENTRIES_PER_CALL]
            try:
                response = self._events.put_events(
                    Entries=[result_entry(d, self._bus) for d in chunk]
                )
            except (ClientError, BotoCoreError):
                failed.extend(range(start, start + len(chunk)))
                continue
            if response.get("FailedEntryCount", 0) == 0:
                continue
            for offset, result in enumerate(response["Entries"]):
                if result.get("ErrorCode") or not result.get("EventId"):
                    failed.append(start + offset)
        return failed
