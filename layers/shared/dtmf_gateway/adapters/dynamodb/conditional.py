"""Conditional writes on the calls table: the one way two writers agree who came first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Unpack

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALLEE,
    ERASED_AT,
    HOLD,
    REVISION,
    STATUS,
    Key,
    assignments,
    to_item,
)
from dtmf_gateway.domain.calls import CallStatus, Hold

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateItemInputTypeDef


def is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def update_if(client: DynamoDBClient, **request: Unpack[UpdateItemInputTypeDef]) -> bool:
    """One UpdateItem (the request as boto3 takes it, with its ConditionExpression): True when
    written, False when DynamoDB refused it with ConditionalCheckFailedException (the item
    was not as the condition expects: someone else came first). Any other error is raised."""
    try:
        client.update_item(**request)
    except ClientError as error:
        if is_conditional_failure(error):
            return False
        raise
    return True


def set_fields(
    client: DynamoDBClient,
    table: str,
    key: Key,
    fields: Mapping[str, Any],
    *,
    only_if_new: bool,
) -> bool:
    """SET the fields on an item; with only_if_new, only while it has no status yet.
    False when that condition failed (someone else wrote the item first)."""
    clause, names, values = assignments(fields)
    condition: dict[str, Any] = {}
    if only_if_new:
        names["#guard"] = STATUS
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
        if only_if_new and is_conditional_failure(error):
            return False
        raise
    return True


def end_queued_call(
    client: DynamoDBClient,
    table: str,
    key: Key,
    fields: dict[str, Any],
    *,
    unless_erased: bool = False,
    callee_in: frozenset[str] | None = None,
    **extra: Any,
) -> None:
    """SET `fields`, only while the call is queued — and, with `unless_erased`, not erased
    (issue 19); with `callee_in`, only while the call's callee is one of those numbers or
    none (absent or empty) — (ConditionalCheckFailedException otherwise). Shared by
    callbacks and the expirer. The call keeps its pending-index keys (issue 15): naming them
    would write the index too (1 WRU); the expirer reads the call before acting on its
    entry."""
    clause, names, values = assignments(fields)
    condition = "#guard = :queued"
    guards = {"#guard": STATUS}
    if unless_erased:
        condition += " AND attribute_not_exists(#erased)"
        guards["#erased"] = ERASED_AT
    if callee_in is not None:
        numbers = {f":callee{i}": callee for i, callee in enumerate(sorted(callee_in))}
        numbers[":nocallee"] = ""
        condition += f" AND (attribute_not_exists(#callee) OR #callee IN ({', '.join(numbers)}))"
        guards["#callee"] = CALLEE
        values = {**values, **numbers}
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression=f"SET {clause}",
        ConditionExpression=condition,
        ExpressionAttributeNames={**names, **guards},
        ExpressionAttributeValues=to_item({**values, ":queued": CallStatus.QUEUED.value}),
        **extra,
    )


def correct_ended_call(
    client: DynamoDBClient,
    table: str,
    key: Key,
    fields: dict[str, Any],
    *,
    was: CallStatus,
    revision: int,
) -> bool:
    """SET `fields` and `revision` + 1 on a call still in status `was` at `revision` (so that
    exactly one of two correctors wins); False when it changed meanwhile."""
    clause, names, values = assignments(fields)
    return update_if(
        client,
        TableName=table,
        Key=key,
        UpdateExpression=f"SET {clause}, #rev = :next",
        ConditionExpression="#guard = :was AND (attribute_not_exists(#rev) OR #rev = :rev)"
        " AND attribute_not_exists(#hold)",
        ExpressionAttributeNames={**names, "#guard": STATUS, "#rev": REVISION, "#hold": HOLD},
        ExpressionAttributeValues=to_item(
            {**values, ":was": was.value, ":rev": revision, ":next": revision + 1}
        ),
    )


def settle_held_call(
    client: DynamoDBClient,
    table: str,
    key: Key,
    *,
    release: bool,
    hold: Hold = Hold.SET_ASIDE,
) -> bool:
    """A call held awaiting its placement released (its hold removed: published) or held
    otherwise: ``hold`` (set aside: never published; redialled: a later attempt follows);
    False when it was not held so (any more). Its pending-index entry stays
    (end_queued_call)."""
    if release:
        update = "REMOVE #hold"
        values: dict[str, Any] = {":held": Hold.AWAITING_PLACEMENT.value}
    else:
        update = "SET #hold = :aside"
        values = {":held": Hold.AWAITING_PLACEMENT.value, ":aside": hold.value}
    return update_if(
        client,
        TableName=table,
        Key=key,
        UpdateExpression=update,
        ConditionExpression="#hold = :held",
        ExpressionAttributeNames={"#hold": HOLD},
        ExpressionAttributeValues=to_item(values),
    )
