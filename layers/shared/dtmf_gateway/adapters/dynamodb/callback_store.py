"""What recording a callback reads and writes: conditional writes that let exactly one
callback (or the expirer) end a call, correct an expired one, or hold one that overtook the
placement."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALL_IDS,
    HELD_CALL_IDS,
    PK,
    call_from_item,
    call_key,
    correction_fields,
    finished_fields,
    from_item,
    held_fields,
    instruction_from_item,
    instruction_key,
    is_key_claim,
    unseen_call_fields,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    correct_ended_call,
    end_queued_call,
    is_conditional_failure,
    set_fields,
)
from dtmf_gateway.domain.callees import is_other_callee
from dtmf_gateway.domain.calls import CallStatus, Correction
from dtmf_gateway.domain.stored import CallFinish, FinishStatus, StoredInstruction

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbCallbackStore:
    """`CallbackStore` on the calls table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta,
        pending_shards: int = 8,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention
        self._shards = pending_shards

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        response = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(instruction_id), ConsistentRead=True
        )
        item = from_item(response.get("Item", {}))
        if not item or is_key_claim(item):
            return None
        return instruction_from_item(item)

    def finish_queued_call(
        self,
        instruction: StoredInstruction,
        finish: CallFinish,
        named: frozenset[str] | None = None,
    ) -> FinishStatus:
        key = call_key(instruction.instruction_id, finish.call_id)
        try:
            end_queued_call(
                self._ddb,
                self._table,
                key,
                finished_fields(finish),
                unless_erased=instruction.erased_at is None,
                callee_in=named,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            old = error.response.get("Item")
            if not isinstance(old, dict) or not old:
                return FinishStatus.NOT_FOUND
            stored = call_from_item(from_item(old))
            if is_other_callee(stored.callee, named):
                return FinishStatus.OTHER_CALLEE  # CM named this call id for two callees
            if instruction.erased_at is None and stored.erased_at is not None:
                return FinishStatus.ERASED  # erased since the instruction was read
            if stored.status is not CallStatus.EXPIRED or stored.hold is not None:
                return FinishStatus.DUPLICATE
            # A real callback after the expiry: its outcome wins, as a correction.
            corrected = correct_ended_call(
                self._ddb,
                self._table,
                key,
                correction_fields(finish, Correction.EXPIRED),
                was=CallStatus.EXPIRED,
                revision=stored.revision,
            )
            return FinishStatus.CORRECTED if corrected else FinishStatus.DUPLICATE
        return FinishStatus.RECORDED

    def finish_unseen_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        fields = unseen_call_fields(instruction, finish, self._retention)
        key = call_key(instruction.instruction_id, finish.call_id)
        if not set_fields(self._ddb, self._table, key, fields, only_if_new=True):
            return FinishStatus.ALREADY_STORED
        return FinishStatus.RECORDED

    def hold_call(
        self, instruction: StoredInstruction, finish: CallFinish, release_at: datetime
    ) -> FinishStatus:
        # First name it on the instruction, only while the placement has not recorded its
        # calls: then either the placement sees it, or this callback sees the placement.
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=instruction_key(instruction.instruction_id),
                UpdateExpression="ADD #held :id",
                ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(#calls)",
                ExpressionAttributeNames={"#held": HELD_CALL_IDS, "#pk": PK, "#calls": CALL_IDS},
                ExpressionAttributeValues={":id": {"SS": [finish.call_id]}},
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return FinishStatus.PLACEMENT_RECORDED
            raise
        fields = {
            **unseen_call_fields(instruction, finish, self._retention),
            **held_fields(release_at, self._shards, finish.call_id),
        }
        key = call_key(instruction.instruction_id, finish.call_id)
        if not set_fields(self._ddb, self._table, key, fields, only_if_new=True):
            return FinishStatus.ALREADY_STORED
        return FinishStatus.HELD
