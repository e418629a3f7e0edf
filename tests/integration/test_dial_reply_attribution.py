"""A scheduled dial (first attempt and redials, round 2 #16) takes from CM's synchronous
reply only the call that is the dialled callee's (`callees.attributed_replies`, as the
immediate placement does): a call CM queued for another number, or a second element naming
the callee again, is reported (`CmErrors` kind `reply-unattributed`) and recorded nowhere,
so its digits are never published as the callee's; when CM queued calls but none is the
callee's, the dial's outcome is unknown (the callee `placed`, never rung twice), never
`not-placed`.

The dialler talks to CM through the real HTTP client (its reply parsing) on the scripted
fake CM of devtools/cm.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devtools.cm import FakeCm, queued
from devtools.lambdas import LambdaContext
from dtmf_gateway.adapters.cm_client import HttpCmClient
from dtmf_gateway.domain.callbacks import CallbackVerdict, parse_callback
from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_dial_recordings import DialWorld
from tests.integration.test_hostile_stop6b_dial import expire, scan_text, second_attempt
from tests.integration.test_one_log_line import Written, _metrics
from tests.integration.test_scheduling import (
    NL,
    body,
    dial_call,
    post,
    published,
    rfc3339,
    schedule_inputs,
)

__all__ = ["dial_call"]  # the fixture, imported for pytest

STRANGER = "+31699999999"
STRANGER_CALL = "5b1f0c3e-0000-4000-8000-00000000beef"
CALLEES_CALL = "5b1f0c3e-0000-4000-8000-00000000ca11"

Reply = Callable[[dict[str, Any]], httpx.Response]


def elements(*shapes: tuple[str, str]) -> Reply:
    """CM's reply: one call-queued element per (callee as CM echoes it, call id)."""

    def reply(sent: dict[str, Any]) -> httpx.Response:
        [template] = queued(sent).json()
        items = [{**template, "callee": echo, "call-id": cid} for echo, cid in shapes]
        return httpx.Response(200, json=items)

    return reply


class EchoWorld(DialWorld):
    """DialWorld whose dialler asks the scripted CM over HTTP and reports unattributed calls
    to ``reported`` (as wiring gives it the placement's alarm)."""

    def __init__(self, aws: Aws) -> None:
        super().__init__(aws)
        self.http_cm = FakeCm()
        self.reported: list[tuple[str, tuple[CmQueuedCall, ...]]] = []
        self.dialler._cm = HttpCmClient(
            base_url="https://cm.test",
            product_token=lambda: "token",
            transport=self.http_cm.transport,
            sleep=lambda _: None,
        )
        self.dialler._on_unattributed = lambda iid, calls: self.reported.append((iid, calls))

    def late_callback(self, iid: str, call_id: str, callee: str, digits: str) -> CallbackVerdict:
        raw = {"type": "dtmf-finished", "call-id": call_id, "callee": callee, "digits": digits}
        record = self.callbacks.record(iid, parse_callback(iid, {**raw, "result": {"code": 10}}))
        return record.verdict

    def reported_calls(self) -> list[tuple[str, list[str | None], list[str | None]]]:
        return [
            (iid, [c.call_id for c in calls], [c.callee for c in calls])
            for iid, calls in self.reported
        ]


@pytest.fixture
def world(function_env: Aws) -> EchoWorld:
    return EchoWorld(function_env)


# ------------------------------------------------------------------ through the dial function


def test_a_dial_whose_cm_reply_names_a_stranger_is_unknown_reported_and_never_rung_again(
    place_call: Any,
    dial_call: Any,
    cm_callback: Any,
    cm: FakeCm,
    function_env: Aws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    not_before = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    accepted = post(place_call, body(**{"not-before": rfc3339(not_before)}))
    assert accepted.status == 202, accepted.body
    iid = accepted.body["instruction-id"]
    [dial] = schedule_inputs()
    cm.replies = [elements(("0031699999999", STRANGER_CALL))]  # another number, CM's `00` form
    written = Written(monkeypatch)

    first = dial_call.handler(dial, LambdaContext())
    lines = written.lines()
    again = dial_call.handler(dial, LambdaContext())  # Scheduler delivers at least once

    assert (first["outcome"], again["outcome"]) == ("outcome-unknown", "skipped")
    assert len(cm.bodies()) == 1  # never dialled twice
    [alarm] = [line for line in lines if line.get("level") == "ERROR"]
    assert alarm["call_ids"] == [STRANGER_CALL]
    assert iid in json.dumps(alarm)
    [document] = [line for line in lines if "CmErrors" in line]
    assert _metrics(document)["CmErrors"] == ["kind", "service"]  # the alarm's dimensions
    assert document["kind"] == "reply-unattributed"
    assert "699999999" not in json.dumps(lines)  # logged by call id, never by number
    stranger = deliver(
        cm_callback,
        callback_body(STRANGER_CALL, callee="0031699999999", **{"instruction-id": iid}),
        token_of(cm),
        instruction_id=iid,
    )
    assert stranger.status == 404  # not a call of this callee: refused, nothing written
    table = json.dumps(
        function_env.dynamodb.scan(TableName=function_env.table_name)["Items"]
    ).lower()
    assert STRANGER_CALL not in table and "699999999" not in table


# ------------------------------------------------------------------ the first attempt


def test_a_first_dial_naming_only_a_stranger_holds_the_callees_own_late_callback(
    world: EchoWorld,
) -> None:
    iid = "echo-first-stranger"
    dial = world.first_dial(iid)
    world.http_cm.replies = [elements((STRANGER, STRANGER_CALL))]

    result = world.dialler.dial(dial)

    assert result.outcome is DialOutcome.OUTCOME_UNKNOWN  # calls may ring: never not-placed
    entry = world.entry(iid)
    assert (entry.status, entry.call_id) == (ScheduleStatus.PLACED, None)
    assert world.reported_calls() == [(iid, [STRANGER_CALL], [None])]
    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED
    assert [d.attempt for d in world.scheduler.dials] == [1]  # no redial at once
    assert len(world.http_cm.bodies()) == 1
    # the stranger's callback is refused; the callee's own (its call id unknown) is held
    assert world.late_callback(iid, STRANGER_CALL, STRANGER, "9999") is (
        CallbackVerdict.UNKNOWN_CALL
    )
    assert world.late_callback(iid, CALLEES_CALL, NL, "4821") is CallbackVerdict.HELD

    expire(world)

    [only] = published(world.calls(iid))
    assert (only.call_id, only.digits, only.callee) == (CALLEES_CALL, "4821", NL)
    assert STRANGER_CALL not in scan_text(world)


# ------------------------------------------------------------------ redials


def test_a_redial_whose_reply_names_the_callee_in_national_form_is_the_callees_call(
    world: EchoWorld,
) -> None:
    iid = "echo-redial-national"
    second = second_attempt(world, iid)
    world.http_cm.replies = [elements(("0612345678", CALLEES_CALL))]

    result = world.dialler.dial(second)

    assert result.outcome is DialOutcome.PLACED
    entry = world.entry(iid)
    assert (entry.status, entry.attempt, entry.call_id) == (
        ScheduleStatus.PLACED,
        2,
        CALLEES_CALL,
    )
    assert world.reported == []
    assert world.late_callback(iid, CALLEES_CALL, "0612345678", "4821") is (
        CallbackVerdict.RECORDED
    )
    [only] = published(world.calls(iid))
    assert (only.call_id, only.attempt, only.digits, only.callee) == (CALLEES_CALL, 2, "4821", NL)


@pytest.mark.parametrize(
    "shapes",
    [
        pytest.param(((STRANGER, STRANGER_CALL), (NL, CALLEES_CALL)), id="stranger-first"),
        pytest.param(((NL, CALLEES_CALL), ("31612345678", STRANGER_CALL)), id="callee-twice"),
    ],
)
def test_a_redial_with_two_elements_records_the_callees_and_reports_the_other(
    world: EchoWorld, shapes: tuple[tuple[str, str], ...]
) -> None:
    iid = "echo-redial-two"
    second = second_attempt(world, iid)
    world.http_cm.replies = [elements(*shapes)]

    assert world.dialler.dial(second).outcome is DialOutcome.PLACED

    assert world.entry(iid).call_id == CALLEES_CALL
    other = next(cid for _, cid in shapes if cid != CALLEES_CALL)
    assert world.reported_calls() == [(iid, [other], [None])]
    assert world.late_callback(iid, CALLEES_CALL, NL, "4821") is CallbackVerdict.RECORDED
    [only] = published(world.calls(iid))
    assert (only.call_id, only.attempt, only.digits) == (CALLEES_CALL, 2, "4821")
    assert [d.attempt for d in world.scheduler.dials] == [1, 2]


def test_a_redial_naming_only_a_stranger_is_unknown_and_the_earlier_call_is_the_result(
    world: EchoWorld,
) -> None:
    iid = "echo-redial-stranger"
    second = second_attempt(world, iid)
    first_call = world.entry(iid).call_id
    world.http_cm.replies = [elements((STRANGER, STRANGER_CALL))]

    assert world.dialler.dial(second).outcome is DialOutcome.OUTCOME_UNKNOWN

    entry = world.entry(iid)
    assert (entry.status, entry.call_id, entry.redials) == (
        ScheduleStatus.PLACED,
        None,
        first_call,
    )
    assert world.late_callback(iid, STRANGER_CALL, STRANGER, "9999") is (
        CallbackVerdict.UNKNOWN_CALL
    )
    expire(world)  # no callback of attempt 2 came: the earlier call is the one result
    [only] = published(world.calls(iid))
    assert (only.call_id, only.attempt, only.outcome.value) == (first_call, 1, "unanswered")
    assert len(world.http_cm.bodies()) == 2  # attempts 1 and 2, never a third


def test_an_alarm_that_fails_never_costs_the_callees_call(world: EchoWorld) -> None:
    iid = "echo-alarm-down"
    dial = world.first_dial(iid)
    world.http_cm.replies = [elements((STRANGER, STRANGER_CALL), (NL, CALLEES_CALL))]

    def alarm_down(*_: Any) -> None:
        raise RuntimeError("metrics down")

    world.dialler._on_unattributed = alarm_down

    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED
    assert world.entry(iid).call_id == CALLEES_CALL
