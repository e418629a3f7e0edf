"""`ErasureStore` on the calls table and the idempotency table (issue 19).

Each write is one UpdateItem that removes attributes and is safe to repeat. Since issue 15
the instruction is its Idempotency-Key's record (its `replies` are scrubbed with it); the
idempotency records place-call wrote until then (24 h after that deployment at most) are
Powertools' (`api.placement.IdempotentPlacement` of round 2): their id is the place-call
function's name, the decorated function's dotted path and the md5 of the key's scope
(Powertools' own formula, checked against a real record by the integration tests); its
stored answer (`data`, JSON) gets its callees replaced by null, so a replay of the original
POST answers the 202 without the numbers.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALLEES,
    ERASED_AT,
    ERASED_CALL_ATTRIBUTES,
    ERASED_INSTRUCTION_ATTRIBUTES,
    ERASED_REQUEST_KEYS,
    METADATA,
    PK,
    REPLIES,
    REQUEST,
    STATUS_REASON,
    call_key,
    erased_callees,
    from_item,
    instruction_key,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import is_conditional_failure
from dtmf_gateway.adapters.dynamodb.placement_answers import erased_replies
from dtmf_gateway.domain.erasure import without_numbers

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: The function round 2's `IdempotentPlacement` made idempotent, as Powertools names it in
#: record ids (`{module}.{qualname}`; tests/support/legacy_idempotency.py writes such records).
PLACEMENT_FUNCTION = "dtmf_gateway.api.placement.IdempotentPlacement._place_once"


def idempotency_record_id(function_name: str, owner: str, idempotency_key: str) -> str:
    """Powertools' record id of a placement with this key: the Lambda function's name, the
    decorated function, md5 of the JSON of the key's scope (see api.placement)."""
    scope = hashlib.sha256(f"{owner}\n{idempotency_key}".encode()).hexdigest()
    digest = hashlib.md5(json.dumps(scope, sort_keys=True).encode()).hexdigest()  # noqa: S324 - Powertools' key hash, not a protection
    return f"{function_name}.{PLACEMENT_FUNCTION}#{digest}"


def erased_answer(data: Any) -> Any:
    """A stored placement answer (Powertools' `data`: the JSON of {http_status, body, …})
    with every `calls[].callee` null and numbers CM named in its free text (`calls[].error`,
    a problem's `detail`) erased; anything else as it is."""
    if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
        return data
    body = data["body"]
    calls = body.get("calls")
    if isinstance(calls, list):
        body = {**body, "calls": [_erased_call(c) for c in calls]}
    if isinstance(body.get("detail"), str):
        body = {**body, "detail": without_numbers(body["detail"])}
    return {**data, "body": body}


def _erased_call(call: Any) -> Any:
    if not isinstance(call, dict):
        return call
    erased = {**call, "callee": None}
    if isinstance(erased.get("error"), str):
        erased["error"] = without_numbers(erased["error"])
    return erased


def erase_call_item(
    client: DynamoDBClient, table: str, instruction_id: str, call_id: str, erased_at: str
) -> None:
    """One UpdateItem removing a call item's personal data and marking it erased at
    `erased_at` (an earlier mark stays); a no-op when the item is gone."""
    names = {"#pk": PK, "#meta": METADATA, "#erased": ERASED_AT}
    names |= {f"#a{i}": a for i, a in enumerate(ERASED_CALL_ATTRIBUTES)}
    removed = ", ".join(f"#a{i}" for i in range(len(ERASED_CALL_ATTRIBUTES)))
    try:
        client.update_item(
            TableName=table,
            Key=call_key(instruction_id, call_id),
            UpdateExpression="SET #meta = :empty, #erased = if_not_exists(#erased, :at) "
            f"REMOVE {removed}",
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item({":empty": {}, ":at": erased_at}),
        )
    except ClientError as error:
        if not is_conditional_failure(error):
            raise


class DynamoDbErasureStore:
    """`ErasureStore`: the calls table, and Powertools' record in the idempotency table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        idempotency_table_name: str,
        placement_function_name: str,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._idempotency_table = idempotency_table_name
        self._placement_function = placement_function_name

    def erase_instruction(self, instruction_id: str, erased_at: str) -> None:
        names = {"#pk": PK, "#erased": ERASED_AT, "#meta": METADATA, "#callees": CALLEES}
        names |= {f"#a{i}": a for i, a in enumerate(ERASED_INSTRUCTION_ATTRIBUTES)}
        names |= {"#request": REQUEST} | {f"#r{i}": k for i, k in enumerate(ERASED_REQUEST_KEYS)}
        removed = [f"#a{i}" for i in range(len(ERASED_INSTRUCTION_ATTRIBUTES))]
        removed += [f"#request.#r{i}" for i in range(len(ERASED_REQUEST_KEYS))]
        item = from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=instruction_key(instruction_id),
                ProjectionExpression="#callees, #reason, #replies",
                ExpressionAttributeNames={
                    "#callees": CALLEES,
                    "#reason": STATUS_REASON,
                    "#replies": REPLIES,
                },
                ConsistentRead=True,
            ).get("Item", {})
        )
        count = len(item.get(CALLEES) or [])
        values: dict[str, Any] = {":at": erased_at, ":empty": {}, ":callees": erased_callees(count)}
        reason_clause = ""
        if isinstance(item.get(STATUS_REASON), str):  # CM's text: it may name a number
            names["#reason"] = STATUS_REASON
            values[":reason"] = without_numbers(item[STATUS_REASON])
            reason_clause = ", #reason = :reason"
        if isinstance(item.get(REPLIES), list):  # issue 15: CM's per-callee errors (replay)
            names["#replies"] = REPLIES
            values[":replies"] = erased_replies(item[REPLIES])
            reason_clause += ", #replies = :replies"
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=instruction_key(instruction_id),
                UpdateExpression="SET #erased = if_not_exists(#erased, :at), #meta = :empty, "
                f"#callees = :callees{reason_clause} REMOVE {', '.join(removed)}",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as error:
            if not is_conditional_failure(error):  # gone meanwhile (TTL): nothing to erase
                raise

    def erase_call(self, instruction_id: str, call_id: str, erased_at: str) -> None:
        erase_call_item(self._ddb, self._table, instruction_id, call_id, erased_at)

    def erase_idempotency_record(self, owner: str, idempotency_key: str) -> None:
        key = {"id": {"S": idempotency_record_id(self._placement_function, owner, idempotency_key)}}
        found = self._ddb.get_item(
            TableName=self._idempotency_table, Key=key, ConsistentRead=True
        ).get("Item", {})
        stored = found.get("data", {}).get("S")
        if stored is None:
            return  # no answer stored (in progress, expired, or placed without this key)
        try:
            erased = json.dumps(erased_answer(json.loads(stored)), sort_keys=True)
        except ValueError:
            return
        if erased == stored:
            return
        try:
            self._ddb.update_item(
                TableName=self._idempotency_table,
                Key=key,
                UpdateExpression="SET #data = :erased",
                ConditionExpression="#data = :stored",
                ExpressionAttributeNames={"#data": "data"},
                ExpressionAttributeValues={":erased": {"S": erased}, ":stored": {"S": stored}},
            )
        except ClientError as error:
            if not is_conditional_failure(error):  # changed meanwhile: the next erase sees it
                raise
