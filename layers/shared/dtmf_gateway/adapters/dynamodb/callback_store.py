"""What recording a callback reads and writes: conditional writes that let exactly one
callback (or the expirer) end a call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    call_key,
    finished_fields,
    from_item,
    instruction_from_item,
    instruction_key,
    unseen_call_fields,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    end_queued_call,
    is_conditional_failure,
    set_fields,
)
from dtmf_gateway.domain.calls import CallFinish, FinishStatus, StoredInstruction

if TYPE_CHECKING:
    from datetime import timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbCallbackStore:
    """`CallbackStore` on the calls table."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retention: timedelta) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        response = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(instruction_id), ConsistentRead=True
        )
        if "Item" not in response:
            return None
        return instruction_from_item(from_item(response["Item"]))

    def finish_queued_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        try:
            end_queued_call(
                self._ddb,
                self._table,
                call_key(instruction.instruction_id, finish.call_id),
                finished_fields(finish),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            return FinishStatus.DUPLICATE if error.response.get("Item") else FinishStatus.NOT_FOUND
        return FinishStatus.RECORDED

    def finish_unseen_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        fields = unseen_call_fields(instruction, finish, self._retention)
        key = call_key(instruction.instruction_id, finish.call_id)
        if not set_fields(self._ddb, self._table, key, fields, only_if_new=True):
            return FinishStatus.ALREADY_STORED
        return FinishStatus.RECORDED
