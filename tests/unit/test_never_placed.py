"""A request none of whose callees could ever be called (each one's next allowed moment, after
`not-before` and its quiet hours, is after `not-after`) is bad input: 422 naming `not-after`,
nothing stored. It was stored and answered 202 `scheduled` while GET said `not-placed`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.domain.calls import InstructionStatus
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext
from dtmf_gateway.domain.policy import DialPolicy
from dtmf_gateway.domain.quiet_hours import QuietHours
from dtmf_gateway.domain.reading import scheduled_status
from dtmf_gateway.domain.request_schedule import never_placed_problems
from dtmf_gateway.domain.schedules import SchedulingRules, plan
from tests.fakes import (
    FakeCallbackUrls,
    FakeCm,
    FakeDialScheduler,
    InMemoryCallbackStore,
    InMemoryInstructionStore,
    Table,
)
from tests.unit.test_schedules import NL, NOW, US, request  # 12:00 in Amsterdam, 06:00 in NY

OWNER = "arn:aws:iam::1:user/t"


class World:
    def __init__(self, rules: SchedulingRules, now: datetime = NOW) -> None:
        self.table = Table()
        self.scheduler = FakeDialScheduler()
        self.placement = PlaceInstruction(
            cm=FakeCm(),
            store=InMemoryInstructionStore(self.table),
            callback_urls=FakeCallbackUrls(),
            policy=DialPolicy.from_settings(
                allowed_countries="NL,US", blocked_number_types="default", allowed_callers=""
            ),
            clock=lambda: now,
            scheduler=self.scheduler,
            scheduling=rules,
        )

    def place(self, body: Any, campaign_id: str | None = None) -> Any:
        return self.placement.place(body, PlacementContext(owner=OWNER, campaign_id=campaign_id))


NOON_QUIET = SchedulingRules(default_quiet_hours=QuietHours.parse("11:00-13:00"))  # Amsterdam


def test_a_deadline_before_every_callees_next_moment_is_422_naming_not_after() -> None:
    world = World(NOON_QUIET)
    deadline = (NOW + timedelta(minutes=30)).isoformat()  # quiet until 13:00 local (11:00Z)

    with pytest.raises(InvalidRequest) as refused:
        world.place(request(**{"not-after": deadline}))

    [problem] = refused.value.problems
    assert problem.field == "not-after"
    assert "2027-06-10T11:00:00.000Z" in problem.message  # when a call could first start
    assert world.table.items == {}  # nothing stored
    assert world.scheduler.dials == []


def test_one_callee_that_can_still_be_called_keeps_the_202_scheduled() -> None:
    """Calls only 08:00-11:00 local: New York at 08:00 EDT (12:00Z), Amsterdam (12:00 now)
    not before tomorrow: with a deadline at 12:30Z New York waits, Amsterdam ends
    `not-placed` at once, and the instruction is `scheduled` in the 202 and in GET."""
    world = World(SchedulingRules(default_quiet_hours=QuietHours.parse("11:00-08:00")))
    deadline = (NOW + timedelta(minutes=150)).isoformat()

    result = world.place(request(callees=[NL, US], **{"not-after": deadline}))

    assert [c.waiting for c in result.scheduled] == [False, True]
    stored = InMemoryCallbackStore(world.table).load_instruction(result.instruction_id)
    assert stored is not None
    assert scheduled_status(stored, []) is InstructionStatus.SCHEDULED  # GET says the same


def test_a_campaign_row_that_can_never_be_called_is_stored_not_placed() -> None:
    """A campaign's row has no one to answer a 422: it ends `not-placed` (its events count)."""
    world = World(NOON_QUIET)
    deadline = (NOW + timedelta(minutes=30)).isoformat()

    result = world.place(request(**{"not-after": deadline}), campaign_id="c-1")

    assert [c.waiting for c in result.scheduled] == [False]
    stored = InMemoryCallbackStore(world.table).load_instruction(result.instruction_id)
    assert stored is not None
    assert scheduled_status(stored, []) is InstructionStatus.NOT_PLACED


def test_no_problem_while_a_callee_waits_or_without_a_plan() -> None:
    assert never_placed_problems(()) == []
    waiting = request(**{"not-before": (NOW + timedelta(hours=5)).isoformat()})
    planned = plan(waiting, NOW, NOON_QUIET)
    assert planned is not None
    assert never_placed_problems(planned.callees) == []


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 24 * 60 - 1),
    length=st.integers(1, 24 * 60 - 1),
    deadline_minutes=st.integers(1, 36 * 60),
    callees=st.sampled_from([[NL], [US], [NL, US]]),
    now=st.datetimes(
        min_value=datetime(2027, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_the_answer_says_what_get_says_or_the_request_is_refused(
    start: int, length: int, deadline_minutes: int, callees: list[str], now: datetime
) -> None:
    """Whatever the quiet hours, deadline and moment: a request is refused (422 `not-after`,
    nothing stored) exactly when no callee could be called before its deadline; a scheduled
    202 always has a callee waiting, so GET says `scheduled` as the 202 does."""
    now = now.replace(microsecond=0)
    end = (start + length) % (24 * 60)
    window = f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"
    world = World(SchedulingRules(default_quiet_hours=QuietHours.parse(window)), now)
    body = request(
        callees=callees, **{"not-after": (now + timedelta(minutes=deadline_minutes)).isoformat()}
    )
    planned = plan(body, now, world.placement._scheduling)
    never = planned is not None and not any(c.waiting for c in planned.callees)

    if never:
        with pytest.raises(InvalidRequest) as refused:
            world.place(body)
        assert [p.field for p in refused.value.problems] == ["not-after"]
        assert world.table.items == {}
        return
    result = world.place(body)
    if result.scheduled:
        stored = InMemoryCallbackStore(world.table).load_instruction(result.instruction_id)
        assert stored is not None
        assert scheduled_status(stored, []) is InstructionStatus.SCHEDULED
