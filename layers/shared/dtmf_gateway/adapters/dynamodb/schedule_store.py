"""`ScheduleStore` on the calls table (round 2, #16): a scheduled instruction's callees live
in its item's `schedule` map (see calls_table), keyed by the callee's index; each change of
one callee is one UpdateItem conditional on that callee's status, moment and attempt as the
writer read them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    ATTEMPT,
    CALLEES,
    CANCELLED_AT,
    ERASED_AT,
    HOLD,
    INSTRUCTION_RECORD,
    OUTCOME,
    PENDING_SHARD,
    RECORD_TYPE,
    REDIALLED_UNTIL,
    SCHEDULE,
    SCHEDULED_FOR,
    STALE_AT,
    STATUS,
    call_key,
    from_item,
    instruction_from_item,
    instruction_key,
    is_instruction_item,
    is_number_key,
    past_retention,
    pending_fields,
    pending_shard,
    queued_call_fields,
    schedule_fields,
    schedule_key,
    schedule_keys,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    set_fields,
    settle_held_call,
    update_if,
)
from dtmf_gateway.domain.calls import Hold, Outcome
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from dtmf_gateway.adapters.dynamodb.calls_table import Key
    from dtmf_gateway.domain.calls import NewInstruction
    from dtmf_gateway.domain.stored import StoredInstruction


class DynamoDbScheduleStore:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta,
        pending_shards: int,
        epoch_seconds: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention
        self._shards = pending_shards
        self._now = epoch_seconds

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        """None also when the item is past its retention (as GET)."""
        response = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(instruction_id), ConsistentRead=True
        )
        item = from_item(response.get("Item", {}))
        if not item or not is_instruction_item(item):
            return None
        if past_retention(item, self._now()):
            return None
        return instruction_from_item(item)

    def claim(self, instruction_id: str, expected: CalleeSchedule) -> bool:
        claimed = replace(expected, status=ScheduleStatus.DIALLING)
        return self.change(instruction_id, expected, claimed)

    def change(self, instruction_id: str, expected: CalleeSchedule, new: CalleeSchedule) -> bool:
        """SET schedule.<index> = new, IF schedule.<index> still has the expected status,
        moment and attempt. An entry still under its E.164 key (items written before index
        keys) is found on a refusal and moved to its index key by the same conditional
        write: one more read and write, only for such items (or when the entry changed)."""
        if self._change_at(instruction_id, expected, new, schedule_key(expected.index)):
            return True
        stored_key = self._stored_key(instruction_id, expected.index)
        if stored_key is None or not is_number_key(stored_key):
            return False  # the entry changed meanwhile (or is gone): someone came first
        return self._change_at(instruction_id, expected, new, stored_key)

    def _change_at(
        self, instruction_id: str, expected: CalleeSchedule, new: CalleeSchedule, key: str
    ) -> bool:
        condition = "#s.#c.#st = :was AND #s.#c.#at = :attempt"
        values: dict[str, Any] = {
            ":new": schedule_fields(new),
            ":was": expected.status.value,
            ":attempt": expected.attempt,
        }
        if expected.scheduled_for is not None:
            condition += " AND #s.#c.#for = :for"
            values[":for"] = expected.scheduled_for
        index_key = schedule_key(expected.index)
        names = {"#s": SCHEDULE, "#c": key, "#st": STATUS, "#at": ATTEMPT}
        update = "SET #s.#c = :new"
        if key != index_key:  # an E.164 key: the entry moves to its index key
            names["#i"] = index_key
            update = "SET #s.#i = :new REMOVE #s.#c"
        if expected.scheduled_for is not None:
            names["#for"] = SCHEDULED_FOR
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )

    def _stored_key(self, instruction_id: str, index: int) -> str | None:
        """The key of the callee's entry in the stored `schedule` map (None: no entry)."""
        item = from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=instruction_key(instruction_id),
                ProjectionExpression="#s, #callees",
                ExpressionAttributeNames={"#s": SCHEDULE, "#callees": CALLEES},
                ConsistentRead=True,
            ).get("Item", {})
        )
        found = schedule_keys(item).get(index)
        return None if found is None else found[0]

    def record_call(
        self, instruction: NewInstruction, call_id: str, callee: str, attempt: int = 1
    ) -> Outcome | None:
        described = {
            **queued_call_fields(instruction, call_id, callee, self._retention),
            ATTEMPT: attempt,
        }
        pending = pending_fields(instruction, call_id, self._shards)
        key = call_key(instruction.instruction_id, call_id)
        overtaken: Outcome | None = None
        if not set_fields(self._ddb, self._table, key, {**described, **pending}, only_if_new=True):
            # its callback came first (held: the instruction names no call ids): add what
            # the dial knows; the caller settles it (a redial may follow: settle_overtaken)
            set_fields(self._ddb, self._table, key, described, only_if_new=False)
            overtaken = self._held_outcome(key)
        self._scrub_if_erased(instruction.instruction_id, call_id)
        return overtaken

    def _held_outcome(self, key: Key) -> Outcome | None:
        """The outcome of the call at ``key`` while it is held awaiting its placement."""
        item = from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=key,
                ProjectionExpression="#hold, #outcome",
                ExpressionAttributeNames={"#hold": HOLD, "#outcome": OUTCOME},
                ConsistentRead=True,
            ).get("Item", {})
        )
        if item.get(HOLD) != Hold.AWAITING_PLACEMENT.value:
            return None
        try:
            return Outcome(str(item.get(OUTCOME)))
        except ValueError:  # no outcome this version knows: no redial decides on it
            settle_held_call(self._ddb, self._table, key, release=True)
            return None

    def settle_overtaken(self, instruction_id: str, call_id: str, *, redialled: bool) -> None:
        key = call_key(instruction_id, call_id)
        settle_held_call(self._ddb, self._table, key, release=not redialled, hold=Hold.REDIALLED)

    def _scrub_if_erased(self, instruction_id: str, call_id: str) -> None:
        """Issue 19: the instruction's personal data was erased while this callee was being
        dialled: the call just written is erased too. (The erasure reads the calls again
        after marking the instruction, so a call written after that read is seen here.)"""
        erased_at = from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=instruction_key(instruction_id),
                ProjectionExpression="#erased",
                ExpressionAttributeNames={"#erased": ERASED_AT},
                ConsistentRead=True,
            ).get("Item", {})
        ).get(ERASED_AT)
        if erased_at:
            from dtmf_gateway.adapters.dynamodb.erasure_store import erase_call_item

            erase_call_item(self._ddb, self._table, instruction_id, call_id, str(erased_at))

    def release_redialled(self, instruction_id: str, call_id: str) -> bool:
        """The callee's last call becomes its result (published): REMOVE its `redialled`
        hold; False when it holds none (released already)."""
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=call_key(instruction_id, call_id),
            UpdateExpression="REMOVE #hold",
            ConditionExpression="#hold = :redialled",
            ExpressionAttributeNames={"#hold": HOLD},
            ExpressionAttributeValues=to_item({":redialled": Hold.REDIALLED.value}),
        )

    def mark_cancelled(self, instruction_id: str, at: str) -> None:
        """SET cancelled-at (IF none yet, and only on the stored instruction)."""
        update_if(
            self._ddb,
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression="SET #cancelled = :at",
            ConditionExpression="#type = :instruction AND attribute_not_exists(#cancelled)",
            ExpressionAttributeNames={"#cancelled": CANCELLED_AT, "#type": RECORD_TYPE},
            ExpressionAttributeValues=to_item({":at": at, ":instruction": INSTRUCTION_RECORD}),
        )

    def hold_redialled_until(self, instruction_id: str, call_id: str, deadline: datetime) -> bool:
        """SET its deadline and its pending-index entry there (the expirer's walk finds it
        again at ``deadline``: calls_table.is_waiting), IF it is held `redialled` or still
        awaiting its placement (settling it `redialled` later keeps the deadline)."""
        at = int(deadline.timestamp())
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=call_key(instruction_id, call_id),
            UpdateExpression="SET #until = :at, #stale = :at, #shard = :shard",
            ConditionExpression="#hold IN (:redialled, :awaiting)",
            ExpressionAttributeNames={
                "#hold": HOLD,
                "#until": REDIALLED_UNTIL,
                "#stale": STALE_AT,
                "#shard": PENDING_SHARD,
            },
            ExpressionAttributeValues=to_item(
                {
                    ":redialled": Hold.REDIALLED.value,
                    ":awaiting": Hold.AWAITING_PLACEMENT.value,
                    ":at": at,
                    ":shard": pending_shard(call_id, self._shards),
                }
            ),
        )

    def call_attempt(self, instruction_id: str, call_id: str) -> int | None:
        """The call item's `attempt` (one consistent GetItem of one attribute)."""
        item = from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=call_key(instruction_id, call_id),
                ProjectionExpression="#attempt",
                ExpressionAttributeNames={"#attempt": ATTEMPT},
                ConsistentRead=True,
            ).get("Item", {})
        )
        attempt = item.get(ATTEMPT)
        return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None
