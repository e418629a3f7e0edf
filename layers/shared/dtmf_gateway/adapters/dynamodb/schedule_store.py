"""`ScheduleStore` on the calls table (round 2, #16): a scheduled instruction's callees live
in its item's `schedule` map (see calls_table); each change of one callee is one UpdateItem
conditional on that callee's status, moment and attempt as the writer read them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    ATTEMPT,
    HOLD,
    SCHEDULE,
    SCHEDULED_FOR,
    STATUS,
    call_key,
    from_item,
    instruction_from_item,
    instruction_key,
    is_instruction_item,
    past_retention,
    pending_fields,
    queued_call_fields,
    schedule_fields,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    set_fields,
    settle_held_call,
    update_if,
)
from dtmf_gateway.domain.calls import Hold
from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

if TYPE_CHECKING:
    from datetime import timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient

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
        """SET schedule.<callee> = new, IF schedule.<callee> still has the expected status,
        moment and attempt."""
        condition = "#s.#c.#st = :was AND #s.#c.#at = :attempt"
        values: dict[str, Any] = {
            ":new": schedule_fields(new),
            ":was": expected.status.value,
            ":attempt": expected.attempt,
        }
        if expected.scheduled_for is not None:
            condition += " AND #s.#c.#for = :for"
            values[":for"] = expected.scheduled_for
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression="SET #s.#c = :new",
            ConditionExpression=condition,
            ExpressionAttributeNames={
                "#s": SCHEDULE,
                "#c": expected.callee,
                "#st": STATUS,
                "#at": ATTEMPT,
                **({"#for": SCHEDULED_FOR} if expected.scheduled_for is not None else {}),
            },
            ExpressionAttributeValues=to_item(values),
        )

    def record_call(
        self, instruction: NewInstruction, call_id: str, callee: str, attempt: int = 1
    ) -> None:
        described = {
            **queued_call_fields(instruction, call_id, callee, self._retention),
            ATTEMPT: attempt,
        }
        pending = pending_fields(instruction, call_id, self._shards)
        key = call_key(instruction.instruction_id, call_id)
        if not set_fields(self._ddb, self._table, key, {**described, **pending}, only_if_new=True):
            # its callback came first (held: the instruction names no call ids): add what
            # the dial knows, and release it to the outbox
            set_fields(self._ddb, self._table, key, described, only_if_new=False)
            settle_held_call(self._ddb, self._table, key, release=True)

    def erase_call(self, instruction_id: str, call_id: str, erased_at: str) -> None:
        # imported here: only a late dial recording that meets an erasure needs it
        from dtmf_gateway.adapters.dynamodb.erasure_store import erase_call_item

        erase_call_item(self._ddb, self._table, instruction_id, call_id, erased_at)

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
