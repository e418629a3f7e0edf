"""Issue 19 through the deployed stack: `digits-mode` and erasure, audited where data lands —
a scan of the calls and idempotency tables, GET, the events the bus delivered, every function's
log lines."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from stack_client import LocalStack

from scripts import erase_number
from tests.e2e.conftest import BusEvents
from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e

# With a `*`, none of these can be part of an id, a time, a hash or a masked number.
EXPECTED = "73*1"
WRONG = "73*0"
OMITTED = "73*2"
REGEX = "[0-9*]{4}"


def _scan(stack: LocalStack, table: str) -> str:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return json.dumps([item for page in pages for item in page["Items"]])


def _logs(stack: LocalStack, since_ms: int, calls: int) -> list[str]:
    """Every function's log lines since `since_ms`, once the callback function's lines for
    `calls` finished calls have arrived (log delivery lags; at most 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        logs = stack.function_logs(since_ms)
        lines = [line for found in logs.values() for line in found]
        finished = sum('"message":"callfinished"' in line.replace(" ", "") for line in lines)
        if finished >= calls or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def _everything(stack: LocalStack, since_ms: int, events: list[dict[str, Any]], calls: int) -> str:
    return "\n".join(
        [
            _scan(stack, stack.table_name),
            _scan(stack, f"{stack.stack_name}-idempotency"),
            json.dumps(events),
            *_logs(stack, since_ms, calls),
        ]
    )


def _place(stack: LocalStack, instruction_id: str, callee: str, keys: str, **extra: Any) -> None:
    stack.script_callee(callee, pickup="answer", keys=[f"{keys}#"])
    body = instruction(instruction_id, callee=callee, regex=REGEX, **extra)
    placed = stack.api("POST", "/v1/dtmf-calls", body, {"Idempotency-Key": instruction_id})
    assert placed.status_code == 202, placed.text


def test_verify_and_omit_keep_no_digits_anywhere(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    since = int(time.time() * 1000) - 1000
    cases = {
        f"{new_id}-match": ("+31612345191", EXPECTED, {"digits-mode": "verify"}, True),
        f"{new_id}-mismatch": ("+31612345192", WRONG, {"digits-mode": "verify"}, False),
        f"{new_id}-omit": ("+31612345193", OMITTED, {"digits-mode": "omit"}, None),
    }
    for instruction_id, (callee, keys, mode, _) in cases.items():
        extra = {**mode, "expected-digits": EXPECTED} if mode["digits-mode"] == "verify" else mode
        _place(stack, instruction_id, callee, keys, **extra)

    events: list[dict[str, Any]] = []
    for instruction_id, (_, _, _, verified) in cases.items():
        [call] = stack.wait_for_instruction(instruction_id)["calls"]
        assert (call["outcome"], call["digits"]) == ("input-received", None)
        assert call.get("verified") is verified
        [event] = bus.for_instruction(instruction_id, 1, timeout=60)
        assert event["detail"]["digits"] is None
        assert event["detail"].get("verified") is verified
        events.append(event)

    everything = _everything(stack, since, events, calls=len(cases))
    for secret in (EXPECTED, WRONG, OMITTED):
        assert secret not in everything
    assert "v1:" in everything  # the keyed hash of the expected digits is what is kept
    # the logs were read: the callback function's line for each of the three calls
    assert everything.replace(" ", "").count('"message":"callfinished"') >= len(cases)


def test_erase_then_replay_brings_nothing_back(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    callee = "+31612345194"
    _place(stack, new_id, callee, EXPECTED)
    stack.wait_for_instruction(new_id)
    [published] = bus.for_instruction(new_id, 1, timeout=60)
    assert published["detail"]["digits"] == EXPECTED  # plain mode: published (cannot be erased)

    erased = stack.api("DELETE", f"/v1/dtmf-calls/{new_id}/personal-data")
    again = stack.api("DELETE", f"/v1/dtmf-calls/{new_id}/personal-data")
    replay = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee=callee, regex=REGEX),
        {"Idempotency-Key": new_id},
    )

    assert (erased.status_code, again.status_code) == (200, 200), erased.text
    view = erased.json()
    assert again.json() == view
    assert view["erased-at"]
    assert (view["caller"], view["callees"], view["metadata"]) == (None, [None], {})
    [call] = view["calls"]
    assert (call["callee"], call["digits"], call["outcome"]) == (None, None, "input-received")
    assert stack.api("GET", f"/v1/dtmf-calls/{new_id}").json() == view
    assert replay.status_code == 202
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["calls"][0]["callee"] is None
    assert len(stack.simulator_calls(**{"instruction-id": new_id})) == 1
    tables = _scan(stack, stack.table_name) + _scan(stack, f"{stack.stack_name}-idempotency")
    assert callee not in tables and callee[1:] not in tables
    assert EXPECTED not in tables
    assert stack.api("DELETE", f"/v1/dtmf-calls/{new_id}-unknown/personal-data").status_code == 404


def test_erase_by_number_on_the_deployed_tables(
    stack: LocalStack, new_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    callee = "+31612345195"
    for suffix in ("a", "b"):
        _place(stack, f"{new_id}-{suffix}", callee, EXPECTED)
        stack.wait_for_instruction(f"{new_id}-{suffix}")
    item = stack.client("dynamodb").get_item(
        TableName=stack.table_name,
        Key={"pk": {"S": f"instruction#{new_id}-a"}, "sk": {"S": "instruction"}},
    )["Item"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack.region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")

    code = erase_number.main(
        [
            "--owner",
            item["owner"]["S"],
            "--number",
            callee,
            "--table",
            stack.table_name,
            "--idempotency-table",
            f"{stack.stack_name}-idempotency",
            "--place-call-function",
            stack.function_name("PlaceCallFunction"),
            "--apply",
        ]
    )

    assert code == 0
    for suffix in ("a", "b"):
        view = stack.api("GET", f"/v1/dtmf-calls/{new_id}-{suffix}").json()
        assert view["erased-at"] and view["callees"] == [None]
        replay = stack.api(
            "POST",
            "/v1/dtmf-calls",
            instruction(f"{new_id}-{suffix}", callee=callee, regex=REGEX),
            {"Idempotency-Key": f"{new_id}-{suffix}"},
        )
        assert replay.json()["calls"][0]["callee"] is None  # the deployed record id matched
    assert callee not in _scan(stack, stack.table_name)
