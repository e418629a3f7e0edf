"""Through the deployed stack: API Gateway → Lambdas → DynamoDB → stream → EventBridge, with
the CM simulator ringing scripted callees. Run by `make test` (and `make e2e`)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from stack_client import LocalStack

from tests.e2e.conftest import BusEvents

pytestmark = pytest.mark.e2e

CALLER = "+31201234567"


def instruction(instruction_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instruction-id": instruction_id,
        "caller": CALLER,
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
        "metadata": {"suite": "e2e"},
    }
    body.update(overrides)
    return body


ANSWER = "answer"
SCENARIOS = [
    # callee, script, outcome, digits, code
    ("+31612345101", {"pickup": "answer", "keys": ["4821#"]}, "input-received", "4821", 10),
    (
        "+31612345102",
        {"pickup": ANSWER, "keys": ["12#", "99#", "4821#"]},
        "input-received",
        "4821",
        10,
    ),
    (
        "+31612345103",
        {"pickup": ANSWER, "keys": ["1#", "22#", "333#"]},
        "invalid-input",
        "333",
        10,
    ),
    ("+31612345104", {"pickup": "answer", "keys": []}, "no-input", None, 10),
    ("+31612345105", {"pickup": "no-answer"}, "unanswered", None, 9),
    ("+31612345106", {"pickup": "reject"}, "rejected", None, 12),
    ("+31612345107", {"pickup": "fail"}, "failed", None, 11),
]


@pytest.mark.parametrize(
    ("callee", "script", "outcome", "digits", "code"),
    SCENARIOS,
    ids=[s[2] + "-" + s[0][-1] for s in SCENARIOS],
)
def test_every_outcome_through_the_stack(
    stack: LocalStack,
    bus: BusEvents,
    new_id: str,
    callee: str,
    script: dict[str, Any],
    outcome: str,
    digits: str | None,
    code: int,
) -> None:
    stack.script_callee(callee, **script)

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee))

    assert placed.status_code == 202, placed.text
    view = stack.wait_for_instruction(new_id)
    [call] = view["calls"]
    assert (call["status"], call["outcome"], call["digits"]) == ("finished", outcome, digits)
    assert call["result"]["code"] == code
    [event] = bus.for_instruction(new_id, 1)
    assert event["detail"]["outcome"] == outcome
    assert event["detail"]["digits"] == digits
    assert event["detail"]["call-id"] == call["call-id"]
    assert event["detail"]["metadata"] == {"suite": "e2e"}


def test_multi_callee_instruction(stack: LocalStack, bus: BusEvents, new_id: str) -> None:
    stack.script_callee("+31612345111", pickup="answer", keys=["1111#"])
    stack.script_callee("+31612345112", pickup="no-answer")

    placed = stack.api(
        "POST", "/v1/dtmf-calls", instruction(new_id, callees=["+31612345111", "+31612345112"])
    )

    assert placed.status_code == 202, placed.text
    assert len(placed.json()["calls"]) == 2
    view = stack.wait_for_instruction(new_id)
    assert [(c["callee"], c["outcome"]) for c in view["calls"]] == [
        ("+31612345111", "input-received"),
        ("+31612345112", "unanswered"),
    ]
    events = bus.for_instruction(new_id, 2)
    assert sorted(e["detail"]["outcome"] for e in events) == ["input-received", "unanswered"]


def test_idempotent_replay_places_one_call(stack: LocalStack, bus: BusEvents, new_id: str) -> None:
    body = instruction(new_id, callee="+31612345121")
    headers = {"Idempotency-Key": new_id}

    first = stack.api("POST", "/v1/dtmf-calls", body, headers)
    again = stack.api("POST", "/v1/dtmf-calls", body, headers)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    stack.wait_for_instruction(new_id)
    assert len(stack.simulator_calls(**{"instruction-id": new_id})) == 1
    assert len(bus.for_instruction(new_id, 1)) == 1


def test_forged_callback_is_refused(stack: LocalStack, new_id: str) -> None:
    stack.script_callee("+31612345131", pickup="answer", keys=["4821#"])
    stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee="+31612345131"))
    view = stack.wait_for_instruction(new_id)
    [sim_call] = stack.simulator_calls(**{"instruction-id": new_id})
    real = urlsplit(sim_call["callback-url"])
    assert parse_qs(real.query)["token"]
    forged = {
        "type": "dtmf-finished",
        "call-id": view["calls"][0]["call-id"],
        "result": {"code": 9, "description": "Cancelled"},
    }

    wrong = stack.api("POST", f"/v1/callbacks/cm/{new_id}?token=" + "A" * 43, forged, sign=False)
    missing = stack.api("POST", f"/v1/callbacks/cm/{new_id}", forged, sign=False)

    assert wrong.status_code == missing.status_code == 403
    assert stack.wait_for_instruction(new_id) == view


def test_duplicate_callbacks_produce_one_event(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    stack.script_callee("+31612345141", pickup="answer", keys=["4821#"])
    stack.simulator_settings(delivery="duplicate")
    try:
        stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee="+31612345141"))
        stack.wait_for_instruction(new_id)
        events = bus.for_instruction(new_id, 1, settle=3)
        [sim_call] = stack.simulator_calls(**{"instruction-id": new_id})
    finally:
        stack.simulator_settings(delivery="normal")

    assert len([c for c in sim_call["callbacks"] if c["status"] == 200]) == 2
    assert len(events) == 1


def test_validation_errors(stack: LocalStack, new_id: str) -> None:
    bad = instruction(new_id, callee="0031612345678", **{"min-digits": 0, "timeout": 10})
    bad["min-digit"] = 4

    response = stack.api("POST", "/v1/dtmf-calls", bad)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"callee", "min-digits", "timeout", "min-digit"} <= fields
    assert stack.api("GET", f"/v1/dtmf-calls/{new_id}").status_code == 404

    unreadable = stack.api("POST", "/v1/dtmf-calls", raw="{not json")
    assert unreadable.status_code == 400


def test_the_api_requires_a_signature(stack: LocalStack, new_id: str) -> None:
    unsigned = stack.api(
        "POST", "/v1/dtmf-calls", instruction(new_id, callee="+31612345151"), sign=False
    )

    assert unsigned.status_code == 403
    assert stack.simulator_calls(**{"instruction-id": new_id}) == []


# ------------------------------------------------------------------ CM's corners (issue 12)


def test_a_float_in_cms_result_is_recorded_and_published(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    stack.script_callee(
        "+31612345161",
        pickup="answer",
        keys=["4821#"],
        **{"callback-extra": {"result": {"code": 10.0, "duration": 12.5}, "leg": {"mos": 4.25}}},
    )

    stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee="+31612345161"))

    [call] = stack.wait_for_instruction(new_id)["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")
    assert call["result"]["duration"] == 12.5
    assert call["result"]["code"] == 10
    [event] = bus.for_instruction(new_id, 1)
    assert event["detail"]["result"]["duration"] == 12.5
    assert event["detail"]["digits"] == "4821"


def test_digits_under_another_key_are_recorded_and_counted(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    since = int(time.time() * 1000) - 1000
    stack.script_callee(
        "+31612345162", pickup="answer", keys=["4821#"], **{"callback-digits-key": "dtmf"}
    )

    stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee="+31612345162"))

    [call] = stack.wait_for_instruction(new_id)["calls"]
    assert call["outcome"] == "no-input"  # by CM's documented key; but never silently:
    [event] = bus.for_instruction(new_id, 1)
    assert event["detail"]["outcome"] == "no-input"
    deadline = time.monotonic() + 20
    lines: list[str] = []
    while time.monotonic() < deadline:
        logs = stack.function_logs(since)
        lines = [line for group, found in logs.items() if "allback" in group for line in found]
        if any("UnexpectedCallbackShape" in line for line in lines):
            break
        time.sleep(0.5)
    assert any('"UnexpectedCallbackShape":[1.0]' in line.replace(" ", "") for line in lines)
    assert any('"keys":["dtmf"]' in line.replace(" ", "") for line in lines)
