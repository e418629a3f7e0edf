"""Issue 12 through the deployed stack: the outbox publishes whatever form CM echoes the
callee in (the simulator's `reply-callee-format`), and a result too big for EventBridge."""

from __future__ import annotations

import pytest
from stack_client import LocalStack

from tests.e2e.conftest import BusEvents
from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e

FORMATS = ("e164", "national-00", "no-plus", "omitted")


@pytest.mark.parametrize("reply_format", FORMATS)
def test_any_reply_callee_format_is_published_in_e164(
    stack: LocalStack, bus: BusEvents, new_id: str, reply_format: str
) -> None:
    callee = f"+3161234520{FORMATS.index(reply_format)}"
    stack.script_callee(
        callee, pickup="answer", keys=["4821#"], **{"reply-callee-format": reply_format}
    )

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee))

    assert placed.status_code == 202, placed.text
    assert [c["callee"] for c in placed.json()["calls"]] == [callee]
    view = stack.wait_for_instruction(new_id)
    assert [c["callee"] for c in view["calls"]] == [callee]
    [event] = bus.for_instruction(new_id, 1)
    assert event["detail"]["callee"] == callee
    assert event["detail"]["digits"] == "4821"


def test_several_callees_each_in_another_reply_format(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    callees = [f"+3161234521{n}" for n in range(len(FORMATS))]
    for callee, reply_format in zip(callees, FORMATS, strict=True):
        stack.script_callee(callee, pickup="no-answer", **{"reply-callee-format": reply_format})

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callees=callees))

    assert placed.status_code == 202, placed.text
    view = stack.wait_for_instruction(new_id)
    assert sorted(c["callee"] for c in view["calls"]) == sorted(callees)
    events = bus.for_instruction(new_id, len(callees))
    assert sorted(e["detail"]["callee"] for e in events) == sorted(callees)


def test_a_result_over_the_limits_is_stored_bounded_and_published_within_eventbridges(
    stack: LocalStack, bus: BusEvents, new_id: str
) -> None:
    callee = "+31612345230"
    huge = {"result": {"description": "d" * 300_000}}
    stack.script_callee(callee, pickup="answer", keys=["4821#"], **{"callback-extra": huge})

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee))

    assert placed.status_code == 202, placed.text
    view = stack.wait_for_instruction(new_id)
    stored = view["calls"][0]["result"]["description"]
    assert stored.startswith("ddd")
    assert stored.endswith("…[trimmed]")  # bounded to 64 KB in the table (DynamoDB: 400 KB)
    assert len(stored.encode()) <= 64 * 1024
    [event] = bus.for_instruction(new_id, 1)  # published, not stuck on EventBridge's 256 KB
    assert event["detail"]["result"]["description"] == stored
    assert event["detail"]["digits"] == "4821"
    assert view["calls"][0]["outcome"] == "input-received"
