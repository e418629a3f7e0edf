# ruff: noqa: F811  (the world fixture, imported, is a parameter here)
"""A campaign's progress comes from its rows' `DTMF Result` events, which may repeat, arrive
out of order, be corrected by a later revision, or be strays (forged, or for a row the
campaign never placed). Generated sequences of those, through the real DynamoDB and S3
adapters (moto): `finished` is always the number of distinct placed rows that got a result,
each outcome count is that of the rows' latest revisions, and the campaign finishes exactly
once — only when every row has really ended."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtmf_gateway.domain.calls import Outcome
from dtmf_gateway.domain.campaign_results import ResultVerdict
from dtmf_gateway.domain.campaign_use_cases import RowVerdict
from dtmf_gateway.domain.campaigns import CampaignStatus
from tests.integration.test_campaigns import World, callee, world  # noqa: F401  (fixture)

OUTCOMES = [o.value for o in Outcome]
_ids = itertools.count()


def _real(campaign_id: str, row: int, revision: int) -> dict[str, Any]:
    """Row ``row``'s result at ``revision`` (each revision of a row has one outcome)."""
    return {
        "campaign-id": campaign_id,
        "instruction-id": f"{campaign_id}.{row}",
        "callee": callee(row),
        "outcome": OUTCOMES[(row + revision) % len(OUTCOMES)],
        "digits": None,
        "revision": revision,
        **({"corrects": "expired"} if revision else {}),
        "finished-at": "2026-12-01T10:00:00.000Z",
    }


def _strays(campaign_id: str, rows: int, never_placed: list[int]) -> st.SearchStrategy[Any]:
    """Results that must change nothing: rows that do not exist or were never placed (an
    invalid row, a valid row not placed yet), another campaign's id, malformed details."""
    good = _real(campaign_id, 1, 0)
    return st.one_of(
        st.sampled_from([0, rows + 1, rows + 50, *never_placed]).map(
            lambda row: _real(campaign_id, row, 0)
        ),
        st.sampled_from(
            [
                good | {"instruction-id": f"{campaign_id}.01"},
                good | {"instruction-id": f"{campaign_id}.1x"},
                good | {"instruction-id": f"{campaign_id}.-1"},
                good | {"instruction-id": campaign_id},
                good | {"instruction-id": "other.1"},
                good | {"campaign-id": "other"},
                good | {"campaign-id": None},
                good | {"outcome": "bogus"},
                good | {"revision": -1},
                good | {"revision": "1"},
                good | {"revision": True},
                {"campaign-id": campaign_id},
                {},
            ]
        ),
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_finished_counts_distinct_real_rows_and_the_campaign_finishes_once(
    world: World,
    data: st.DataObject,
) -> None:
    rows = data.draw(st.integers(1, 4), label="rows")
    invalid = data.draw(st.sets(st.integers(1, rows), max_size=rows - 1), label="invalid rows")
    campaign_id = f"gen-{next(_ids)}"
    callees = [
        {"callee": callee(n)} | ({} if n in invalid else {"variables": {"name": f"N{n}"}})
        for n in range(1, rows + 1)
    ]
    world.start(**{"campaign-id": campaign_id, "callees": callees, "skip-invalid-rows": True})
    messages = {m["row"]: m for m in world.queues.rows if m["campaign-id"] == campaign_id}
    valid = sorted(messages)
    assert valid == [n for n in range(1, rows + 1) if n not in invalid]
    placed = sorted(data.draw(st.sets(st.sampled_from(valid)), label="placed first"))
    for row in placed:
        assert world.place.run(messages[row]) == RowVerdict.PLACED
        world.now += timedelta(seconds=1)
    never_placed = sorted(set(range(1, rows + 1)) - set(placed))
    real = (
        st.tuples(st.sampled_from(placed), st.integers(0, 2)).map(lambda r: _real(campaign_id, *r))
        if placed
        else st.nothing()
    )
    events = data.draw(
        st.lists(st.one_of(real, _strays(campaign_id, rows, never_placed)), max_size=12),
        label="events",
    )

    latest: dict[int, tuple[int, str]] = {}  # row -> (revision, outcome) counted
    for event in events:
        verdict = world.record.run(event)
        row_revision = _counted(event, campaign_id, placed)
        if row_revision is None:
            assert verdict in (ResultVerdict.IGNORED, ResultVerdict.REPEATED), event
        else:
            row, revision = row_revision
            was = latest.get(row)
            if was is None or revision > was[0]:
                latest[row] = (revision, str(event["outcome"]))
                expected = ResultVerdict.COUNTED if was is None else ResultVerdict.CORRECTED
                assert verdict == expected, (event, was)
            else:
                assert verdict == ResultVerdict.REPEATED, (event, was)
        _check(world, campaign_id, latest, done=len(latest) == len(valid))

    # every row a stray named is still placed and rings; then every row's first result
    for row in valid:
        if row not in placed:
            assert world.place.run(messages[row]) == RowVerdict.PLACED, row
            world.now += timedelta(seconds=1)
    for row in valid:
        world.record.run(_real(campaign_id, row, 0))
        latest.setdefault(row, (0, OUTCOMES[row % len(OUTCOMES)]))
    _check(world, campaign_id, latest, done=True)


def _counted(event: dict[str, Any], campaign_id: str, placed: list[int]) -> tuple[int, int] | None:
    """(row, revision) when ``event`` is a well-formed result of a placed row, else None."""
    if event.get("campaign-id") != campaign_id or event.get("outcome") not in OUTCOMES:
        return None
    revision = event.get("revision")
    if type(revision) is not int or revision < 0:
        return None
    for row in placed:
        if event.get("instruction-id") == f"{campaign_id}.{row}":
            return row, revision
    return None


def _check(
    world: World, campaign_id: str, latest: dict[int, tuple[int, str]], *, done: bool
) -> None:
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    outcomes = Counter(outcome for _, outcome in latest.values())
    assert campaign.count("finished") == len(latest), campaign.counts
    assert {o: campaign.count(o) for o in OUTCOMES if campaign.count(o)} == dict(outcomes)
    finished_events = [e for e in world.bus.finished if e["campaign-id"] == campaign_id]
    if not done:
        assert campaign.status == CampaignStatus.RUNNING, campaign.counts
        assert finished_events == []
        return
    assert campaign.status == CampaignStatus.FINISHED, campaign.counts
    assert len(finished_events) == 1, finished_events
    lines = world.lines(str(campaign.results_uri))
    assert {x["row"]: x["outcome"] for x in lines} == {r: o for r, (_, o) in latest.items()}
