"""`PendingCalls` on the sparse `pending-calls` index, walked with a durable cursor per shard.

Every placed or held call has an entry (`pending-shard`, `stale-at`); the entry stays when
the call ends (issue 15: removing it cost an index write per call). So the index is walked,
not re-read: per shard, a cursor item in the calls table (`expiry-cursor` / `shard#<n>`,
`processed-through` = epoch seconds) says through which `stale-at` every entry was handled.
A run queries `(cursor, now]` oldest first, reads the entries' calls (BatchGetItem, 100 keys
a request, READERS requests at once, eventually consistent: the expiry write stays
conditional, so a racing callback still wins exactly once; a stale read only costs a failed
condition), and moves the cursor over what it handled — never past `now - OVERLAP_SECONDS`.

Why no entry is skipped: an entry with `stale-at` s is written at most a few seconds after
s (a held call's s is max(created + PLACEMENT_GRACE, the callback's clock), written within
the callback's 10 s timeout; a queued call's is ≥ ~14 minutes ahead of its write: its
stale-after time includes CALLBACK_GRACE, and the placement writes within its 15 s
timeout). A run that moves the cursor to c ≤ its start - OVERLAP_SECONDS queried (old, c]
after its start, so every entry with s ≤ c was written more than OVERLAP_SECONDS - 10 s
before that query: index propagation (sub-second normally), an eventually consistent read
and clock skew between the writer's clock and the expirer's all fit in that. The overlap
costs re-reading the entries of its last OVERLAP_SECONDS each run (a handled entry read
again is skipped as ended, or its conditional write fails). With no cursor (the first run)
the whole index up to `now` is read: legacy entries of ended calls were removed, and entries
of calls that ended since are skipped.

Issue 15: an instruction item whose placement recording failed has an entry too (CM's replies
noted on it, `stale-at` its calls' stale time, written by the placement within seconds). It
is handled whenever it is read (`apply_recording`): the recording applied if nothing applied
it, its calls returned with whether they still wait. The call entries that applying writes
lie at or behind the cursor; their calls are handled right there instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALLEES,
    EXPIRY_CURSOR_PK,
    EXPIRY_CURSOR_RECORD,
    HOLD,
    INSTRUCTION_SK,
    PENDING_INDEX,
    PENDING_SHARD,
    PK,
    PROCESSED_THROUGH,
    RECORD_TYPE,
    REDIALLED_UNTIL,
    REPLIES,
    SK,
    STALE_AT,
    STATUS,
    call_from_item,
    call_key,
    expired_fields,
    expiry_cursor_key,
    from_item,
    ids_of_call_key,
    instruction_from_item,
    instruction_key,
    instruction_pk,
    is_call_item,
    is_instruction_item,
    is_waiting,
    noted_instruction,
    recording_pending,
    shard_of_cursor_key,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    end_queued_call,
    is_conditional_failure,
    settle_held_call,
    update_if,
)
from dtmf_gateway.adapters.dynamodb.placement_answers import decoded_replies
from dtmf_gateway.adapters.dynamodb.unusable import stale_entry_unusable_on_invalid_request
from dtmf_gateway.domain.calls import Hold
from dtmf_gateway.domain.ports import HeldCall, PendingCall

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

    from dtmf_gateway.domain.ports import InstructionStore

#: How far behind a run's `now` the cursor stays (seconds): each run re-reads the entries whose
#: `stale-at` lies in the last OVERLAP_SECONDS before the previous run's start. It covers an
#: entry written up to that long after its `stale-at` (held calls: ≤ 10 s, the callback's
#: timeout) plus index propagation and clock skew; 120 s leaves 110 s for the last two.
OVERLAP_SECONDS = 120
BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
READERS = 8  # BatchGetItem requests in flight at once (boto3's clients are thread-safe)
_UNPROCESSED_RETRIES = 8  # BatchGetItem answers throttled keys as unprocessed: retried


def _always() -> bool:
    return True


class DynamoDbPendingCalls:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        shards: int,
        overlap_seconds: int = OVERLAP_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        recorder: InstructionStore | None = None,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._shards = shards
        self._overlap = overlap_seconds
        self._sleep = sleep
        self._recorder = recorder  # applies a recording noted on an instruction (issue 15)

    def stale(
        self, now: datetime, keep_going: Callable[[], bool] = _always
    ) -> Iterator[PendingCall]:
        """See PendingCalls.stale: shard by shard, each from its cursor (all of it with no
        cursor yet), moving each cursor as far as it handled (at most `now` - the overlap)."""
        upper = int(now.timestamp())
        cursors = self._cursors()
        for shard in self.shards_to_walk(cursors):
            cursor = cursors.get(shard)
            handled_through = cursor  # every entry with stale-at <= this is handled
            complete = True
            for stale_at, call in self._entries(shard, cursor, upper):
                if handled_through is None or stale_at - 1 > handled_through:
                    handled_through = stale_at - 1  # every earlier entry was handled
                if not keep_going():
                    complete = False
                    break
                yield call
            else:
                handled_through = upper
            if handled_through is not None:
                self._advance(shard, cursor, min(handled_through, upper - self._overlap))
            if not complete:
                return

    def shards_to_walk(self, cursors: dict[int, int]) -> list[int]:
        """The shards a run walks, ascending: 0..shards-1 and every shard with a cursor.

        `PendingCallsShards` is meant to be raised only, but its MinValue is all that enforces
        it: after lowering it (16 -> 8) calls written on shards 8..15 are still in the index,
        and a shard's cursor item (written by every run that walked it, even an empty one) is
        the only record that those shards exist. A shard above the count with entries but no
        cursor — the count was lowered before any run finished walking it — cannot be known
        from the table without scanning the index; docs/operations.md says to raise the count
        back (or never lower it) for that case."""
        return sorted(set(range(self._shards)) | cursors.keys())

    def _cursors(self) -> dict[int, int]:
        """Each shard's cursor (one strongly consistent query of one small partition)."""
        cursors: dict[int, int] = {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": to_item({":pk": EXPIRY_CURSOR_PK}),
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for item in page["Items"]:
                if PROCESSED_THROUGH in item:
                    cursors[shard_of_cursor_key(item)] = int(item[PROCESSED_THROUGH]["N"])
            if "LastEvaluatedKey" not in page:
                return cursors
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _advance(self, shard: int, cursor: int | None, to: int) -> None:
        """Move the shard's cursor forward to `to` (never back: a later cursor written by a
        run racing this one — an operator's manual invoke — stays)."""
        if cursor is not None and to <= cursor:
            return
        update_if(
            self._ddb,
            TableName=self._table,
            Key=expiry_cursor_key(shard),
            UpdateExpression="SET #through = :to, #type = :type",
            ConditionExpression="attribute_not_exists(#through) OR #through < :to",
            ExpressionAttributeNames={"#through": PROCESSED_THROUGH, "#type": RECORD_TYPE},
            ExpressionAttributeValues=to_item({":to": to, ":type": EXPIRY_CURSOR_RECORD}),
        )

    def _entries(
        self, shard: int, cursor: int | None, upper: int
    ) -> Iterator[tuple[int, PendingCall]]:
        """(stale-at, call) of the shard's entries in (cursor, upper], oldest first, each
        with whether its call had ended (read a hundred at a time)."""
        if cursor is not None and cursor >= upper:
            return
        condition = "#shard = :shard AND #stale <= :upper"
        values: dict[str, Any] = {":shard": str(shard), ":upper": upper}
        if cursor is not None:
            condition = "#shard = :shard AND #stale BETWEEN :lower AND :upper"
            values[":lower"] = cursor + 1
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PENDING_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#shard": PENDING_SHARD, "#stale": STALE_AT},
            "ExpressionAttributeValues": to_item(values),
        }
        with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="expiry-read") as pool:
            while True:
                page = self._ddb.query(**kwargs)
                entries = page["Items"]
                chunks = [
                    entries[start : start + BATCH_GET_KEYS]
                    for start in range(0, len(entries), BATCH_GET_KEYS)
                ]
                # the page's calls are read READERS requests at a time, yielded in order
                for chunk, waiting in zip(chunks, pool.map(self._waiting, chunks), strict=True):
                    for entry in chunk:
                        instruction_id, call_id = ids_of_call_key(entry)
                        ended = (entry[PK]["S"], entry[SK]["S"]) not in waiting
                        # issue 15: an instruction's own entry (its recording waits) is
                        # handled whenever it is read (apply_recording tells what is left)
                        recording = entry[SK]["S"] == INSTRUCTION_SK
                        yield (
                            int(entry[STALE_AT]["N"]),
                            PendingCall(
                                instruction_id, call_id, ended and not recording, recording
                            ),
                        )
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _waiting(self, entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
        """The (pk, sk) of the entries' calls that still wait (is_waiting); a call no longer
        stored (past retention) does not."""
        waiting: set[tuple[str, str]] = set()
        request: KeysAndAttributesTypeDef = {
            "Keys": [{PK: e[PK], SK: e[SK]} for e in entries],
            "ProjectionExpression": "#pk, #sk, #status, #hold, #until",
            "ExpressionAttributeNames": {
                "#pk": PK,
                "#sk": SK,
                "#status": STATUS,
                "#hold": HOLD,
                "#until": REDIALLED_UNTIL,
            },
        }
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            answer = self._ddb.batch_get_item(RequestItems={self._table: request})
            for raw in answer.get("Responses", {}).get(self._table, []):
                if is_waiting(from_item(raw)):
                    waiting.add((raw[PK]["S"], raw[SK]["S"]))
            unprocessed = answer.get("UnprocessedKeys", {}).get(self._table)
            left = list(unprocessed["Keys"]) if unprocessed else []
            if not left:
                return waiting
            request = {**request, "Keys": left}
            self._sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"BatchGetItem left {len(left)} keys unprocessed (throttled)")

    @stale_entry_unusable_on_invalid_request
    def apply_recording(self, entry: PendingCall) -> list[PendingCall]:
        """See PendingCalls.apply_recording: one consistent GetItem of the instruction; while
        it still waits (calls_table.recording_pending) the recorder's `record_queued_calls`
        of the noted replies (the calls' index entries at their own stale time, now past:
        they are returned here instead); then whether each call still waits (BatchGetItem)."""
        found = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(entry.instruction_id), ConsistentRead=True
        )
        item = from_item(found.get("Item") or {})
        if not is_instruction_item(item) or not item.get(REPLIES):
            return []
        replies = decoded_replies(list(item.get(CALLEES) or []), item[REPLIES])
        queued = [r for r in replies if r.success and r.call_id]
        if queued and recording_pending(item):
            if self._recorder is None:  # pragma: no cover - wiring always gives one
                raise RuntimeError("applying a noted recording needs an InstructionStore")
            self._recorder.record_queued_calls(noted_instruction(item), queued, replies)
        if not queued:
            return []
        keys = [call_key(entry.instruction_id, c.call_id or "") for c in queued]
        waiting = self._waiting([dict(k) for k in keys])
        return [
            PendingCall(
                entry.instruction_id, c.call_id or "", (k[PK]["S"], k[SK]["S"]) not in waiting
            )
            for c, k in zip(queued, keys, strict=True)
        ]

    @stale_entry_unusable_on_invalid_request
    def expire(self, call: PendingCall, finished_at: str) -> bool:
        try:
            end_queued_call(
                self._ddb,
                self._table,
                call_key(call.instruction_id, call.call_id),
                expired_fields(finished_at),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def held(self, call: PendingCall) -> HeldCall | None:
        """See PendingCalls.held. A call held until a deadline (`redialled-until`) is held
        `redialled`, or still awaiting its placement (its overtaken recording unsettled when
        the deadline was set). A call held `redialled` without one that a redial attempt
        stored before `redials` names (`CalleeSchedule.names_redialled_call`: its CM answer
        was lost) gets its deadline now (one conditional write) and is settled as one."""
        found = self._ddb.get_item(
            TableName=self._table,
            Key=call_key(call.instruction_id, call.call_id),
            ConsistentRead=True,
        )
        if "Item" not in found:
            return None
        raw_call = from_item(found["Item"])
        stored = call_from_item(raw_call)
        if stored.hold not in (Hold.AWAITING_PLACEMENT, Hold.REDIALLED):
            return None
        redialled = REDIALLED_UNTIL in raw_call
        call_ids: tuple[str, ...] | None = None
        redialled_by_schedule = legacy = False
        others: list[tuple[Hold | None, str | None]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": instruction_pk(call.instruction_id)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page["Items"]:
                item = from_item(raw)
                if is_instruction_item(item):
                    instruction = instruction_from_item(item)
                    call_ids = instruction.call_ids
                    if call_ids is None and instruction.awaiting_recording:  # noted (issue 15)
                        noted = instruction.awaiting_recording
                        call_ids = tuple((c.call_id or "").lower() for c in noted)
                    redialled_by_schedule = any(
                        s.redials_call(call.call_id) and not s.ended_unplaced
                        for s in instruction.schedule
                    )
                    legacy = any(
                        s.names_redialled_call(call.call_id, stored.attempt)
                        for s in instruction.schedule
                    )
                elif is_call_item(item):
                    other = call_from_item(item)
                    if other.call_id != call.call_id:
                        others.append((other.hold, other.callee))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if stored.hold is Hold.REDIALLED and not redialled:
            if not legacy:
                return None  # a later call of its callee is the result
            self._hold_until_stale(call, raw_call)
            redialled = True
        # a call held until a deadline: a later call of its callee still held awaiting its
        # placement (that attempt's late callback) counts as a call too
        counted = {None, Hold.AWAITING_PLACEMENT} if redialled else {None}
        callees = {callee for hold, callee in others if hold in counted and callee}
        return HeldCall(
            callee=stored.callee,
            placement_call_ids=call_ids,
            callees_with_a_call=frozenset(callees),
            redialled=redialled,
            redialled_by_schedule=redialled_by_schedule,
        )

    def _hold_until_stale(self, call: PendingCall, raw_call: dict[str, Any]) -> None:
        """Give a call held `redialled` a deadline at its own stale time (IF it still has
        none), so that settling it (`settle`) is conditional on the deadline as every
        other's is."""
        update_if(
            self._ddb,
            TableName=self._table,
            Key=call_key(call.instruction_id, call.call_id),
            UpdateExpression="SET #until = :at",
            ConditionExpression="#hold = :redialled AND attribute_not_exists(#until)",
            ExpressionAttributeNames={"#hold": HOLD, "#until": REDIALLED_UNTIL},
            ExpressionAttributeValues=to_item(
                {":redialled": Hold.REDIALLED.value, ":at": int(raw_call.get(STALE_AT) or 0)}
            ),
        )

    def settle(self, call: PendingCall, *, release: bool, redialled: bool = False) -> bool:
        """See PendingCalls.settle. With ``redialled``: held `redialled` (IF awaiting its
        placement), keeping a deadline it has. Else a call held until a deadline (held
        `redialled`, or still awaiting its placement) is released or kept `redialled`, its
        deadline removed, in one conditional write; any other held call is released or set
        aside (one more)."""
        key = call_key(call.instruction_id, call.call_id)
        if redialled:
            return settle_held_call(
                self._ddb, self._table, key, release=release, hold=Hold.REDIALLED
            )
        # round 2 (#16): a call held until its deadline
        update = "REMOVE #until, #hold" if release else "SET #hold = :redialled REMOVE #until"
        if update_if(
            self._ddb,
            TableName=self._table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression="attribute_exists(#until) AND #hold IN (:redialled, :awaiting)",
            ExpressionAttributeNames={"#hold": HOLD, "#until": REDIALLED_UNTIL},
            ExpressionAttributeValues=to_item(
                {
                    ":redialled": Hold.REDIALLED.value,
                    ":awaiting": Hold.AWAITING_PLACEMENT.value,
                }
            ),
        ):
            return True
        return settle_held_call(self._ddb, self._table, key, release=release)
