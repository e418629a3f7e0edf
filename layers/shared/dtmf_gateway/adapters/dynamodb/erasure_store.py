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
    DETAIL,
    ERASED_AT,
    ERASED_CALL_ATTRIBUTES,
    ERASED_INSTRUCTION_ATTRIBUTES,
    ERASED_REQUEST_KEYS,
    METADATA,
    PK,
    REPLIES,
    REQUEST,
    SCHEDULE,
    STATUS_REASON,
    call_key,
    erased_callees,
    from_item,
    instruction_key,
    is_number_key,
    schedule_key,
    schedule_keys,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import is_conditional_failure, update_if
from dtmf_gateway.adapters.dynamodb.placement_answers import erased_replies
from dtmf_gateway.domain.erasure import without_numbers
from dtmf_gateway.domain.request_limits import MAX_CALLEES

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


#: How often an erasure writes the instruction: each refusal but the last (the item gone)
#: means a dial moved one more entry off its E.164 key first, so one per callee and one more
#: always suffice.
_ERASE_TRIES = MAX_CALLEES + 2


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
        """One UpdateItem that removes the instruction's personal data; a scheduled one's
        entries still under their callee's E.164 key (items written before index keys) move
        to their index key in the same write (a copy DynamoDB makes: a dial's concurrent
        change is never undone), conditional on those keys being there — a dial that moved
        one first makes it read and try again. Then CM's texts in the entries (`detail`) lose
        the numbers they name."""
        for _ in range(_ERASE_TRIES):
            item = self._read_instruction(instruction_id)
            if not item:
                return  # gone (TTL): nothing to erase
            try:
                self._erase_item(instruction_id, erased_at, item)
            except ClientError as error:
                if not is_conditional_failure(error):
                    raise
                continue  # gone meanwhile, or a dial moved an entry first: read again
            self._erase_details(instruction_id, item)
            return

    def _read_instruction(self, instruction_id: str) -> dict[str, Any]:
        return from_item(
            self._ddb.get_item(
                TableName=self._table,
                Key=instruction_key(instruction_id),
                ProjectionExpression="#pk, #callees, #reason, #replies, #schedule",
                ExpressionAttributeNames={
                    "#pk": PK,
                    "#callees": CALLEES,
                    "#reason": STATUS_REASON,
                    "#replies": REPLIES,
                    "#schedule": SCHEDULE,
                },
                ConsistentRead=True,
            ).get("Item", {})
        )

    def _erase_item(self, instruction_id: str, erased_at: str, item: dict[str, Any]) -> None:
        names = {"#pk": PK, "#erased": ERASED_AT, "#meta": METADATA, "#callees": CALLEES}
        names |= {f"#a{i}": a for i, a in enumerate(ERASED_INSTRUCTION_ATTRIBUTES)}
        names |= {"#request": REQUEST} | {f"#r{i}": k for i, k in enumerate(ERASED_REQUEST_KEYS)}
        removed = [f"#a{i}" for i in range(len(ERASED_INSTRUCTION_ATTRIBUTES))]
        removed += [f"#request.#r{i}" for i in range(len(ERASED_REQUEST_KEYS))]
        count = len(item.get(CALLEES) or [])
        values: dict[str, Any] = {":at": erased_at, ":empty": {}, ":callees": erased_callees(count)}
        clauses = ""
        if isinstance(item.get(STATUS_REASON), str):  # CM's text: it may name a number
            names["#reason"] = STATUS_REASON
            values[":reason"] = without_numbers(item[STATUS_REASON])
            clauses = ", #reason = :reason"
        if isinstance(item.get(REPLIES), list):  # issue 15: CM's per-callee errors (replay)
            names["#replies"] = REPLIES
            values[":replies"] = erased_replies(item[REPLIES])
            clauses += ", #replies = :replies"
        condition = "attribute_exists(#pk)"
        moves = [(i, k) for i, (k, _) in schedule_keys(item).items() if is_number_key(k)]
        if moves:  # the callees' numbers as keys of the `schedule` map: to index keys
            names["#schedule"] = SCHEDULE
        for n, (index, key) in enumerate(moves):
            names |= {f"#n{n}": key, f"#i{n}": schedule_key(index)}
            clauses += f", #schedule.#i{n} = #schedule.#n{n}"
            removed.append(f"#schedule.#n{n}")
            condition += f" AND attribute_exists(#schedule.#n{n})"
        self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression="SET #erased = if_not_exists(#erased, :at), #meta = :empty, "
            f"#callees = :callees{clauses} REMOVE {', '.join(removed)}",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )

    def _erase_details(self, instruction_id: str, item: dict[str, Any]) -> None:
        """CM's reason kept on a callee's schedule (`detail`) without the numbers it names;
        one conditional write per such entry (a detail changed meanwhile is left)."""
        stored = item.get(SCHEDULE)
        for index, (key, _) in schedule_keys(item).items():
            detail = stored[key].get(DETAIL) if isinstance(stored, dict) else None
            if not isinstance(detail, str) or without_numbers(detail) == detail:
                continue
            update_if(
                self._ddb,
                TableName=self._table,
                Key=instruction_key(instruction_id),
                UpdateExpression="SET #s.#i.#d = :erased",
                ConditionExpression="#s.#i.#d = :detail",
                ExpressionAttributeNames={"#s": SCHEDULE, "#i": schedule_key(index), "#d": DETAIL},
                ExpressionAttributeValues=to_item(
                    {":erased": without_numbers(detail), ":detail": detail}
                ),
            )

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
