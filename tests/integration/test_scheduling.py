"""Scheduled instructions (round 2, #16) through the real handlers and the DynamoDB adapters:
POST schedules, the dial function places when the schedule fires, DELETE cancels, GET shows
it, and a cancel racing a firing schedule (or a schedule firing twice) never rings twice."""

from __future__ import annotations

import functools
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devtools.cm import FakeCm
from devtools.lambdas import LambdaContext, http_event, load_function, sample_event
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.calls import InstructionStatus, iso
from dtmf_gateway.domain.dialling import (
    CancelInstruction,
    DialOutcome,
    DialScheduledCall,
)
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext
from dtmf_gateway.domain.policy import DialPolicy
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.quiet_hours import QuietHours
from dtmf_gateway.domain.reading import scheduled_status
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.schedules import NotPlacedReason, ScheduleStatus, SchedulingRules
from tests.conftest import DIAL_SCHEDULE_GROUP, REGION
from tests.fakes import FakeCallbackUrls, FakeDialScheduler
from tests.fakes import FakeCm as FakeCmApi
from tests.support.lambdas import invoke_http

OWNER = "arn:aws:iam::123456789012:user/orders-service"
NL = "+31612345678"
NL2 = "+31612345679"
RETENTION = timedelta(days=30)


def body(**extra: Any) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(sample_event("place_call.json")["body"])
    return {**sample, **extra}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def post(module: Any, payload: Any) -> Any:
    headers = {"Content-Type": "application/json"}
    return invoke_http(module, http_event("place_call.json", body=payload, headers=headers))


def get(module: Any, instruction_id: str, user_arn: str | None = None) -> Any:
    event = http_event(
        "get_call.json",
        path_parameters={"instruction-id": instruction_id},
        user_arn=user_arn,
        path=f"/dtmf-calls/{instruction_id}",
    )
    return invoke_http(module, event)


def delete(module: Any, instruction_id: str, user_arn: str | None = None) -> Any:
    event = http_event(
        "cancel_call.json",
        path_parameters={"instruction-id": instruction_id},
        user_arn=user_arn,
        path=f"/dtmf-calls/{instruction_id}",
    )
    return invoke_http(module, event)


@pytest.fixture
def dial_call(function_env: Any, cm: FakeCm, monkeypatch: pytest.MonkeyPatch) -> Any:
    from dtmf_gateway.adapters import cm_client

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    return load_function("dial_call")


@pytest.fixture
def cancel_call(function_env: Any) -> Any:
    return load_function("cancel_call")


def schedule_of(instruction: Any, callee: str) -> Any:
    """The callee's schedule (by number: the stored entries name the callee by its index)."""
    return next((s for s in instruction.schedule if s.callee == callee), None)


def schedule_inputs() -> list[dict[str, Any]]:
    """The inputs of the one-time schedules created in moto's Scheduler."""
    scheduler = boto3.client("scheduler", region_name=REGION)
    names = [
        s["Name"] for s in scheduler.list_schedules(GroupName=DIAL_SCHEDULE_GROUP)["Schedules"]
    ]
    out = []
    for name in names:
        schedule = scheduler.get_schedule(Name=name, GroupName=DIAL_SCHEDULE_GROUP)
        assert schedule["ScheduleExpression"].startswith("at(")
        assert schedule["ActionAfterCompletion"] == "DELETE"
        out.append(json.loads(schedule["Target"]["Input"]))
    return out


# ------------------------------------------------------------------ through the handlers


def test_a_scheduled_call_is_placed_when_its_schedule_fires_and_only_once(
    place_call: Any, dial_call: Any, get_call: Any, cm: FakeCm
) -> None:
    # a not-before already past: scheduled (not placed during the request), due at once
    not_before = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    accepted = post(place_call, body(**{"not-before": rfc3339(not_before)}))

    assert accepted.status == 202, accepted.body
    assert accepted.body["status"] == "scheduled"
    [call] = accepted.body["calls"]
    assert call["status"] == "scheduled" and call["call-id"] is None
    assert datetime.fromisoformat(call["scheduled-for"]) > not_before
    assert cm.bodies() == []  # nothing placed at the request
    view = get(get_call, accepted.body["instruction-id"]).body
    assert view["status"] == "scheduled"
    assert view["calls"][0]["status"] == "scheduled"

    [dial] = schedule_inputs()
    # the callee by its place in the instruction, never its number (it may be erased first)
    assert dial["callee-index"] == 0 and dial["scheduled-for"] == call["scheduled-for"]
    assert call["callee"] not in json.dumps(dial)
    first = dial_call.handler(dial, LambdaContext())
    again = dial_call.handler(dial, LambdaContext())  # at-least-once delivery

    assert (first["outcome"], again["outcome"]) == ("placed", "skipped")
    assert len(cm.bodies()) == 1
    assert "not-before" not in cm.bodies()[0]  # gateway keys never reach CM
    view = get(get_call, accepted.body["instruction-id"]).body
    assert view["status"] == "queued"
    [placed] = view["calls"]
    assert placed["status"] == "queued" and placed["call-id"]
    assert [a["call-id"] for a in placed["attempts"]] == [placed["call-id"]]


def test_a_schedule_fired_before_not_before_waits(
    place_call: Any, dial_call: Any, cm: FakeCm
) -> None:
    not_before = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    accepted = post(place_call, body(**{"not-before": rfc3339(not_before)}))
    [dial] = schedule_inputs()

    early = dial_call.handler(dial, LambdaContext())  # e.g. a dead letter replayed too soon

    assert accepted.body["calls"][0]["scheduled-for"] == iso(not_before)
    assert early == {"outcome": "rescheduled"}
    assert cm.bodies() == []


def test_cancel_before_the_schedule_fires_never_rings(
    place_call: Any, dial_call: Any, cancel_call: Any, cm: FakeCm
) -> None:
    later = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    accepted = post(place_call, body(**{"not-before": later}))
    instruction_id = accepted.body["instruction-id"]

    cancelled = delete(cancel_call, instruction_id)
    repeated = delete(cancel_call, instruction_id)
    [dial] = schedule_inputs()
    fired = dial_call.handler(dial, LambdaContext())

    assert cancelled.status == 200
    assert cancelled.body["status"] == "cancelled"
    assert cancelled.body["calls"][0]["status"] == "cancelled"
    assert repeated.status == 200 and repeated.body == cancelled.body  # idempotent
    assert fired["outcome"] == "skipped"
    assert cm.bodies() == []


def test_cancel_of_an_unknown_or_foreign_instruction_is_404(
    place_call: Any, cancel_call: Any
) -> None:
    later = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    instruction_id = post(place_call, body(**{"not-before": later})).body["instruction-id"]

    foreign = delete(cancel_call, instruction_id, user_arn="arn:aws:iam::123456789012:user/x")
    unknown = delete(cancel_call, "no-such-instruction")

    assert (foreign.status, unknown.status) == (404, 404)


def test_a_placed_instruction_cancels_nothing_and_answers_its_view(
    place_call: Any, cancel_call: Any, cm: FakeCm
) -> None:
    accepted = post(place_call, body())  # round 1's synchronous path

    cancelled = delete(cancel_call, accepted.body["instruction-id"])

    assert accepted.body["status"] == "queued"
    assert cancelled.status == 200 and cancelled.body["status"] == "queued"
    assert len(cm.bodies()) == 1


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"not-after": "2020-01-01T00:00:00Z"}, "not-after", "must be in the future"),
        ({"not-before": "2099-01-01T00:00:00Z"}, "not-before", "at most 30 days ahead"),
        (
            {"not-before": "2030-01-01T10:00:00Z", "not-after": "2030-01-01T09:00:00Z"},
            "not-after",
            "must be after not-before",
        ),
        ({"quiet-hours": {"start": "21:00"}}, "quiet-hours.end", "is required"),
        ({"redial": {"on": ["unanswered"]}}, "redial.max-redials", "is required"),
    ],
)
def test_bad_scheduling_keys_are_422_naming_the_key(
    place_call: Any, cm: FakeCm, function_env: Any, extra: dict[str, Any], field: str, message: str
) -> None:
    refused = post(place_call, body(**extra))

    assert refused.status == 422
    problems = {e["field"]: e["message"] for e in refused.problem["errors"]}
    assert message in problems[field]
    assert cm.bodies() == []
    assert [i for i in function_env.items() if i["sk"] == "instruction"] == []


def test_quiet_hours_at_the_request_schedule_the_call_for_their_end(
    place_call: Any, cm: FakeCm
) -> None:
    now = datetime.now(UTC)
    # a window around "now" in Amsterdam: the call waits until its end
    local = now.astimezone(QuietHoursZone.AMSTERDAM)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")

    accepted = post(place_call, body(**{"quiet-hours": {"start": start, "end": end}}))

    assert accepted.status == 202 and accepted.body["status"] == "scheduled"
    moment = datetime.fromisoformat(accepted.body["calls"][0]["scheduled-for"])
    assert moment.astimezone(QuietHoursZone.AMSTERDAM).strftime("%H:%M") == end
    assert cm.bodies() == []


def test_quiet_hours_false_places_at_once(place_call: Any, cm: FakeCm) -> None:
    accepted = post(place_call, body(**{"quiet-hours": False}))

    assert accepted.status == 202 and accepted.body["status"] == "queued"
    assert len(cm.bodies()) == 1


class QuietHoursZone:
    from zoneinfo import ZoneInfo

    AMSTERDAM = ZoneInfo("Europe/Amsterdam")


# ------------------------------------------------------------------ the use cases on moto


class World:
    """Placement, dial and cancel on moto's table, with a hand-set clock."""

    def __init__(self, aws: Any, *, policy: DialPolicy | None = None) -> None:
        self.now = datetime(2027, 6, 10, 10, 0, tzinfo=UTC)
        self.cm = FakeCmApi()
        self.scheduler = FakeDialScheduler()
        self.rules = SchedulingRules(default_quiet_hours=None)
        self.store = DynamoDbScheduleStore(
            aws.dynamodb, aws.table_name, retention=RETENTION, pending_shards=8
        )
        self.placement = PlaceInstruction(
            cm=self.cm,
            store=DynamoDbInstructionStore(
                aws.dynamodb, aws.table_name, retention=RETENTION, pending_shards=8
            ),
            callback_urls=FakeCallbackUrls(),
            policy=DialPolicy.from_settings(
                allowed_countries="*", blocked_number_types="default", allowed_callers=""
            ),
            clock=lambda: self.now,
            scheduler=self.scheduler,
            scheduling=self.rules,
        )
        self.dialler = DialScheduledCall(
            store=self.store,
            cm=self.cm,
            callback_urls=FakeCallbackUrls(),
            policy=policy
            or DialPolicy.from_settings(
                allowed_countries="*", blocked_number_types="default", allowed_callers=""
            ),
            scheduler=self.scheduler,
            rules=self.rules,
            clock=lambda: self.now,
        )
        self.canceller = CancelInstruction(self.store, clock=lambda: self.now)

    def schedule(self, instruction_id: str, **extra: Any) -> list[ScheduledDial]:
        request = parse_dtmf_call_request(
            body(**{"instruction-id": instruction_id, "callees": [NL, NL2], **extra})
            | {"callee": None}
        )
        self.placement.place(request, PlacementContext(owner=OWNER))
        return [d for d in self.scheduler.dials if d.instruction_id == instruction_id]

    def status_of(self, instruction_id: str, callee: str) -> ScheduleStatus:
        instruction = self.store.load_instruction(instruction_id)
        assert instruction is not None
        entry = schedule_of(instruction, callee)
        assert entry is not None
        return entry.status


@pytest.fixture
def world(aws: Any) -> World:
    return World(aws)


def later(world: World, minutes: int) -> str:
    return rfc3339(world.now + timedelta(minutes=minutes))


def test_a_schedule_firing_many_times_at_once_places_once(world: World) -> None:
    [dial, _] = world.schedule("twice", **{"not-before": later(world, 30)})
    world.now += timedelta(minutes=30, seconds=20)
    outcomes: list[DialOutcome] = []
    barrier = threading.Barrier(6)

    def fire() -> None:
        barrier.wait()
        outcomes.append(world.dialler.dial(dial).outcome)

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == sorted([DialOutcome.PLACED] + [DialOutcome.SKIPPED] * 5)
    assert world.cm.requests == 1
    assert world.status_of("twice", NL) is ScheduleStatus.PLACED


@pytest.mark.parametrize("round_", range(8))
def test_cancel_racing_a_firing_schedule_ends_exactly_one_way(world: World, round_: int) -> None:
    instruction_id = f"race-{round_}"
    [dial, _] = world.schedule(instruction_id, **{"not-before": later(world, 5)})
    world.now += timedelta(minutes=5)
    results: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def fire() -> None:
        barrier.wait()
        results["dial"] = world.dialler.dial(dial).outcome

    def cancel() -> None:
        barrier.wait()
        results["cancel"] = world.canceller.cancel(instruction_id, owner=OWNER).cancelled

    threads = [threading.Thread(target=fire), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    final = world.status_of(instruction_id, NL)
    if results["dial"] is DialOutcome.PLACED:
        assert final is ScheduleStatus.PLACED and world.cm.requests == 1
        assert results["cancel"] == 1  # only the other callee
    else:
        assert results["dial"] is DialOutcome.SKIPPED
        assert final is ScheduleStatus.CANCELLED and world.cm.requests == 0
        assert results["cancel"] == 2
    assert world.status_of(instruction_id, NL2) is ScheduleStatus.CANCELLED


def test_the_deadline_passed_at_dial_time_ends_not_placed(world: World) -> None:
    [dial, _] = world.schedule(
        "late", **{"not-before": later(world, 10), "not-after": later(world, 11)}
    )
    world.now += timedelta(minutes=12)  # the schedule fired late

    result = world.dialler.dial(dial)

    assert result == type(result)(DialOutcome.NOT_PLACED, NotPlacedReason.DEADLINE_PASSED)
    assert world.cm.requests == 0
    instruction = world.store.load_instruction("late")
    assert instruction is not None
    entry = schedule_of(instruction, NL)
    assert entry is not None and entry.ended_at == iso(world.now)


def test_the_policy_is_checked_again_at_dial_time(aws: Any) -> None:
    world = World(
        aws,
        policy=DialPolicy.from_settings(
            allowed_countries="BE", blocked_number_types="default", allowed_callers=""
        ),
    )
    [dial, _] = world.schedule("policy", **{"not-before": later(world, 10)})
    world.now += timedelta(minutes=10)

    result = world.dialler.dial(dial)

    assert (result.outcome, result.reason) == (
        DialOutcome.NOT_PLACED,
        NotPlacedReason.POLICY_REFUSED,
    )
    assert world.cm.requests == 0


def test_cm_refusing_a_scheduled_call_ends_it_cm_refused(world: World) -> None:
    [dial, _] = world.schedule("refused", **{"not-before": later(world, 10)})
    world.now += timedelta(minutes=10)
    world.cm.refuse = frozenset({NL})

    result = world.dialler.dial(dial)

    assert (result.outcome, result.reason) == (DialOutcome.NOT_PLACED, NotPlacedReason.CM_REFUSED)
    assert world.status_of("refused", NL) is ScheduleStatus.NOT_PLACED


def test_a_schedule_firing_into_quiet_hours_is_moved_to_their_end(world: World) -> None:
    [dial, _] = world.schedule(
        "quiet",
        **{"not-before": later(world, 10), "quiet-hours": {"start": "12:15", "end": "13:00"}},
    )
    world.now += timedelta(minutes=20)  # 10:20 UTC = 12:20 in Amsterdam: quiet

    result = world.dialler.dial(dial)

    assert result.outcome is DialOutcome.RESCHEDULED
    assert result.scheduled_for == iso(datetime(2027, 6, 10, 11, 0, tzinfo=UTC))
    assert world.cm.requests == 0
    assert world.scheduler.dials[-1].scheduled_for == result.scheduled_for
    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED  # the old moment is gone


def test_a_deadline_before_the_next_allowed_moment_is_refused_at_the_request(
    world: World,
) -> None:
    """No callee could ever be called: bad input (422 `not-after`), nothing stored."""
    world.rules = SchedulingRules(default_quiet_hours=QuietHours.parse("12:00-13:00"))
    world.placement._scheduling = world.rules
    with pytest.raises(InvalidRequest) as refused:
        world.schedule("never", **{"not-after": later(world, 30)})  # 12:00 local now

    assert [p.field for p in refused.value.problems] == ["not-after"]
    assert world.scheduler.dials == []  # nothing to dial
    assert world.store.load_instruction("never") is None  # nothing stored


def test_a_campaign_row_past_its_deadline_at_the_request_is_stored_not_placed(
    world: World,
) -> None:
    """A campaign's row has no one to answer a 422: its callees end `not-placed`
    (deadline-passed) at once, and their `DTMF Call Not Placed` events account for the row."""
    world.rules = SchedulingRules(default_quiet_hours=QuietHours.parse("12:00-13:00"))
    world.placement._scheduling = world.rules
    request = parse_dtmf_call_request(
        body(**{"instruction-id": "row-1", "callees": [NL, NL2], "not-after": later(world, 30)})
        | {"callee": None}
    )
    world.placement.place(request, PlacementContext(owner=OWNER, campaign_id="c-1"))

    assert world.scheduler.dials == []  # nothing to dial
    instruction = world.store.load_instruction("row-1")
    assert instruction is not None
    assert {e.reason for e in instruction.schedule} == {NotPlacedReason.DEADLINE_PASSED}


def test_a_failing_scheduler_leaves_the_instruction_not_placed_and_retryable(
    world: World,
) -> None:
    world.scheduler.fail = RuntimeError("scheduler down")
    with pytest.raises(RuntimeError):
        world.schedule("retry", **{"not-before": later(world, 10)})
    world.scheduler.fail = None

    dials = world.schedule("retry", **{"not-before": later(world, 10)})

    assert len(dials) == 2
    assert world.status_of("retry", NL) is ScheduleStatus.SCHEDULED


# ------------------------------------------------------------------ redial


REDIAL = {"on": ["unanswered", "no-input"], "max-redials": 2, "interval-seconds": 60}


class RedialWorld(World):
    def __init__(self, aws: Any) -> None:
        super().__init__(aws)
        from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore
        from dtmf_gateway.domain.callbacks import RecordCallback
        from dtmf_gateway.domain.redialling import Redials

        self.aws = aws
        self.callbacks = RecordCallback(
            DynamoDbCallbackStore(
                aws.dynamodb, aws.table_name, retention=RETENTION, pending_shards=8
            ),
            clock=lambda: self.now,
            redials=lambda: Redials(self.store, self.scheduler, self.rules),
        )
        # as wiring does: the dialler decides on a callback that overtook its recording
        self.dialler._redials = Redials(self.store, self.scheduler, self.rules)

    def place(self, instruction_id: str, **extra: Any) -> ScheduledDial:
        request = parse_dtmf_call_request(
            body(**{"instruction-id": instruction_id, "callee": NL, "redial": REDIAL, **extra})
        )
        self.placement.place(request, PlacementContext(owner=OWNER))
        return self.scheduler.dials[-1]

    def call_id(self, instruction_id: str) -> str:
        instruction = self.store.load_instruction(instruction_id)
        assert instruction is not None
        entry = schedule_of(instruction, NL)
        assert entry is not None and entry.call_id is not None
        return entry.call_id

    def callback(self, instruction_id: str, code: int, digits: str | None = None) -> Any:
        from dtmf_gateway.domain.callbacks import parse_callback

        raw = {
            "type": "dtmf-finished",
            "call-id": self.call_id(instruction_id),
            "callee": NL,
            "digits": digits,
            "result": {"code": code},
        }
        return self.callbacks.record(instruction_id, parse_callback(instruction_id, raw))

    def calls(self, instruction_id: str) -> list[Any]:
        from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader

        found = DynamoDbInstructionReader(self.aws.dynamodb, self.aws.table_name).load(
            instruction_id
        )
        assert found is not None
        return sorted(found[1], key=lambda c: c.attempt or 0)


@pytest.fixture
def redials(aws: Any) -> RedialWorld:
    return RedialWorld(aws)


def published(calls: list[Any]) -> list[Any]:
    """The calls the outbox publishes (as their stream records would make it)."""
    from dtmf_gateway.domain.publishing import is_publishable

    return [c for c in calls if is_publishable(None, c)]


def test_a_callee_who_misses_the_first_call_is_called_again_and_reported_once(
    redials: RedialWorld,
) -> None:
    from dtmf_gateway.domain.events import detail_from_call

    first = redials.place("redial-ok")
    assert redials.dialler.dial(first).outcome is DialOutcome.PLACED
    redials.now += timedelta(seconds=40)

    missed = redials.callback("redial-ok", 9)  # unanswered

    assert missed.outcome is not None and missed.outcome.value == "unanswered"
    second = redials.scheduler.dials[-1]
    assert (second.attempt, second.scheduled_for) == (
        2,
        iso(redials.now + timedelta(seconds=60)),
    )
    assert published(redials.calls("redial-ok")) == []  # not final: nothing published
    assert redials.status_of("redial-ok", NL) is ScheduleStatus.SCHEDULED

    redials.now += timedelta(seconds=61)
    assert redials.dialler.dial(second).outcome is DialOutcome.PLACED
    instruction = redials.store.load_instruction("redial-ok")
    assert instruction is not None
    # the redial rings: the first call ended, the callee is not final yet
    assert scheduled_status(instruction, redials.calls("redial-ok")) is InstructionStatus.QUEUED
    redials.callback("redial-ok", 10, "4821")
    instruction = redials.store.load_instruction("redial-ok")
    assert instruction is not None
    assert scheduled_status(instruction, redials.calls("redial-ok")) is InstructionStatus.FINISHED

    calls = redials.calls("redial-ok")
    assert [c.outcome.value for c in calls if c.outcome] == ["unanswered", "input-received"]
    [final] = published(calls)
    detail = detail_from_call(final)
    assert (detail.outcome.value, detail.attempts, detail.digits) == ("input-received", 2, "4821")
    assert redials.cm.requests == 2


def test_redials_stop_after_max_redials_and_the_last_call_is_the_result(
    redials: RedialWorld,
) -> None:
    dial = redials.place("redial-exhausted")
    for _ in range(3):  # the first call and two redials
        assert redials.dialler.dial(dial).outcome is DialOutcome.PLACED
        redials.callback("redial-exhausted", 9)
        redials.now += timedelta(seconds=61)
        dial = redials.scheduler.dials[-1]

    calls = redials.calls("redial-exhausted")
    assert [c.attempt for c in calls] == [1, 2, 3]
    [final] = published(calls)
    assert (final.attempt, final.outcome.value) == (3, "unanswered")
    assert redials.status_of("redial-exhausted", NL) is ScheduleStatus.PLACED
    assert redials.cm.requests == 3


def test_an_outcome_not_named_is_final_at_once(redials: RedialWorld) -> None:
    dial = redials.place("redial-rejected")
    redials.dialler.dial(dial)

    redials.callback("redial-rejected", 12)  # rejected: not in `on`

    [final] = published(redials.calls("redial-rejected"))
    assert (final.outcome.value, final.attempt) == ("rejected", 1)
    assert len(redials.scheduler.dials) == 1


def test_cancel_while_waiting_for_a_redial_publishes_the_last_call(redials: RedialWorld) -> None:
    from dtmf_gateway.domain.not_placed import newly_unplaced

    dial = redials.place("redial-cancel")
    redials.dialler.dial(dial)
    redials.callback("redial-cancel", 9)
    before = redials.store.load_instruction("redial-cancel")

    assert redials.canceller.cancel("redial-cancel", owner=OWNER).cancelled == 1

    [final] = published(redials.calls("redial-cancel"))
    assert (final.outcome.value, final.attempt) == ("unanswered", 1)
    after = redials.store.load_instruction("redial-cancel")
    assert newly_unplaced(before, after) == []  # it was called: no Not Placed event
    assert redials.dialler.dial(redials.scheduler.dials[-1]).outcome is DialOutcome.SKIPPED


def test_no_redial_past_not_after(redials: RedialWorld) -> None:
    deadline = rfc3339(redials.now + timedelta(seconds=30))
    dial = redials.place("redial-late", **{"not-after": deadline})
    redials.dialler.dial(dial)

    redials.callback("redial-late", 9)  # the next moment (+60 s) is past not-after

    [final] = published(redials.calls("redial-late"))
    assert final.outcome.value == "unanswered"
    assert len(redials.scheduler.dials) == 1


def test_a_repeated_callback_does_not_schedule_twice(redials: RedialWorld) -> None:
    dial = redials.place("redial-dup")
    redials.dialler.dial(dial)

    redials.callback("redial-dup", 9)
    again = redials.callback("redial-dup", 9)

    assert again.verdict.value == "duplicate"
    assert [d.attempt for d in redials.scheduler.dials] == [1, 2]
    assert published(redials.calls("redial-dup")) == []


def test_the_per_callee_limit_at_dial_time_moves_the_call_to_the_next_hour(aws: Any) -> None:
    from tests.fakes import InMemoryCalleeQuota

    world = World(aws)
    world.dialler = DialScheduledCall(
        store=world.store,
        cm=world.cm,
        callback_urls=FakeCallbackUrls(),
        policy=DialPolicy.from_settings(
            allowed_countries="*", blocked_number_types="default", allowed_callers=""
        ),
        scheduler=world.scheduler,
        rules=world.rules,
        clock=lambda: world.now,
        quota=InMemoryCalleeQuota(limit=1),
        calls_per_callee_per_hour=1,
    )
    [first, _] = world.schedule("quota-1", **{"not-before": later(world, 10)})
    [second, _] = world.schedule("quota-2", **{"not-before": later(world, 10)})
    world.now += timedelta(minutes=10)

    placed = world.dialler.dial(first)
    moved = world.dialler.dial(second)

    assert placed.outcome is DialOutcome.PLACED
    assert moved.outcome is DialOutcome.RESCHEDULED
    assert moved.scheduled_for == iso(datetime(2027, 6, 10, 11, 0, tzinfo=UTC))
    assert world.cm.requests == 1
    assert world.status_of("quota-2", NL) is ScheduleStatus.SCHEDULED


def test_a_scheduled_dial_whose_recording_failed_is_recorded_when_it_fires_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    [dial, _] = world.schedule("flaky-record", **{"not-before": later(world, 30)})
    world.now += timedelta(minutes=30, seconds=20)
    original = DynamoDbScheduleStore.record_call
    failures = [RuntimeError("DynamoDB: ProvisionedThroughputExceededException")]

    def flaky(self: DynamoDbScheduleStore, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDbScheduleStore, "record_call", flaky)
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)

    world.dialler.dial(dial)  # the Scheduler's retry of the failed invocation

    assert world.cm.requests == 1
    assert world.status_of("flaky-record", NL) is ScheduleStatus.PLACED
