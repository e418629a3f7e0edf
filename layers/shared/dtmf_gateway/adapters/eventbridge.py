"""EventBridge PutEvents: every entry within EventBridge's size limit, batches of up to 10
entries and 256 KB, every failure accounted for as retryable or not.

Sizes are computed as EventBridge computes them ("Calculating PutEvents event entry size",
EventBridge User Guide): the UTF-8 bytes of Source, DetailType, Detail and each Resources
entry, plus 14 bytes for Time when set; an entry, and a whole request, must stay under 256 KB.
Retryable per-entry errors are those the PutEvents API reference lists as retryable
(`InternalFailure`, `ThrottlingException`); an unknown code counts as retryable too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.domain.events import DETAIL_TYPE, EVENT_SOURCE, DtmfResultDetail, fitted
from dtmf_gateway.domain.not_placed import NOT_PLACED_DETAIL_TYPE, NotPlacedDetail
from dtmf_gateway.domain.ports import PublishFailure

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10
MAX_ENTRY_BYTES = 256 * 1024 - 1  # "must be less than 256KB", for one entry and one request
# An oversized detail is shortened to leave room for the envelope EventBridge adds (id, time,
# account, region, ~0.5 KB), so the delivered event also fits the 256 KB a consumer's SQS
# queue or asynchronously invoked Lambda function accepts.
ENVELOPE_ALLOWANCE_BYTES = 4 * 1024
_TIME_BYTES = 14

# PutEvents API reference, PutEventsResultEntry.ErrorCode: the entry itself is refused, so
# retrying it can never help (it is set aside on the DLQ alone). Authorisation errors
# (AccessDeniedException, NotAuthorizedFor*, InvalidAccountIdException) are NOT here: they
# are the stack's configuration, fixed by a deployment, after which the stream's own retries
# publish every waiting result; set aside, each would need a manual re-publish. They are
# retried, and the handler logs their codes so the missing grant is visible.
PERMANENT_ERROR_CODES = frozenset(
    {
        "InvalidArgument",
        "MalformedDetail",
        "RedactionFailure",
        "ValidationException",
    }
)


def result_urn(detail: DtmfResultDetail) -> str:
    """The event's `resources` entry: deterministic per result (one per call, and one per
    correction of it: `…:revision:<n>`), so consumers can deduplicate on it."""
    urn = f"urn:dtmf-gateway:result:{detail.instruction_id}:{detail.call_id}"
    return f"{urn}:revision:{detail.revision}" if detail.revision else urn


def entry_size(entry: Mapping[str, Any]) -> int:
    """Bytes EventBridge counts for a PutEvents entry (see the module docstring)."""
    size = _TIME_BYTES if entry.get("Time") else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources") or [] if r)


def not_placed_urn(detail: NotPlacedDetail) -> str:
    """`resources` of a `DTMF Call Not Placed`: deterministic per callee of an instruction
    (the callee as 16 hex digits of its sha256, never in clear; once erased, of its place in
    the instruction's callees, ``#<index>``, so two erased callees' events stay apart — the
    webhook-id is derived from it)."""
    named = detail.callee
    if named is None and detail.callee_index is not None:
        named = f"#{detail.callee_index}"
    callee = hashlib.sha256((named or "").encode()).hexdigest()[:16]
    return f"urn:dtmf-gateway:not-placed:{detail.instruction_id}:{callee}"


def _entry(
    detail_type: str, detail: str, bus_name: str, resource: str
) -> PutEventsRequestEntryTypeDef:
    """A PutEvents entry from `dtmf-gateway` with one `resources` URN; the trace header goes
    on when Lambda has one (`_X_AMZN_TRACE_ID`, set per invocation)."""
    entry: PutEventsRequestEntryTypeDef = {
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": detail,
        "EventBusName": bus_name,
        "Resources": [resource],
    }
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    if trace:
        entry["TraceHeader"] = trace
    return entry


def not_placed_entry(detail: NotPlacedDetail, bus_name: str) -> PutEventsRequestEntryTypeDef:
    """The PutEvents entry of one `DTMF Call Not Placed` (round 2, #16; always small)."""
    return _entry(NOT_PLACED_DETAIL_TYPE, detail.to_json(), bus_name, not_placed_urn(detail))


def result_entry(
    detail: DtmfResultDetail | NotPlacedDetail, bus_name: str
) -> PutEventsRequestEntryTypeDef:
    """The PutEvents entry of one DTMF Result (the trace header goes on when Lambda has one),
    its detail shortened (domain.events.fitted) when the entry would exceed MAX_ENTRY_BYTES
    less ENVELOPE_ALLOWANCE_BYTES."""
    if isinstance(detail, NotPlacedDetail):
        return not_placed_entry(detail, bus_name)
    entry = _entry(DETAIL_TYPE, detail.to_json(), bus_name, result_urn(detail))
    size = entry_size(entry)  # the trace header does not count (see entry_size)
    budget = MAX_ENTRY_BYTES - ENVELOPE_ALLOWANCE_BYTES
    if size > budget:
        overhead = size - len(entry["Detail"].encode())
        entry["Detail"] = fitted(detail, budget - overhead).to_json()
    return entry


def _batches(sizes: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Indexes grouped in order: at most 10 entries and MAX_ENTRY_BYTES per request."""
    batches: list[list[int]] = []
    total = 0
    for index, size in sizes:
        if (
            not batches
            or len(batches[-1]) == MAX_ENTRIES_PER_CALL
            or total + size > MAX_ENTRY_BYTES
        ):
            batches.append([])
            total = 0
        batches[-1].append(index)
        total += size
    return batches


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


class EventBridgeResultPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def publish(
        self, details: Sequence[DtmfResultDetail | NotPlacedDetail]
    ) -> list[PublishFailure]:
        """Publish each detail; the failures (by index into `details`), each retryable or not.

        An entry over the limit even after shortening is refused without being sent. A whole
        request refused as invalid is retried entry by entry, so that one bad entry never
        holds its batch-mates."""
        entries = [result_entry(d, self._bus) for d in details]
        failures: list[PublishFailure] = []
        sendable: list[tuple[int, int]] = []
        for index, entry in enumerate(entries):
            size = entry_size(entry)
            if size > MAX_ENTRY_BYTES:
                reason = f"EntryTooLarge: {size} bytes even after shortening"
                failures.append(PublishFailure(index, reason, permanent=True))
            else:
                sendable.append((index, size))
        for batch in _batches(sendable):
            failures.extend(self._put(entries, batch, isolate=len(batch) > 1))
        return sorted(failures, key=lambda f: f.index)

    def _put(
        self, entries: list[PutEventsRequestEntryTypeDef], batch: list[int], *, isolate: bool
    ) -> list[PublishFailure]:
        try:
            response = self._events.put_events(Entries=[entries[i] for i in batch])
        except (ClientError, BotoCoreError) as error:
            code = _error_code(error)
            if code in PERMANENT_ERROR_CODES and isolate:
                return [f for i in batch for f in self._put(entries, [i], isolate=False)]
            permanent = code in PERMANENT_ERROR_CODES
            return [PublishFailure(i, f"{code} (whole request)", permanent) for i in batch]
        if response.get("FailedEntryCount", 0) == 0:
            return []
        failures = []
        results: list[Any] = list(response.get("Entries", []))
        results += [{"ErrorCode": "NoResultEntry"}] * (len(batch) - len(results))
        for index, result in zip(batch, results, strict=False):
            code = result.get("ErrorCode")
            if code or not result.get("EventId"):
                reason = f"{code or 'NoEventId'}: {result.get('ErrorMessage', '')}".strip()
                failures.append(PublishFailure(index, reason, code in PERMANENT_ERROR_CODES))
        return failures
