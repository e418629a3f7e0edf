"""Remove the pending-calls index keys of calls that have ended: needed to roll back past 0.2.0.

    .venv/bin/python scripts/drop_ended_pending_entries.py --table NAME [--apply]

(or `make drop-ended-pending-entries [TABLE=…] [APPLY=1]`). Since issue 15 (0.2.0) a call
that ends (callback, expiry, settling a held call) keeps its `pending-shard` + `stale-at`, so
it stays in the sparse `pending-calls` index; only this release's expirer, walking the index
with a cursor and skipping ended calls, copes with that. The release before it reads every
entry with `stale-at <= now` on each run and tries each one: with more kept entries than one
run gets through (~5,750), it never reaches a call that really lost its callback, and that
call stays `queued`, unpublished. Run this once the stack is rolled back past 0.2.0 (and as
soon as you notice an automatic CloudFormation rollback); running it before the rollback as
well shortens the time the old expirer spends on kept entries. The old release removes the
keys itself whenever a call ends, so after one run nothing accumulates again.

Finds the calls by a paginated Scan of the calls table (every item is read: cost grows with
the table) filtered on the index keys being present and the call having ended (status not
`queued`, not held awaiting its placement). Each is updated with `REMOVE pending-shard,
stale-at` under the same condition, so a call that a racing callback or expirer has not ended
yet keeps its entry (ended calls never start waiting again). A dry run by default (counts the
calls); `--apply` removes the keys. Running it again removes nothing new. Uses the standard
AWS credentials and `AWS_ENDPOINT_URL*` variables; needs dynamodb:Scan and UpdateItem.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "shared"))

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    CALL_RECORD,
    HOLD,
    PENDING_SHARD,
    PK,
    RECORD_TYPE,
    SK,
    STALE_AT,
    STATUS,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import update_if
from dtmf_gateway.domain.calls import CallStatus, Hold

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

#: A call with index keys that has ended: not queued, not held until its placement confirms it
#: (the negation of calls_table.is_waiting). Both the scan's filter and each write's condition.
ENDED_WITH_INDEX_KEYS = (
    "#type = :call AND attribute_exists(#shard) AND attribute_exists(#status)"
    " AND #status <> :queued AND (attribute_not_exists(#hold) OR #hold <> :awaiting)"
)
_NAMES = {
    "#type": RECORD_TYPE,
    "#shard": PENDING_SHARD,
    "#stale": STALE_AT,
    "#status": STATUS,
    "#hold": HOLD,
}
_VALUES = to_item(
    {
        ":call": CALL_RECORD,
        ":queued": CallStatus.QUEUED.value,
        ":awaiting": Hold.AWAITING_PLACEMENT.value,
    }
)


def ended_calls_with_index_keys(client: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    """The (typed) keys {pk, sk} of every ended call that still has its index keys, page by
    page of a Scan (1 MB a page, read eventually consistent: the write's condition decides)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": ENDED_WITH_INDEX_KEYS,
        "ProjectionExpression": "#pk, #sk",
        "ExpressionAttributeNames": {
            **{k: v for k, v in _NAMES.items() if k != "#stale"},
            "#pk": PK,
            "#sk": SK,
        },
        "ExpressionAttributeValues": _VALUES,
    }
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            yield {PK: item[PK], SK: item[SK]}
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def drop_index_keys(client: DynamoDBClient, table: str, key: dict[str, Any]) -> bool:
    """REMOVE the call's `pending-shard` and `stale-at` if it (still) has them and has ended:
    True when removed, False when the condition refused (already removed, or not ended)."""
    return update_if(
        client,
        TableName=table,
        Key=key,
        UpdateExpression="REMOVE #shard, #stale",
        ConditionExpression=ENDED_WITH_INDEX_KEYS,
        ExpressionAttributeNames=_NAMES,
        ExpressionAttributeValues=_VALUES,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="calls table")
    parser.add_argument("--apply", action="store_true", help="remove the index keys")
    args = parser.parse_args(argv)
    if not args.table:
        parser.error("--table (or TABLE_NAME) is required")
    client = boto3.client("dynamodb")
    found = removed = 0
    try:
        for key in ended_calls_with_index_keys(client, args.table):
            found += 1
            if args.apply and drop_index_keys(client, args.table, key):
                removed += 1
    except (BotoCoreError, ClientError) as error:  # a wrong name, no credentials, no access
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    mode = "removed" if args.apply else "removed (dry run: use --apply)"
    print(f"{found} ended calls with pending-calls index keys, {removed} {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
