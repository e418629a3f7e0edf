"""`CorrectionStore` on the calls table: finished calls by time range, corrections written
conditionally (the call must still be at the revision that was read)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALL_RECORD,
    CALLEES,
    CALLER,
    FINISHED_AT,
    INSTRUCTION_ID,
    INSTRUCTION_RECORD,
    OWNER,
    RECORD_TYPE,
    call_from_item,
    call_key,
    correction_fields,
    from_item,
    instruction_from_item,
    instruction_key,
    is_call_item,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import correct_ended_call
from dtmf_gateway.domain.calls import CallStatus, Correction
from dtmf_gateway.domain.stored import CallFinish, StoredCall

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from dtmf_gateway.domain.stored import StoredInstruction


def scan_items(
    client: DynamoDBClient,
    table: str,
    filter_expression: str,
    names: dict[str, str],
    values: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """Every (plain) item of the table that passes `filter_expression`, page by page. A scan:
    for operators' tools only (re-derive, re-publish, erase by number), paid per table size."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": filter_expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": to_item(values),
    }
    while True:
        page = client.scan(**kwargs)
        for raw in page.get("Items", []):
            yield from_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_calls(
    client: DynamoDBClient,
    table: str,
    filter_expression: str,
    names: dict[str, str],
    values: dict[str, Any],
) -> Iterator[StoredCall]:
    """Every call item of the table that passes `filter_expression` (see scan_items)."""
    for item in scan_items(client, table, filter_expression, names, values):
        if is_call_item(item):
            yield call_from_item(item)


def instructions_with_number(
    client: DynamoDBClient, table: str, owner: str, number: str
) -> list[str]:
    """Issue 19: the ids of `owner`'s instructions whose caller or one of whose callees is
    `number` (E.164), found by a scan (erase by number, scripts/erase_number.py)."""
    found = scan_items(
        client,
        table,
        "#type = :instruction AND #owner = :owner AND (#caller = :number OR "
        "contains(#callees, :number))",
        {"#type": RECORD_TYPE, "#owner": OWNER, "#caller": CALLER, "#callees": CALLEES},
        {":instruction": INSTRUCTION_RECORD, ":owner": owner, ":number": number},
    )
    return sorted(str(item[INSTRUCTION_ID]) for item in found)


class DynamoDbCorrectionStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        found = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(instruction_id), ConsistentRead=True
        )
        return instruction_from_item(from_item(found["Item"])) if "Item" in found else None

    def finished_calls(self, finished_from: str, finished_to: str) -> Iterator[StoredCall]:
        return scan_calls(
            self._ddb,
            self._table,
            "#type = :call AND #at >= :from AND #at < :to",
            {"#type": RECORD_TYPE, "#at": FINISHED_AT},
            {":call": CALL_RECORD, ":from": finished_from, ":to": finished_to},
        )

    def correct(self, call: StoredCall, finish: CallFinish) -> bool:
        return correct_ended_call(
            self._ddb,
            self._table,
            call_key(call.instruction_id, call.call_id),
            correction_fields(finish, Correction.REDERIVED),
            was=CallStatus.FINISHED,
            revision=call.revision,
        )
