"""`PendingCalls` on the sparse `pending-calls` index: one query per shard, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    PENDING_INDEX,
    PENDING_SHARD,
    PK,
    STALE_AT,
    call_from_item,
    call_key,
    expired_fields,
    from_item,
    ids_of_call_key,
    instruction_from_item,
    instruction_pk,
    is_call_item,
    is_instruction_item,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    end_queued_call,
    is_conditional_failure,
    settle_held_call,
)
from dtmf_gateway.domain.calls import Hold
from dtmf_gateway.domain.ports import HeldCall, PendingCall

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbPendingCalls:
    def __init__(self, client: DynamoDBClient, table_name: str, *, shards: int) -> None:
        self._ddb = client
        self._table = table_name
        self._shards = shards

    def stale(self, now: datetime) -> Iterator[PendingCall]:
        cutoff = int(now.timestamp())
        for shard in range(self._shards):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": PENDING_INDEX,
                "KeyConditionExpression": "#shard = :shard AND #stale <= :cutoff",
                "ExpressionAttributeNames": {"#shard": PENDING_SHARD, "#stale": STALE_AT},
                "ExpressionAttributeValues": to_item({":shard": str(shard), ":cutoff": cutoff}),
            }
            while True:
                page = self._ddb.query(**kwargs)
                for item in page["Items"]:
                    instruction_id, call_id = ids_of_call_key(item)
                    yield PendingCall(instruction_id=instruction_id, call_id=call_id)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
        found = self._ddb.get_item(
            TableName=self._table,
            Key=call_key(call.instruction_id, call.call_id),
            ConsistentRead=True,
        )
        if "Item" not in found:
            return None
        stored = call_from_item(from_item(found["Item"]))
        if stored.hold is not Hold.AWAITING_PLACEMENT:
            return None
        call_ids: tuple[str, ...] | None = None
        callees: set[str] = set()
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
                    call_ids = instruction_from_item(item).call_ids
                elif is_call_item(item):
                    other = call_from_item(item)
                    if other.hold is None and other.callee:
                        callees.add(other.callee)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return HeldCall(
            callee=stored.callee,
            placement_call_ids=call_ids,
            callees_with_a_call=frozenset(callees),
        )

    def settle(self, call: PendingCall, *, release: bool) -> bool:
        key = call_key(call.instruction_id, call.call_id)
        return settle_held_call(self._ddb, self._table, key, release=release)
