"""`InstructionReader` on the calls table: the instruction item and its call items.

Retention is a read rule: an item whose `ttl` (its retention deadline) has passed is gone,
whether or not DynamoDB's TTL sweep (which can lag by days) has deleted it yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    PK,
    SK,
    call_from_item,
    from_item,
    instruction_from_item,
    instruction_pk,
    is_call_sk,
    is_instruction_item,
    past_retention,
)
from dtmf_gateway.domain.stored import StoredCall, StoredInstruction

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbInstructionReader:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        epoch_seconds: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._now = epoch_seconds

    def load(self, instruction_id: str) -> tuple[StoredInstruction, list[StoredCall]] | None:
        """The instruction and its calls still within retention; None if the instruction
        item is missing or past its retention (`ttl`, epoch seconds, at or before now)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ConsistentRead": True,  # a view right after a change (cancel, #16) shows it
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": instruction_pk(instruction_id)}},
        }
        while True:
            page = self._ddb.query(**kwargs)
            items.extend(from_item(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        now = self._now()
        items = [i for i in items if not past_retention(i, now)]
        instruction = next((i for i in items if is_instruction_item(i)), None)
        if instruction is None:
            return None
        calls = [call_from_item(i) for i in items if is_call_sk(i[SK])]
        return instruction_from_item(instruction), calls
