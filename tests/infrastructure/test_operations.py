"""What an operator relies on: every metric the code emits is on the dashboard (with the
dimensions the code emits it with), every failure mode has an alarm routed to AlarmTopicArn,
every alarm and metric is in the runbook, exports and version agree everywhere, and every
checkov skip says why."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any, get_args

import pytest

from devtools.template import ROOT, template
from dtmf_gateway.observability import METRIC_DIMENSIONS, MetricName

SOURCES = [
    *(ROOT / "layers" / "shared" / "dtmf_gateway").rglob("*.py"),
    *ROOT.glob("functions/*/app.py"),
]
RUNBOOK = ROOT / "docs" / "operations.md"
# Alarmed before the code emits it; documented as coming.
COMING: set[str] = set()


def _emitted() -> dict[str, str | None]:
    """Metric name -> its own dimension (None: service only), from the one list the code's
    `count`/`count_by` are typed against (mypy refuses any other name)."""
    found: dict[str, str | None] = dict(METRIC_DIMENSIONS)
    found["ColdStart"] = "function_name"  # Powertools' capture_cold_start_metric
    return found


def test_the_metric_list_is_what_the_code_emits() -> None:
    """The list and its Literal type agree; every literal count_by uses the listed dimension;
    the cold-start metric is really captured; nothing the code counts is missing."""
    assert set(METRIC_DIMENSIONS) == set(get_args(MetricName))
    code = "\n".join(path.read_text() for path in SOURCES)
    for name, dimension in re.findall(r'\bcount_by\(\s*"([A-Za-z]+)",\s*"([a-z_]+)"', code):
        assert METRIC_DIMENSIONS[name] == dimension, name  # type: ignore[index]
    for name in re.findall(r'\bcount\(\s*"([A-Za-z]+)"', code):
        assert METRIC_DIMENSIONS[name] is None, name  # type: ignore[index]
    assert "gateway.lambda_handler(app, cold_start_metric=True," in code


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template()["Resources"].items() if r["Type"] == kind}


def _dashboard() -> dict[str, Any]:
    body = _resources("AWS::CloudWatch::Dashboard")["Dashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"]
    # substitute ${...} with placeholders: the rest must be valid dashboard JSON
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
    return parsed


def _dashboard_metrics() -> tuple[
    set[tuple[str, tuple[str, ...]]], set[tuple[str, tuple[str, ...]]]
]:
    """(metric name, dimension names) shown: plain rows, and SEARCH schemas."""
    plain, searched = set(), set()
    for widget in _dashboard()["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                found = re.search(
                    r"\{DtmfGateway,([^}]*)\} MetricName=\"(\w+)\"", row[0]["expression"]
                )
                assert found, row
                searched.add((found[2], tuple(sorted(found[1].split(",")))))
            elif row[0] == "DtmfGateway":
                values = [v for v in row[2:] if isinstance(v, str)]
                plain.add((row[1], tuple(sorted(values[0::2]))))
    return plain, searched


def test_the_scan_finds_the_metrics_the_code_emits() -> None:
    emitted = _emitted()
    # a few the README has always documented, so the grep cannot silently find nothing
    assert {"PlaceRequests", "CallsPlaced", "CallbackForbidden", "ColdStart"} <= set(emitted)
    assert emitted["RequestsRefused"] == "reason"
    assert emitted["CmErrors"] == "kind"


def test_every_emitted_metric_is_on_the_dashboard_with_its_dimensions() -> None:
    plain, searched = _dashboard_metrics()
    for name, dimension in _emitted().items():
        if dimension is None:
            assert (name, ("service",)) in plain, name
        else:
            assert (name, tuple(sorted([dimension, "service"]))) in searched, name
    for name in COMING:
        assert (name, ("service",)) in plain


def test_every_alarm_notifies_the_topic_and_treats_missing_data_explicitly() -> None:
    alarms = _resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == topic, name
        assert props["OKActions"] == topic, name
        assert props["TreatMissingData"] in {"notBreaching", "breaching"}, name
        assert "docs/operations.md#" in json.dumps(props["AlarmDescription"]), name


def _alarmed_dimension_values(metric: str) -> list[Any]:
    values = []
    for alarm in _resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") == metric:
            values.extend(d["Value"] for d in props["Dimensions"])
    return values


def test_every_queue_has_a_depth_alarm() -> None:
    queues = {
        name for name, q in _resources("AWS::SQS::Queue").items() if q.get("Condition") != "IsLocal"
    }
    assert queues, "the stack has dead-letter queues"
    watched = _alarmed_dimension_values("ApproximateNumberOfMessagesVisible")
    for queue in queues:
        assert {"Fn::GetAtt": [queue, "QueueName"]} in watched, queue


def test_every_function_has_error_and_throttle_alarms() -> None:
    for function in _resources("AWS::Serverless::Function"):
        for metric in ("Errors", "Throttles"):
            assert {"Ref": function} in _alarmed_dimension_values(metric), (function, metric)


def test_the_failure_modes_the_runbook_promises_are_alarmed() -> None:
    alarms = _resources("AWS::CloudWatch::Alarm")
    metrics = json.dumps([a["Properties"] for a in alarms.values()])
    for needle in (
        '"5xx"',
        '"CmErrors"',
        '"IteratorAge"',
        '"UnexpectedCallbackShape"',
        '"CallbackForbidden"',
        '"CallbacksRefused"',
        '"CallRecordWriteFailed"',
    ):
        assert needle in metrics, needle
    expirer = alarms["ExpirerNotRunningAlarm"]["Properties"]
    assert expirer["TreatMissingData"] == "breaching"  # silence is the failure here
    assert template()["Parameters"]["ExpiryScheduleMinutes"]["MaxValue"] * 60 <= expirer["Period"]


def test_the_runbook_covers_every_alarm_and_documents_every_metric() -> None:
    runbook = RUNBOOK.read_text()
    anchors = set(re.findall(r"^#+ .*\{#([a-z0-9-]+)\}$", runbook, flags=re.MULTILINE)) | {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE)
    }
    for name, alarm in _resources("AWS::CloudWatch::Alarm").items():
        link = re.search(r"docs/operations\.md#([a-z0-9-]+)", json.dumps(alarm["Properties"]))
        assert link and link[1] in anchors, (name, link and link[1])
    for metric in [*_emitted(), *COMING]:
        assert f"`{metric}`" in runbook, metric


def test_readme_documents_every_metric_the_code_emits() -> None:
    readme = (ROOT / "README.md").read_text()
    for metric in _emitted():
        assert f"`{metric}`" in readme, metric


def test_every_checkov_skip_is_justified() -> None:
    skips = 0
    for name, resource in template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skips += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 40, (name, skip["id"])
    assert skips > 0


def test_version_is_one_everywhere() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    t = template()
    assert t["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"] == version
    assert t["Globals"]["Function"]["Environment"]["Variables"]["DTMF_GATEWAY_VERSION"] == version
    assert t["Outputs"]["Version"]["Value"] == version
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, flags=re.MULTILINE)[1] == version  # type: ignore[index]
    assert f"(version {version})" in json.dumps(_dashboard())


def test_serverless_repo_metadata_is_complete_and_its_files_exist() -> None:
    app = template()["Metadata"]["AWS::ServerlessRepo::Application"]
    for key in (
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "SemanticVersion",
        "SourceCodeUrl",
    ):
        assert app.get(key), key
    assert app["SpdxLicenseId"] == "MIT"
    assert "MIT License" in (ROOT / app["LicenseUrl"]).read_text()
    assert (ROOT / app["ReadmeUrl"]).is_file()


def test_every_parameter_is_described_and_grouped() -> None:
    t = template()
    grouped = [
        p
        for group in t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for p in group["Parameters"]
    ]
    assert sorted(grouped) == sorted(t["Parameters"])
    for name, parameter in t["Parameters"].items():
        assert len(parameter.get("Description", "")) > 20, name


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        (
            "AllowedDestinationCountries",
            "NL,BE,LU,DE,FR,GB,IE,ES,PT,IT,AT,CH,DK,SE,NO,FI,US,CA",
            True,
        ),
        ("AllowedDestinationCountries", "*", True),
        ("AllowedDestinationCountries", "001,NL", True),
        ("AllowedDestinationCountries", "nl; de", False),
        ("AllowedDestinationCountries", "NL, DE", False),
        ("AllowedDestinationCountries", "NL,XX", False),
        ("AllowedDestinationCountries", "NL,*", False),
        ("AllowedDestinationCountries", "", False),
        (
            "BlockedNumberTypes",
            "PREMIUM_RATE,SHARED_COST,UAN,PERSONAL_NUMBER,PAGER,VOICEMAIL,UNKNOWN",
            True,
        ),
        ("BlockedNumberTypes", "default", True),
        ("BlockedNumberTypes", "none", True),
        ("BlockedNumberTypes", "PREMIUM", False),
        ("BlockedNumberTypes", "none,PAGER", False),
        ("AllowedCallers", "", True),
        ("AllowedCallers", "+31201234567,+3210123456", True),
        ("AllowedCallers", "0201234567", False),
        ("AllowedCallers", "+31 20 123 4567", False),
    ],
)
def test_list_parameters_refuse_at_deploy_what_would_break_every_request(
    parameter: str, value: str, accepted: bool
) -> None:
    from dtmf_gateway.domain.policy import DialPolicy

    pattern = template()["Parameters"][parameter]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted
    if accepted:  # what the pattern lets through, the function accepts at init
        keyword = {
            "AllowedDestinationCountries": "allowed_countries",
            "BlockedNumberTypes": "blocked_number_types",
            "AllowedCallers": "allowed_callers",
        }[parameter]
        DialPolicy.from_settings(**{keyword: value})


def test_country_and_type_patterns_list_exactly_what_the_policy_knows() -> None:
    from dtmf_gateway.domain.phone import NUMBER_TYPE_NAMES
    from dtmf_gateway.domain.policy import KNOWN_REGIONS

    params = template()["Parameters"]
    countries = re.search(
        r"\(\?:([^)]+)\)", params["AllowedDestinationCountries"]["AllowedPattern"]
    )
    types = re.search(r"\(\?:([^)]+)\)", params["BlockedNumberTypes"]["AllowedPattern"])
    assert countries and set(countries[1].split("|")) == KNOWN_REGIONS
    assert types and set(types[1].split("|")) == NUMBER_TYPE_NAMES


def test_readme_samconfig_has_a_sync_environment() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    sync = config["default"]["sync"]["parameters"]
    assert sync["watch"] is True
    assert config["default"]["global"]["parameters"]["stack_name"].endswith("-dev")


def _service_name() -> Any:
    return template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


def _alarmed_service_values() -> list[Any]:
    """The `service` dimension value of every DtmfGateway metric an alarm reads."""
    values = []
    for alarm in _resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [props] + [
            m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        for metric in stats:
            if metric.get("Namespace") == "DtmfGateway":
                values += [d["Value"] for d in metric["Dimensions"] if d["Name"] == "service"]
    return values


def test_each_stack_measures_and_alarms_on_its_own_metrics_only() -> None:
    """The code's metrics carry `service` = POWERTOOLS_SERVICE_NAME. With one fixed value for
    every stack, dev (`dtmf-gateway-dev`) and prod (`dtmf-gateway-prod`, samconfig.toml: same
    region) write the same metric streams: prod's CM-error and refused-callback alarms page on
    dev's test traffic and prod's dashboard shows dev's numbers. The service name is the stack's
    name, and every alarm, dashboard row and SEARCH reads exactly that value."""
    assert _service_name() == {"Ref": "AWS::StackName"}
    values = _alarmed_service_values()
    assert values
    assert all(v == {"Ref": "AWS::StackName"} for v in values), values
    text = _resources("AWS::CloudWatch::Dashboard")["Dashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", lambda m: m[0].replace('"', ""), text))[
        "widgets"
    ]:
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                assert 'service=\\"${AWS::StackName}\\"' in json.dumps(row[0]["expression"]), row
            elif row[0] == "DtmfGateway":
                values = [v for v in row[2:] if isinstance(v, str)]
                assert (
                    dict(zip(values[0::2], values[1::2], strict=True))["service"]
                    == "${AWS::StackName}"
                ), row


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
        # a multi-Region key (its replica in this region): DynamoDB, SQS, Secrets Manager and
        # CloudWatch Logs accept it like any symmetric key
        ("arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("arn:aws:kms:eu-west-1:111122223333:alias/dtmf", False),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
    ],
)
def test_kms_key_parameter_accepts_every_key_arn_and_nothing_else(
    value: str, accepted: bool
) -> None:
    pattern = template()["Parameters"]["KmsKeyArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


@pytest.mark.parametrize("value", ["+3120123456", "+999123456789", "+31201234567,+4420123"])
def test_allowed_callers_the_pattern_accepts_do_not_break_cold_start(value: str) -> None:
    from dtmf_gateway.domain.policy import DialPolicy

    pattern = template()["Parameters"]["AllowedCallers"]["AllowedPattern"]
    assert re.fullmatch(pattern, value)
    DialPolicy.from_settings(allowed_callers=value)


def test_the_runbook_names_every_reason_a_refusal_is_counted_under() -> None:
    """An operator reading RequestsRefused/CallbacksRefused by `reason` on the dashboard must
    find each value in the runbook's metric table."""
    code = (ROOT / "layers" / "shared" / "dtmf_gateway" / "api" / "catalogues.py").read_text()
    reasons = set(re.findall(r'reasons=\("([a-z-]+)",\)', code))
    assert {"invalid-request", "unreadable-body"} <= reasons
    table = RUNBOOK.read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    for reason in reasons:
        assert f"`{reason}`" in table, reason
