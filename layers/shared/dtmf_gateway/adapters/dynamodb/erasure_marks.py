"""`ErasureMarks` on the calls table (issue 19): the instructions' `erased-at`, read by the
outbox just before it publishes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from dtmf_gateway.adapters.dynamodb.calls_table import (
    ERASED_AT,
    PK,
    from_item,
    instruction_key,
    instruction_pk,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from mypy_boto3_dynamodb.client import DynamoDBClient

#: BatchGetItem's limit of keys per request (DynamoDB API reference, BatchGetItem).
_KEYS_PER_REQUEST: Final = 100
#: Requests per chunk while DynamoDB leaves keys unprocessed (throttling): then the read
#: fails and the publisher's batch is retried by the event source mapping.
_TRIES: Final = 5


class ErasureMarksUnread(RuntimeError):
    """DynamoDB left some instructions unread after every try (throttled): retry later."""


class DynamoDbErasureMarks:
    """`ErasureMarks`: strongly consistent BatchGetItem of the instruction items, projected
    on their key and `erased-at` (a key claim or a gone instruction reads as not erased)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._sleep = sleep  # the back-off between tries while keys are left unprocessed

    def erased(self, instruction_ids: Collection[str]) -> dict[str, str]:
        """See `ErasureMarks.erased`; raises ErasureMarksUnread, or botocore's ClientError."""
        ids = sorted(set(instruction_ids))
        by_pk = {instruction_pk(i): i for i in ids}
        found: dict[str, str] = {}
        for start in range(0, len(ids), _KEYS_PER_REQUEST):
            chunk = ids[start : start + _KEYS_PER_REQUEST]
            for item in self._read([instruction_key(i) for i in chunk]):
                erased_at = item.get(ERASED_AT)
                instruction_id = by_pk.get(str(item.get(PK)))
                if isinstance(erased_at, str) and instruction_id is not None:
                    found[instruction_id] = erased_at
        return found

    def _read(self, keys: list[Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: Any = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": "#pk, #erased",
                "ExpressionAttributeNames": {"#pk": PK, "#erased": ERASED_AT},
                "ConsistentRead": True,
            }
        }
        for attempt in range(_TRIES):
            response = self._ddb.batch_get_item(RequestItems=request)
            items += [from_item(i) for i in response.get("Responses", {}).get(self._table, [])]
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            self._sleep(min(0.05 * 2**attempt, 1.0))  # as DynamoDB advises: back off
        raise ErasureMarksUnread(f"{len(request[self._table]['Keys'])} instructions unread")
