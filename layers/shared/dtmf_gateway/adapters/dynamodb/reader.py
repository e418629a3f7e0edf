"""`InstructionReader` on the calls table: the instruction item and its call items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    INSTRUCTION_SK,
    PK,
    SK,
    call_from_item,
    from_item,
    instruction_from_item,
    instruction_pk,
    is_call_sk,
)
from dtmf_gateway.domain.calls import StoredCall, StoredInstruction

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbInstructionReader:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def load(self, instruction_id: str) -> tuple[StoredInstruction, list[StoredCall]] | None:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": instruction_pk(instruction_id)}},
        }
        while True:
            page = self._ddb.query(**kwargs)
            items.extend(from_item(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        instruction = next((i for i in items if i[SK] == INSTRUCTION_SK), None)
        if instruction is None:
            return None
        calls = [call_from_item(i) for i in items if is_call_sk(i[SK])]
        return instruction_from_item(instruction), calls
