"""Hostile review of issue 15 on the local stack: the HTTP API's IAM routes and paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stack_client import LocalStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

BODY = {
    "callee": "+31612345678",
    "caller": "+31201234567",
    "prompt": "Type your PIN.",
    "valid-prompt": "Thank you.",
}


@pytest.mark.parametrize("authorization", ["Bearer x", "Basic dGVzdDp0ZXN0", "x"])
def test_a_request_with_a_non_sigv4_authorization_header_is_refused(
    stack: LocalStack, new_id: str, authorization: str
) -> None:
    response = stack.http.post(
        f"{stack.api_url}/v1/dtmf-calls",
        content=json.dumps({**BODY, "instruction-id": new_id}),
        headers={"Content-Type": "application/json", "Authorization": authorization},
    )

    assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/dtmf-calls/%C3%A9",
        "/v1/dtmf-calls/%FF",
        "/v1/dtmf-calls/%00",
        "/v1/dtmf-calls/%25",
        "/v1/dtmf-calls/a%3Fb",
        "/v1/dtmf-calls/a%2Fb",
        "/v1/dtmf-calls/%2E%2E",
        "/v1/dtmf-calls/" + "a" * 4000,
        "/v1/dtmf-calls/x/",
    ],
)
def test_odd_paths_are_404_never_5xx(stack: LocalStack, path: str) -> None:
    assert stack.api("GET", path).status_code == 404


def test_a_load_run_leaves_a_running_stack_as_it_found_it(stack: LocalStack) -> None:
    """`scripts/with-local-stack` keeps a stack that was already running; the load test set
    the simulator to time scale 0.0005 with 12 callback retries and left it so, and every
    later experiment on that stack (the README's curl of the simulator) ran differently."""
    settings = stack.simulator("GET", "/_simulator/settings").json()
    lambdas = stack.client("lambda")
    place_call = stack.function_name("PlaceCallFunction")
    reserved = lambdas.get_function_concurrency(FunctionName=place_call).get(
        "ReservedConcurrentExecutions"
    )
    live = lambdas.get_alias(FunctionName=place_call, Name="live")["FunctionVersion"]
    timeout = lambdas.get_function_configuration(FunctionName=place_call)["Timeout"]

    run = subprocess.run(
        [sys.executable, "scripts/load_test.py", "--calls", "2", "--rate", "2", "--warmup", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert stack.simulator("GET", "/_simulator/settings").json() == settings
    assert (
        lambdas.get_function_concurrency(FunctionName=place_call).get(
            "ReservedConcurrentExecutions"
        )
        == reserved
    )
    # the run's longer timeout (a version of its own behind `live`) is undone too
    assert lambdas.get_alias(FunctionName=place_call, Name="live")["FunctionVersion"] == live
    assert lambdas.get_function_configuration(FunctionName=place_call)["Timeout"] == timeout
