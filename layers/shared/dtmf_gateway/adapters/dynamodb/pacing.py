"""`Pacer` on the campaigns table: the per-second placement counters.

    pk = "rate#<scope>"   sk = "<window start>"   `placements` taken in the window (epoch
                                                  seconds), `ttl`

A tiny item (no index attributes): one conditional UpdateItem is 1 WRU. Scopes: `all` (the
stack, `CmMaxCallsPerSecond`: every placement), `campaigns` (`CampaignCallsPerSecond`) and
`campaign#<id>` (a campaign's own `calls-per-second`). Only this module spells these names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dtmf_gateway.adapters.dynamodb.calls_table import to_item
from dtmf_gateway.adapters.dynamodb.conditional import update_if
from dtmf_gateway.domain.stack_pacing import pacing_window

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PK, SK = "pk", "sk"
PLACEMENTS = "placements"
TTL = "ttl"
#: Pacing windows are kept this long after they start (DynamoDB deletes them by TTL).
_RATE_WINDOW_TTL_SECONDS = 3600


class DynamoDbPacer:
    """`Pacer`: one counter item per scope and window, taken with one conditional ADD
    (``placements + tokens <= limit``), so any number of concurrent placers never exceed
    the limit."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def acquire(self, scope: str, per_second: float, now: datetime, tokens: int = 1) -> bool:
        window, limit = pacing_window(per_second)
        if tokens > limit:
            return False  # never fits: no write
        epoch = int(now.astimezone(UTC).timestamp())
        start = epoch - epoch % window
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=to_item({PK: f"rate#{scope}", SK: str(start)}),
            UpdateExpression="ADD #n :tokens SET #ttl = :ttl",
            ConditionExpression="attribute_not_exists(#n) OR #n <= :room",
            ExpressionAttributeNames={"#n": PLACEMENTS, "#ttl": TTL},
            ExpressionAttributeValues=to_item(
                {
                    ":tokens": tokens,
                    ":room": limit - tokens,
                    ":ttl": start + _RATE_WINDOW_TTL_SECONDS,
                }
            ),
        )
