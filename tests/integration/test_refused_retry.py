"""A request refused for its moment (`not-after` passed, or no callee callable before it)
still answers as its instruction did when its id is held: a retry of an accepted request is
its replay (same Idempotency-Key and body) or 409 instruction-id-in-use (same id), never a
422 that would tell the client nothing was stored (hostile review, stop 7). Without an
instruction the 422 stands and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from dtmf_gateway.domain.errors import (
    IdempotencyKeyReused,
    InstructionAlreadyExists,
    InvalidRequest,
)
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.request import parse_dtmf_call_request
from tests.conftest import REGION
from tests.integration.test_scheduling import NL, OWNER, World, body

KEY = "order-9912-refused-retry"
NOT_AFTER = "2027-06-10T10:30:00Z"


def request(iid: str | None = None, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "callee": NL,
        "instruction-id": iid,
        "not-before": "2027-06-10T10:05:00Z",
        "not-after": NOT_AFTER,
        **extra,
    }
    return parse_dtmf_call_request(body(**fields))


def items(aws: Any) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    return list(ddb.scan(TableName=aws.table_name)["Items"])


@pytest.fixture
def world(aws: Any) -> World:
    return World(aws)  # 10:00 UTC, no quiet hours


def test_a_keyed_retry_after_not_after_passed_is_the_scheduled_replay(world: World) -> None:
    context = PlacementContext(owner=OWNER, idempotency_key=KEY)
    first = world.placement.place(request(), context)
    world.now = datetime(2027, 6, 10, 11, 0, tzinfo=UTC)  # not-after has passed

    retry = world.placement.place(request(), context)

    assert retry.replayed and retry.instruction_id == first.instruction_id
    assert retry.scheduled == first.scheduled
    assert len(world.scheduler.dials) == 1  # nothing scheduled again


def test_a_retry_with_the_id_after_not_after_passed_is_409(world: World) -> None:
    world.placement.place(request("refused-same-id"), PlacementContext(owner=OWNER))
    world.now = datetime(2027, 6, 10, 11, 0, tzinfo=UTC)

    with pytest.raises(InstructionAlreadyExists):
        world.placement.place(request("refused-same-id"), PlacementContext(owner=OWNER))


def test_the_key_with_another_body_after_not_after_passed_is_key_reused(world: World) -> None:
    context = PlacementContext(owner=OWNER, idempotency_key=KEY)
    world.placement.place(request(), context)
    world.now = datetime(2027, 6, 10, 11, 0, tzinfo=UTC)

    with pytest.raises(IdempotencyKeyReused):
        world.placement.place(request(prompt="Another prompt, please type 1"), context)


@pytest.mark.parametrize("iid", [None, "refused-fresh-id"])
def test_without_an_instruction_the_422_stands_and_nothing_is_written(
    world: World, aws: Any, iid: str | None
) -> None:
    world.now = datetime(2027, 6, 10, 11, 0, tzinfo=UTC)

    with pytest.raises(InvalidRequest) as refused:
        world.placement.place(request(iid), PlacementContext(owner=OWNER, idempotency_key=KEY))

    assert [p.field for p in refused.value.problems] == ["not-after"]
    assert items(aws) == [] and world.scheduler.dials == [] and world.cm.requests == 0
