# ruff: noqa: F811  (the fixture of test_campaigns is a parameter)
"""Issue 17: a campaign row holds one concurrent-call slot from its first try until it ends,
and its redeliveries use that slot: whatever dies where, `max-concurrent-calls` is never
exceeded, no slot is stranded, every row ends once and nobody is rung twice. Through PlaceRow
and RecordRowResult on the real DynamoDB campaign store (moto), the deliveries, faults and
results in orders Hypothesis chooses, then SQS's redeliveries once every placer is dead."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.campaigns_table import IN_FLIGHT, campaign_key, row_key
from dtmf_gateway.domain.errors import CmUnreachable
from tests.integration.test_campaigns import (
    RowVerdict,
    World,
    callee,
    rows,
    world,  # noqa: F401  (fixture)
)

_ids = itertools.count(1)


class _Killed(BaseException):
    """The Lambda runtime killing the invocation mid-request: no `except Exception` runs."""


def _in_flight(world: World, campaign_id: str) -> int:
    item = boto3.client("dynamodb", region_name="eu-west-1").get_item(
        TableName=world.table_name, Key=campaign_key(campaign_id)
    )["Item"]
    return int(item.get(IN_FLIGHT, {"N": "0"})["N"])


class _Sqs:
    """The rows queue as SQS treats it: a message raised on comes back, a deferred one is
    sent again, any other verdict deletes it."""

    def __init__(self, world: World, messages: list[dict[str, Any]]) -> None:
        self.world, self.pending = world, list(messages)

    def deliver(self, index: int) -> RowVerdict | None:
        message = self.pending.pop(index % len(self.pending))
        self.world.queues.deferred.clear()
        try:
            verdict = self.world.place.run(message)
        except (_Killed, RuntimeError, CmUnreachable):
            self.pending.append(message)  # visible again after its visibility timeout
            return None
        if verdict == RowVerdict.DEFERRED:
            self.pending.extend(m for m, _ in self.world.queues.deferred)
        return verdict


def test_a_row_sent_back_for_cm_keeps_its_one_slot(world: World) -> None:
    """max-concurrent-calls 1: while row 1 waits to try CM again, row 2 gets no slot (a
    second call could ring beside row 1's); row 1's redelivery uses its own slot."""
    campaign_id = world.start(callees=rows(2), **{"max-concurrent-calls": 1})
    first, second = world.queues.rows
    world.cm.error = CmUnreachable("connection refused")
    assert world.place.run(first) == RowVerdict.DEFERRED
    world.cm.error = None
    world.now += timedelta(seconds=1)
    assert world.place.run(second) == RowVerdict.DEFERRED  # no slot: row 1 holds it
    world.now += timedelta(seconds=30)
    assert world.place.run(first) == RowVerdict.PLACED
    assert (world.cm.requests, _in_flight(world, campaign_id)) == (2, 1)
    world.answer_all()  # row 1's result (row 2's is ignored: never placed)
    assert _in_flight(world, campaign_id) == 0
    world.now += timedelta(seconds=1)
    assert world.place.run(second) == RowVerdict.PLACED


_STEP = st.tuples(
    st.sampled_from(
        ["ok", "killed-in-cm", "killed-at-cm", "fails-at-cm", "unreachable", "result", "later"]
    ),
    st.integers(min_value=0, max_value=5),
)


@pytest.mark.parametrize("limit", [1, 2])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(size=st.integers(min_value=1, max_value=3), steps=st.lists(_STEP, max_size=12))
def test_slots_are_never_exceeded_or_stranded_whatever_dies_where(
    world: World, limit: int, size: int, steps: list[tuple[str, int]]
) -> None:
    campaign_id = world.start(
        **{"campaign-id": f"s{next(_ids)}", "max-concurrent-calls": limit}, callees=rows(size)
    )
    sqs = _Sqs(world, [m for m in world.queues.rows if m["campaign-id"] == campaign_id])
    place = world.cm.place
    rung: Counter[str] = Counter()  # CM calls queued per row (instruction id)
    fault = {"now": "ok"}

    def cm(*args: Any, **kwargs: Any) -> Any:
        if fault["now"] == "unreachable":
            raise CmUnreachable("connection refused")  # surely nothing reached CM
        if fault["now"] == "killed-in-cm":
            raise _Killed  # during the CM request, which never got through: no result comes
        rung[kwargs["instruction_id"]] += 1
        queued = place(*args, **kwargs)
        if fault["now"] == "killed-at-cm":
            raise _Killed  # CM queued the call; the placer dies before it hears so
        if fault["now"] == "fails-at-cm":
            raise RuntimeError("Task timed out after 15.00 seconds")
        return queued

    world.cm.place = cm  # type: ignore[method-assign]
    answered: set[str] = set()

    def answer(index: int) -> None:
        waiting = sorted(set(rung) - answered)
        if waiting:
            instruction_id = waiting[index % len(waiting)]
            answered.add(instruction_id)
            row = int(instruction_id.rsplit(".", 1)[1])
            world.record.run(
                {
                    "campaign-id": campaign_id,
                    "instruction-id": instruction_id,
                    "callee": callee(row - 1),
                    "outcome": "input-received",
                    "digits": "1234",
                    "finished-at": "2026-12-01T09:01:00.000Z",
                }
            )

    for action, index in steps:
        if action == "later":
            world.now += timedelta(seconds=30)
        elif action == "result":
            answer(index)
        elif sqs.pending:
            fault["now"] = action
            sqs.deliver(index)
            world.now += timedelta(seconds=1)
        assert 0 <= _in_flight(world, campaign_id) <= limit
    fault["now"] = "ok"
    world.now += timedelta(seconds=901)  # every placer that may still run has died
    for _ in range(4 * size + 4):  # SQS's redeliveries and the calls' results
        for _ in range(len(sqs.pending)):
            sqs.deliver(0)
            world.now += timedelta(seconds=1)
            assert 0 <= _in_flight(world, campaign_id) <= limit
        for _ in range(len(rung)):
            answer(0)
        if not sqs.pending:
            break

    assert max(rung.values(), default=0) <= 1, rung  # nobody rung twice
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == "finished", campaign
    assert _in_flight(world, campaign_id) == 0  # no slot stranded
    [event] = [e for e in world.bus.finished if e["campaign-id"] == campaign_id]
    counts = event["counts"]
    ends = ("finished", "not-placed", "unknown")
    assert sum(counts.get(k, 0) for k in ends) == size, counts  # every row ended once
    assert counts.get("placed", 0) >= counts.get("finished", 0), counts
    assert campaign.counts == counts


def test_a_row_opened_before_rows_held_their_slots_gives_its_slot_back_at_its_end(
    world: World,
) -> None:
    """A campaign running across the upgrade: its ringing row was opened by a delivery that
    took the slot for itself (`opened`, no `slot` on the row). Its result gives the slot
    back, or a campaign of `max-concurrent-calls` 1 would wait for a slot for ever."""
    campaign_id = world.start(callees=rows(2), **{"max-concurrent-calls": 1})
    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    ddb.update_item(  # what the placer before the upgrade wrote for row 1
        TableName=world.table_name,
        Key=row_key(campaign_id, 1),
        UpdateExpression="SET opened = :true",
        ExpressionAttributeValues={":true": {"BOOL": True}},
    )
    ddb.update_item(
        TableName=world.table_name,
        Key=campaign_key(campaign_id),
        UpdateExpression="ADD #f :one",
        ExpressionAttributeNames={"#f": IN_FLIGHT},
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    world.answer_all()  # row 1's result (row 2's is ignored: never placed)
    assert _in_flight(world, campaign_id) == 0
    assert world.place.run(world.queues.rows[1]) == RowVerdict.PLACED
