"""The one DynamoDB table: an instruction item and one item per call under the same key.

    pk = "instruction#<instruction-id>"
    sk = "instruction"              the instruction as accepted
    sk = "call#<call-id>"           one per call CM queued (or whose callback came first)

Attribute names are the API's JSON names (`instruction-id`, `queued-at`, …). Calls still
waiting for a callback carry `pending-shard` + `stale-at`, the keys of the sparse
`pending-calls` index the expirer queries; they are removed when the call ends. `ttl` is the
retention deadline (epoch seconds) DynamoDB uses to delete old items.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from dtmf_gateway.domain.calls import (
    CallFinish,
    CallStatus,
    CmQueuedCall,
    FinishStatus,
    InstructionStatus,
    KnownInstruction,
    NewInstruction,
    iso,
)
from dtmf_gateway.domain.expiry import PendingCall
from dtmf_gateway.domain.ports import InstructionAlreadyExists

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

INSTRUCTION_SK = "instruction"
CALL_SK_PREFIX = "call#"
PENDING_INDEX = "pending-calls"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def instruction_pk(instruction_id: str) -> str:
    return f"instruction#{instruction_id}"


def call_sk(call_id: str) -> str:
    return f"{CALL_SK_PREFIX}{call_id}"


def pending_shard(call_id: str, shards: int) -> str:
    return str(zlib.crc32(call_id.encode()) % shards)


def to_item(values: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the product only stores integers."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value)
    return value


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# ---------------------------------------------------------------- item shapes (no I/O)
# The in-memory fakes (tests/fakes.py) build their items with these too, so what they keep
# is exactly what this adapter writes.


def instruction_item(instruction: NewInstruction, retention: timedelta) -> dict[str, Any]:
    return {
        "pk": instruction_pk(instruction.instruction_id),
        "sk": INSTRUCTION_SK,
        "record-type": "instruction",
        "instruction-id": instruction.instruction_id,
        "owner": instruction.owner,
        "caller": instruction.caller,
        "destinations": list(instruction.destinations),
        "request": instruction.request,
        "metadata": instruction.metadata,
        "status": InstructionStatus.PLACING.value,
        "created-at": iso(instruction.created_at),
        "max-call-seconds": instruction.max_call_seconds,
        "idempotency-key": instruction.idempotency_key,
        "ttl": int((instruction.created_at + retention).timestamp()),
    }


def queued_call_fields(
    instruction: NewInstruction, call_id: str, callee: str | None, retention: timedelta
) -> dict[str, Any]:
    """What the placement knows of a call (never its status or result)."""
    return {
        "record-type": "call",
        "instruction-id": instruction.instruction_id,
        "call-id": call_id,
        "caller": instruction.caller,
        "callee": callee or "",
        "metadata": instruction.metadata,
        "queued-at": iso(instruction.created_at),
        "ttl": int((instruction.created_at + retention).timestamp()),
    }


def pending_fields(instruction: NewInstruction, call_id: str, shards: int) -> dict[str, Any]:
    """A queued call's status and its entry in the sparse pending-calls index."""
    stale = instruction.created_at + timedelta(seconds=instruction.max_call_seconds)
    return {
        "status": CallStatus.QUEUED.value,
        "pending-shard": pending_shard(call_id, shards),
        "stale-at": int(stale.timestamp()),
    }


def finished_fields(finish: CallFinish) -> dict[str, Any]:
    return {
        "status": CallStatus.FINISHED.value,
        "outcome": finish.outcome.value,
        "digits": finish.digits,
        "result": finish.result,
        "finished-at": finish.finished_at,
    }


def unseen_call_fields(
    instruction: KnownInstruction, finish: CallFinish, retention: timedelta
) -> dict[str, Any]:
    """A call whose callback arrived before the placement recorded it: complete and ended."""
    created = datetime.fromisoformat(instruction.created_at)
    return {
        "record-type": "call",
        "instruction-id": instruction.instruction_id,
        "call-id": finish.call_id,
        "caller": instruction.caller,
        "callee": finish.callee,
        "metadata": instruction.metadata,
        "queued-at": instruction.created_at,
        "ttl": int((created + retention).timestamp()),
        **finished_fields(finish),
    }


def known_instruction(item: Mapping[str, Any]) -> KnownInstruction:
    request = item.get("request", {})
    return KnownInstruction(
        instruction_id=item["instruction-id"],
        status=item["status"],
        caller=item["caller"],
        destinations=tuple(item.get("destinations", [])),
        metadata=item.get("metadata", {}),
        created_at=item["created-at"],
        min_digits=request.get("min-digits"),
        max_digits=request.get("max-digits"),
        regex=request.get("regex"),
    )


def _assignments(fields: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """`#f0 = :f0, #f1 = :f1, …` for the fields that have a value (None = leave absent)."""
    present = [(k, v) for k, v in fields.items() if v is not None]
    names = {f"#f{i}": k for i, (k, _) in enumerate(present)}
    values = {f":f{i}": v for i, (_, v) in enumerate(present)}
    clause = ", ".join(f"#f{i} = :f{i}" for i in range(len(present)))
    return clause, names, values


def _set_fields(
    client: DynamoDBClient,
    table: str,
    key: dict[str, AttributeValueTypeDef],
    fields: Mapping[str, Any],
    *,
    only_if_new: bool,
) -> bool:
    """SET the fields on an item; with only_if_new, only while it has no status yet.
    False when that condition failed (someone else wrote the item first)."""
    clause, names, values = _assignments(fields)
    condition: dict[str, Any] = {}
    if only_if_new:
        names["#guard"] = "status"
        condition["ConditionExpression"] = "attribute_not_exists(#guard)"
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=f"SET {clause}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
            **condition,
        )
    except ClientError as error:
        if only_if_new and _is_conditional_failure(error):
            return False
        raise
    return True


class DynamoDbInstructionStore:
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
                ConditionExpression="attribute_not_exists(pk) OR #status = :not_placed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":not_placed": {"S": InstructionStatus.NOT_PLACED}},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise InstructionAlreadyExists(instruction.instruction_id) from error
            raise

    def mark(self, instruction_id: str, status: InstructionStatus, reason: str) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=to_item({"pk": instruction_pk(instruction_id), "sk": INSTRUCTION_SK}),
            UpdateExpression="SET #status = :status, #reason = :reason",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#status": "status", "#reason": "status-reason"},
            ExpressionAttributeValues=to_item({":status": status.value, ":reason": reason}),
        )

    def record_queued_calls(
        self, instruction: NewInstruction, calls: Sequence[CmQueuedCall]
    ) -> None:
        for call in calls:
            assert call.call_id is not None  # noqa: S101 - the service passes queued calls only
            described = queued_call_fields(instruction, call.call_id, call.callee, self._retention)
            pending = pending_fields(instruction, call.call_id, self._shards)
            key = to_item(
                {"pk": instruction_pk(instruction.instruction_id), "sk": call_sk(call.call_id)}
            )
            fields = {**described, **pending}
            if not _set_fields(self._ddb, self._table, key, fields, only_if_new=True):
                # The callback won the race and already finished this call: add what the
                # placement knows, leave its status and result alone.
                _set_fields(self._ddb, self._table, key, described, only_if_new=False)


class DynamoDbCallbackStore:
    """Conditional writes that let exactly one callback end a call."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retention: timedelta) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention

    def load_instruction(self, instruction_id: str) -> KnownInstruction | None:
        response = self._ddb.get_item(
            TableName=self._table,
            Key=to_item({"pk": instruction_pk(instruction_id), "sk": INSTRUCTION_SK}),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        return known_instruction(from_item(response["Item"]))

    def _key(self, instruction: KnownInstruction, finish: CallFinish) -> dict[str, Any]:
        return to_item(
            {"pk": instruction_pk(instruction.instruction_id), "sk": call_sk(finish.call_id)}
        )

    def finish_queued_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        clause, names, values = _assignments(finished_fields(finish))
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(instruction, finish),
                UpdateExpression=f"SET {clause} REMOVE #shard, #stale",
                ConditionExpression="#guard = :queued",
                ExpressionAttributeNames={
                    **names,
                    "#guard": "status",
                    "#shard": "pending-shard",
                    "#stale": "stale-at",
                },
                ExpressionAttributeValues=to_item({**values, ":queued": CallStatus.QUEUED.value}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise
            return FinishStatus.DUPLICATE if error.response.get("Item") else FinishStatus.NOT_FOUND
        return FinishStatus.RECORDED

    def finish_unseen_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        fields = unseen_call_fields(instruction, finish, self._retention)
        key = self._key(instruction, finish)
        if not _set_fields(self._ddb, self._table, key, fields, only_if_new=True):
            return FinishStatus.NOT_FOUND  # the placement wrote it meanwhile
        return FinishStatus.RECORDED


class DynamoDbInstructionReader:
    """GET /v1/dtmf-calls/{instruction-id}: the instruction item and its call items."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def load(self, instruction_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": instruction_pk(instruction_id)}},
        }
        while True:
            page = self._ddb.query(**kwargs)
            items.extend(from_item(i) for i in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        instruction = next((i for i in items if i["sk"] == INSTRUCTION_SK), None)
        if instruction is None:
            return None
        return instruction, [i for i in items if i["sk"].startswith(CALL_SK_PREFIX)]


class DynamoDbPendingCalls:
    """The sparse `pending-calls` index, one query per shard, oldest first."""

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
                "ExpressionAttributeNames": {"#shard": "pending-shard", "#stale": "stale-at"},
                "ExpressionAttributeValues": to_item({":shard": str(shard), ":cutoff": cutoff}),
            }
            while True:
                page = self._ddb.query(**kwargs)
                for item in page["Items"]:
                    pk, sk = item["pk"]["S"], item["sk"]["S"]
                    yield PendingCall(
                        instruction_id=pk.removeprefix("instruction#"),
                        call_id=sk.removeprefix(CALL_SK_PREFIX),
                    )
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=to_item(
                    {"pk": instruction_pk(call.instruction_id), "sk": call_sk(call.call_id)}
                ),
                UpdateExpression=(
                    "SET #status = :expired, #outcome = :expired, #finished = :finished "
                    "REMOVE #shard, #stale"
                ),
                ConditionExpression="#status = :queued",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#outcome": "outcome",
                    "#finished": "finished-at",
                    "#shard": "pending-shard",
                    "#stale": "stale-at",
                },
                ExpressionAttributeValues=to_item(
                    {
                        ":expired": CallStatus.EXPIRED.value,
                        ":queued": CallStatus.QUEUED.value,
                        ":finished": finished_at,
                    }
                ),
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True


class DynamoDbCalleeQuota:
    """Calls per callee per clock hour: one counter item per callee and hour
    (`pk = callee#<e164>`, `sk = hour#<yyyymmddhh>`), incremented only below the limit and
    deleted by TTL two hours later. Costs one write per callee per placement."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, limit: int) -> None:
        self._ddb = client
        self._table = table_name
        self._limit = limit

    def _add(self, callee: str, hour: str, delta: int, expires: int, *, guarded: bool) -> None:
        """ADD delta to the callee's counter for the hour (guarded: only while below limit)."""
        values: dict[str, Any] = {":delta": delta, ":ttl": expires}
        condition: dict[str, Any] = {}
        if guarded:
            values[":limit"] = self._limit
            condition["ConditionExpression"] = "attribute_not_exists(#count) OR #count < :limit"
        self._ddb.update_item(
            TableName=self._table,
            Key=to_item({"pk": f"callee#{callee}", "sk": f"hour#{hour}"}),
            UpdateExpression="ADD #count :delta SET #ttl = :ttl",
            ExpressionAttributeNames={"#count": "calls", "#ttl": "ttl"},
            ExpressionAttributeValues=to_item(values),
            **condition,
        )

    def acquire(self, callees: Sequence[str], now: datetime) -> list[str]:
        hour = now.strftime("%Y%m%d%H")
        expires = int(now.timestamp()) + 2 * 3600
        counted: list[str] = []
        over: list[str] = []
        for callee in callees:
            try:
                self._add(callee, hour, 1, expires, guarded=True)
                counted.append(callee)
            except ClientError as error:
                if not _is_conditional_failure(error):
                    raise
                over.append(callee)
        if over:  # refused as a whole: give back what this request took
            for callee in counted:
                self._add(callee, hour, -1, expires, guarded=False)
        return over
