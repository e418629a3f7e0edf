"""Hostile review, stop 6: dials created by the previous version (their input names the callee
by number, `callee`, not `callee-index`) going through this stop's new paths — the deferred
recording, the note on the callee's schedule and its retry, an erasure in between. README: a
schedule created before "is dialled alike"; a noted call is recorded by the retried dial."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.dialling import DialOutcome
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.schedules import ScheduleStatus
from tests.conftest import REGION, Aws
from tests.integration.test_dial_recordings import DialWorld, Faults, only_call
from tests.integration.test_placement_recordings import call_items, queued_messages
from tests.integration.test_scheduling import NL, OWNER


@pytest.fixture
def world(function_env: Aws) -> DialWorld:
    return DialWorld(function_env)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    return Faults(monkeypatch)


def old(dial: ScheduledDial) -> ScheduledDial:
    """The dial as the previous version's one-time schedule names it: by number."""
    return replace(dial, index=None, callee=NL)


def to_old_layout(aws: Aws, instruction_id: str) -> None:
    """The stored map keyed by E.164 (one callee: NL at index 0)."""
    from dtmf_gateway.adapters.dynamodb.calls_table import SCHEDULE, instruction_key

    key = instruction_key(instruction_id)
    item = aws.dynamodb.get_item(TableName=aws.table_name, Key=key)["Item"]
    item[SCHEDULE] = {"M": {NL: next(iter(item[SCHEDULE]["M"].values()))}}
    aws.dynamodb.put_item(TableName=aws.table_name, Item=item)


@pytest.mark.parametrize("layout", ["index", "number"])
def test_an_old_dial_whose_recording_is_deferred_is_applied_once(
    world: DialWorld, faults: Faults, layout: str
) -> None:
    """Held."""
    dial = old(world.first_dial("s6-old-q"))
    if layout == "number":
        to_old_layout(world.aws, "s6-old-q")
    faults.fail(DynamoDbScheduleStore, "record_call")

    assert world.dialler.dial(dial).recording_deferred
    [record] = queued_messages(world.aws)
    assert json.loads(record["body"])["callee-index"] == 0
    assert world.apply_queue() == {"batchItemFailures": []}

    assert only_call(world, "s6-old-q")["status"] == "queued"
    assert world.entry("s6-old-q").status is ScheduleStatus.PLACED
    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED
    assert world.cm.requests == 1


@pytest.mark.parametrize("layout", ["index", "number"])
def test_an_old_dial_whose_recording_is_noted_is_recorded_by_its_retry(
    world: DialWorld, faults: Faults, layout: str
) -> None:
    """Held."""
    dial = old(world.first_dial("s6-old-note"))
    if layout == "number":
        to_old_layout(world.aws, "s6-old-note")
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    world.now += timedelta(minutes=1)

    assert world.dialler.dial(dial).outcome is DialOutcome.PLACED

    assert only_call(world, "s6-old-note")["status"] == "queued"
    assert world.entry("s6-old-note").status is ScheduleStatus.PLACED
    assert world.cm.requests == 1


def test_an_old_dial_noted_then_erased_is_still_recorded_by_its_retry(
    world: DialWorld, faults: Faults
) -> None:
    from dtmf_gateway import wiring

    dial = old(world.first_dial("s6-old-erased", metadata={"order-id": "7781"}))
    boto3.client("sqs", region_name=REGION).delete_queue(QueueUrl=world.queue_url)
    faults.fail(DynamoDbScheduleStore, "record_call")
    with pytest.raises(RuntimeError):
        world.dialler.dial(dial)
    noted = world.entry("s6-old-erased")
    assert noted.status is ScheduleStatus.DIALLING and noted.call_id is not None

    wiring.erase_instruction().erase("s6-old-erased", owner=OWNER)
    world.now += timedelta(minutes=1)

    retried = world.dialler.dial(dial)

    assert call_items(world.aws, "s6-old-erased"), "the noted call was never recorded"
    assert retried.outcome is DialOutcome.PLACED
    call = only_call(world, "s6-old-erased")
    assert not {"callee", "caller"} & call.keys()
    assert world.entry("s6-old-erased").status is ScheduleStatus.PLACED
    assert world.cm.requests == 1


def test_a_pre_upgrade_item_is_cancelled_and_its_old_dial_then_rings_no_one(
    world: DialWorld,
) -> None:
    """Held: DELETE of an instruction stored by the previous version (map keyed by E.164)
    cancels its callee; the old one-time schedule firing afterwards is skipped."""
    dial = old(world.first_dial("s6-old-cancel"))
    to_old_layout(world.aws, "s6-old-cancel")

    assert world.canceller.cancel("s6-old-cancel", owner=OWNER).cancelled == 1
    assert world.canceller.cancel("s6-old-cancel", owner=OWNER).cancelled == 0

    assert world.dialler.dial(dial).outcome is DialOutcome.SKIPPED
    assert world.entry("s6-old-cancel").status is ScheduleStatus.CANCELLED
    assert world.cm.requests == 0
