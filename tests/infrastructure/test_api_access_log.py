"""The API access log: what an operator reads in it, and what it costs (issue 15).

Its group is in the Infrequent Access log class (half the ingestion price), which supports
no metric filter, subscription filter or alarm on the group: nothing may read it that way.
Its lines keep every field the runbook reads (`status`, `integrationStatus`, the source IP,
the caller) and leave out what another field already says.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bench.cost import (
    ACCESS_LOG_SAMPLE_CONTEXT,
    CLOUDWATCH_LOGS_IA_PER_GB_INGESTED,
    CLOUDWATCH_LOGS_PER_GB_INGESTED,
    api_access_log_bytes,
    api_access_log_class,
)
from devtools.template import ROOT, template

RUNBOOK = (ROOT / "docs" / "operations.md").read_text()


def _format() -> str:
    fmt: str = template()["Resources"]["ApiStage"]["Properties"]["AccessLogSettings"]["Format"]
    return fmt


def _filled(sample: dict[str, str]) -> dict[str, Any]:
    line = re.sub(r"\$context\.([\w.]+)", lambda m: sample[m[1]], _format())
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_the_access_log_group_is_infrequent_access_and_nothing_reads_it_as_ia_cannot() -> None:
    resources = template()["Resources"]

    assert resources["ApiAccessLogGroup"]["Properties"]["LogGroupClass"] == "INFREQUENT_ACCESS"
    readers = [
        name
        for name, res in resources.items()
        if res["Type"] in ("AWS::Logs::MetricFilter", "AWS::Logs::SubscriptionFilter")
        and "ApiAccessLogGroup" in json.dumps(res)
    ]
    assert readers == []
    # no alarm or dashboard reads a metric of the log group either
    for res in resources.values():
        if res["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"):
            assert "api-access" not in json.dumps(res)
            assert "ApiAccessLogGroup" not in json.dumps(res)


def test_a_line_is_one_json_object_with_what_the_runbook_reads_and_nothing_twice() -> None:
    for sample in ACCESS_LOG_SAMPLE_CONTEXT:
        line = _filled(sample)

        assert {"requestId", "ip", "caller", "route", "status", "integrationStatus"} <= set(line)
        assert line["route"].startswith("POST /v1/")  # the route key: method and route
    assert "$context.httpMethod" not in _format()  # the route key starts with it
    assert " " not in _format().replace("$context", "")  # no padding between fields
    for field in ("`status`", "`integrationStatus`"):
        assert field in RUNBOOK


def test_the_cost_model_prices_the_access_log_as_what_the_template_deploys() -> None:
    assert api_access_log_class() == "INFREQUENT_ACCESS"
    assert CLOUDWATCH_LOGS_IA_PER_GB_INGESTED == CLOUDWATCH_LOGS_PER_GB_INGESTED / 2
    sizes = [len(json.dumps(_filled(s), separators=(",", ":"))) for s in ACCESS_LOG_SAMPLE_CONTEXT]
    assert api_access_log_bytes() == sum(sizes) / len(sizes)
