"""Scheduled calls on the deployed local stack (round 2, #16): ministack runs EventBridge
Scheduler's one-time `at()` schedules (a sweep every 10 s), the dial function places the
call, DELETE cancels what has not rung. Scheduler is given at least a minute's lead
(adapters.scheduler.MIN_LEAD), so these tests wait about 70-80 s for a schedule to fire."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from stack_client import LocalStack

from tests.e2e.conftest import BusEvents
from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e

FIRES_WITHIN = 150  # seconds: the minute's lead, the emulator's sweep, cold starts


def soon(seconds: int = 5) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_scheduled_call_is_placed_at_its_time_and_a_cancelled_one_never_rings(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    placed_id, cancelled_id = f"{new_id}-p", f"{new_id}-c"
    stack.script_callee("+31612345161", pickup="answer", keys=["4821#"])
    stack.script_callee("+31612345162", pickup="answer", keys=["4821#"])

    scheduled = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(placed_id, callee="+31612345161", **{"not-before": soon()}),
    )
    to_cancel = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(cancelled_id, callee="+31612345162", **{"not-before": soon()}),
    )
    cancelled = stack.api("DELETE", f"/v1/dtmf-calls/{cancelled_id}")

    assert scheduled.status_code == 202, scheduled.text
    body: dict[str, Any] = scheduled.json()
    assert body["status"] == "scheduled"
    assert body["calls"][0]["status"] == "scheduled" and body["calls"][0]["call-id"] is None
    assert stack.simulator_calls(**{"instruction-id": placed_id}) == []  # not yet
    assert to_cancel.status_code == 202, to_cancel.text
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["calls"][0]["status"] == "cancelled"

    view = stack.wait_for_instruction(placed_id, timeout=FIRES_WITHIN)
    [call] = view["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")
    assert [a["call-id"] for a in call["attempts"]] == [call["call-id"]]
    [result] = bus.for_instruction(placed_id, 1)
    assert result["detail-type"] == "DTMF Result"
    assert result["detail"]["call-id"] == call["call-id"]

    [not_placed] = bus.for_instruction(cancelled_id, 1)
    assert not_placed["detail-type"] == "DTMF Call Not Placed"
    assert not_placed["detail"]["reason"] == "cancelled"
    assert not_placed["detail"]["callee"] == "+31612345162"
    # its schedule fired with the other one's (same moment, same sweep): it rang nobody
    time.sleep(15)
    assert stack.simulator_calls(**{"instruction-id": cancelled_id}) == []
    assert stack.api("DELETE", f"/v1/dtmf-calls/{cancelled_id}").json() == cancelled.json()


def test_cancel_of_another_principal_s_instruction_is_404(stack: LocalStack, new_id: str) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    placed = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee="+31612345163", **{"not-before": later}),
    )
    assert placed.status_code == 202, placed.text

    unknown = stack.api("DELETE", "/v1/dtmf-calls/e2e-no-such-instruction")

    assert unknown.status_code == 404
    assert stack.api("DELETE", f"/v1/dtmf-calls/{new_id}").status_code == 200


def test_bad_scheduling_keys_are_422(stack: LocalStack, new_id: str) -> None:
    refused = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee="+31612345164", **{"not-after": "2020-01-01T00:00:00Z"}),
    )

    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["not-after"]


def test_a_callee_who_misses_the_first_call_answers_the_redial(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    callee = "+31612345165"
    stack.script_callee(
        callee,
        **{"per-call": [{"pickup": "no-answer"}, {"pickup": "answer", "keys": ["4821#"]}]},
    )
    redial = {"on": ["unanswered"], "max-redials": 2, "interval-seconds": 60}

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee, redial=redial))

    assert placed.status_code == 202, placed.text
    assert placed.json()["status"] == "scheduled"
    # the first call (a scheduled dial), its callback, a minute's interval, the redial
    view = stack.wait_for_instruction(new_id, timeout=2 * FIRES_WITHIN + 60)
    [call] = view["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")
    assert [a["outcome"] for a in call["attempts"]] == ["unanswered", "input-received"]
    assert call["attempts"][1]["call-id"] == call["call-id"]
    [result] = bus.for_instruction(new_id, 1)  # one result per callee, when final
    assert result["detail"]["attempts"] == 2
    assert result["detail"]["call-id"] == call["call-id"]
    assert len(stack.simulator_calls(**{"instruction-id": new_id})) == 2


def test_list_pages_through_my_instructions_newest_first(stack: LocalStack, new_id: str) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids = [f"{new_id}-{n}" for n in range(3)]
    for instruction_id in ids:
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        placed = stack.api(
            "POST",
            "/v1/dtmf-calls",
            instruction(instruction_id, callee="+31612345166", **{"not-before": later}),
        )
        assert placed.status_code == 202, placed.text
        time.sleep(0.01)  # distinct created-at milliseconds
    query = f"created-from={since.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}&limit=2"

    first = stack.api("GET", f"/v1/dtmf-calls?{query}")
    token = first.json()["next-token"]
    second = stack.api("GET", f"/v1/dtmf-calls?{query}&next-token={token}")
    bad = stack.api("GET", "/v1/dtmf-calls?limit=500")

    assert first.status_code == 200, first.text
    assert [i["instruction-id"] for i in first.json()["items"]] == ids[::-1][:2]
    assert [i["instruction-id"] for i in second.json()["items"]] == ids[:1]
    assert second.json()["next-token"] is None
    assert {i["status"] for i in first.json()["items"]} == {"scheduled"}
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["limit"]
    for instruction_id in ids:  # leave nothing to fire
        stack.api("DELETE", f"/v1/dtmf-calls/{instruction_id}")
