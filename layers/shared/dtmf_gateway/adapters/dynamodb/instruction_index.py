"""`InstructionIndex` on the calls table's `owner-created` index (round 2, #16): an owner's
instructions by `created-at`, newest first — a Query, never a Scan. Key claims carry no
`created-at` since issue 15 and so stay out of the index; those written before (24 h at most)
are still filtered out by `record-type`, and items past their retention (`ttl`) as GET does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CREATED_AT,
    INSTRUCTION_SK,
    OWNER,
    OWNER_INDEX,
    PK,
    RECORD_TYPE,
    SK,
    TTL,
    from_item,
    instruction_pk,
    to_item,
)
from dtmf_gateway.domain.listing import ListPosition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_INSTRUCTION_RECORD = "instruction"


class DynamoDbInstructionIndex:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        page_size: int = 100,
        epoch_seconds: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._page = page_size
        self._now = epoch_seconds

    def newest_first(
        self,
        owner: str,
        created_from: str | None,
        created_to: str | None,
        after: ListPosition | None,
    ) -> Iterator[ListPosition]:
        names = {"#owner": OWNER, "#type": RECORD_TYPE, "#ttl": TTL}
        values: dict[str, Any] = {
            ":owner": owner,
            ":instruction": _INSTRUCTION_RECORD,
            ":now": int(self._now()),
        }
        condition = "#owner = :owner"
        if created_from is not None or created_to is not None:
            names["#created"] = CREATED_AT
        if created_from is not None:
            condition += " AND #created >= :from"
            values[":from"] = created_from
        filters = "#type = :instruction AND (attribute_not_exists(#ttl) OR #ttl > :now)"
        if created_to is not None:
            values[":to"] = created_to
            if created_from is None:
                condition += " AND #created < :to"
            else:
                filters += " AND #created < :to"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": condition,
            "FilterExpression": filters,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": False,
            "Limit": self._page,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = to_item(
                {
                    PK: instruction_pk(after.instruction_id),
                    SK: INSTRUCTION_SK,
                    OWNER: owner,
                    CREATED_AT: after.created_at,
                }
            )
        while True:
            page = self._ddb.query(**kwargs)
            for raw in page["Items"]:
                item = from_item(raw)
                instruction_id = str(item[PK]).removeprefix(instruction_pk(""))
                yield ListPosition(str(item[CREATED_AT]), instruction_id)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
