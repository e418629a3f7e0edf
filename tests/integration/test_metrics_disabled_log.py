"""With metrics disabled Powertools prints no EMF document and clears nothing it holds: a
request's record is then an ordinary log line, and nothing of that request (its metrics, its
record's keys) may turn up in a later request's document (`emf.OneDocument.flush_metrics`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_one_log_line import Written
from tests.integration.test_place_call_handler import post, sample_body


def test_a_callback_logged_with_metrics_disabled_leaves_nothing_in_the_next_document(
    place_call: Any, cm: Any, cm_callback: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = post(place_call, sample_body())
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))
    again = post(place_call, {**sample_body(), "instruction-id": "order-7795-pin"})
    other = again.body["calls"][0]["call-id"]
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    written = Written(monkeypatch)

    answer = deliver(
        cm_callback,
        {**callback_body(other), "instruction-id": "order-7795-pin"},
        token_of(cm, 1),
        instruction_id="order-7795-pin",
    )
    (line,) = written.lines()
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")
    post(place_call, {**sample_body(), "instruction-id": "order-7796-pin"})
    (document,) = written.lines()

    assert answer.status == 200
    assert line["message"] == "call finished"  # an ordinary line: no document to ride in
    assert line["call_id"] == other
    assert "_aws" not in line
    assert document["message"] == "instruction queued"
    assert document["correlation_id"] == "order-7796-pin"
    assert "call_id" not in document and "outcome" not in document
    assert "CallbacksReceived" not in document and "CallbacksRecorded" not in document
    assert document["PlaceRequests"] == [1.0]
