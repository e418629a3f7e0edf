"""emf.OneDocument: a request's INFO record rides in its metrics document, and is never lost."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from typing import Any

from aws_lambda_powertools import Logger

from dtmf_gateway.emf import OneDocument


def _document(level: str = "INFO") -> tuple[OneDocument, io.StringIO]:
    out = io.StringIO()
    logger = Logger(service=f"emf-test-{uuid.uuid4()}", stream=out, level=level)  # its own
    document = OneDocument(namespace="Test", service="emf-test")
    document.bind(logger)
    return document, out


def _run(document: OneDocument, out: io.StringIO, body: Any) -> list[dict[str, Any]]:
    @document.log_metrics
    def handler(_event: Any, _context: Any) -> None:
        body()

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), _quiet():
        handler({}, None)
    text = out.getvalue() + printed.getvalue()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def _quiet() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools: "No application metrics to publish"
        yield


def test_the_record_is_written_in_the_requests_metrics_document() -> None:
    document, out = _document()

    def body() -> None:
        document.add_metric(name="Things", unit="Count", value=2)
        document.record("things done", {"things": 2})

    (line,) = _run(document, out, body)
    assert line["message"] == "things done"
    assert line["level"] == "INFO"
    assert line["things"] == 2
    assert line["Things"] == [2.0]


def test_without_a_metric_the_record_is_an_ordinary_line() -> None:
    document, out = _document()

    (line,) = _run(document, out, lambda: document.record("nothing counted", {"n": 0}))

    assert line["message"] == "nothing counted"
    assert "_aws" not in line


def test_outside_a_handler_the_record_is_an_ordinary_line_at_once() -> None:
    document, out = _document()

    document.record("at init", {"n": 1})

    assert json.loads(out.getvalue())["message"] == "at init"


def test_a_second_record_in_one_request_is_its_own_line() -> None:
    document, out = _document()

    def body() -> None:
        document.add_metric(name="Things", unit="Count", value=1)
        document.record("first", {})
        document.record("second", {})

    lines = _run(document, out, body)
    assert sorted(line["message"] for line in lines) == ["first", "second"]
    assert [line["message"] for line in lines if "_aws" in line] == ["first"]


def test_above_info_the_record_is_not_logged_and_the_metrics_still_are() -> None:
    document, out = _document(level="WARNING")

    def body() -> None:
        document.add_metric(name="Things", unit="Count", value=1)
        document.record("things done", {"things": 1})

    (line,) = _run(document, out, body)
    assert "message" not in line
    assert line["Things"] == [1.0]


def _directives(line: dict[str, Any]) -> dict[str, list[str]]:
    return {
        metric["Name"]: sorted(directive["Dimensions"][0])
        for directive in line["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def test_a_metric_with_its_own_dimension_rides_in_the_document_under_its_own_set() -> None:
    document, out = _document()

    def body() -> None:
        document.add_metric(name="Received", unit="Count", value=1)
        document.count_by("Recorded", "outcome", "input-received")
        document.record("done", {"outcome": "input-received"})

    (line,) = _run(document, out, body)
    assert _directives(line) == {"Received": ["service"], "Recorded": ["outcome", "service"]}
    assert line["outcome"] == "input-received"
    assert line["Recorded"] == [1.0]


def test_a_dimension_already_used_with_another_value_gets_a_document_of_its_own() -> None:
    document, out = _document()

    def body() -> None:
        document.add_metric(name="Received", unit="Count", value=1)
        document.count_by("Refused", "reason", "a")
        document.count_by("Failed", "reason", "b")
        document.count_by("Refused", "reason", "a")  # a name already carried

    lines = _run(document, out, body)
    carried = {
        (name, line["reason"]) for line in lines for name in _directives(line) if name != "Received"
    }
    assert carried == {("Refused", "a"), ("Failed", "b")}
    assert sum(line.get("Refused", [0.0])[0] for line in lines) == 2.0
    assert len(lines) == 3


def test_without_a_document_the_metric_is_written_alone() -> None:
    document, out = _document()

    (line,) = _run(document, out, lambda: document.count_by("Refused", "reason", "a"))

    assert _directives(line) == {"Refused": ["reason", "service"]}


def test_outside_a_handler_the_metric_is_written_at_once() -> None:
    document, _ = _document()
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        document.count_by("Refused", "reason", "a")

    assert _directives(json.loads(printed.getvalue()))["Refused"] == ["reason", "service"]
