"""Erasing a scheduled instruction's personal data (issue 19 x #16), on moto's table.

README: an erased instruction is never placed again and what is published afterwards carries
no personal data; architecture.md: "erasing cancels what is not yet placed". So after an
erasure no stored item, one-time schedule input, view or event of a scheduled instruction
names a number, and a callee that still waits is never rung: its schedule ends `cancelled`
when it fires (or on a cancel) with a `DTMF Call Not Placed` without numbers. Covers the
erasure before the first dial, between a redial's attempts, during `dialling`, and items
stored before the `schedule` map was keyed by the callee's index (keyed by its E.164 number).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from devtools.lambdas import LambdaContext, load_function
from dtmf_gateway.adapters.dynamodb.calls_table import SCHEDULE, instruction_key
from dtmf_gateway.adapters.dynamodb.erasure_store import DynamoDbErasureStore
from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
from dtmf_gateway.adapters.eventbridge import not_placed_urn
from dtmf_gateway.adapters.scheduler import dial_input
from dtmf_gateway.api.views import instruction_view
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.erasure import EraseInstruction
from dtmf_gateway.domain.errors import CmRejected
from dtmf_gateway.domain.events import detail_from_call
from dtmf_gateway.domain.not_placed import newly_unplaced, not_placed_detail
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.reading import state_of
from dtmf_gateway.domain.schedules import NotPlacedReason, ScheduleStatus
from dtmf_gateway.domain.stored import StoredInstruction
from tests.integration.test_scheduling import (
    NL,
    NL2,
    OWNER,
    RedialWorld,
    World,
    body,
    published,
    rfc3339,
)

CALLER = body()["caller"]
NUMBERS = (NL, NL2, CALLER)


class Erasing:
    """The erasure use case on the same table, and what a reader of the table would see."""

    def __init__(self, world: World, aws: Any) -> None:
        self.world = world
        self.aws = aws
        self.reader = DynamoDbInstructionReader(aws.dynamodb, aws.table_name)
        self.use_case = EraseInstruction(
            self.reader,
            DynamoDbErasureStore(
                aws.dynamodb,
                aws.table_name,
                idempotency_table_name=aws.idempotency_table_name,
                placement_function_name="unused",
            ),
            clock=lambda: world.now,
        )

    def erase(self, instruction_id: str) -> None:
        self.use_case.erase(instruction_id, owner=OWNER)

    def instruction(self, instruction_id: str) -> StoredInstruction:
        found = self.world.store.load_instruction(instruction_id)
        assert found is not None
        return found

    def view(self, instruction_id: str) -> dict[str, Any]:
        found = self.reader.load(instruction_id)
        assert found is not None
        state = state_of(found[0], found[1], self.world.now)
        view: dict[str, Any] = instruction_view(state).model_dump(mode="json", by_alias=True)
        return view

    def stored_text(self, instruction_id: str) -> str:
        """Every item of the instruction (instruction and calls), as text."""
        items = self.aws.dynamodb.query(
            TableName=self.aws.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": instruction_key(instruction_id)["pk"]},
            ConsistentRead=True,
        )["Items"]
        assert items
        return json.dumps(items)

    def schedule_keys(self, instruction_id: str) -> set[str]:
        item = self.aws.dynamodb.get_item(
            TableName=self.aws.table_name, Key=instruction_key(instruction_id)
        )["Item"]
        return set(item[SCHEDULE]["M"])

    def assert_no_number(self, instruction_id: str, *more: Any) -> None:
        texts = [
            self.stored_text(instruction_id),
            json.dumps(self.view(instruction_id)),
            *(dial_input(d) for d in self.world.scheduler.dials),
            *(json.dumps(m, default=str) for m in more),
        ]
        for text in texts:
            for number in NUMBERS:
                assert number not in text and number[1:] not in text, (number, text)


def not_before(world: World, minutes: int) -> dict[str, str]:
    return {"not-before": rfc3339(world.now + timedelta(minutes=minutes))}


@pytest.fixture
def world(aws: Any) -> World:
    return World(aws)


@pytest.fixture
def redials(aws: Any) -> RedialWorld:
    return RedialWorld(aws)


def test_erased_before_the_first_dial_no_callee_rings_and_each_ends_cancelled_unnamed(
    world: World, aws: Any
) -> None:
    erasing = Erasing(world, aws)
    dials = world.schedule("e-before", **not_before(world, 5))
    erasing.erase("e-before")
    before = erasing.instruction("e-before")
    world.now += timedelta(minutes=5, seconds=10)

    fired = [world.dialler.dial(d) for d in dials]
    again = [world.dialler.dial(d).outcome for d in dials]  # Scheduler delivers at least once

    assert [f.outcome for f in fired] == [DialOutcome.NOT_PLACED] * 2
    assert {f.reason for f in fired} == {NotPlacedReason.CANCELLED}
    assert again == [DialOutcome.SKIPPED] * 2
    assert world.cm.requests == 0
    after = erasing.instruction("e-before")
    events = [not_placed_detail(after, e) for e in newly_unplaced(before, after)]
    assert [(e.callee, e.caller, e.metadata, e.reason) for e in events] == [
        (None, None, {}, NotPlacedReason.CANCELLED)
    ] * 2
    view = erasing.view("e-before")
    assert view["status"] == "cancelled"
    assert [(c["callee"], c["status"]) for c in view["calls"]] == [(None, "cancelled")] * 2
    assert world.canceller.cancel("e-before", owner=OWNER).cancelled == 0  # nothing waits
    erasing.assert_no_number("e-before", *(e.to_json() for e in events))


def test_cancel_after_an_erasure_cancels_the_waiting_callees_without_numbers(
    world: World, aws: Any
) -> None:
    erasing = Erasing(world, aws)
    dials = world.schedule("e-cancel", **not_before(world, 5))
    erasing.erase("e-cancel")
    before = erasing.instruction("e-cancel")

    report = world.canceller.cancel("e-cancel", owner=OWNER)
    world.now += timedelta(minutes=6)
    fired = [world.dialler.dial(d).outcome for d in dials]

    assert report.cancelled == 2
    assert fired == [DialOutcome.SKIPPED] * 2 and world.cm.requests == 0
    after = erasing.instruction("e-cancel")
    details = [not_placed_detail(after, e) for e in newly_unplaced(before, after)]
    assert len(details) == 2
    # each callee's event keeps its own deterministic `resources` (and so webhook-id)
    urns = [not_placed_urn(d) for d in details]
    again = [not_placed_detail(after, e) for e in newly_unplaced(before, after)]
    assert len(set(urns)) == 2 and urns == [not_placed_urn(d) for d in again]
    erasing.assert_no_number("e-cancel", *(d.to_json() for d in details), *urns)


def test_erased_between_a_redials_attempts_the_redial_never_rings_and_the_last_call_counts(
    redials: RedialWorld, aws: Any
) -> None:
    erasing = Erasing(redials, aws)
    first = redials.place("e-redial")
    assert redials.dialler.dial(first).outcome is DialOutcome.PLACED
    redials.callback("e-redial", 9)  # unanswered: attempt 2 waits
    waiting = redials.scheduler.dials[-1]
    assert waiting.attempt == 2
    erasing.erase("e-redial")
    redials.now += timedelta(seconds=61)

    fired = redials.dialler.dial(waiting)

    assert (fired.outcome, fired.reason) == (DialOutcome.NOT_PLACED, NotPlacedReason.CANCELLED)
    assert redials.cm.requests == 1
    [result] = published(redials.calls("e-redial"))  # the held first call is the result
    detail = detail_from_call(result)
    assert (detail.caller, detail.callee, detail.digits, detail.metadata) == (None, None, None, {})
    assert detail.erased_at is not None
    entry = erasing.instruction("e-redial").schedule[0]
    assert entry.status is ScheduleStatus.CANCELLED and entry.call_id == result.call_id
    assert newly_unplaced(None, erasing.instruction("e-redial")) == []  # called: no Not Placed
    view = erasing.view("e-redial")
    assert view["calls"][0]["callee"] is None and view["calls"][0]["outcome"] == "unanswered"
    assert view["status"] == "cancelled"  # as after a DELETE while the redial waits
    erasing.assert_no_number("e-redial", detail.model_dump_json(by_alias=True))


def test_erased_while_dialling_the_call_is_recorded_unnamed_and_never_redialled(
    redials: RedialWorld, aws: Any
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    erasing = Erasing(redials, aws)
    dial = redials.place("e-dialling")
    place = redials.cm.place

    def erased_while_cm_answers(*args: Any, **kwargs: Any) -> Any:
        erasing.erase("e-dialling")  # lands after the claim, before the call is recorded
        return place(*args, **kwargs)

    redials.cm.place = erased_while_cm_answers  # type: ignore[method-assign]
    assert redials.dialler.dial(dial).outcome is DialOutcome.PLACED
    entry = erasing.instruction("e-dialling").schedule[0]
    assert entry.status is ScheduleStatus.PLACED and entry.call_id is not None
    erasing.assert_no_number("e-dialling")

    raw = {"type": "dtmf-finished", "call-id": entry.call_id, "callee": NL, "digits": None}
    callback = parse_callback("e-dialling", {**raw, "result": {"code": 9}})
    redials.callbacks.record("e-dialling", callback)  # unanswered: redial would follow

    assert len(redials.scheduler.dials) == 1  # erased: no later attempt is scheduled
    [result] = published(redials.calls("e-dialling"))
    detail = detail_from_call(result)
    assert (detail.caller, detail.callee, detail.outcome) == (None, None, "unanswered")
    assert erasing.view("e-dialling")["status"] == "finished"
    erasing.assert_no_number("e-dialling", detail.model_dump_json(by_alias=True))


def test_cm_text_kept_on_a_callee_schedule_loses_its_numbers(world: World, aws: Any) -> None:
    erasing = Erasing(world, aws)
    dials = world.schedule("e-detail", **not_before(world, 5))
    world.now += timedelta(minutes=5, seconds=10)
    world.cm.error = CmRejected(f"callee {NL} unreachable")
    assert world.dialler.dial(dials[0]).reason is NotPlacedReason.CM_REFUSED
    assert any(e.detail and NL in e.detail for e in erasing.instruction("e-detail").schedule)

    erasing.erase("e-detail")

    assert [e.detail for e in erasing.instruction("e-detail").schedule] == [
        "callee [erased] unreachable",
        None,
    ]
    erasing.assert_no_number("e-detail")


# ------------------------------------------------------------------ items of the E.164 layout


def to_number_keys(aws: Any, instruction_id: str) -> None:
    """The instruction item as stored before the map was keyed by index: each entry under
    its callee's E.164 number (an item erased then: `destinations` null, the keys kept)."""
    key = instruction_key(instruction_id)
    item = aws.dynamodb.get_item(TableName=aws.table_name, Key=key)["Item"]
    entries = item[SCHEDULE]["M"]
    item[SCHEDULE] = {"M": {(NL, NL2)[int(k)]: v for k, v in entries.items()}}
    aws.dynamodb.put_item(TableName=aws.table_name, Item=item)


def erased_before_index_keys(erasing: Erasing, instruction_id: str) -> None:
    """The item as an erasure before index keys left it."""
    erasing.erase(instruction_id)
    to_number_keys(erasing.aws, instruction_id)
    assert NL in erasing.stored_text(instruction_id)


def old_dial(dial: ScheduledDial, callee: str) -> ScheduledDial:
    """The dial as a one-time schedule created then names it: by number."""
    return replace(dial, index=None, callee=callee)


def test_an_item_of_the_number_layout_is_read_dialled_and_erased(world: World, aws: Any) -> None:
    erasing = Erasing(world, aws)
    dials = world.schedule("e-old", **not_before(world, 5))
    to_number_keys(aws, "e-old")
    assert [(e.index, e.callee) for e in erasing.instruction("e-old").schedule] == [
        (0, NL),
        (1, NL2),
    ]
    assert [c["callee"] for c in erasing.view("e-old")["calls"]] == [NL, NL2]
    world.now += timedelta(minutes=5, seconds=10)

    placed = world.dialler.dial(old_dial(dials[0], NL))  # moves NL's entry to its index key
    assert placed.outcome is DialOutcome.PLACED
    assert erasing.schedule_keys("e-old") == {"0", NL2}
    erasing.erase("e-old")
    assert erasing.schedule_keys("e-old") == {"0", "1"}
    fired = world.dialler.dial(old_dial(dials[1], NL2))  # its number is gone from the item

    assert (fired.outcome, fired.reason) == (DialOutcome.NOT_PLACED, NotPlacedReason.CANCELLED)
    assert world.cm.requests == 1
    view = erasing.view("e-old")
    assert [(c["callee"], c["status"]) for c in view["calls"]] == [
        (None, "queued"),
        (None, "cancelled"),
    ]
    erasing.assert_no_number("e-old")


def test_an_item_erased_before_index_keys_reads_unnamed_and_an_erase_again_rekeys_it(
    world: World, aws: Any
) -> None:
    erasing = Erasing(world, aws)
    dials = world.schedule("e-old-erased", **not_before(world, 5))
    erased_before_index_keys(erasing, "e-old-erased")

    read = erasing.instruction("e-old-erased").schedule
    view = erasing.view("e-old-erased")
    erasing.erase("e-old-erased")  # idempotent, and now moves the keys
    world.now += timedelta(minutes=5, seconds=10)
    fired = [world.dialler.dial(d).outcome for d in dials]  # new-style dials: by index

    assert [(e.index, e.callee) for e in read] == [(0, None), (1, None)]
    assert [c["callee"] for c in view["calls"]] == [None, None]
    assert erasing.schedule_keys("e-old-erased") == {"0", "1"}
    assert fired == [DialOutcome.NOT_PLACED] * 2 and world.cm.requests == 0
    erasing.assert_no_number("e-old-erased")


def test_the_old_dials_of_an_item_erased_before_index_keys_never_ring(
    world: World, aws: Any
) -> None:
    erasing = Erasing(world, aws)
    [first, second] = world.schedule("e-old-two", **not_before(world, 5))
    erased_before_index_keys(erasing, "e-old-two")
    world.now += timedelta(minutes=5, seconds=10)

    # both callees wait for the same moment and their numbers are gone: each old dial ends one
    fired = [world.dialler.dial(old_dial(d, n)).outcome for d, n in ((first, NL), (second, NL2))]

    assert fired == [DialOutcome.NOT_PLACED] * 2 and world.cm.requests == 0
    assert [e.status for e in erasing.instruction("e-old-two").schedule] == [
        ScheduleStatus.CANCELLED
    ] * 2
    assert world.canceller.cancel("e-old-two", owner=OWNER).cancelled == 0
    erasing.assert_no_number("e-old-two")


# ------------------------------------------------------------------ the dial function's input


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ({"callee-index": 0}, "skipped"),  # no such instruction
        ({"callee": NL}, "skipped"),  # a schedule created before inputs named the index
        ({}, "malformed"),
        ({"callee-index": 0, "callee": NL}, "malformed"),
        ({"callee-index": -1}, "malformed"),
        ({"callee-index": "0x1"}, "malformed"),
    ],
)
def test_the_dial_input_names_the_callee_by_index_or_by_number_exactly_once(
    function_env: Any, event: dict[str, Any], outcome: str
) -> None:
    dial_call = load_function("dial_call")
    base = {"instruction-id": "nothing", "attempt": 1, "scheduled-for": "2027-01-01T09:00:00Z"}

    assert dial_call.handler({**base, **event}, LambdaContext()) == {"outcome": outcome}
