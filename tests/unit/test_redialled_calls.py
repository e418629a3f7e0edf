"""Which call a redial attempt redials (round 2, #16): kept on the callee's schedule apart
from ``call_id`` (``redials``), so that an attempt whose CM answer is lost no longer names
the earlier call as its own, and items written before the field are read alike."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import (
    REDIALS,
    schedule_fields,
    schedule_from_fields,
)
from dtmf_gateway.domain.calls import InstructionStatus, Outcome
from dtmf_gateway.domain.dialling import placed_unknown
from dtmf_gateway.domain.redialling import next_attempt
from dtmf_gateway.domain.schedules import (
    UNKNOWN_OUTCOME_NOTE,
    CalleeSchedule,
    NotPlacedReason,
    ScheduleStatus,
    SchedulingRules,
)
from dtmf_gateway.domain.stored import StoredInstruction

ROOT = Path(__file__).resolve().parents[2]
NL = "+31612345678"
FIRST, SECOND = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
MOMENT = "2027-06-10T10:02:00.000Z"

call_ids = st.none() | st.sampled_from([FIRST, SECOND])
schedules = st.builds(
    CalleeSchedule,
    callee=st.none() | st.just(NL),
    status=st.sampled_from(ScheduleStatus),
    scheduled_for=st.none() | st.just(MOMENT),
    attempt=st.integers(min_value=1, max_value=6),
    reason=st.none() | st.sampled_from(NotPlacedReason),
    ended_at=st.none() | st.just(MOMENT),
    call_id=call_ids,
    detail=st.none() | st.just(UNKNOWN_OUTCOME_NOTE) | st.just("401 unauthorised"),
    queued_at=st.none() | st.just(MOMENT),
    redials=call_ids,
    index=st.integers(min_value=0, max_value=9),
)


@settings(max_examples=200)
@given(schedules)
def test_a_callees_schedule_reads_back_as_written_the_call_it_redials_included(
    entry: CalleeSchedule,
) -> None:
    read = schedule_from_fields(entry.callee, entry.index, schedule_fields(entry))

    assert read == entry
    assert read is not None and read.redials == entry.redials


@settings(max_examples=200)
@given(schedules)
def test_an_attempt_whose_cm_answer_is_lost_names_no_call_but_still_the_one_it_redials(
    entry: CalleeSchedule,
) -> None:
    placed = placed_unknown(entry)

    assert (placed.status, placed.call_id, placed.queued_at) == (
        ScheduleStatus.PLACED,
        None,
        None,
    )
    assert placed.redialled_call == entry.redialled_call
    assert not placed.redials_call(FIRST) or entry.redials_call(FIRST)


def waiting_redial(call_id: str) -> CalleeSchedule:
    return CalleeSchedule(NL, ScheduleStatus.SCHEDULED, MOMENT, attempt=2, call_id=call_id, index=0)


def test_an_item_written_before_redials_was_kept_reads_the_earlier_call_from_call_id() -> None:
    old = {k: v for k, v in schedule_fields(waiting_redial(FIRST)).items() if k != REDIALS}
    entry = schedule_from_fields(NL, 0, old)
    assert entry is not None and entry.redials is None

    assert entry.redialled_call == FIRST  # waiting: its call_id is the call it redials
    claimed = replace(entry, status=ScheduleStatus.DIALLING)
    assert claimed.redialled_call == FIRST
    assert placed_unknown(claimed).redials == FIRST  # kept once CM's answer is lost
    refused = replace(claimed, queued_at=MOMENT, reason=NotPlacedReason.CM_REFUSED)
    assert refused.redialled_call == FIRST  # CM's refusal noted: still the earlier call
    noted = replace(claimed, queued_at=MOMENT, call_id=SECOND)
    assert noted.redialled_call is None  # a noted queued call names its own call
    placed = replace(entry, status=ScheduleStatus.PLACED, call_id=SECOND)
    assert placed.redialled_call is None and not placed.redials_call(SECOND)


def test_a_first_attempt_redials_nothing() -> None:
    first = CalleeSchedule(NL, ScheduleStatus.PLACED, MOMENT, call_id=FIRST, index=0)

    assert first.redialled_call is None
    assert not first.redials_call(FIRST)


# ---------------------------------------------------------------- the next attempt


def stored(**extra: object) -> StoredInstruction:
    """A scheduled instruction redialling `unanswered` once, its callee's first call placed."""
    body = json.loads(json.loads((ROOT / "events" / "place_call.json").read_text())["body"])
    body.pop("metadata")
    body["redial"] = {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 60}
    placed = CalleeSchedule(NL, ScheduleStatus.PLACED, MOMENT, call_id=FIRST, index=0)
    fields: dict[str, Any] = {
        "instruction_id": "i-1",
        "owner": "arn:aws:iam::123456789012:user/test",
        "status": InstructionStatus.SCHEDULED,
        "caller": body["caller"],
        "callees": (NL,),
        "metadata": {},
        "created_at": MOMENT,
        "schedule": (placed,),
        "request": body,
        **extra,
    }
    return StoredInstruction(**fields)


ENDED = datetime(2027, 6, 10, 10, 3, tzinfo=UTC)
RULES = SchedulingRules()  # no quiet hours


def test_the_next_attempt_redials_the_call_that_ended() -> None:
    instruction = stored()

    later = next_attempt(instruction, instruction.schedule[0], Outcome.UNANSWERED, ENDED, RULES)

    assert later is not None
    assert (later.status, later.attempt, later.redials) == (ScheduleStatus.SCHEDULED, 2, FIRST)
    assert later.redials_call(FIRST)


@pytest.mark.parametrize(
    "extra",
    [{"cancelled_at": "2027-06-10T10:02:30.000Z"}, {"erased_at": "2027-06-10T10:02:30.000Z"}],
)
def test_no_attempt_follows_a_cancel_or_an_erasure(extra: dict[str, str]) -> None:
    instruction = stored(**extra)

    assert (
        next_attempt(instruction, instruction.schedule[0], Outcome.UNANSWERED, ENDED, RULES) is None
    )


@pytest.mark.parametrize(
    ("call_attempt", "names_it"),
    [(1, True), (2, False), (None, False)],
)
def test_a_placed_attempt_stored_before_redials_is_told_apart_by_the_calls_own_attempt(
    call_attempt: int | None, names_it: bool
) -> None:
    """The previous version left a redial attempt whose CM answer was lost `placed` with the
    earlier call in ``call_id``; one whose call CM queued has its own call there. The call's
    recorded attempt tells them apart (unknown: it is taken as the attempt's own call)."""
    old = CalleeSchedule(NL, ScheduleStatus.PLACED, MOMENT, attempt=2, call_id=FIRST, index=0)

    assert old.legacy_placed_redial
    assert old.names_redialled_call(FIRST, call_attempt) is names_it
    assert not old.names_redialled_call(SECOND, 1)
    current = replace(old, redials=FIRST, call_id=None)
    assert not current.legacy_placed_redial
    assert not current.names_redialled_call(FIRST, 1)
