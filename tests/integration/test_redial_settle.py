"""A call whose callback overtook its scheduled dial's recording, after the dial decided on
a redial and then failed to settle it (round 2, #16): whoever settles it later — the queued
recording, the expirer — holds it `redialled` while the later attempt stands, and releases
it as the callee's result once that attempt ended without a call."""

from __future__ import annotations

import boto3
import pytest

from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.dialling import CancelInstruction, DialOutcome
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import REGION, Aws
from tests.integration.test_dial_recordings import DialWorld, Faults
from tests.integration.test_hostile_stop6b_dial import REDIAL, expire, overtaken_dial
from tests.integration.test_scheduling import OWNER, published


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


@pytest.mark.parametrize("fallback", ["queue", "note"])
def test_a_cancelled_redial_makes_the_unsettled_overtaken_call_the_one_result(
    world: DialWorld, fallback: str
) -> None:
    from datetime import timedelta

    iid = f"settle-cancel-{fallback}"
    dial = world.first_dial(iid, redial=REDIAL)
    with pytest.MonkeyPatch.context() as patch:
        overtaken_dial(world, patch, iid, 9)  # unanswered, before the dial records it
        Faults(patch).fail(DynamoDbScheduleStore, "settle_overtaken")
        if fallback == "note":
            boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
            with pytest.raises(RuntimeError):
                world.dialler.dial(dial)
        else:
            assert world.dialler.dial(dial).recording_deferred
    assert world.entry(iid).status is ScheduleStatus.SCHEDULED  # attempt 2 waits

    CancelInstruction(world.store, clock=lambda: world.now).cancel(iid, owner=OWNER)
    world.now += timedelta(minutes=1)
    if fallback == "queue":
        assert world.apply_queue() == {"batchItemFailures": []}
    else:
        assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED  # the retry
    expire(world)

    [result] = published(world.calls(iid))
    assert (result.attempt, result.outcome.value) == (1, "unanswered")
    assert world.entry(iid).status is ScheduleStatus.CANCELLED
    assert world.cm.requests == 1
