"""Issue 15: ending a call leaves its pending-calls index entry alone (one index write less per
call), and the expirer walks the index with a durable cursor per shard instead of re-reading
everything stale: it never skips a call, never touches one that ended, and a run cut short
resumes where it stopped. On moto, with the real adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from devtools.template import create_table, template
from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore
from dtmf_gateway.adapters.dynamodb.calls_table import call_key, from_item
from dtmf_gateway.adapters.dynamodb.pending_calls import OVERLAP_SECONDS, DynamoDbPendingCalls
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction, Outcome, iso
from dtmf_gateway.domain.expiry import ExpiryReport, expire_stale_calls
from dtmf_gateway.domain.ports import PendingCall
from dtmf_gateway.domain.stored import CallFinish, FinishStatus
from tests.conftest import REGION

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CALLEE = "+31612345678"
RETENTION = timedelta(days=30)
# How long after its stale-at moment an entry may reach the index and still be found: the
# callback's 10 s timeout (held calls) plus index lag and clock skew, within the adapter's
# OVERLAP_SECONDS (120 s). A literal, so that shrinking the overlap fails these tests.
LATE_WRITE_SECONDS = 110


def _index_keys() -> set[str]:
    """The key attributes of the pending-calls index, as the template declares them."""
    table = template()["Resources"]["CallsTable"]["Properties"]
    [index] = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "pending-calls"]
    return {k["AttributeName"] for k in index["KeySchema"]}


class SpyPendingCalls(DynamoDbPendingCalls):
    """The real adapter, noting every call it expired or settled."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, "calls", shards=8, sleep=lambda _: None)
        self.expire_attempts: list[str] = []
        self.expired: list[str] = []

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        self.expire_attempts.append(call.call_id)
        won = super().expire(call, finished_at)
        if won:
            self.expired.append(call.call_id)
        return won


@dataclass
class World:
    ddb: Any
    pending: SpyPendingCalls
    placements: DynamoDbInstructionStore
    callbacks: DynamoDbCallbackStore
    now: datetime = T0
    calls: list[str] = field(default_factory=list)
    state: dict[str, str] = field(default_factory=dict)  # the model: queued/finished/expired

    def place(self, call_id: str, stale_after: int, written_late_by: int = 0) -> None:
        """A call queued `written_late_by` seconds before the write reaches the table (the
        placement's clock read), stale `stale_after` seconds after that."""
        created = self.now - timedelta(seconds=written_late_by)
        instruction = NewInstruction(
            instruction_id=f"i-{call_id}",
            owner="test",
            caller="+31201234567",
            callees=(CALLEE,),
            request={"min-digits": 4, "max-digits": 4, "regex": "[0-9]{4}"},
            metadata={},
            created_at=created,
            stale_after_seconds=stale_after,
        )
        self.placements.reserve(instruction)
        self.placements.record_queued_calls(instruction, [CmQueuedCall(call_id, CALLEE, True)])
        self.calls.append(call_id)
        self.state[call_id] = "queued"

    def callback(self, call_id: str) -> FinishStatus:
        instruction = self.callbacks.load_instruction(f"i-{call_id}")
        assert instruction is not None
        finish = CallFinish(
            call_id=call_id,
            callee=None,
            outcome=Outcome.INPUT_RECEIVED,
            digits="1234",
            result={"code": 10},
            finished_at=iso(self.now),
        )
        return self.callbacks.finish_queued_call(instruction, finish)

    def expire(self, cut_after: int | None = None) -> ExpiryReport:
        """One expirer run at `now`, its time running out after `cut_after` calls."""
        asked = 0

        def seconds_left() -> float:
            nonlocal asked
            asked += 1
            return 0.0 if cut_after is not None and asked > cut_after else 100.0

        return expire_stale_calls(self.pending, clock=lambda: self.now, seconds_left=seconds_left)

    def item(self, call_id: str) -> dict[str, Any]:
        found = self.ddb.get_item(TableName="calls", Key=call_key(f"i-{call_id}", call_id))
        return from_item(found["Item"])


def _world() -> World:
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "CallsTable", "calls")
    return World(
        ddb=ddb,
        pending=SpyPendingCalls(ddb),
        placements=DynamoDbInstructionStore(ddb, "calls", retention=RETENTION, pending_shards=8),
        callbacks=DynamoDbCallbackStore(ddb, "calls", retention=RETENTION, pending_shards=8),
    )


# ------------------------------------------------------------------ the index is not written


def test_ending_a_call_writes_no_index_entry() -> None:
    """The callback's UpdateItem (and the expirer's) names no key attribute of the
    pending-calls index, so DynamoDB writes no index entry for it (1 WRU, not 2)."""
    with mock_aws():
        world = _world()
        updates: list[dict[str, Any]] = []
        world.ddb.meta.events.register(
            "provide-client-params.dynamodb.UpdateItem",
            lambda params, **_: updates.append(dict(params)),
        )
        world.place("c-callback", stale_after=600)
        world.place("c-expired", stale_after=600)
        start = len(updates)

        assert world.callback("c-callback") is FinishStatus.RECORDED
        world.now += timedelta(seconds=601)
        assert world.expire().expired == 1

        ends = updates[start:]
        ended_keys = {u["Key"]["sk"]["S"] for u in ends}
        assert {"call#c-callback", "call#c-expired"} <= ended_keys
        for update in ends:
            named = set(update.get("ExpressionAttributeNames", {}).values())
            assert not named & _index_keys(), update["UpdateExpression"]
        for call_id in ("c-callback", "c-expired"):
            assert _index_keys() <= set(world.item(call_id))  # the entry stays


# ------------------------------------------------------------------ the cursor


def test_a_run_cut_short_resumes_where_it_stopped() -> None:
    with mock_aws():
        world = _world()
        for n in range(10):
            world.place(f"c-{n}", stale_after=60 + n)
        world.now += timedelta(minutes=5)

        first = world.expire(cut_after=3)
        second = world.expire()
        third = world.expire()

        assert (first.expired, first.finished) == (3, False)
        assert (second.expired, second.finished) == (7, True)
        assert (third.examined, third.expired) == (0, 0)
        assert sorted(world.pending.expired) == sorted(world.calls)


def test_hundreds_of_calls_are_read_in_batches_and_each_expired_once() -> None:
    """More calls than one BatchGetItem takes (100), read several requests at once, with a run
    cut short in the middle of them."""
    with mock_aws():
        world = _world()
        for n in range(260):
            world.place(f"c-{n}", stale_after=60 + n % 7)
        world.callback("c-5")
        world.now += timedelta(minutes=5)

        first = world.expire(cut_after=130)
        second = world.expire()

        assert first.finished is False
        assert (second.finished, first.expired + second.expired) == (True, 259)
        assert first.skipped + second.skipped >= 1  # c-5 (again, if read in both runs)
        assert sorted(world.pending.expired) == sorted(set(world.calls) - {"c-5"})


class ThrottledReads:
    """The DynamoDB client, answering each BatchGetItem's last key as unprocessed once (as
    DynamoDB does when throttled)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.unprocessed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        [(table, ask)] = request["RequestItems"].items()
        keys = ask["Keys"]
        if len(keys) < 2:
            return dict(self._client.batch_get_item(**request))
        self.unprocessed += 1
        answer = dict(self._client.batch_get_item(RequestItems={table: {**ask, "Keys": keys[:-1]}}))
        answer["UnprocessedKeys"] = {table: {**ask, "Keys": keys[-1:]}}
        return answer


def test_keys_left_unprocessed_by_a_throttled_read_are_read_again() -> None:
    with mock_aws():
        world = _world()
        for n in range(12):
            world.place(f"c-{n}", stale_after=60)
        world.now += timedelta(minutes=5)
        throttled = ThrottledReads(world.ddb)
        world.pending = SpyPendingCalls(throttled)

        report = world.expire()

        assert throttled.unprocessed >= 1
        assert (report.expired, report.skipped) == (12, 0)


def test_the_first_run_expires_what_is_stale_and_skips_what_ended() -> None:
    """No cursor yet: the whole index up to now is read. A call that ended before (its entry
    removed by the code before issue 15, or kept since) is not expired again."""
    with mock_aws():
        world = _world()
        world.place("c-waiting", stale_after=60)
        world.place("c-ended-kept", stale_after=60)
        world.place("c-ended-removed", stale_after=60)
        world.callback("c-ended-kept")
        world.callback("c-ended-removed")
        world.ddb.update_item(  # as the callback did before issue 15
            TableName="calls",
            Key=call_key("i-c-ended-removed", "c-ended-removed"),
            UpdateExpression="REMOVE #a, #b",
            ExpressionAttributeNames=dict(zip(("#a", "#b"), sorted(_index_keys()), strict=True)),
        )
        world.now += timedelta(minutes=5)

        report = world.expire()

        assert (report.examined, report.expired, report.skipped) == (1, 1, 1)
        assert world.pending.expire_attempts == ["c-waiting"]
        assert world.item("c-ended-kept")["status"] == "finished"


def test_an_entry_written_after_its_stale_moment_is_still_found() -> None:
    """A call whose entry reaches the index after its `stale-at` (a held call, index lag,
    clock skew) is read by the next run: the cursor stays OVERLAP_SECONDS behind `now`."""
    with mock_aws():
        world = _world()
        world.place("c-early", stale_after=60)
        world.now += timedelta(minutes=5)
        assert world.expire().expired == 1  # the cursor moves to now - OVERLAP_SECONDS

        world.place("c-late", stale_after=0, written_late_by=LATE_WRITE_SECONDS)
        world.now += timedelta(minutes=5)

        assert world.expire().expired == 1
        assert world.pending.expired == ["c-early", "c-late"]


def test_a_run_at_an_earlier_moment_than_the_cursor_reads_nothing() -> None:
    """A cursor ahead of the run's `now` (a clock set back) is an empty range, not an error."""
    with mock_aws():
        world = _world()
        world.place("c-1", stale_after=60)
        world.now += timedelta(days=1)
        assert world.expire().expired == 1
        world.now -= timedelta(days=1)

        report = world.expire()

        assert (report.examined, report.skipped, report.finished) == (0, 0, True)


# ------------------------------------------------------------------ generative


_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.integers(min_value=0, max_value=1200),  # stale after (s)
            st.integers(min_value=0, max_value=LATE_WRITE_SECONDS),  # written late by (s)
        ),
        st.tuples(st.just("callback"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("advance"), st.integers(min_value=0, max_value=900)),
        st.tuples(st.just("expire"), st.one_of(st.none(), st.integers(min_value=0, max_value=4))),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=_steps)
def test_every_call_without_a_callback_expires_exactly_once(steps: list[tuple[Any, ...]]) -> None:
    """Placements, callbacks and expirer runs cut short at random points, in any order: in
    the end every call that never got a callback is `expired`, by exactly one successful
    expiry; the expirer never tries to expire a call that had ended; a callback's outcome
    is the call's final state."""
    with mock_aws():
        world = _world()
        for step in steps:
            if step[0] == "place":
                world.place(f"c-{len(world.calls)}", step[1], step[2])
            elif step[0] == "callback" and world.calls:
                call_id = world.calls[step[1] % len(world.calls)]
                status = world.callback(call_id)
                if world.state[call_id] != "finished":
                    assert status in (FinishStatus.RECORDED, FinishStatus.CORRECTED)
                    world.state[call_id] = "finished"
            elif step[0] == "advance":
                world.now += timedelta(seconds=step[1])
            elif step[0] == "expire":
                attempts = len(world.pending.expire_attempts)
                world.expire(cut_after=step[1])
                for call_id in world.pending.expire_attempts[attempts:]:
                    assert world.state[call_id] == "queued", call_id  # never an ended call
                    world.state[call_id] = "expired"
        # later, runs with time enough until one finishes
        world.now += timedelta(seconds=1200 + OVERLAP_SECONDS + 1)
        assert world.expire().finished

        for call_id in world.calls:
            item = world.item(call_id)
            if world.state[call_id] == "finished":
                assert (item["status"], item["outcome"]) == ("finished", "input-received")
            else:
                assert item["status"] == "expired", call_id
                assert world.pending.expired.count(call_id) == 1, call_id
        assert world.pending.expire_attempts == world.pending.expired  # no failed condition
