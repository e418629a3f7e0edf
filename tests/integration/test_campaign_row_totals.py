# ruff: noqa: F811  (the fixture of test_campaigns is a parameter)
"""Issue 17: a campaign's totals are final when its row ends, whatever the order in which its
placers' `placed` counts and its rows' `DTMF Result`s land (a result can beat its placer's
count; a placer can die after CM answered and never count; a result can be delivered twice):
the one `DTMF Campaign Finished` shows every called row `placed` and `finished` once, and GET
shows the same counts afterwards. Through PlaceRow and RecordRowResult on the real DynamoDB
campaign store (moto), in orders Hypothesis chooses."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_campaigns import (
    RowVerdict,
    World,
    callee,
    rows,
    world,  # noqa: F401  (fixture)
)

_ids = itertools.count(1)


def _result(campaign_id: str, row: int) -> dict[str, Any]:
    return {
        "campaign-id": campaign_id,
        "instruction-id": f"{campaign_id}.{row}",
        "callee": callee(row - 1),
        "outcome": "input-received",
        "digits": "1234",
        "finished-at": "2026-12-01T09:01:00.000Z",
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), size=st.integers(min_value=1, max_value=3))
def test_the_finished_event_holds_final_totals_in_any_order_of_counts_and_results(
    world: World, data: st.DataObject, size: int
) -> None:
    campaign_id = world.start(**{"campaign-id": f"t{next(_ids)}"}, callees=rows(size))
    counts_asked: list[int] = []  # the placers' `placed` counts, held back to be interleaved
    count_placed = world.store.count_placed

    def held_back(_campaign_id: str, row: int) -> bool:
        counts_asked.append(row)
        return True

    world.store.count_placed = held_back  # type: ignore[method-assign]
    try:
        messages = [m for m in world.queues.rows if m["campaign-id"] == campaign_id]
        verdicts = []
        for message in messages:
            verdicts.append(world.place.run(message))
            world.now += timedelta(seconds=1)
        assert verdicts == [RowVerdict.PLACED] * size
    finally:
        world.store.count_placed = count_placed  # type: ignore[method-assign]
    alive = data.draw(st.lists(st.booleans(), min_size=size, max_size=size), label="counts")
    repeats = data.draw(st.lists(st.booleans(), min_size=size, max_size=size), label="twice")
    steps = [("count", row) for row in counts_asked if alive[row - 1]]
    steps += [("result", row) for row in range(1, size + 1)]
    steps += [("result", row) for row in range(1, size + 1) if repeats[row - 1]]
    for kind, row in data.draw(st.permutations(steps), label="order"):
        if kind == "count":
            world.store.count_placed(campaign_id, row)
        else:
            world.record.run(_result(campaign_id, row))

    [event] = [e for e in world.bus.finished if e["campaign-id"] == campaign_id]
    assert event["counts"] == {
        "rows": size,
        "invalid-rows": 0,
        "placed": size,
        "finished": size,
        "input-received": size,
    }
    after = world.store.load(campaign_id)
    assert after is not None and after.counts == event["counts"]  # nothing counted after it
