"""Cost per 1M calls (place -> callback -> publish [-> GET polls]), from measured counts and
list prices, for a REST or an HTTP API (the API type is an input: both are tabulated).

Telephony (CM) is excluded. Included since issue 15: GET polling (``polls`` GETs per call:
API request, get-call Lambda, one DynamoDB query each), the EventBridge archive of results
(ingestion + storage at its 90-day retention), and the fixed monthly costs that do not scale
with calls (secrets, alarms, the expirer's schedule), shown apart and per 1M calls at each
traffic level. Still left out: CM's own prices, data transfer out, CloudWatch metrics
(Powertools EMF custom metrics: $0.30 per metric per month beyond the free 10), the
schema registry (free without discovery), and the DLQs/alarm topic (idle). The stack-wide
pacing write (issue 17, one UpdateItem per placement) is measured in the lifecycle. The
expirer (issue 15) reads every call's pending-calls entry and item once past `stale-at`
(a line of its own) and moves its cursors each run (fixed); its Lambda duration per call
(a share of a 100-item BatchGetItem, well under a millisecond) is left out. Storage counts
the global secondary index entries too (the pending-calls entry now lives as long as its
call), without PITR (billed on table data and local indexes only).

Inputs: the AWS requests of a warm lifecycle with the
Idempotency-Key header (bench.requests), cold-lifecycle secret reads amortised over cold
starts and cache refreshes, handler CPU from bench.warm (real clients), cold
init from bench.cold (INIT is billed since 2025-08-01), memory from the template, and the log
bytes each function wrote at INFO. Every assumption is a named constant below.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from bench.common import functions, memory_mb, template

# ---------------------------------------------------------------------------- list prices
# us-east-1 list prices as of 2026-11-29 (from AWS pricing pages, not fetched live; the
# machine has no internet access: re-check them against aws.amazon.com/<service>/pricing).
PRICES_AS_OF = "2026-11-29"
PRICE_SOURCE = "AWS pricing pages, us-east-1 list prices, not fetched live"
API_GATEWAY_PER_MILLION = {
    "rest": 3.50,  # REST API requests, first 333M a month
    "http": 1.00,  # HTTP API requests (per 512 KB), first 300M a month
}
EVENTBRIDGE_ARCHIVE_PER_GB = 0.10  # events archived (ingestion)
EVENTBRIDGE_ARCHIVE_STORAGE_PER_GB_MONTH = 0.023
SECRET_PER_MONTH = 0.40
ALARM_PER_MONTH = 0.10  # standard-resolution metric alarm
SANDBOX_CONDITION = "SandboxOn"  # template condition of the CM sandbox (dev/test stages only)
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334  # arm64 duration (INIT billed too since 2025-08-01)
LAMBDA_PER_MILLION_REQUESTS = 0.20
DYNAMODB_PER_MILLION_WRU = 0.625  # on-demand, after the November 2024 price cut
DYNAMODB_PER_MILLION_RRU = 0.125
DYNAMODB_STORAGE_PER_GB_MONTH = 0.25
DYNAMODB_PITR_PER_GB_MONTH = 0.20  # continuous backups (the calls table has PITR on)
EVENTBRIDGE_PER_MILLION_EVENTS = 1.00  # custom events, per 64 KB chunk
SECRETS_MANAGER_PER_10K_CALLS = 0.05
SSM_STANDARD_PARAMETER_PER_10K_CALLS = 0.0  # standard parameters, standard throughput: free
CLOUDWATCH_LOGS_PER_GB_INGESTED = 0.50  # Standard log class (the functions' log groups)
# Infrequent Access log class, ingestion: half the Standard price (us-east-1 list price as of
# 2026-11-30, aws.amazon.com/cloudwatch/pricing "Logs": Infrequent Access $0.25 per GB; not
# fetched live). The template's API access log group is in this class.
CLOUDWATCH_LOGS_IA_PER_GB_INGESTED = 0.25
LOG_CLASS_PRICE_PER_GB = {
    "STANDARD": CLOUDWATCH_LOGS_PER_GB_INGESTED,
    "INFREQUENT_ACCESS": CLOUDWATCH_LOGS_IA_PER_GB_INGESTED,
}
XRAY_PER_MILLION_TRACES_RECORDED = 5.00

# ---------------------------------------------------------------------------- assumptions
IO_MS_PER_AWS_REQUEST = 10.0  # DynamoDB, EventBridge, Secrets Manager, SSM round trip
CM_MS_PER_REQUEST = 300.0  # CM's synchronous DTMF answer
CPU_SCALE = 1769 / 256  # 256 MB = 0.145 vCPU (1 vCPU at 1,769 MB); CPU time stretches
STREAM_BATCH_RECORDS = {"low": 1, "high": 10}  # records per publisher invocation
COLD_START_FRACTION = 0.01  # invocations that start a new execution environment
SECRETS_MAX_AGE_S = 300  # SECRETS_MAX_AGE_SECONDS default: each environment refetches
XRAY_RESERVOIR_PER_S = 1.0  # default sampling rule: 1 request/s, shared by all services ...
XRAY_RATE = 0.05  # ... then 5 % of the rest
PLATFORM_LOG_BYTES_PER_INVOCATION = 450  # START, END, REPORT (+ X-Ray trace id) lines
PLATFORM_LOG_EVENTS_PER_INVOCATION = 3
# One request's values of the access log's $context variables, as API Gateway fills them
# (the two requests of a call: the caller's signed POST and CM's unsigned callback); the
# bytes per request are the template's format filled with them (api_access_log_bytes).
ACCESS_LOG_SAMPLE_CONTEXT = (
    {
        "requestId": "JjzKbhb1IAMEbDw=",
        "identity.sourceIp": "203.0.113.17",
        "identity.userArn": "arn:aws:sts::111122223333:assumed-role/order-service/session-1",
        "httpMethod": "POST",
        "routeKey": "POST /v1/dtmf-calls",
        "status": "202",
        "responseLatency": "412",
        "integrationStatus": "202",
        "integrationErrorMessage": "-",
    },
    {
        "requestId": "JjzKchb2IAMEbEx=",
        "identity.sourceIp": "198.51.100.23",
        "identity.userArn": "-",
        "httpMethod": "POST",
        "routeKey": "POST /v1/callbacks/cm/{instruction-id}",
        "status": "200",
        "responseLatency": "48",
        "integrationStatus": "200",
        "integrationErrorMessage": "-",
    },
)
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs bills 26 bytes of metadata per event
DAYS_RETAINED = 30  # RetentionDays default: items live that long (TTL)
SECONDS_PER_MONTH = 30 * 24 * 3600
TARGET_USD_PER_MILLION = 12.0  # issue 15
DEFAULT_POLLS_PER_CALL = 0.0  # GET /v1/dtmf-calls/{id} per call: event consumers poll 0 times
RESULT_EVENT_BYTES = 1_200  # one DTMF Result as archived (envelope + detail), measured sample
ARCHIVE_RETENTION_MONTHS = 3  # the template's ResultArchive keeps 90 days
RRU_PER_POLL = 0.5  # one eventually consistent query page of a few small items
RRU_PER_4KB_EVENTUAL = 0.5  # an eventually consistent read, per 4 KB (BatchGetItem, queries)

TRAFFIC = {
    "low": {"label": "1M calls/month, evenly", "calls_per_s": 1_000_000 / SECONDS_PER_MONTH},
    "high": {"label": "20 calls/s sustained", "calls_per_s": 20.0},
}


def tracing_enabled_by_default() -> bool:
    """The template's EnableTracing default (X-Ray is only billed when tracing is on)."""
    template = (Path(__file__).resolve().parents[1] / "template.yaml").read_text()
    match = re.search(r"EnableTracing:\n(?:\s+.*\n)*?\s+Default: \"?(\w+)", template)
    return bool(match) and match.group(1) == "true"


def _sampled_fraction(trace_starts_per_s: float) -> float:
    """Share of traces X-Ray records under the default rule (reservoir shared by services)."""
    if trace_starts_per_s <= 0:
        return 0.0
    kept = min(trace_starts_per_s, XRAY_RESERVOIR_PER_S) + XRAY_RATE * max(
        trace_starts_per_s - XRAY_RESERVOIR_PER_S, 0
    )
    return kept / trace_starts_per_s


def _lambda_ms(function: str, lifecycle: dict[str, Any], warm: dict[str, Any]) -> dict[str, float]:
    """Estimated billed duration of one invocation of `function` (no cold start)."""
    ops = lifecycle["by_function"].get(function, {})
    aws_calls = sum(n for op, n in ops.items() if not op.startswith(("secretsmanager", "ssm")))
    scen = warm["scenarios"]
    # bench.warm measures with the real clients: botocore and httpx CPU are in these already;
    # its CPU time when it has it (wall time on a loaded machine counts others' work too)
    key = "product_cpu_ms" if "product_cpu_ms" in scen["callback"] else "product_ms"
    cpu = {
        "place_call": scen["place_call_with_key"][key]["mean"],
        "cm_callback": scen["callback"][key]["mean"],
        "publish_results": scen["publish"][key]["mean"],
    }[function]
    io = aws_calls * IO_MS_PER_AWS_REQUEST + (CM_MS_PER_REQUEST if function == "place_call" else 0)
    return {"cpu_ms": cpu * CPU_SCALE, "io_ms": io, "billed_ms": math.ceil(cpu * CPU_SCALE + io)}


def _lambda_lines(
    per_call: dict[str, float], life: dict[str, Any], warm: dict[str, Any], cold: Any, batch: int
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    gb_s = 0.0
    durations = {}
    for fn, invocations in per_call.items():
        d = _lambda_ms(fn, life, warm)
        if fn == "publish_results":  # the rest of the batch: CPU only, one PutEvents per 10
            d["billed_ms"] = math.ceil(d["billed_ms"] + (batch - 1) * d["cpu_ms"])
        durations[fn] = d
        init_ms = 0.0
        if cold and "function_wall_ms" in cold["functions"].get(fn, {}):
            init_ms = cold["functions"][fn]["function_wall_ms"]["median"]
        billed = d["billed_ms"] + COLD_START_FRACTION * init_ms
        gb_s += invocations * memory_mb(functions()[fn]) / 1024 * billed / 1000
    lines = {
        "Lambda requests": sum(per_call.values()) * LAMBDA_PER_MILLION_REQUESTS,
        "Lambda duration (arm64)": gb_s * 1e6 * LAMBDA_ARM64_PER_GB_SECOND,
    }
    return lines, durations


def _secret_reads(
    per_call: dict[str, float], cold_life: dict[str, Any], durations: dict[str, Any], rate: float
) -> tuple[float, float]:
    """0 per warm call; fetched again at each cold start and every max-age per environment."""
    secret_reads = ssm_reads = 0.0
    for fn, invocations in per_call.items():
        ops = cold_life["by_function"].get(fn, {})
        concurrency = rate * invocations * durations[fn]["billed_ms"] / 1000
        refreshes = max(1, math.ceil(concurrency)) / (rate * invocations * SECRETS_MAX_AGE_S)
        share = invocations * (COLD_START_FRACTION + refreshes)
        secret_reads += share * ops.get("secretsmanager:GetSecretValue", 0)
        ssm_reads += share * ops.get("ssm:GetParameter", 0)
    return secret_reads, ssm_reads


def platform_log_lines() -> bool:
    """Whether Lambda ingests its START/END/REPORT lines: yes unless the template's
    LoggingConfig is JSON with a SystemLogLevel above INFO (then only WARN+ platform events)."""
    config = template()["Globals"]["Function"].get("LoggingConfig", {})
    return not (
        config.get("LogFormat") == "JSON" and config.get("SystemLogLevel") in ("WARN", "ERROR")
    )


def api_access_log_bytes() -> float:
    """Bytes of one API access log line: the template's format filled with each sample
    request's values (`ACCESS_LOG_SAMPLE_CONTEXT`), averaged over the call's two requests."""
    stage = template()["Resources"]["ApiStage"]["Properties"]
    log_format = stage["AccessLogSettings"]["Format"]
    sizes = [
        len(re.sub(r"\$context\.([\w.]+)", lambda m, c=sample: c[m[1]], log_format).encode())
        for sample in ACCESS_LOG_SAMPLE_CONTEXT
    ]
    return sum(sizes) / len(sizes)


def api_access_log_class() -> str:
    """The API access log group's log class in the template (STANDARD unless it says)."""
    group = template()["Resources"]["ApiAccessLogGroup"]["Properties"]
    return str(group.get("LogGroupClass", "STANDARD"))


def _log_bytes(requests: dict[str, Any], invocations: float) -> float:
    """The functions' log bytes per call (Standard class), 26 B per event included."""
    log_bytes = sum(requests["log_bytes_per_lifecycle"].values())
    log_events = sum(requests.get("log_lines_per_lifecycle", {}).values())
    platform = invocations if platform_log_lines() else 0.0
    events = log_events + platform * PLATFORM_LOG_EVENTS_PER_INVOCATION
    return (
        log_bytes + platform * PLATFORM_LOG_BYTES_PER_INVOCATION + LOG_EVENT_OVERHEAD_BYTES * events
    )


def _access_log_bytes(api_requests: int) -> float:
    """The API access log's bytes per call (one event per request, 26 B each included)."""
    return api_requests * (api_access_log_bytes() + LOG_EVENT_OVERHEAD_BYTES)


def _template_default(name: str) -> int:
    return int(template()["Parameters"][name]["Default"])


def expirer_overlap_seconds() -> int:
    """The expirer's cursor overlap (adapters/dynamodb/pending_calls.py OVERLAP_SECONDS),
    read from the source so the model follows it (bench.run does not import the product)."""
    source = Path(__file__).resolve().parents[1] / (
        "layers/shared/dtmf_gateway/adapters/dynamodb/pending_calls.py"
    )
    match = re.search(r"^OVERLAP_SECONDS = (\d+)", source.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError("OVERLAP_SECONDS not found in pending_calls.py")
    return int(match.group(1))


def expirer_reads_per_call(requests: dict[str, Any]) -> dict[str, float]:
    """Issue 15: the expirer reads every call's pending-calls entry once its `stale-at` has
    passed (ended calls keep theirs) — its index entry in a query page and its item by
    BatchGetItem, both eventually consistent — once, and again in each later run whose
    overlap still covers it (OVERLAP_SECONDS / the schedule's period on average)."""
    sizes = requests.get("expirer_read_bytes_per_call", {})
    period_s = _template_default("ExpiryScheduleMinutes") * 60
    times = 1 + expirer_overlap_seconds() / period_s
    item_rru = math.ceil(max(sizes.get("call_item", 1), 1) / 4096) * RRU_PER_4KB_EVENTUAL
    entry_rru = sizes.get("pending_entry", 0) / 4096 * RRU_PER_4KB_EVENTUAL
    return {"times_read": times, "rru": times * (item_rru + entry_rru)}


def fixed_monthly() -> dict[str, float]:
    """USD a month the stack costs with no traffic (from the template's resources, as deployed
    to production: the CM sandbox's resources exist only with CmSandbox=true, never in prod)."""
    resources = [
        r.get("Type")
        for r in template()["Resources"].values()
        if r.get("Condition") != SANDBOX_CONDITION
    ]
    schedule_runs = SECONDS_PER_MONTH / 60 / _template_default("ExpiryScheduleMinutes")
    shards = _template_default("PendingCallsShards")
    # issue 15: each run moves every shard's cursor (one 1-WRU write each) and reads the
    # cursors (one query) and every shard's index range (one query page each, at least)
    cursor_wru = schedule_runs * shards
    run_rru = schedule_runs * (1 + shards) * RRU_PER_4KB_EVENTUAL
    return {
        "Secrets Manager secrets": resources.count("AWS::SecretsManager::Secret")
        * SECRET_PER_MONTH,
        "CloudWatch alarms": resources.count("AWS::CloudWatch::Alarm") * ALARM_PER_MONTH,
        "expirer schedule (Lambda requests)": schedule_runs * LAMBDA_PER_MILLION_REQUESTS / 1e6,
        "expirer cursors (DynamoDB)": (
            cursor_wru * DYNAMODB_PER_MILLION_WRU + run_rru * DYNAMODB_PER_MILLION_RRU
        )
        / 1e6,
    }


REQUEST_SHAPES = {  # bench.requests' lifecycles, by what a POST /v1/dtmf-calls carries
    "with_key": "Idempotency-Key + explicit instruction-id",
    "key_derived_id": "Idempotency-Key, id derived from it (README)",
    "without_key": "no Idempotency-Key",
}


def _scenario(
    traffic: str,
    requests: dict[str, Any],
    warm: dict[str, Any],
    cold: dict[str, Any] | None,
    *,
    api: str,
    polls: float,
    shape: str = "with_key",
) -> dict[str, Any]:
    """One traffic level on one API type, for one request shape (`with_key`: an
    Idempotency-Key and an explicit `instruction-id`, the headline; `key_derived_id`: a key,
    the id derived from it; `without_key`): its requests, writes and stored bytes are that
    shape's lifecycle; its Lambda CPU is the keyed placement's (bench.warm)."""
    rate = TRAFFIC[traffic]["calls_per_s"]
    life = requests["scenarios"][f"warm_{shape}"]
    batch = STREAM_BATCH_RECORDS[traffic]
    per_call = {"place_call": 1.0, "cm_callback": 1.0, "publish_results": 1 / batch}
    api_requests = 2  # POST /v1/dtmf-calls and CM's POST /v1/callbacks/cm/{id}

    lines: dict[str, float] = {
        f"API Gateway {api.upper()} (POST + callback)": api_requests * API_GATEWAY_PER_MILLION[api]
    }
    lambda_lines, durations = _lambda_lines(per_call, life, warm, cold, batch)
    lines.update(lambda_lines)
    lines["DynamoDB writes"] = life["dynamodb_wru"] * DYNAMODB_PER_MILLION_WRU
    lines["DynamoDB reads"] = life["dynamodb_rru"] * DYNAMODB_PER_MILLION_RRU
    expirer = expirer_reads_per_call(requests)
    lines["DynamoDB reads (expirer)"] = expirer["rru"] * DYNAMODB_PER_MILLION_RRU
    get_cpu = warm["scenarios"].get("get_call", {}).get("product_ms", {}).get("mean", 1.5)
    get_ms = math.ceil(get_cpu * CPU_SCALE + IO_MS_PER_AWS_REQUEST)
    per_poll = (
        API_GATEWAY_PER_MILLION[api]
        + LAMBDA_PER_MILLION_REQUESTS
        + memory_mb(functions()["get_call"])
        / 1024
        * get_ms
        / 1000
        * 1e6
        * LAMBDA_ARM64_PER_GB_SECOND
        + RRU_PER_POLL * DYNAMODB_PER_MILLION_RRU
    )
    lines[f"GET polling ({polls:g} per call)"] = polls * per_poll
    archived_gb = RESULT_EVENT_BYTES * 1e6 / 1e9
    lines["EventBridge archive (90 days)"] = archived_gb * (
        EVENTBRIDGE_ARCHIVE_PER_GB
        + EVENTBRIDGE_ARCHIVE_STORAGE_PER_GB_MONTH * ARCHIVE_RETENTION_MONTHS
    )
    stored = requests.get("stored_bytes_by_shape", {}).get(shape) or {
        "stored": requests.get("stored_bytes_per_lifecycle", 0),
        "indexed": requests.get("stored_index_bytes_per_lifecycle", 0),
    }
    stored_gb = stored["stored"] * 1e6 / 1e9
    indexed_gb = stored["indexed"] * 1e6 / 1e9
    lines["DynamoDB storage + PITR"] = (
        DAYS_RETAINED
        / 30
        * (
            stored_gb * (DYNAMODB_STORAGE_PER_GB_MONTH + DYNAMODB_PITR_PER_GB_MONTH)
            + indexed_gb * DYNAMODB_STORAGE_PER_GB_MONTH  # PITR is billed on table data only
        )
    )
    lines["EventBridge PutEvents"] = life["put_events_units"] * EVENTBRIDGE_PER_MILLION_EVENTS
    secret_reads, ssm_reads = _secret_reads(
        # a cold start's secret reads do not depend on the request's shape: the headline's
        per_call,
        requests["scenarios"]["cold_with_key"],
        durations,
        rate,
    )
    lines["Secrets Manager"] = secret_reads * 100 * SECRETS_MANAGER_PER_10K_CALLS
    lines["SSM Parameter Store"] = ssm_reads * 100 * SSM_STANDARD_PARAMETER_PER_10K_CALLS
    function_log_bytes = _log_bytes(requests, sum(per_call.values()))
    access_log_bytes = _access_log_bytes(api_requests)
    log_bytes = function_log_bytes + access_log_bytes
    lines["CloudWatch Logs ingestion"] = (
        function_log_bytes * 1e6 / 1e9 * CLOUDWATCH_LOGS_PER_GB_INGESTED
    )
    access_class = api_access_log_class()
    label = " (IA)" if access_class == "INFREQUENT_ACCESS" else ""  # Infrequent Access
    lines[f"CloudWatch Logs, API access{label}"] = (
        access_log_bytes * 1e6 / 1e9 * LOG_CLASS_PRICE_PER_GB[access_class]
    )
    trace_starts = api_requests + per_call["publish_results"]
    sampled = _sampled_fraction(rate * trace_starts)
    xray = trace_starts * sampled * XRAY_PER_MILLION_TRACES_RECORDED
    tracing = tracing_enabled_by_default()
    lines["X-Ray traces" if tracing else "X-Ray traces (EnableTracing=false)"] = (
        xray if tracing else 0.0
    )

    total = sum(lines.values())
    calls_per_month = rate * SECONDS_PER_MONTH
    fixed = sum(fixed_monthly().values())
    return {
        "api": api,
        "polls_per_call": polls,
        "usd_per_million_polls": per_poll,
        "fixed_usd_per_million_calls": fixed / calls_per_month * 1e6,
        "traffic": TRAFFIC[traffic]["label"],
        "calls_per_s": rate,
        "usd_per_million_calls": lines,
        "total": total,
        "within_target": total <= TARGET_USD_PER_MILLION,
        "notes": {
            "lambda_billed_ms": {fn: d["billed_ms"] for fn, d in durations.items()},
            "secret_reads_per_call": secret_reads,
            "expirer_rru_per_call": expirer["rru"],
            "ssm_reads_per_call": ssm_reads,
            "log_bytes_per_call": log_bytes,
            "function_log_bytes_per_call": function_log_bytes,
            "access_log_bytes_per_call": access_log_bytes,
            "xray_sampled_fraction": sampled,
            "xray_traces_per_call": trace_starts * sampled,
            "xray_usd_if_enabled": xray,
        },
    }


def run(
    requests: dict[str, Any],
    warm: dict[str, Any],
    cold: dict[str, Any] | None,
    *,
    api: str = "rest",
    polls: float = DEFAULT_POLLS_PER_CALL,
) -> dict[str, Any]:
    """Both API types at both traffic levels; `api` is the one the template deploys today."""
    return {
        "deployed_api": api,
        "fixed_usd_per_month": fixed_monthly(),
        "prices_as_of": PRICES_AS_OF,
        "price_source": PRICE_SOURCE,
        "region": "us-east-1",
        "target_usd": TARGET_USD_PER_MILLION,
        "assumptions": {
            "io_ms_per_aws_request": IO_MS_PER_AWS_REQUEST,
            "cm_ms_per_request": CM_MS_PER_REQUEST,
            "cpu_scale": CPU_SCALE,
            "stream_batch_records": STREAM_BATCH_RECORDS,
            "cold_start_fraction": COLD_START_FRACTION,
            "secrets_max_age_s": SECRETS_MAX_AGE_S,
            "xray_sampling": f"default rule: {XRAY_RESERVOIR_PER_S:g}/s shared + {XRAY_RATE:.0%}",
            "platform_log_bytes_per_invocation": (
                PLATFORM_LOG_BYTES_PER_INVOCATION if platform_log_lines() else 0
            ),
            "api_access_log_bytes_per_request": api_access_log_bytes(),
            "api_access_log_class": api_access_log_class(),
            "days_retained": DAYS_RETAINED,
        },
        "scenarios": {
            f"{name}-{kind}": _scenario(name, requests, warm, cold, api=kind, polls=polls)
            for kind in ("rest", "http")
            for name in TRAFFIC
        },
        # the deployed API's totals for each request shape the README describes
        "totals_by_shape": {
            shape: {
                name: _scenario(name, requests, warm, cold, api=api, polls=polls, shape=shape)[
                    "total"
                ]
                for name in TRAFFIC
            }
            for shape in REQUEST_SHAPES
            if f"warm_{shape}" in requests["scenarios"]
        },
    }
