"""DynamoDB stream batches built like real ones from what actually changed in the (moto) table.

moto does not serve DescribeStream, so the recorder diffs the table between two moments and
emits INSERT/MODIFY/REMOVE records with NEW_AND_OLD_IMAGES, as Lambda would deliver them.
"""

from __future__ import annotations

import itertools
from typing import Any

import boto3

_sequence = itertools.count(200000000000000000000)


class StreamReader:
    def __init__(self, table_name: str, region: str) -> None:
        self._ddb = boto3.client("dynamodb", region_name=region)
        self._table = table_name
        self._arn = (
            f"arn:aws:dynamodb:{region}:123456789012:table/{table_name}"
            "/stream/2026-11-29T05:00:00.000"
        )
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        pages = self._ddb.get_paginator("scan").paginate(TableName=self._table)
        return {
            (item["pk"]["S"], item["sk"]["S"]): item for page in pages for item in page["Items"]
        }

    def next_batch(self) -> dict[str, Any]:
        """The changes since the last call, as one Lambda stream event."""
        now = self._snapshot()
        records = []
        for key in sorted(set(self._seen) | set(now)):
            old, new = self._seen.get(key), now.get(key)
            if old == new:
                continue
            name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            change: dict[str, Any] = {
                "ApproximateCreationDateTime": 1795842931,
                "Keys": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                "SequenceNumber": str(next(_sequence)),
                "SizeBytes": 512,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
            if new is not None:
                change["NewImage"] = new
            if old is not None:
                change["OldImage"] = old
            records.append(
                {
                    "eventID": change["SequenceNumber"],
                    "eventName": name,
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "eu-west-1",
                    "dynamodb": change,
                    "eventSourceARN": self._arn,
                }
            )
        self._seen = now
        return {"Records": records}
