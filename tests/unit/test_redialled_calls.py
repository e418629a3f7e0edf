"""Which call a redial attempt redials (round 2, #16): kept on the callee's schedule apart
from ``call_id`` (``redials``), so that an attempt whose CM answer is lost no longer names
the earlier call as its own, and items written before the field are read alike."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import (
    REDIALS,
    schedule_fields,
    schedule_from_fields,
)
from dtmf_gateway.domain.dialling import placed_unknown
from dtmf_gateway.domain.schedules import (
    UNKNOWN_OUTCOME_NOTE,
    CalleeSchedule,
    NotPlacedReason,
    ScheduleStatus,
)

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
