# ruff: noqa: F811  (the fixtures of test_campaigns are parameters)
"""Issue 17: a campaign's row whose instruction id `{campaign-id}.{row}` is found taken is
accounted for exactly once, by what holds the id (domain.campaign_taken_rows): another
caller's → `not-placed` (`instruction-id-in-use`); this campaign's and queued → counted
`placed` once; still being placed → sent back; its placer died during the CM call → `unknown`,
never placed again. Through PlaceRow on the real DynamoDB campaign store (moto)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest

from dtmf_gateway.adapters.dynamodb.campaigns_table import IN_FLIGHT, campaign_key
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.request import parse_dtmf_call_request
from tests.integration.test_campaigns import (
    RowVerdict,
    World,
    callee,
    rows,
    world,  # noqa: F401  (fixture)
)


class _Killed(BaseException):
    """The Lambda runtime killing the invocation mid-request: no `except Exception` runs."""


def _counts(world: World, campaign_id: str) -> dict[str, int]:
    """The campaign's counts, with its concurrent-call slots taken as `in-flight`."""
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    item = boto3.client("dynamodb", region_name="eu-west-1").get_item(
        TableName=world.table_name, Key=campaign_key(campaign_id)
    )["Item"]
    return {**campaign.counts, "in-flight": int(item.get(IN_FLIGHT, {"N": "0"})["N"])}


def test_a_row_id_held_by_another_caller_ends_not_placed_instruction_id_in_use(
    world: World,
) -> None:
    request = parse_dtmf_call_request(
        {
            "instruction-id": "held.1",
            "callee": callee(900),
            "caller": "+31201234567",
            "prompt": "Hello.",
            "valid-prompt": "Thank you.",
        }
    )
    world.place._placement.place(request, PlacementContext(owner="arn:aws:iam::1:user/other"))
    campaign_id = world.start(**{"campaign-id": "held"}, callees=rows(1))
    assert world.place.run(world.queues.rows[0]) == RowVerdict.ENDED
    assert world.cm.requests == 1  # only the other caller's call: the row rang no one
    assert [(d["instruction-id"], d["reason"]) for d in world.bus.not_placed] == [
        ("held.1", "instruction-id-in-use")
    ]
    counts = _counts(world, campaign_id)
    assert counts.get("not-placed") == 1 and counts["in-flight"] == 0
    assert world.store.load(campaign_id).status == "finished"  # type: ignore[union-attr]


def test_a_redelivered_placed_row_is_counted_placed_once(world: World) -> None:
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]
    assert world.place.run(message) == RowVerdict.PLACED
    world.now += timedelta(seconds=30)  # the delete was lost: SQS delivers the row again
    assert world.place.run(message) == RowVerdict.SKIPPED
    assert world.cm.requests == 1
    counts = _counts(world, campaign_id)
    assert counts.get("placed") == 1 and counts["in-flight"] == 1, counts


def test_a_placer_dying_after_cm_queued_the_call_is_counted_placed_on_redelivery(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(1))
    count_placed = world.store.count_placed

    def dies(campaign_id: str, row: int) -> bool:
        raise _Killed

    world.store.count_placed = dies  # type: ignore[method-assign]
    message = world.queues.rows[0]
    with pytest.raises(_Killed):
        world.place.run(message)
    world.store.count_placed = count_placed  # type: ignore[method-assign]
    world.now += timedelta(seconds=30)
    assert world.place.run(message) == RowVerdict.PLACED
    assert world.cm.requests == 1
    counts = _counts(world, campaign_id)
    assert counts.get("placed") == 1 and counts["in-flight"] == 1, counts
    world.answer_all()
    counts = _counts(world, campaign_id)
    assert (counts.get("finished"), counts["in-flight"]) == (1, 0), counts
    assert world.store.load(campaign_id).status == "finished"  # type: ignore[union-attr]


def test_a_row_still_being_placed_by_another_delivery_is_sent_back(world: World) -> None:
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]
    place = world.cm.place
    seen: list[RowVerdict] = []

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not seen:  # a second delivery while the first waits for CM's answer
            seen.append(world.place.run(message))
        return place(*args, **kwargs)

    world.cm.place = meanwhile  # type: ignore[method-assign]
    assert world.place.run(message) == RowVerdict.PLACED
    assert seen == [RowVerdict.DEFERRED]
    assert [m for m, _ in world.queues.deferred] == [message]
    assert world.cm.requests == 1
    counts = _counts(world, campaign_id)
    assert counts.get("placed") == 1 and counts["in-flight"] == 1, counts


def test_a_placer_killed_during_the_cm_call_ends_its_row_unknown_after_its_deadline(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise _Killed

    world.cm.place = killed  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        world.place.run(message)
    world.now += timedelta(seconds=30)  # the invocation may still be running (900 s)
    assert world.place.run(message) == RowVerdict.DEFERRED
    world.now += timedelta(seconds=900)  # its deadline has passed: it died
    assert world.place.run(message) == RowVerdict.ENDED
    counts = _counts(world, campaign_id)
    assert counts.get("unknown") == 1 and counts["in-flight"] == 0, counts
    assert "placed" not in counts and world.bus.not_placed == []
    assert world.store.load(campaign_id).status == "finished"  # type: ignore[union-attr]


def test_a_placer_failing_during_the_cm_call_ends_its_row_unknown_not_not_placed(
    world: World,
) -> None:
    """The hostile test's case, with what it ends as: the attempt raised (its window ended),
    CM may have rung: `unknown`, and no second CM call."""
    campaign_id = world.start(callees=rows(1))
    world.cm.error = RuntimeError("Task timed out after 15.00 seconds")  # type: ignore[assignment]
    message = world.queues.rows[0]
    with pytest.raises(RuntimeError):
        world.place.run(message)
    world.cm.error = None
    requests = world.cm.requests
    world.now += timedelta(seconds=30)
    assert world.place.run(message) == RowVerdict.ENDED
    assert world.cm.requests == requests
    counts = _counts(world, campaign_id)
    assert counts.get("unknown") == 1 and counts["in-flight"] == 0, counts


def test_a_killed_placer_holding_the_only_slot_does_not_stall_its_row(world: World) -> None:
    campaign_id = world.start(callees=rows(1), **{"max-concurrent-calls": 1})
    message = world.queues.rows[0]

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise _Killed

    world.cm.place = killed  # type: ignore[method-assign]
    with pytest.raises(_Killed):
        world.place.run(message)
    world.now += timedelta(seconds=901)  # its deadline has passed: it died
    assert world.place.run(message) == RowVerdict.ENDED
    assert world.store.load(campaign_id).status == "finished"  # type: ignore[union-attr]
