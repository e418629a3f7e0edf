"""Placement guarantees through the deployed stack (issue 12): a slow or dripping CM ends at
the deadline, a retry never rings twice, the 409 points at the instruction. CM instructions
are counted through the simulator's API (`GET /_simulator/calls?instruction-id=`)."""

from __future__ import annotations

from typing import Any

import pytest
from stack_client import LocalStack

from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e


def without_id(callee: str) -> dict[str, Any]:
    body = instruction("unused", callee=callee)
    del body["instruction-id"]
    return body


def test_a_dripping_cm_ends_at_the_deadline_and_a_retry_never_rings_twice(
    stack: LocalStack, new_id: str
) -> None:
    """CM sends its headers at once and then drips the body for 20 s: a per-read timeout
    never fires. The placement's deadline ends it: 504, instruction `unknown`; the retry with
    the same key replays that answer, and CM has exactly one instruction for the key."""
    callee = "+31612345201"
    stack.script_callee(callee, pickup="answer", keys=["4821#"], **{"reply-drip-seconds": 20})
    headers = {"Idempotency-Key": new_id}

    first = stack.api("POST", "/v1/dtmf-calls", without_id(callee), headers)
    retry = stack.api("POST", "/v1/dtmf-calls", without_id(callee), headers)

    assert first.status_code == 504, first.text
    problem = first.json()
    assert problem["type"] == "urn:dtmf-gateway:problem:cm-outcome-unknown"
    assert problem["instruction-status"] == "unknown"
    instruction_id = problem["instruction-id"]
    assert instruction_id.startswith("k-")
    assert retry.status_code == 504
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["instruction-id"] == instruction_id
    assert len(stack.simulator_calls(**{"instruction-id": instruction_id})) == 1
    read = stack.api("GET", f"/v1/dtmf-calls/{instruction_id}")
    assert read.status_code == 200
    assert read.json()["status"] in {"unknown", "queued", "finished"}


def test_a_slow_cm_within_the_deadline_is_placed_once(stack: LocalStack, new_id: str) -> None:
    callee = "+31612345202"
    stack.script_callee(callee, pickup="answer", keys=["4821#"], **{"reply-delay-seconds": 2})
    headers = {"Idempotency-Key": new_id}

    first = stack.api("POST", "/v1/dtmf-calls", without_id(callee), headers)
    again = stack.api("POST", "/v1/dtmf-calls", without_id(callee), headers)

    assert first.status_code == 202, first.text
    assert again.json() == first.json()
    instruction_id = first.json()["instruction-id"]
    assert len(stack.simulator_calls(**{"instruction-id": instruction_id})) == 1


def test_a_taken_instruction_id_is_409_with_the_location_of_the_instruction(
    stack: LocalStack, new_id: str
) -> None:
    callee = "+31612345203"
    stack.script_callee(callee, pickup="answer", keys=["4821#"])
    assert stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee)).status_code == (
        202
    )

    again = stack.api("POST", "/v1/dtmf-calls", instruction(new_id, callee=callee))

    assert again.status_code == 409
    assert again.json()["type"] == "urn:dtmf-gateway:problem:instruction-id-in-use"
    location = again.headers["Location"]
    assert location == f"/v1/dtmf-calls/{new_id}"
    followed = stack.api("GET", location)
    assert followed.status_code == 200
    assert followed.json()["instruction-id"] == new_id
    assert len(stack.simulator_calls(**{"instruction-id": new_id})) == 1


def test_an_id_with_a_colon_round_trips_through_the_callback_url(
    stack: LocalStack, new_id: str
) -> None:
    callee = "+31612345204"
    stack.script_callee(callee, pickup="answer", keys=["4821#"])
    instruction_id = f"order:{new_id}"

    placed = stack.api("POST", "/v1/dtmf-calls", instruction(instruction_id, callee=callee))

    assert placed.status_code == 202, placed.text
    view = stack.wait_for_instruction(instruction_id.replace(":", "%3A"))
    assert view["instruction-id"] == instruction_id
    assert view["calls"][0]["digits"] == "4821"
