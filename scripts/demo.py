"""`make demo`: one whole DTMF call on the local stack, narrated step by step.

The callee (a simulated phone) first types "12#" — too short for a 4-digit PIN — hears the
invalid prompt, then types "4821#". You see the request, the call in the CM simulator, the
callback recorded by the service, and the DTMF Result event the bus delivered.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from stack_client import LocalStack

CALLEE = "+31612345678"
BOLD, DIM, GREEN, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = RESET = ""


def step(n: int, title: str) -> None:
    print(f"\n{BOLD}{n}. {title}{RESET}")


def show(data: Any) -> None:
    for line in json.dumps(data, indent=2).splitlines():
        print(f"   {line}")


def main() -> int:
    started = time.monotonic()
    stack = LocalStack.load()
    stack.events()  # start from an empty capture queue
    stack.script_callee(CALLEE, pickup="answer", keys=["12#", "4821#"])
    instruction_id = f"demo-{uuid.uuid4().hex[:8]}"
    request = {
        "instruction-id": instruction_id,
        "callee": CALLEE,
        "caller": "+31201234567",
        "prompt": "Please type your four digit PIN, then press hash.",
        "valid-prompt": "Thank you, your PIN was received.",
        "invalid-prompt": "That was not four digits. Please try again.",
        "min-digits": 4,
        "max-digits": 4,
        "max-attempts": 3,
        "timeout": 5000,
        "terminators": "#",
        "regex": "[0-9]{4}",
        "metadata": {"order-id": "7781"},
    }

    step(1, f"POST {stack.api_url}/v1/dtmf-calls  (SigV4, Idempotency-Key: {instruction_id})")
    show(request)
    response = stack.api("POST", "/v1/dtmf-calls", request, {"Idempotency-Key": instruction_id})
    print(f"   {GREEN}→ {response.status_code}{RESET}")
    show(response.json())
    if response.status_code != 202:
        return 1

    step(2, "The CM simulator rings the callee, who types keys")
    deadline = time.monotonic() + 30
    call: dict[str, Any] = {}
    while time.monotonic() < deadline:
        calls = stack.simulator_calls(**{"instruction-id": instruction_id})
        if calls and calls[0].get("callbacks"):
            call = calls[0]
            break
        time.sleep(0.2)
    print(f"   {DIM}ringing {CALLEE} … answered, prompt played{RESET}")
    for n, attempt in enumerate(call.get("attempts", []), start=1):
        verdict = "valid" if attempt.get("valid") else "not valid → invalid prompt, try again"
        keys, digits = attempt.get("keys"), attempt.get("digits")
        print(f'   attempt {n}: keys "{keys}" → digits "{digits}" {verdict}')
    result = call.get("result", {})
    print(f"   hung up; result {result.get('code')} {result.get('description')}")
    for delivery in call.get("callbacks", []):
        print(f"   callback POST to the service → HTTP {delivery.get('status')}")

    step(3, f"GET {stack.api_url}/v1/dtmf-calls/{instruction_id}")
    show(stack.wait_for_instruction(instruction_id))

    step(4, "The DTMF Result event on the bus (as the capture rule received it)")
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while not events and time.monotonic() < deadline:
        events = [
            e for e in stack.events(wait=1) if e["detail"]["instruction-id"] == instruction_id
        ]
    if not events:
        print("   no event arrived within 20 s")
        return 1
    show(events[0])

    elapsed = time.monotonic() - started
    script = '{"pickup": "answer", "keys": ["1234#"]}'
    print(f"\n{GREEN}Done in {elapsed:.1f}s.{RESET} The stack is still running:")
    print(f"   endpoints ........ .local/stack.json (API {stack.api_url})")
    print("   magic callees .... +31612345001 no answer, …002 rejects, …004 nothing typed")
    callee_url = f"{stack.cm_simulator_url}/_simulator/callees/{CALLEE}"
    signed = " --aws-sigv4 aws:amz:eu-west-1:execute-api --user test:test" if stack.sandbox else ""
    print(f"   script a callee .. curl{signed} -X PUT {callee_url} \\")
    print(f"                        -H 'Content-Type: application/json' -d '{script}'")
    print("   follow the logs .. make local        stop everything .. make local-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
