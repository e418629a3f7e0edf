"""When each callee of a request is placed (round 2, #16): the plan at the request, the
instruction's status from its callees, and the stream's view of a scheduled instruction."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from dtmf_gateway.adapters.dynamodb.calls_table import (
    instruction_from_item,
    instruction_item,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.stream import changes
from dtmf_gateway.domain.calls import InstructionStatus, NewInstruction, iso
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.quiet_hours import QuietHours
from dtmf_gateway.domain.reading import scheduled_status
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.schedules import (
    NotPlacedReason,
    ScheduleStatus,
    SchedulingRules,
    plan,
)

ROOT = Path(__file__).resolve().parents[2]
NL, US = "+31612345678", "+12125550100"
NOW = datetime(2027, 6, 10, 10, 0, tzinfo=UTC)  # 12:00 in Amsterdam, 06:00 in New York
NIGHT = SchedulingRules(default_quiet_hours=QuietHours.parse("21:00-08:00"))


def request(**extra: Any) -> Any:
    sample = json.loads(json.loads((ROOT / "events" / "place_call.json").read_text())["body"])
    sample.pop("callee", None)
    return parse_dtmf_call_request({**sample, "callees": [NL], **extra})


def test_callees_that_may_be_called_now_keep_the_synchronous_path() -> None:
    assert plan(request(), NOW, NIGHT) is None
    assert plan(request(**{"quiet-hours": False}), NOW, NIGHT) is None


def test_a_callee_in_quiet_hours_schedules_the_whole_instruction() -> None:
    planned = plan(request(callees=[NL, US]), NOW, NIGHT)

    assert planned is not None
    nl, us = planned.callees
    assert nl.scheduled_for == iso(NOW)  # Amsterdam may be called now
    assert us.scheduled_for == iso(datetime(2027, 6, 10, 12, 0, tzinfo=UTC))  # 08:00 EDT


def test_not_before_and_the_request_s_own_quiet_hours() -> None:
    later = NOW + timedelta(hours=10)  # 22:00 in Amsterdam
    planned = plan(request(**{"not-before": later.isoformat()}), NOW, NIGHT)
    own = plan(
        request(
            **{"not-before": later.isoformat(), "quiet-hours": {"start": "23:00", "end": "07:00"}}
        ),
        NOW,
        NIGHT,
    )

    assert planned is not None and own is not None
    assert planned.callees[0].scheduled_for == iso(datetime(2027, 6, 11, 6, tzinfo=UTC))
    assert own.callees[0].scheduled_for == iso(later)


def test_a_deadline_before_the_next_allowed_moment_ends_the_callee_not_placed() -> None:
    planned = plan(
        request(callees=[NL, US], **{"not-after": (NOW + timedelta(hours=1)).isoformat()}),
        NOW,
        NIGHT,
    )

    assert planned is not None
    nl, us = planned.callees
    assert nl.status is ScheduleStatus.SCHEDULED
    assert (us.status, us.reason) == (ScheduleStatus.NOT_PLACED, NotPlacedReason.DEADLINE_PASSED)
    assert [d.index for d in planned.dials("i")] == [0]  # NL, by its place; never its number


def test_quiet_hours_leaving_no_moment_are_refused() -> None:
    # an Australian mobile spans Perth to Lord Howe: 07:00-08:00 never falls together
    window = {"start": "08:00", "end": "07:00"}
    australian = request(callees=["+61491570156"], **{"quiet-hours": window})
    with pytest.raises(InvalidRequest) as refused:
        plan(australian, NOW, NIGHT)

    assert [p.field for p in refused.value.problems] == ["quiet-hours"]


def _stored(*statuses: ScheduleStatus) -> Any:
    planned = plan(request(callees=[NL, US]), NOW, NIGHT)
    assert planned is not None
    entries = tuple(replace(e, status=s) for e, s in zip(planned.callees, statuses, strict=True))
    new = NewInstruction(
        instruction_id="i",
        owner="o",
        caller="+31201234567",
        callees=(NL, US),
        request={},
        metadata={},
        created_at=NOW,
        stale_after_seconds=60,
        schedule=entries,
    )
    item = instruction_item(new, timedelta(days=30))
    return instruction_from_item(item), item


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((ScheduleStatus.SCHEDULED, ScheduleStatus.SCHEDULED), InstructionStatus.SCHEDULED),
        ((ScheduleStatus.CANCELLED, ScheduleStatus.CANCELLED), InstructionStatus.CANCELLED),
        ((ScheduleStatus.CANCELLED, ScheduleStatus.NOT_PLACED), InstructionStatus.NOT_PLACED),
        ((ScheduleStatus.DIALLING, ScheduleStatus.SCHEDULED), InstructionStatus.QUEUED),
    ],
)
def test_the_instruction_s_status_comes_from_its_callees(
    statuses: tuple[ScheduleStatus, ...], expected: InstructionStatus
) -> None:
    stored, _ = _stored(*statuses)

    assert scheduled_status(stored, []) is expected


def test_the_stream_reads_a_scheduled_instruction() -> None:
    _, old = _stored(ScheduleStatus.SCHEDULED, ScheduleStatus.SCHEDULED)
    _, new = _stored(ScheduleStatus.CANCELLED, ScheduleStatus.SCHEDULED)
    event = DynamoDBStreamEvent(
        {
            "Records": [
                {
                    "eventName": "MODIFY",
                    "dynamodb": {
                        "SequenceNumber": "1",
                        "OldImage": to_item(old),
                        "NewImage": to_item(new),
                    },
                }
            ]
        }
    )

    [change] = changes(event)

    assert change.old is None and change.new is None  # not a call
    assert change.new_instruction is not None
    assert change.new_instruction.schedule[0].status is ScheduleStatus.CANCELLED
