"""Powertools Logger and Metrics shared by every function (service name from the environment).

Rules for every log line: phone numbers only through `domain.phone.mask`, never digits,
prompts, tokens or secrets.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from dtmf_gateway.emf import OneDocument

#: Keys Powertools' Lambda context adds to every line that are the same on every line of a
#: function's log group (the group names the function): left out (issue 15: CloudWatch Logs
#: bills each byte ingested; ~140 bytes of ~400 per line).
CONSTANT_LOG_KEYS: Final = ("function_name", "function_arn", "function_memory_size")
#: Below WARNING a line's message names what happened; its source location only helps with
#: warnings and errors, which keep it.
_LOCATION_FROM: Final = logging.WARNING


class CompactFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines without :data:`CONSTANT_LOG_KEYS`, and without `location` below
    WARNING. Every line keeps level, message, timestamp, service, cold_start,
    function_request_id, correlation_id (the instruction id) and its own keys."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        for key in CONSTANT_LOG_KEYS:
            log.pop(key, None)
        if logging.getLevelName(str(log.get("level", "INFO"))) < _LOCATION_FROM:
            log.pop("location", None)
        return super().serialize(log)


logger = Logger(logger_formatter=CompactFormatter(use_rfc3339=True))
metrics = Metrics()
# one document per request: its metrics and its INFO record (`record`, `emf.OneDocument`),
# sharing the sets every Metrics instance shares
_document = OneDocument(
    metric_set=metrics.metric_set,
    dimension_set=metrics.dimension_set,
    metadata_set=metrics.metadata_set,
    default_dimensions=metrics.default_dimensions,
)
_document.bind(logger)
metrics.provider = _document

# Every metric the code emits (namespace DtmfGateway). The names are the operators' contract
# (dashboard, alarms, docs/operations.md): mypy refuses a name that is not listed here, and
# tests/infrastructure/test_operations.py holds the dashboard, alarms and runbook to it.
MetricName = Literal[
    "PlaceRequests",
    "CallsPlaced",
    "RequestsRefused",
    "CmErrors",
    "CallRecordWriteFailed",
    "StatusReads",
    "CallbacksReceived",
    "CallbacksRecorded",
    "CallbacksDuplicate",
    "CallbacksIgnored",
    "CallbacksRefused",
    "CallbackForbidden",
    "UnexpectedCallbackShape",
    "ResultsPublished",
    "ResultsNotPublished",
    "ResultsSetAside",
    "ResultsPastRetention",
    "CallsExpired",
    "ExpiryBacklogLeft",
    "ExpiryEntriesSetAside",
    "ResultsConsumed",
    "WebhooksDelivered",
    "WebhookAttemptsFailed",
    "WebhooksNotDeliverable",
    "PersonalDataErased",  # issue 19
    # round 2 (#16)
    "ScheduledDials",
    "DialsMalformed",
    "CancelRequests",
]
# Each metric's own dimension besides `service` (None: `service` only).
METRIC_DIMENSIONS: Final[dict[MetricName, str | None]] = {
    "PlaceRequests": None,
    "CallsPlaced": None,
    "RequestsRefused": "reason",
    "CmErrors": "kind",
    "CallRecordWriteFailed": None,
    "StatusReads": None,
    "CallbacksReceived": None,
    "CallbacksRecorded": "outcome",
    "CallbacksDuplicate": None,
    "CallbacksIgnored": "type",
    "CallbacksRefused": "reason",
    "CallbackForbidden": None,
    "UnexpectedCallbackShape": None,
    "ResultsPublished": None,
    "ResultsNotPublished": None,
    "ResultsSetAside": None,
    "ResultsPastRetention": None,
    "CallsExpired": None,
    "ExpiryBacklogLeft": None,
    "ExpiryEntriesSetAside": None,
    "ResultsConsumed": None,
    "WebhooksDelivered": None,
    "WebhookAttemptsFailed": None,
    "WebhooksNotDeliverable": None,
    "PersonalDataErased": None,
    # round 2 (#16)
    "ScheduledDials": "outcome",
    "DialsMalformed": None,
    "CancelRequests": None,
}


def record(message: str, **fields: Any) -> None:
    """An INFO log record of what a request did, written in the request's metrics document
    (one log line for both; `emf.OneDocument.record`). Warnings and errors: `logger`."""
    _document.record(message, fields)


def count(name: MetricName, value: int = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def count_by(name: MetricName, dimension: str, label: str) -> None:
    """A metric with its own dimension (e.g. RequestsRefused by reason): in the request's one
    document when a handler decorated by `metrics.log_metrics` runs, else written at once
    (`emf.OneDocument.count_by`)."""
    _document.count_by(name, dimension, label)
