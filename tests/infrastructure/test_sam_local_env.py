"""`sam local invoke <fn> --env-vars events/env.json` cannot reach real AWS.

SAM CLI overrides only the environment variables the template declares, and passes the
shell's real credentials into the container. So the proof takes two steps, both with SAM's own
code: scripts/sam_local_env.py (run by the SAM CLI's interpreter) resolves each function's
environment exactly as `sam local` does, with "real" credentials in the shell; then each
function's handler runs on its sample event in a fresh interpreter with exactly that
environment and a socket guard that records every host it tries to reach (and refuses all).
Every host must be the local stack's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from devtools.template import ROOT, template

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
ENV_FILE = ROOT / "events" / "env.json"
SHELL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "eu-west-1",
}
SAMPLES = {
    "PlaceCallFunction": "place_call.json",
    "GetCallFunction": "get_call.json",
    "ErasePersonalDataFunction": "erase_personal_data.json",
    "CmCallbackFunction": "cm_callback.json",
    "PublishResultsFunction": "publish_results.json",
    "ExpireCallsFunction": "expire_calls.json",
    "ExampleConsumerFunction": "example_consumer.json",
    "CmSandboxFunction": "cm_sandbox.json",
    "DeliverWebhooksFunction": "deliver_webhooks.json",
    "DialCallFunction": "dial_call.json",
    "CancelCallFunction": "cancel_call.json",
    "ListCallsFunction": "list_calls.json",
    "CampaignsFunction": "campaigns.json",
    "CampaignWorkerFunction": "campaign_worker.json",
    "RecordPlacementsFunction": "record_placements.json",
}
# Functions whose sample invocation must call AWS (so the guard is seen to catch something).
CALLS_AWS = {
    "PlaceCallFunction",
    "GetCallFunction",
    "ErasePersonalDataFunction",
    "CmCallbackFunction",
    "PublishResultsFunction",
    "ExpireCallsFunction",
    "CmSandboxFunction",
    "DeliverWebhooksFunction",
    "DialCallFunction",
    "CancelCallFunction",
    "ListCallsFunction",
    "CampaignsFunction",
    "CampaignWorkerFunction",
    "RecordPlacementsFunction",
}

# Runs one handler in a fresh interpreter; every DNS lookup and connect is recorded and refused.
GUARD = """
import json, socket, sys
attempts = []
def _refuse(host):
    attempts.append(str(host))
    raise ConnectionRefusedError(f"refused by the test's socket guard: {host}")
socket.getaddrinfo = lambda host, *a, **k: _refuse(host)
socket.socket.connect = lambda self, address: _refuse(address[0])
socket.socket.connect_ex = lambda self, address: _refuse(address[0])
sys.path.insert(0, sys.argv[1])
from devtools.lambdas import LambdaContext
outcome = "returned"
try:
    import importlib
    module, _, name = sys.argv[3].rpartition(".")  # the function's Handler (app.handler)
    handler = getattr(importlib.import_module(module), name)
    handler(json.load(open(sys.argv[2])), LambdaContext())
except Exception as error:
    outcome = type(error).__name__
print("GUARD-REPORT " + json.dumps({"attempts": attempts, "outcome": outcome}))
"""


def _functions() -> list[str]:
    return sorted(
        name
        for name, r in template()["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    )


@cache
def _sam_resolved() -> dict[str, dict[str, str]]:
    if not SAM_PYTHON.exists():
        pytest.skip("SAM CLI venv missing (make install creates .tools/sam)")
    shell = {
        "PATH": os.environ["PATH"],
        "HOME": str(ROOT / ".aws-sam"),  # no ~/.aws of the developer's
        "SAM_CLI_TELEMETRY": "0",
        **SHELL_CREDENTIALS,
    }
    out = subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "scripts" / "sam_local_env.py"), "template.yaml", ENV_FILE],
        cwd=ROOT,
        env=shell,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resolved: dict[str, dict[str, str]] = json.loads(out)
    return resolved


def _run_guarded(function: str, environment: dict[str, str], home: Path) -> dict[str, Any]:
    properties = template()["Resources"][function]["Properties"]
    code_uri = ROOT / str(properties["CodeUri"])
    env = {
        **environment,
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)]),
        # test harness only: fail fast instead of retrying refused connections
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            GUARD,
            str(code_uri),
            str(ROOT / "events" / SAMPLES[function]),
            properties["Handler"],
        ],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    reports = [ln for ln in result.stdout.splitlines() if ln.startswith("GUARD-REPORT ")]
    assert reports, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(reports[-1].removeprefix("GUARD-REPORT "))
    return report


def test_every_function_has_a_sample_and_gets_the_endpoint_override() -> None:
    resolved = _sam_resolved()
    assert set(SAMPLES) == set(_functions()) == set(resolved)
    local = json.loads(ENV_FILE.read_text())["Parameters"]["AWS_ENDPOINT_URL"]
    for function, env in resolved.items():
        assert env.get("AWS_ENDPOINT_URL") == local, function
        assert not any(k.startswith("AWS_ENDPOINT_URL_") for k in env), function
        assert env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false") != "true", function


def test_every_url_the_file_sets_is_local() -> None:
    for section in json.loads(ENV_FILE.read_text()).values():
        for name, value in section.items():
            if value.startswith("http"):
                assert urlsplit(value).hostname == "host.docker.internal", name


@pytest.mark.parametrize("function", _functions())
def test_sam_local_invoke_with_env_json_reaches_only_the_local_stack(
    function: str, tmp_path: Path
) -> None:
    report = _run_guarded(function, _sam_resolved()[function], tmp_path)

    assert set(report["attempts"]) <= {"host.docker.internal"}, report
    if function in CALLS_AWS:
        assert report["attempts"], f"{function} tried no connection at all: {report}"


def test_the_guard_sees_real_aws_when_the_override_is_missing(tmp_path: Path) -> None:
    """Control: the same run without the endpoint override tries *.amazonaws.com."""
    env = dict(_sam_resolved()["GetCallFunction"])
    del env["AWS_ENDPOINT_URL"]

    report = _run_guarded("GetCallFunction", env, tmp_path)

    assert any(host.endswith(".amazonaws.com") for host in report["attempts"]), report
