"""The `DTMF Call Not Placed` event (round 2, #16): which stream changes publish it, its
entry on the bus, and its shipped JSON Schema."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import jsonschema

from dtmf_gateway.adapters.eventbridge import result_entry
from dtmf_gateway.domain.calls import InstructionStatus
from dtmf_gateway.domain.not_placed import NotPlacedDetail, newly_unplaced, not_placed_detail
from dtmf_gateway.domain.publishing import Change, publish_ended_calls
from dtmf_gateway.domain.schedules import CalleeSchedule, NotPlacedReason, ScheduleStatus
from dtmf_gateway.domain.stored import StoredInstruction
from tests.fakes import InMemoryDeadLetters, InMemoryPublisher

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "dtmf-call-not-placed.v1.json").read_text())
A, B = "+31612345678", "+31612345679"
WAITING = CalleeSchedule(A, ScheduleStatus.SCHEDULED, "2027-01-01T09:00:00.000Z", index=0)


def instruction(*entries: CalleeSchedule) -> StoredInstruction:
    return StoredInstruction(
        instruction_id="order-1",
        owner="arn:aws:iam::123456789012:user/x",
        status=InstructionStatus.SCHEDULED,
        caller="+31201234567",
        callees=tuple(e.callee for e in entries),
        metadata={"order": "1"},
        created_at="2026-12-31T09:00:00.000Z",
        schedule=entries,
    )


def test_a_callee_is_published_once_when_it_ends_unplaced() -> None:
    other = replace(WAITING, callee=B, index=1)
    cancelled = WAITING.ended(NotPlacedReason.CANCELLED, "2027-01-01T08:00:00.000Z")

    assert newly_unplaced(instruction(WAITING, other), instruction(cancelled, other)) == [cancelled]
    # a later change of the other callee does not publish the first again
    placed = replace(other, status=ScheduleStatus.PLACED, call_id="c1")
    assert newly_unplaced(instruction(cancelled, other), instruction(cancelled, placed)) == []
    # stored already ended (deadline before the first moment): published on insert
    assert newly_unplaced(None, instruction(cancelled)) == [cancelled]


def test_the_outbox_publishes_not_placed_events_beside_results() -> None:
    deadline = WAITING.ended(NotPlacedReason.DEADLINE_PASSED, "2027-01-01T09:00:05.000Z")
    publisher = InMemoryPublisher()
    change = Change(
        "1", None, None, old_instruction=instruction(WAITING), new_instruction=instruction(deadline)
    )
    unrelated = Change("2", None, None, instruction(WAITING), instruction(WAITING))

    report = publish_ended_calls([change, unrelated], publisher, InMemoryDeadLetters())

    assert (report.published, report.skipped, report.failed) == (1, 1, [])
    [entry] = publisher.entries
    assert entry["DetailType"] == "DTMF Call Not Placed"
    detail = json.loads(entry["Detail"])
    assert detail == {
        "schema-version": "1",
        "instruction-id": "order-1",
        "callee": A,
        "caller": "+31201234567",
        "reason": "deadline-passed",
        "metadata": {"order": "1"},
        "campaign-id": None,
        "ended-at": "2027-01-01T09:00:05.000Z",
    }
    assert A not in entry["Resources"][0]  # deterministic, no number in clear
    assert (
        entry["Resources"] == result_entry(NotPlacedDetail.model_validate(detail), "b")["Resources"]
    )
    jsonschema.validate(
        {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": detail}, SCHEMA
    )


def test_every_reason_makes_a_valid_event() -> None:
    for reason in NotPlacedReason:
        ended = WAITING.ended(reason, "2027-01-01T09:00:05.000Z")
        detail = not_placed_detail(instruction(ended), ended)
        jsonschema.validate(
            {
                "source": "dtmf-gateway",
                "detail-type": "DTMF Call Not Placed",
                "detail": json.loads(detail.to_json()),
            },
            SCHEMA,
        )


def test_shipped_schema_is_generated_from_the_event_model() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    _, model, detail_type, urn, description = next(
        e for e in module.OTHER_EVENTS if e[0] == "dtmf-call-not-placed.v1.json"
    )
    assert module.event_schema(model, detail_type, urn, description) == SCHEMA, "run `make schema`"
