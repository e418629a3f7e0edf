"""What an operator reads in CloudWatch Logs for one call (issue 15: every line is billed).

A placement and its callback each write one line: the request's EMF metrics document, which
also carries what the INFO line used to say (message, instruction id as `correlation_id`,
request id, counts, call id, outcome). Warnings stay ordinary lines. The lines are captured
from stdout, as Lambda captures them: Powertools Logger's handler and EMF's print both write
there (the logger's stream is pointed at the test's captured stdout).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import httpx
import pytest

from tests.integration.test_callback_handler import INSTRUCTION, callback_body, deliver, token_of
from tests.integration.test_place_call_handler import post, sample_body


class Written:
    """Everything written to stdout meanwhile (EMF's print and the logger's handler), as JSON
    lines: patched in the test body, where pytest's own capture no longer swaps stdout."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from dtmf_gateway.observability import logger

        self._buffer = io.StringIO()
        handlers = logging.getLogger(logger.service).handlers
        (handler,) = [h for h in handlers if isinstance(h, logging.StreamHandler)]
        monkeypatch.setattr(handler, "stream", self._buffer)
        monkeypatch.setattr(sys, "stdout", self._buffer)

    def lines(self) -> list[dict[str, Any]]:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _metrics(line: dict[str, Any]) -> dict[str, list[str]]:
    """Metric name -> its dimension names, over every directive of an EMF document."""
    found: dict[str, list[str]] = {}
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for metric in directive["Metrics"]:
            (dimensions,) = directive["Dimensions"]
            found[metric["Name"]] = sorted(dimensions)
    return found


def test_a_placement_writes_one_line_that_is_its_log_record_and_its_metrics(
    place_call: Any, cm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(place_call, sample_body())  # the cold start's ColdStart document goes by
    written = Written(monkeypatch)

    placed = post(place_call, {**sample_body(), "instruction-id": "order-7782-pin"})

    assert placed.status == 202
    (line,) = written.lines()
    assert line["level"] == "INFO"
    assert line["message"] == "instruction queued"
    assert line["correlation_id"] == "order-7782-pin"
    assert line["calls"] == 1
    assert line["function_request_id"]
    assert _metrics(line) == {"PlaceRequests": ["service"], "CallsPlaced": ["service"]}
    assert line["PlaceRequests"] == [1.0]
    assert line["CallsPlaced"] == [1.0]


def test_a_placement_cm_refuses_still_logs_its_warning_as_a_line_of_its_own(
    place_call: Any, cm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    post(place_call, sample_body())
    written = Written(monkeypatch)
    cm.replies = [lambda _: httpx.Response(401)]

    refused = post(place_call, {**sample_body(), "instruction-id": "order-7782-pin"})

    assert refused.status == 502
    lines = written.lines()
    (warning,) = [line for line in lines if line.get("level") == "WARNING"]
    assert warning["message"] == "CM placed nothing"
    assert warning["correlation_id"] == "order-7782-pin"
    assert "_aws" not in warning
    assert not [line for line in lines if line.get("level") == "INFO"]
    # the refusal's own-dimension metric rides in the request's one document
    (document,) = [line for line in lines if "_aws" in line]
    assert _metrics(document) == {"PlaceRequests": ["service"], "CmErrors": ["kind", "service"]}
    assert document["kind"] == "refused"
    assert len(lines) == 2


def test_a_recorded_callback_writes_one_line_with_the_outcome_and_both_metrics(
    place_call: Any, cm: Any, cm_callback: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = post(place_call, sample_body())
    call_id = placed.body["calls"][0]["call-id"]
    deliver(cm_callback, callback_body(call_id), token_of(cm))  # cm-callback's cold start
    written = Written(monkeypatch)

    again = post(place_call, {**sample_body(), "instruction-id": "order-7783-pin"})
    written.lines()
    other = again.body["calls"][0]["call-id"]
    answer = deliver(
        cm_callback,
        {**callback_body(other), "instruction-id": "order-7783-pin"},
        token_of(cm, 1),
        instruction_id="order-7783-pin",
    )

    assert answer.status == 200
    (record,) = written.lines()
    assert record["message"] == "call finished"
    assert record["level"] == "INFO"
    assert record["correlation_id"] == "order-7783-pin"
    assert record["call_id"] == other
    assert record["outcome"] == "input-received"
    assert "4821" not in json.dumps(record)  # the digits typed are never logged
    assert INSTRUCTION not in json.dumps(record)
    # the same metrics two documents made: the dashboard's and alarms' dimension sets
    assert _metrics(record) == {
        "CallbacksReceived": ["service"],
        "CallbacksRecorded": ["outcome", "service"],
    }
    assert record["CallbacksReceived"] == [1.0]
    assert record["CallbacksRecorded"] == [1.0]
