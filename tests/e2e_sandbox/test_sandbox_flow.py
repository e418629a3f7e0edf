"""The README's demo flow on a stack deployed with CmSandbox=true (issue 14): CM is the stack's
own sandbox Lambda behind its own API, no simulator process. Script a callee (SigV4), POST a
call, the sandbox's delayed SQS message delivers the callback, GET shows the result, the
DTMF Result event is on the bus. Run by `make e2e-sandbox` (not by `make e2e`: its stack is
deployed differently)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from stack_client import LocalStack

pytestmark = pytest.mark.e2e

CALLER = "+31201234567"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    local = LocalStack.load()
    if not local.sandbox:
        pytest.fail("the local stack is not a sandbox one: run `make e2e-sandbox`")
    local.reset_simulator()
    local.events()  # drop what earlier runs left
    yield local
    local.reset_simulator()


def _instruction(instruction_id: str, callee: str) -> dict[str, Any]:
    return {
        "instruction-id": instruction_id,
        "caller": CALLER,
        "callee": callee,
        "prompt": "Please type your four digit PIN, then press hash.",
        "valid-prompt": "Thank you.",
        "invalid-prompt": "That was not four digits.",
        "min-digits": 4,
        "max-digits": 4,
        "max-attempts": 3,
        "timeout": 3000,
        "max-ringing-timeout": 20,
        "terminators": "#",
        "regex": "[0-9]{4}",
        "metadata": {"suite": "e2e-sandbox"},
    }


def _events_of(stack: LocalStack, instruction_id: str, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        found = [e for e in stack.events(wait=1) if e["detail"]["instruction-id"] == instruction_id]
    return found


@pytest.mark.parametrize(
    ("callee", "script", "outcome", "digits"),
    [
        ("+31612345101", {"pickup": "answer", "keys": ["4821#"]}, "input-received", "4821"),
        ("+31612345001", None, "unanswered", None),  # a magic number: no script needed
    ],
    ids=["scripted", "magic-no-answer"],
)
def test_the_demo_flow_through_the_sandbox(
    stack: LocalStack, callee: str, script: dict[str, Any] | None, outcome: str, digits: str | None
) -> None:
    instruction_id = f"e2e-sbx-{uuid.uuid4().hex[:12]}"
    if script is not None:
        stack.script_callee(callee, **script)

    placed = stack.api("POST", "/v1/dtmf-calls", _instruction(instruction_id, callee))

    assert placed.status_code == 202, placed.text
    view = stack.wait_for_instruction(instruction_id, timeout=60)
    [call] = view["calls"]
    assert (call["status"], call["outcome"], call["digits"]) == ("finished", outcome, digits)
    # the sandbox placed the call and delivered its callback (an SQS message, delayed)
    [simulated] = stack.simulator_calls(**{"instruction-id": instruction_id})
    assert simulated["state"] == "callback-delivered"
    assert [c["status"] for c in simulated["callbacks"]][-1:] == [200]
    [event] = _events_of(stack, instruction_id)
    assert (event["detail-type"], event["detail"]["outcome"]) == ("DTMF Result", outcome)
    assert event["detail"]["call-id"] == call["call-id"]


def test_the_scripting_api_is_signed_and_the_dtmf_route_takes_only_the_stacks_token(
    stack: LocalStack,
) -> None:
    unsigned = httpx.get(f"{stack.cm_simulator_url}/_simulator/calls", timeout=30)
    forged = httpx.post(
        f"{stack.cm_simulator_url}/voiceapi/v2/DTMF",
        headers={"X-CM-PRODUCTTOKEN": str(uuid.uuid4()), "Content-Type": "application/json"},
        json={"callee": "+31612345101"},
        timeout=30,
    )

    assert unsigned.status_code == 403, unsigned.text
    assert forged.status_code in {401, 403}, forged.text
    assert stack.simulator("GET", "/_simulator/calls").status_code == 200


def test_a_prod_stage_with_the_sandbox_is_refused_before_anything_is_created(
    stack: LocalStack,
) -> None:
    cloudformation = stack.client("cloudformation")
    deployed = cloudformation.get_template(StackName=stack.stack_name)["TemplateBody"]
    body = deployed if isinstance(deployed, str) else json.dumps(deployed)
    name = f"dtmf-gateway-prod-probe-{uuid.uuid4().hex[:8]}"
    parameters = {"Environment": "prod", "CmSandbox": "true", "LocalEmulator": "true"}

    try:
        with pytest.raises(ClientError) as refused:
            cloudformation.create_stack(
                StackName=name,
                TemplateBody=body,
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
                ],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
    finally:  # accepted: the rule is gone; do not leave a second stack behind
        with contextlib.suppress(ClientError):
            cloudformation.delete_stack(StackName=name)

    assert "NoCmSandboxInProd" in str(refused.value)
