"""Hostile review, stop 7: a request none of whose callees could ever be called is 422 naming
`not-after`. Promises: bad input gets a specific 4xx and changes nothing; a retry with the
same Idempotency-Key (or the same instruction-id) of an accepted request answers as the first
request did (README's retry table), so a client never takes an accepted, ringing instruction
for one that was refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dtmf_gateway.domain.errors import InstructionAlreadyExists, InvalidRequest
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.quiet_hours import QuietHours
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.schedules import SchedulingRules
from tests.integration.test_scheduling import NL, OWNER, World, body, rfc3339

KEY = "order-7781-s7-retry"


@pytest.fixture
def world(aws: Any) -> World:
    world = World(aws)
    # quiet 12:00-13:00 in the callee's zone (Amsterdam, CEST: 10:00-11:00 UTC)
    world.rules = SchedulingRules(default_quiet_hours=QuietHours.parse("12:00-13:00"))
    world.placement._scheduling = world.rules
    world.dialler._rules = world.rules
    world.now = datetime(2027, 6, 10, 9, 30, tzinfo=UTC)  # 11:30 in Amsterdam
    return world


def request(iid: str | None) -> Any:
    extra: dict[str, Any] = {
        "callee": NL,
        "not-before": "2027-06-10T09:31:00Z",
        "not-after": "2027-06-10T10:30:00Z",  # 12:30 in Amsterdam: inside the quiet hours
    }
    if iid is not None:
        extra["instruction-id"] = iid
    else:
        extra["instruction-id"] = None
    return parse_dtmf_call_request(body(**extra))


def test_a_keyed_retry_of_an_accepted_scheduled_request_is_its_replay_not_a_422(
    world: World,
) -> None:
    """Accepted at 11:30 (the call due 11:31, before the quiet hours); dialled at 11:31; the
    client's retry (its first answer lost) at 12:05 with the same key and body."""
    context = PlacementContext(owner=OWNER, idempotency_key=KEY)
    first = world.placement.place(request(None), context)
    world.now = datetime(2027, 6, 10, 9, 31, 5, tzinfo=UTC)
    [dial] = world.scheduler.dials
    placed = world.dialler.dial(dial)
    world.now = datetime(2027, 6, 10, 10, 5, tzinfo=UTC)  # 12:05: quiet, not-after ahead

    try:
        retry: Any = world.placement.place(request(None), context)
    except InvalidRequest as refused:
        retry = [p.field for p in refused.problems]

    assert placed.outcome.value == "placed" and world.cm.requests == 1
    # expected: the first answer replayed (same instruction), not "bad input, nothing stored"
    assert getattr(retry, "instruction_id", retry) == first.instruction_id


def test_a_retry_with_the_same_instruction_id_is_409_in_use_not_a_422(world: World) -> None:
    context = PlacementContext(owner=OWNER)
    world.placement.place(request("s7-same-id"), context)
    world.now = datetime(2027, 6, 10, 10, 5, tzinfo=UTC)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - which one is the finding
        world.placement.place(request("s7-same-id"), context)

    # expected: 409 instruction-id-in-use (the id is taken, the instruction is scheduled)
    assert isinstance(raised.value, InstructionAlreadyExists), repr(raised.value)


def test_one_callee_reachable_keeps_the_202_and_the_other_ends_not_placed(world: World) -> None:
    """Held: NL (Amsterdam) and a UK number (London, an hour behind): not-after 12:30 CEST
    = 11:30 BST lies in NL's quiet hours, not in the UK callee's: NL ends not-placed, the UK
    callee waits, the request is accepted."""
    req = parse_dtmf_call_request(
        body(
            **{
                "instruction-id": "s7-mixed",
                "callees": [NL, "+447400123456"],
                "not-before": rfc3339(datetime(2027, 6, 10, 10, 5, tzinfo=UTC)),
                "not-after": rfc3339(datetime(2027, 6, 10, 10, 30, tzinfo=UTC)),
            }
        )
        | {"callee": None}
    )
    world.now = datetime(2027, 6, 10, 10, 0, tzinfo=UTC)

    result = world.placement.place(req, PlacementContext(owner=OWNER))

    stored = world.store.load_instruction("s7-mixed")
    assert stored is not None
    assert [e.status.value for e in stored.schedule] == ["not-placed", "scheduled"]
    assert result.instruction_id == "s7-mixed"


def test_not_after_exactly_at_the_next_allowed_moment_is_accepted(world: World) -> None:
    """Held: the end of the quiet hours (13:00 CEST = 11:00 UTC) equal to not-after."""
    world.now = datetime(2027, 6, 10, 10, 5, tzinfo=UTC)
    req = parse_dtmf_call_request(
        body(
            **{
                "instruction-id": "s7-edge",
                "callee": NL,
                "not-after": rfc3339(world.now.replace(hour=11, minute=0) + timedelta(0)),
            }
        )
    )

    world.placement.place(req, PlacementContext(owner=OWNER))

    assert [d.scheduled_for for d in world.scheduler.dials] == ["2027-06-10T11:00:00.000Z"]


def test_a_422_never_placeable_request_binds_no_key_and_stores_nothing(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    """Held: through the handler, quiet hours around now (Amsterdam) and not-after inside
    them: 422 naming not-after, nothing stored; the same key with a later not-after is 202."""
    from tests.integration.test_place_call_handler import post as post_keyed
    from tests.integration.test_scheduling import QuietHoursZone

    now = datetime.now(UTC)
    local = now.astimezone(QuietHoursZone.AMSTERDAM)
    quiet = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=2)).strftime("%H:%M"),
    }
    refused = post_keyed(
        place_call,
        body(**{"quiet-hours": quiet, "not-after": rfc3339(now + timedelta(minutes=30))}),
        key=KEY,
    )
    stored_after_422 = function_env.items()
    fixed = post_keyed(
        place_call,
        body(**{"quiet-hours": quiet, "not-after": rfc3339(now + timedelta(hours=5))}),
        key=KEY,
    )

    assert refused.status == 422, refused.body
    assert [e["field"] for e in refused.body["errors"]] == ["not-after"]
    assert stored_after_422 == [] and cm.requests == []
    assert fixed.status == 202 and fixed.body["status"] == "scheduled"
