# ruff: noqa: F811  (the fixture of test_campaigns is a parameter)
"""Issue 15 x 17: a campaign row whose placement's recording failed after CM queued its call.

The recording waits (the placement-recordings queue took it) and CM's replies are noted on
the row's `placing` instruction. A redelivery of the row (its placer killed after CM
answered) must count it `placed` once — CM queued the call, its `DTMF Result` will come —
never end it `unknown` (which the result would then contradict) nor place it again (never
ring twice). Only when the note failed as well is nothing on the instruction to tell it from
a placer that died during the CM call: then, once its deadline has passed without the
recording applied, the row ends `unknown` and its late result changes nothing.

Through PlaceRow, RecordRowResult and the real DynamoDB campaign store (moto); the placement,
its deferred recording, the callback and the `DTMF Result` it publishes on the in-memory
calls table (tests.fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALL_IDS,
    INSTRUCTION_SK,
    call_from_item,
    instruction_pk,
)
from dtmf_gateway.adapters.dynamodb.campaigns_table import IN_FLIGHT, campaign_key
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.domain.callbacks import CallbackVerdict, CmCallback, RecordCallback
from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction
from dtmf_gateway.domain.campaign_results import ResultVerdict
from dtmf_gateway.domain.campaign_taken_rows import TakenRow, taken_row
from dtmf_gateway.domain.errors import InstructionAlreadyExists
from dtmf_gateway.domain.events import detail_from_call
from dtmf_gateway.domain.placement import PlaceInstruction
from dtmf_gateway.domain.placement_recording import ApplyPlacementRecording
from tests.conftest import Aws
from tests.fakes import (
    FakeCallbackUrls,
    InMemoryCallbackStore,
    InMemoryInstructionStore,
    InMemoryPlacementRecordings,
)
from tests.integration.test_campaigns import (
    OWNER,
    POLICY,
    RowVerdict,
    World,
    rows,
    world,  # noqa: F401  (fixture)
)


class _Killed(BaseException):
    """The Lambda runtime killing the invocation mid-request: no `except Exception` runs."""


class _Placement:
    """The world's placement with a calls table whose recording fails (an outage) and a
    placement-recordings queue that takes it; ``note_survives``: the note of CM's replies
    is written (else it fails too)."""

    def __init__(self, world: World, *, note_survives: bool) -> None:
        self.world = world
        self.store = InMemoryInstructionStore(
            world.calls,
            fail_recording=RuntimeError("ProvisionedThroughputExceededException"),
            note_survives=note_survives,
        )
        self.recordings = InMemoryPlacementRecordings()
        self.deferred: list[Exception] = []
        self.bookkeeping: list[Exception] = []
        world.place._placement = PlaceInstruction(
            cm=world.cm,
            store=self.store,
            callback_urls=FakeCallbackUrls(),
            policy=POLICY,
            clock=lambda: world.now,
            recordings=self.recordings,
            on_recording_deferred=self.deferred.append,
            on_bookkeeping_error=self.bookkeeping.append,
        )

    def killed_after_cm_answered(self, message: dict[str, Any]) -> None:
        """Deliver ``message``; its placer dies right after the placement answered (before
        it counted the row `placed`)."""
        count_placed = self.world.store.count_placed

        def dies(campaign_id: str, row: int) -> bool:
            raise _Killed

        self.world.store.count_placed = dies  # type: ignore[method-assign]
        try:
            with pytest.raises(_Killed):
                self.world.place.run(message)
        finally:
            self.world.store.count_placed = count_placed  # type: ignore[method-assign]

    def apply_recording(self) -> None:
        """The placement-recordings consumer applies the queued recording (DynamoDB is back)."""
        self.store.fail_recording = None
        [(instruction, queued, replies)] = self.recordings.deferred
        ApplyPlacementRecording(self.store, clock=lambda: self.world.now).apply(
            instruction, queued, replies
        )

    def result(self, message: dict[str, Any]) -> ResultVerdict:
        """CM's callback for the row's call, then its `DTMF Result` (as the outbox publishes
        it from the ended call) delivered to the campaign worker."""
        instruction_id = f"{message['campaign-id']}.{message['row']}"
        key = (instruction_pk(instruction_id), INSTRUCTION_SK)
        [call_id] = self.world.calls.items[key][CALL_IDS]
        callback = CmCallback.model_validate(
            {
                "type": "dtmf-finished",
                "call-id": call_id,
                "callee": message["callee"],
                "digits": "4821",
                "result": {"code": 10},
            }
        )
        recorded = RecordCallback(
            InMemoryCallbackStore(self.world.calls), clock=lambda: self.world.now
        ).record(instruction_id, callback)
        assert recorded.verdict is CallbackVerdict.RECORDED
        call = call_from_item(self.world.calls.call(instruction_id, call_id) or {})
        detail = detail_from_call(call).model_dump(by_alias=True, mode="json")
        return self.world.record.run(detail)


def _counts(world: World, campaign_id: str) -> dict[str, int]:
    """The campaign's counts, with its concurrent-call slots taken as `in-flight`."""
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    item = boto3.client("dynamodb", region_name="eu-west-1").get_item(
        TableName=world.table_name, Key=campaign_key(campaign_id)
    )["Item"]
    return {**campaign.counts, "in-flight": int(item.get(IN_FLIGHT, {"N": "0"})["N"])}


def test_a_row_whose_recording_waits_is_counted_placed_and_ended_by_its_result(
    world: World,
) -> None:
    placement = _Placement(world, note_survives=True)
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]
    placement.killed_after_cm_answered(message)
    assert len(placement.deferred) == 1 and placement.bookkeeping == []  # queued and noted

    world.now += timedelta(seconds=901)  # the dead placer's deadline has passed, and the
    # recording still waits (the queue's consumer keeps failing): redelivered
    assert world.place.run(message) == RowVerdict.PLACED
    assert world.place.run(message) == RowVerdict.SKIPPED  # a repeat counts nothing more
    assert world.cm.requests == 1  # rung once
    counts = _counts(world, campaign_id)
    assert counts == {"rows": 1, "invalid-rows": 0, "placed": 1, "in-flight": 1}, counts
    assert world.store.load(campaign_id).status == "running"  # type: ignore[union-attr]

    placement.apply_recording()
    assert placement.result(message) == ResultVerdict.COUNTED

    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == "finished"
    counts = _counts(world, campaign_id)
    assert counts == {
        "rows": 1,
        "invalid-rows": 0,
        "placed": 1,
        "finished": 1,
        "input-received": 1,
        "in-flight": 0,
    }, counts
    [line] = world.lines(str(campaign.results_uri))
    assert (line["outcome"], line["digits"]) == ("input-received", "4821")
    assert world.bus.finished[0]["counts"] == campaign.counts
    assert world.cm.requests == 1


def test_a_row_whose_recording_waits_is_placed_even_before_its_placers_deadline(
    world: World,
) -> None:
    """The noted replies say CM answered: no need to wait out the dead placer's window (the
    row is not sent back as if its placer might still be calling CM)."""
    placement = _Placement(world, note_survives=True)
    campaign_id = world.start(callees=rows(1), **{"max-concurrent-calls": 1})
    message = world.queues.rows[0]
    placement.killed_after_cm_answered(message)

    world.now += timedelta(seconds=1)
    assert world.place.run(message) == RowVerdict.PLACED
    assert world.queues.deferred == []
    assert _counts(world, campaign_id)["in-flight"] == 1  # its one slot, until its result
    placement.apply_recording()
    assert placement.result(message) == ResultVerdict.COUNTED
    assert _counts(world, campaign_id)["in-flight"] == 0


def test_when_the_note_failed_too_the_row_waits_then_is_placed_once_the_queue_applied_it(
    world: World,
) -> None:
    placement = _Placement(world, note_survives=False)
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]
    placement.killed_after_cm_answered(message)
    assert len(placement.deferred) == 1  # the queue has it; the note failed (its notes say)

    world.now += timedelta(seconds=30)  # nothing tells it from a placer still calling CM
    assert world.place.run(message) == RowVerdict.DEFERRED
    placement.apply_recording()  # within seconds, as the queue's consumer does
    world.now += timedelta(seconds=30)
    assert world.place.run(message) == RowVerdict.PLACED
    assert placement.result(message) == ResultVerdict.COUNTED
    counts = _counts(world, campaign_id)
    assert (counts.get("placed"), counts.get("finished"), counts.get("unknown")) == (1, 1, None)
    assert world.cm.requests == 1


def test_when_the_note_failed_too_and_the_recording_waits_past_the_deadline_it_is_unknown(
    world: World,
) -> None:
    """The double fault: the recording and the note of CM's replies both failed, and the
    queue's consumer has not applied the recording by the dead placer's deadline. The
    instruction is `placing` without replies, as when a placer dies during the CM call: the
    row ends `unknown` (CM may have rung; never placed again). The result that follows once
    the recording is applied changes nothing of the row: the totals stay consistent."""
    placement = _Placement(world, note_survives=False)
    campaign_id = world.start(callees=rows(1))
    message = world.queues.rows[0]
    placement.killed_after_cm_answered(message)

    world.now += timedelta(seconds=30)
    assert world.place.run(message) == RowVerdict.DEFERRED
    world.now += timedelta(seconds=900)  # its deadline has passed, the recording still waits
    assert world.place.run(message) == RowVerdict.ENDED
    assert world.cm.requests == 1
    ended = {"rows": 1, "invalid-rows": 0, "unknown": 1, "in-flight": 0}
    assert _counts(world, campaign_id) == ended
    assert world.store.load(campaign_id).status == "finished"  # type: ignore[union-attr]

    placement.apply_recording()
    assert placement.result(message) == ResultVerdict.REPEATED
    assert _counts(world, campaign_id) == ended
    campaign = world.store.load(campaign_id)
    assert campaign is not None
    [line] = world.lines(str(campaign.results_uri))
    assert line["status"] == "unknown"
    assert [f["counts"] for f in world.bus.finished] == [campaign.counts]
    assert world.cm.requests == 1


def test_the_calls_tables_row_instruction_with_noted_replies_reads_as_placed(aws: Aws) -> None:
    """On the DynamoDB adapter (moto): the reservation that meets a campaign row's `placing`
    instruction reads the replies noted on it (no `body-hash`: a campaign row has no key)."""
    store = DynamoDbInstructionStore(
        aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
    )
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    instruction = NewInstruction(
        instruction_id="c1.1",
        owner=OWNER,
        caller="+31201234567",
        callees=("+31612000000",),
        request={},
        metadata={},
        created_at=now,
        stale_after_seconds=600,
        campaign_id="c1",
        placing_until=int(now.timestamp()) + 900,
    )
    store.reserve(instruction)
    later = now + timedelta(seconds=901)  # the placer's deadline has passed
    with pytest.raises(InstructionAlreadyExists) as unanswered:
        store.reserve(instruction)
    assert taken_row(unanswered.value.found, "c1", OWNER, later) == TakenRow.UNKNOWN

    queued = CmQueuedCall("5b3a6c1e-8d2f-4e7a-9c0b-1f2e3d4c5b6a", "+31612000000", success=True)
    store.note_pending_recording(instruction, [queued])
    with pytest.raises(InstructionAlreadyExists) as noted:
        store.reserve(instruction)
    assert taken_row(noted.value.found, "c1", OWNER, later) == TakenRow.PLACED
