"""A scheduled callee's stored request, parsed again at dial time (`dialling.request_for`),
on moto's table: identical callees get identical answers however busy the machine is and in
whatever order or thread they are dialled; a rule that refuses the stored request ends the
callee `not-placed` (`policy-refused`) naming the fields (never a value); anything else that
goes wrong re-parsing it fails the dial and leaves the callee to the retried dial.

The hostile finding (stop 7): 20-callee instructions, `not-before` in the past, a loaded
machine: one callee in some instructions ended `policy-refused` without `detail`, CM never
asked. The re-parse ran the `regex`'s timed probes (wall-clock limits) on the stored default
pattern: a busy dial refused it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.lambdas import LambdaContext
from dtmf_gateway.adapters.dynamodb.calls_table import INSTRUCTION_SK, PK, SK, instruction_pk
from dtmf_gateway.domain import dialling, digits
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.schedules import NotPlacedReason, ScheduleStatus
from dtmf_gateway.domain.webhook_targets import WebhookTargets
from tests.conftest import SESSION_LOG, Aws
from tests.integration.test_scheduling import (
    OWNER,
    World,
    body,
    dial_call,
    post,
    rfc3339,
    schedule_inputs,
)

__all__ = ["dial_call"]  # the fixture, imported for pytest

#: The finding's callees: 20 Dutch mobiles of one instruction.
CALLEES = [f"+316123500{n:02d}" for n in range(20)]
HOOKS = WebhookTargets(frozenset({"hooks.example.com"}))


@pytest.fixture
def world(aws: Any) -> World:
    return World(aws)


def schedule(world: World, instruction_id: str, **extra: Any) -> list[ScheduledDial]:
    """Place a scheduled instruction of CALLEES (`not-before` an hour before the clock, as in
    the finding): its dials, one per callee."""
    not_before = rfc3339(world.now - timedelta(hours=1))
    raw = body(
        **{
            "instruction-id": instruction_id,
            "callees": CALLEES,
            "not-before": not_before,
            "quiet-hours": False,
            **extra,
        }
    ) | {"callee": None}
    world.placement.place(
        parse_dtmf_call_request(raw, webhook_targets=HOOKS), PlacementContext(owner=OWNER)
    )
    dials = [d for d in world.scheduler.dials if d.instruction_id == instruction_id]
    assert len(dials) == len(CALLEES)
    return dials


def ends(world: World, instruction_id: str) -> list[tuple[ScheduleStatus, Any, Any]]:
    instruction = world.store.load_instruction(instruction_id)
    assert instruction is not None
    return [(e.status, e.reason, e.detail) for e in instruction.schedule]


@pytest.fixture
def busy_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to make the machine loaded, in a fresh execution environment: every read of
    the monotonic clock in the regex checks then finds 30 ms gone (a probe is given 20 ms,
    all of them 250 ms), and no pattern is compiled yet."""
    moments = [0.0]
    lock = threading.Lock()

    def slow_clock() -> float:
        with lock:
            moments[0] += 0.03
            return moments[0]

    def load() -> None:
        digits.forget_probes()
        monkeypatch.setattr(digits.time, "monotonic", slow_clock)

    yield load
    digits.forget_probes()  # never leave a refusal learnt here to other tests


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=3), timedelta(days=2)])
def test_every_callee_of_an_instruction_is_dialled_on_a_busy_machine_from_many_threads(
    world: World, busy_machine: Callable[[], None], late: timedelta
) -> None:
    """Regression (stop 7, High): the 20 callees dialled at once from 20 threads on a loaded
    machine, the clock at various moments after `not-before`: every one is placed, none
    ends `policy-refused`."""
    dials = schedule(world, "busy")
    busy_machine()
    world.now += late
    outcomes: list[DialOutcome] = []
    barrier = threading.Barrier(len(dials))

    def fire(dial: ScheduledDial) -> None:
        barrier.wait()
        outcomes.append(world.dialler.dial(dial).outcome)

    threads = [threading.Thread(target=fire, args=(d,)) for d in dials]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == [DialOutcome.PLACED] * len(CALLEES)
    assert world.cm.requests == len(CALLEES)
    assert {status for status, _, _ in ends(world, "busy")} == {ScheduleStatus.PLACED}


def test_callees_dialled_one_by_one_in_reverse_on_a_busy_machine_are_all_placed(
    world: World, busy_machine: Callable[[], None]
) -> None:
    dials = schedule(world, "reverse")
    busy_machine()
    results = [world.dialler.dial(d) for d in reversed(dials)]
    assert [r.outcome for r in results] == [DialOutcome.PLACED] * len(CALLEES)
    assert world.cm.requests == len(CALLEES)


def test_a_scheduled_instruction_with_a_webhook_url_is_dialled(world: World) -> None:
    """The webhook target was checked at the request and is checked at each delivery: the
    dial (whose function has no AllowedWebhookHosts) does not refuse it."""
    dials = schedule(world, "hooked", **{"webhook-url": "https://hooks.example.com/dtmf"})
    result = world.dialler.dial(dials[0])
    assert result.outcome is DialOutcome.PLACED, result
    assert world.cm.requests == 1


def stored_request_set(aws: Any, instruction_id: str, key: str, value: Any) -> None:
    """A rule tightened since the request was accepted, as the stored request meets it."""
    aws.dynamodb.update_item(
        TableName=aws.table_name,
        Key={PK: {"S": instruction_pk(instruction_id)}, SK: {"S": INSTRUCTION_SK}},
        UpdateExpression="SET #r.#k = :v",
        ExpressionAttributeNames={"#r": "request", "#k": key},
        ExpressionAttributeValues={":v": value},
    )


def test_a_stored_request_a_rule_refuses_ends_the_callee_naming_the_fields_only(
    aws: Any, world: World
) -> None:
    dials = schedule(world, "tightened")
    stored_request_set(aws, "tightened", "max-digits", {"N": "0"})
    stored_request_set(aws, "tightened", "terminators", {"S": "#9#"})

    result = world.dialler.dial(dials[2])

    assert (result.outcome, result.reason) == (
        DialOutcome.NOT_PLACED,
        NotPlacedReason.POLICY_REFUSED,
    )
    detail = "request-invalid: max-digits, terminators"
    assert result.detail == detail
    assert ends(world, "tightened")[2] == (
        ScheduleStatus.NOT_PLACED,
        NotPlacedReason.POLICY_REFUSED,
        detail,
    )
    assert not any(ch.isdigit() for ch in detail)  # field names, never a value
    assert world.cm.requests == 0


def test_a_re_parse_that_fails_otherwise_leaves_the_callee_to_the_retried_dial(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a rule's refusal (here: the parser crashing): the dial fails, nothing is ended or
    claimed, and the retried dial places the callee."""
    dials = schedule(world, "crash")
    original = dialling.parse_dtmf_call_request

    def crashing(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("the parser ran out of memory")

    monkeypatch.setattr(dialling, "parse_dtmf_call_request", crashing)
    with pytest.raises(MemoryError):
        world.dialler.dial(dials[5])
    assert ends(world, "crash")[5] == (ScheduleStatus.SCHEDULED, None, None)
    assert world.cm.requests == 0

    monkeypatch.setattr(dialling, "parse_dtmf_call_request", original)
    assert world.dialler.dial(dials[5]).outcome is DialOutcome.PLACED
    assert world.cm.requests == 1


# ------------------------------------------------------------------ through the dial function


def test_the_dial_function_logs_which_fields_a_rule_refused_and_never_the_number(
    place_call: Any, dial_call: Any, function_env: Aws
) -> None:
    not_before = rfc3339(datetime.now(UTC) - timedelta(minutes=1))
    accepted = post(place_call, body(**{"not-before": not_before}))
    assert accepted.status == 202, accepted.body
    instruction_id = accepted.body["instruction-id"]
    callee = accepted.body["calls"][0]["callee"]
    stored_request_set(function_env, instruction_id, "max-digits", {"N": "0"})
    [dial] = schedule_inputs()
    logged = len(SESSION_LOG)

    answer = dial_call.handler(dial, LambdaContext())

    assert answer == {"outcome": "not-placed"}
    lines = SESSION_LOG[logged:]
    dials = [json.loads(line) for line in lines if '"scheduled dial"' in line]
    assert [(d["reason"], d["detail"]) for d in dials] == [
        ("policy-refused", "request-invalid: max-digits")
    ]
    assert not any(callee[1:] in line for line in lines)  # the number is never logged
