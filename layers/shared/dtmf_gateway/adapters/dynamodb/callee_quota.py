"""`CalleeQuota` on the calls table: calls per callee per clock hour.

One counter item per callee and hour (see calls_table.quota_key), incremented only below the
limit and deleted by TTL two hours later. Costs one write per callee per placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import QUOTA_COUNT, TTL, quota_key, to_item
from dtmf_gateway.adapters.dynamodb.conditional import is_conditional_failure

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbCalleeQuota:
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
            Key=quota_key(callee, hour),
            UpdateExpression="ADD #count :delta SET #ttl = :ttl",
            ExpressionAttributeNames={"#count": QUOTA_COUNT, "#ttl": TTL},
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
                if not is_conditional_failure(error):
                    raise
                over.append(callee)
        if over:  # refused as a whole: give back what this request took
            for callee in counted:
                self._add(callee, hour, -1, expires, guarded=False)
        return over
