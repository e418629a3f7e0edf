"""Issue 15: the README's "Capacity on paper" table states the template's defaults.

Each row that quotes a parameter's default (or a figure the template fixes) is held to
template.yaml here, so changing a default without the table — or the table without the
template — fails. The figures derived from AWS's quotas and assumed latencies are not
checked (they are stated as such in the README).
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.template import ROOT, template


def _rows() -> dict[str, str]:
    """The table's rows by their first cell."""
    section = (ROOT / "README.md").read_text().split("### Capacity on paper", 1)[1]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| limit"))
    rows: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows[line.split(" | ", 1)[0].removeprefix("| ")] = line
    return rows


def _defaults() -> dict[str, Any]:
    return {name: p.get("Default") for name, p in template()["Parameters"].items()}


def _resource(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template()["Resources"][name]["Properties"]
    return properties


def _expected() -> list[tuple[str, str]]:
    p = _defaults()
    expirer = _resource("ExpireCallsFunction")
    stream = _resource("PublishResultsFunction")["Events"]["CallChanges"]["Properties"]
    return [
        (
            "client route throttle",
            f"{p['ApiThrottlingRateLimit']} req/s, burst {p['ApiThrottlingBurstLimit']}",
        ),
        (
            "callback route throttle",
            f"{int(p['CallbackThrottlingRateLimit']):,} req/s, burst"
            f" {int(p['CallbackThrottlingBurstLimit']):,}",
        ),
        ("callback Lambda reserved concurrency", f"| {p['CallbackReservedConcurrency']} env"),
        ("pending-calls index shards", f"% {p['PendingCallsShards']}`"),
        ("DynamoDB stream → publisher", f"{stream['BatchSize']} records per batch"),
        (
            "DynamoDB stream → publisher",
            f"`PublishParallelizationFactor` ({p['PublishParallelizationFactor']}) publisher",
        ),
        (
            "DynamoDB on-demand",
            f"`CallsTableWarmWritesPerSecond` ({p['CallsTableWarmWritesPerSecond']}:",
        ),
        ("expirer", f"up to {int(expirer['Timeout']) - 5} s a run"),
        ("expirer", f"every {p['ExpiryScheduleMinutes']} min"),
        ("webhook fan-out", f"`WebhookMaxConcurrency` ({p['WebhookMaxConcurrency']})"),
    ]


@pytest.mark.parametrize(("row", "figure"), _expected(), ids=lambda v: str(v)[:40])
def test_the_capacity_table_quotes_the_template_defaults(row: str, figure: str) -> None:
    found = [line for first, line in _rows().items() if first.startswith(row)]

    assert found, row
    assert figure in found[0], (row, figure)


def test_the_limits_the_table_names_as_parameters_are_wired_to_them() -> None:
    """Issue 15: each limit of "Capacity on paper" is moved by a documented parameter. The
    publisher's parallelisation and the calls table's warm throughput were fixed in the
    template (not set); they are parameters now, and setting them reaches the resources."""
    stream = _resource("PublishResultsFunction")["Events"]["CallChanges"]["Properties"]
    assert stream["ParallelizationFactor"] == {"Ref": "PublishParallelizationFactor"}

    warm = _resource("CallsTable")["WarmThroughput"]
    assert warm == {
        "Fn::If": [
            "HasCallsTableWarmWrites",
            {"WriteUnitsPerSecond": {"Ref": "CallsTableWarmWritesPerSecond"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # 0 (the default) leaves the table as DynamoDB makes it: no warm throughput is asked for
    condition = template()["Conditions"]["HasCallsTableWarmWrites"]
    assert condition == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CallsTableWarmWritesPerSecond"}, "0"]}]
    }
    assert _defaults()["CallsTableWarmWritesPerSecond"] == 0
    assert _defaults()["PublishParallelizationFactor"] == 1
