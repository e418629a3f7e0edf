"""`PendingCalls` on the sparse `pending-calls` index: one query per shard, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    PENDING_INDEX,
    PENDING_SHARD,
    STALE_AT,
    call_key,
    expired_fields,
    ids_of_call_key,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import end_queued_call, is_conditional_failure
from dtmf_gateway.domain.ports import PendingCall

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
