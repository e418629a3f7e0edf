"""What placing an instruction writes: the reservation, its end without calls, the calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    PK,
    STATUS,
    assignments,
    call_key,
    ended_instruction_fields,
    from_item,
    held_call_ids,
    instruction_item,
    instruction_key,
    pending_fields,
    placement_recorded_fields,
    queued_call_fields,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    is_conditional_failure,
    set_fields,
    settle_held_call,
)
from dtmf_gateway.domain.calls import CmQueuedCall, InstructionStatus, NewInstruction
from dtmf_gateway.domain.errors import InstructionAlreadyExists

if TYPE_CHECKING:
    from datetime import timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbInstructionStore:
    """`InstructionStore` on the calls table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta,
        pending_shards: int,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention
        self._shards = pending_shards

    def reserve(self, instruction: NewInstruction) -> None:
        item = instruction_item(instruction, self._retention)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(item),
                # an id is free when unused, or when an earlier attempt surely placed nothing
                ConditionExpression=f"attribute_not_exists({PK}) OR #status = :not_placed",
                ExpressionAttributeNames={"#status": STATUS},
                ExpressionAttributeValues={":not_placed": {"S": InstructionStatus.NOT_PLACED}},
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise InstructionAlreadyExists(instruction.instruction_id) from error
            raise

    def mark(self, instruction_id: str, status: InstructionStatus, reason: str) -> None:
        clause, names, values = assignments(ended_instruction_fields(status, reason))
        self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression=f"SET {clause}",
            ConditionExpression=f"attribute_exists({PK})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )

    def record_queued_calls(
        self, instruction: NewInstruction, calls: Sequence[CmQueuedCall]
    ) -> None:
        for call in calls:
            assert call.call_id is not None  # noqa: S101 - the service passes queued calls only
            described = queued_call_fields(instruction, call.call_id, call.callee, self._retention)
            pending = pending_fields(instruction, call.call_id, self._shards)
            key = call_key(instruction.instruction_id, call.call_id)
            if not set_fields(
                self._ddb, self._table, key, {**described, **pending}, only_if_new=True
            ):
                # The callback won the race and already finished this call: add what the
                # placement knows, leave its status and result alone.
                set_fields(self._ddb, self._table, key, described, only_if_new=False)
        self._record_call_ids(instruction.instruction_id, [c.call_id or "" for c in calls])

    def _record_call_ids(self, instruction_id: str, call_ids: list[str]) -> None:
        """Name the placement's calls on the instruction (one write per placement): from
        now on a callback for another call id is refused. Calls whose callbacks overtook
        the placement (held) are released when they are among them, else set aside."""
        clause, names, values = assignments(placement_recorded_fields(call_ids))
        response = self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression=f"SET {clause}",
            ConditionExpression=f"attribute_exists({PK})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
            ReturnValues="ALL_NEW",
        )
        recorded = {c.lower() for c in call_ids}
        for held in sorted(held_call_ids(from_item(response.get("Attributes", {})))):
            settle_held_call(
                self._ddb,
                self._table,
                call_key(instruction_id, held),
                release=held in recorded,
            )
