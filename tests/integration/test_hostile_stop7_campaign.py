# ruff: noqa: F811  (the fixture of test_campaigns is a parameter)
"""Hostile review, stop 7: a campaign row whose CM reply gives its call to nobody (a
stranger's number), then the row's late result; totals of `DTMF Campaign Finished` and the
row's concurrent-call slot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.campaign_use_cases import RowVerdict
from tests.integration.test_campaign_row_slots import _in_flight
from tests.integration.test_campaigns import World, rows, world  # noqa: F401

STRANGER = "+31698765432"


def test_a_row_whose_cm_reply_names_a_stranger_ends_unknown_and_frees_its_slot(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(2), **{"max-concurrent-calls": 1})
    first, second = world.queues.rows
    place = world.cm.place

    def stranger(*args: Any, **kwargs: Any) -> list[CmQueuedCall]:
        [own] = place(*args, **kwargs)
        return [CmQueuedCall(call_id=own.call_id, callee=STRANGER, success=True)]

    world.cm.place = stranger  # type: ignore[method-assign]
    verdict = world.place.run(first)
    world.cm.place = place  # type: ignore[method-assign]
    world.now += timedelta(seconds=2)
    after = world.place.run(second)

    assert verdict == RowVerdict.ENDED
    assert after == RowVerdict.PLACED  # row 1's slot came back at its end
    assert _in_flight(world, campaign_id) == 1
    # the late DTMF Result of row 1 (the callee's held callback released by the expirer)
    world.answer_all()
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    [finished] = world.bus.finished
    counts = finished["counts"]
    assert counts["placed"] >= counts["finished"], counts
    assert (counts.get("unknown"), counts["finished"]) == (1, 1), counts
    assert _in_flight(world, campaign_id) == 0
