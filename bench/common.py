"""What every benchmark section shares: paths, the template's functions and environment,
percentiles, a Lambda context, and the JSON hand-over between parent and child processes."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from devtools.lambdas import LambdaContext  # the same context object the tests use

__all__ = ["LambdaContext"]

ROOT = Path(__file__).resolve().parents[1]
LAYER_DIR = ROOT / "layers" / "shared"
FUNCTIONS_DIR = ROOT / "functions"
EVENTS_DIR = ROOT / "events"
BUILD_DIR = ROOT / ".aws-sam" / "build"
RESULTS_DIR = ROOT / "bench" / "results"

# The benchmark's pretend stack (nothing is deployed; these only fill in the template's refs).
STACK = "dtmf-bench"
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Nothing listens on port 9 (discard): an AWS call at module load fails fast and is visible.
LOOPBACK_ENDPOINT = "http://127.0.0.1:9"

FUNCTION_ORDER = (
    "place_call",
    "get_call",
    "cm_callback",
    "publish_results",
    "expire_calls",
    "example_consumer",
)


class BenchError(RuntimeError):
    """A section could not produce its figures (reported, never a traceback in the table)."""


# ---------------------------------------------------------------------------- template


@cache
def template() -> dict[str, Any]:
    from devtools.template import template as load

    return load()


def functions() -> dict[str, str]:
    """Function folder -> logical id, from the template (CodeUri functions/<folder>/)."""
    found: dict[str, str] = {}
    for logical_id, res in template()["Resources"].items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        code_uri = str(res["Properties"].get("CodeUri", "")).rstrip("/")
        folder = code_uri.removeprefix("functions/")
        if code_uri.startswith("functions/"):
            found[folder] = logical_id
    order = {name: i for i, name in enumerate(FUNCTION_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[0], len(order))))


def memory_mb(logical_id: str) -> int:
    own = template()["Resources"][logical_id]["Properties"].get("MemorySize")
    return int(own or template()["Globals"]["Function"].get("MemorySize", 128))


def _parameter_default(name: str) -> str | None:
    param = template().get("Parameters", {}).get(name)
    return None if param is None else str(param.get("Default", ""))


def _fake_ref(logical_id: str, names: Mapping[str, str]) -> str:
    if logical_id in names:
        return names[logical_id]
    res = template()["Resources"].get(logical_id, {})
    kind = res.get("Type", "")
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{STACK}-{logical_id}-AbCdEf"
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{logical_id}"
    return f"{STACK}-{logical_id}"


_PSEUDO = {
    "AWS::StackName": STACK,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::Partition": "aws",
}


def _ref(ref: str, names: Mapping[str, str]) -> str:
    if ref == "AWS::NoValue":
        return _NO_VALUE
    if ref in _PSEUDO:
        return _PSEUDO[ref]
    default = _parameter_default(ref)
    return default if default is not None else _fake_ref(ref, names)


def _resolve(value: Any, names: Mapping[str, str]) -> str:
    if not isinstance(value, dict):
        return str(value)
    if "Ref" in value:
        return _ref(str(value["Ref"]), names)
    if "Fn::Sub" in value:
        text = str(value["Fn::Sub"])
        for key, sub in _PSEUDO.items():
            text = text.replace("${" + key + "}", sub)
        while "${" in text:
            start = text.index("${")
            end = text.index("}", start)
            ref = text[start + 2 : end]
            text = text[:start] + _resolve({"Ref": ref.split(".")[0]}, names) + text[end + 1 :]
        return text
    if "Fn::GetAtt" in value:
        logical_id, attr = value["Fn::GetAtt"]
        return f"{_fake_ref(logical_id, names)}-{attr}"
    if "Fn::If" in value:  # the bench stands for a real AWS deployment: conditions as there
        condition, when_true, when_false = value["Fn::If"]
        return _resolve(when_true if _condition(str(condition)) else when_false, names)
    raise BenchError(f"cannot resolve {value!r} in the template's environment")


_NO_VALUE = "\x00no-value"  # AWS::NoValue: the variable is not set at all


def _condition(name: str) -> bool:
    """The template's condition as it evaluates for a deployment with default parameters."""
    return _truth(template()["Conditions"][name])


def _truth(expression: Any) -> bool:
    ((function, args),) = expression.items()
    if function == "Fn::Equals":
        left, right = (_resolve(arg, {}) if isinstance(arg, dict) else str(arg) for arg in args)
        return left == right
    if function == "Fn::Not":
        return not _truth(args[0])
    if function == "Fn::And":
        return all(_truth(arg) for arg in args)
    if function == "Fn::Or":
        return any(_truth(arg) for arg in args)
    if function in {"Condition", "Fn::Condition"}:  # `!Condition X` as loaded here
        return _condition(str(args))
    raise BenchError(f"cannot evaluate the condition {expression!r}")


def function_environment(folder: str, names: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the template gives the function (Globals + its own variables), refs
    resolved to the bench stack's names (``names`` overrides logical id -> value)."""
    logical_id = functions()[folder]
    globals_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    own = template()["Resources"][logical_id]["Properties"].get("Environment", {})
    merged = {**globals_env, **own.get("Variables", {})}
    resolved = {key: _resolve(value, names or {}) for key, value in merged.items()}
    if "QUIET_HOURS" in resolved:
        resolved["QUIET_HOURS"] = quiet_hours_away_from_now()
    return {key: value for key, value in resolved.items() if value != _NO_VALUE}


#: The zone of the bench's callees (`bench.world.callee`: Dutch numbers).
BENCH_CALLEE_ZONE = "Europe/Amsterdam"


def quiet_hours_away_from_now(now: datetime | None = None) -> str:
    """Quiet hours (``HH:MM-HH:MM``) that are not now for the bench's callees: the hour that
    starts 12 hours after the current hour in their zone. The template's default
    (21:00-08:00) would make every placement a *scheduled* one whenever the bench runs in the
    Dutch night; this window keeps the check, and its time-zone tables, on the measured path
    while each placement is placed at once, as the lifecycles assume, at any time of day."""
    from zoneinfo import ZoneInfo

    # 12 elapsed hours ahead (not 12 wall-clock hours: a DST change moves the wall clock)
    ahead = (now or datetime.now(UTC)) + timedelta(hours=12)
    start = ahead.astimezone(ZoneInfo(BENCH_CALLEE_ZONE)).replace(minute=0)
    end = start + timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def lambda_runtime_environment(folder: str) -> dict[str, str]:
    """What the Lambda runtime itself sets (besides the template's variables)."""
    logical_id = functions()[folder]
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "ASIABENCHFAKEKEY0000",
        "AWS_SECRET_ACCESS_KEY": "bench-fake-secret-access-key",
        "AWS_SESSION_TOKEN": "bench-fake-session-token",
        "AWS_LAMBDA_FUNCTION_NAME": f"{STACK}-{logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb(logical_id)),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(FUNCTIONS_DIR / folder),
        "_HANDLER": "app.handler",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }


def events_file(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name> (the samples `sam local invoke -e` uses)."""
    from devtools.lambdas import sample_event

    return sample_event(name)


# ---------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "mean": sum(values) / len(values) if values else math.nan,
        "p10": percentile(values, 10),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
    }


# ---------------------------------------------------------------------------- Lambda


# ---------------------------------------------------------------------------- hand-over


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a bench child process run as ``python -m bench.<section>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(LAYER_DIR), str(ROOT / "local"), str(ROOT)])
    env.update(extra or {})
    return env


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def use_product_paths() -> None:
    """A section run on its own (`python -m bench.requests`, as the README writes it): the
    import path `child_env` gives the sections bench.run starts (the shared layer, the local
    tools, the repository root), so the product loads without a PYTHONPATH."""
    for path in (ROOT, ROOT / "local", LAYER_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def emit(results: dict[str, Any], out: str | None) -> None:
    """A section run on its own: its figures as JSON to `out`, or to stdout."""
    if out:
        write_json(Path(out), results)
    else:
        print(json.dumps(results, indent=2))
