"""Hostile review of issue 15's one log line per request: the INFO record now rides inside the
request's EMF metrics document, so whatever stops that document from being printed also
stops the record. Powertools prints no EMF document when metrics are disabled
(`POWERTOOLS_METRICS_DISABLED=true`, or `POWERTOOLS_DEV=true` on its own) — a documented
Powertools switch an operator may flip to stop paying for custom metrics — and then each
request's only INFO line ("instruction queued", "call finished") is silently lost, where
before issue 15 `logger.info` wrote it regardless of metrics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_one_log_line import Written
from tests.integration.test_place_call_handler import post, sample_body


@pytest.mark.parametrize("switch", ["POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV"])
def test_a_placement_still_logs_its_record_when_metrics_are_disabled(
    place_call: Any, cm: Any, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    post(place_call, sample_body())  # the cold start goes by
    monkeypatch.setenv(switch, "true")
    written = Written(monkeypatch)

    try:
        placed = post(place_call, {**sample_body(), "instruction-id": "order-7790-pin"})
    finally:
        # Powertools neither prints nor clears a disabled flush: drop what it kept (the
        # record and the metrics), or the next test's document carries them
        from dtmf_gateway.observability import metrics

        metrics.clear_metrics()

    assert placed.status == 202
    records = [line for line in written.lines() if line.get("message") == "instruction queued"]
    assert records, "the placement's INFO record vanished with the metrics document"
    assert records[0]["correlation_id"] == "order-7790-pin"


def test_the_log_audit_sees_the_line_a_placement_writes(
    place_call: Any, cm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Observability": "Phone numbers, digits, prompts, tokens and secrets are never
    logged (a test audits every log line of the suite)". The audit
    (tests/integration/test_log_hygiene.py) reads `SESSION_LOG`, which a `logging` handler
    fills; since issue 15 a request's INFO record is `print`ed inside its EMF document and
    never passes through `logging`, so the audit no longer sees the one line a placement or a
    callback writes — a personal field added to a `record(...)` call would ship unnoticed."""
    from tests.conftest import SESSION_LOG

    post(place_call, sample_body())  # the cold start goes by
    written = Written(monkeypatch)
    before = len(SESSION_LOG)

    post(place_call, {**sample_body(), "instruction-id": "order-7791-pin"})

    shipped = [line for line in written.lines() if line.get("message") == "instruction queued"]
    assert shipped, "the placement wrote its record"  # what Lambda ships to CloudWatch Logs
    audited = [line for line in SESSION_LOG[before:] if "instruction queued" in line]
    assert audited, "the line Lambda ships is not among the lines the log audit reads"


def test_with_tracing_on_a_placement_record_names_its_trace(
    place_call: Any, cm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `EnableTracing=true` Lambda sets `_X_AMZN_TRACE_ID` and Powertools puts
    `xray_trace_id` on every log line it writes (warnings and errors still carry it), which is
    how one goes from a trace in X-Ray to the request's log line. The INFO record riding in
    the EMF document keeps only level, message, correlation_id and function_request_id: a
    traced placement's one line no longer names its trace."""
    post(place_call, sample_body())  # the cold start goes by
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    written = Written(monkeypatch)

    post(place_call, {**sample_body(), "instruction-id": "order-7792-pin"})

    (record,) = [line for line in written.lines() if line.get("message") == "instruction queued"]
    assert record.get("xray_trace_id") == "1-5759e988-bd862e3fe1be46a994272793"
