"""The campaigns table: its item layout and the two adapters on it (`CampaignStore`, `Pacer`:
re-exported from `adapters.dynamodb.pacing`).

    pk = "campaign#<campaign-id>"   sk = "campaign"        the campaign (StoredCampaign);
                                                           counters are top-level numbers
                                                           `count-<name>` (one ADD each),
                                                           `in-flight` its calls in progress
    pk = "campaign#<campaign-id>"   sk = "row#<0000042>"   one row: `opened` and `slot`
                                                           once it holds a concurrent-call
                                                           slot (about to be placed; given
                                                           back by its end);
                                                           `placed-counted`; `line` (its
                                                           results-uri line, JSON text)
                                                           once it ended; a call's result
                                                           also `revision` and `outcome`
    pk = "rate#<scope>"             sk = "<window start>"  pacing (`adapters.dynamodb.pacing`)

Only this module spells these attribute names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import from_item, to_item
from dtmf_gateway.adapters.dynamodb.conditional import is_conditional_failure, update_if
from dtmf_gateway.adapters.dynamodb.pacing import DynamoDbPacer
from dtmf_gateway.domain.calls import iso
from dtmf_gateway.domain.campaign_ports import (
    PLACED,
    CampaignAlreadyExists,
    NewCampaign,
    RowEnd,
    StoredCampaign,
)
from dtmf_gateway.domain.campaigns import CampaignStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PK, SK = "pk", "sk"
CAMPAIGN_SK = "campaign"
COUNT_PREFIX = "count-"
IN_FLIGHT = "in-flight"
STATUS = "status"
LINE = "line"
OPENED = "opened"
SLOT = "slot"  # the row took one of the campaign's `in-flight` slots itself (until its end)
PLACED_COUNTED = "placed-counted"  # the row is counted under `placed` (once)
REVISION = "revision"
OUTCOME = "outcome"
CORRECTIONS = "corrections"
#: Attempts of a correction that lost a race with another correction of the same row.
_CORRECTION_ATTEMPTS = 5
#: Attempts of a row's end whose row gained a flag between its read and its write (each flag
#: is set at most once before the end: `opened`, `placed-counted`).
_END_ATTEMPTS = 3


def campaign_key(campaign_id: str) -> dict[str, Any]:
    return to_item({PK: f"campaign#{campaign_id}", SK: CAMPAIGN_SK})


def row_key(campaign_id: str, row: int) -> dict[str, Any]:
    return to_item({PK: f"campaign#{campaign_id}", SK: f"row#{row:07d}"})


def campaign_item(campaign: NewCampaign) -> dict[str, Any]:
    return {
        PK: f"campaign#{campaign.campaign_id}",
        SK: CAMPAIGN_SK,
        "campaign-id": campaign.campaign_id,
        "owner": campaign.owner,
        STATUS: CampaignStatus.VALIDATING.value,
        "template": json.dumps(campaign.template, ensure_ascii=False),
        "callees-bucket": campaign.callees_bucket,
        "callees-key": campaign.callees_key,
        "calls-per-second": Decimal(str(campaign.calls_per_second)),
        "max-concurrent-calls": campaign.max_concurrent_calls,
        "skip-invalid-rows": campaign.skip_invalid_rows,
        "created-at": iso(campaign.created_at),
        "body-hash": campaign.body_hash,
        IN_FLIGHT: 0,
    }


def campaign_from_item(item: Mapping[str, Any]) -> StoredCampaign:
    """The campaign of a plain (deserialised) campaign item."""
    return StoredCampaign(
        campaign_id=item["campaign-id"],
        owner=item["owner"],
        status=CampaignStatus(item[STATUS]),
        template=json.loads(item["template"]),
        callees_bucket=item["callees-bucket"],
        callees_key=item["callees-key"],
        calls_per_second=float(item["calls-per-second"]),
        max_concurrent_calls=int(item["max-concurrent-calls"]),
        skip_invalid_rows=bool(item.get("skip-invalid-rows")),
        created_at=item["created-at"],
        body_hash=item.get("body-hash", ""),
        counts={
            k.removeprefix(COUNT_PREFIX): int(v)
            for k, v in item.items()
            if k.startswith(COUNT_PREFIX)
        },
        validated=bool(item.get("validated")),
        started_at=item.get("started-at"),
        finished_at=item.get("finished-at"),
        errors_uri=item.get("errors-uri"),
        results_uri=item.get("results-uri"),
        finished_published=bool(item.get("finished-published")),
        corrections=int(item.get(CORRECTIONS) or 0),
    )


class DynamoDbCampaignStore:
    """`CampaignStore` on the campaigns table (every change one conditional write or one
    transaction)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def create(self, campaign: NewCampaign) -> StoredCampaign:
        item = campaign_item(campaign)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            existing = self.load(campaign.campaign_id)
            if existing is None:  # pragma: no cover - deleted in between
                raise
            raise CampaignAlreadyExists(existing) from None
        return campaign_from_item(item)

    def load(self, campaign_id: str) -> StoredCampaign | None:
        found = self._ddb.get_item(
            TableName=self._table, Key=campaign_key(campaign_id), ConsistentRead=True
        ).get("Item")
        return campaign_from_item(from_item(found)) if found else None

    def _update(
        self,
        campaign_id: str,
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
        condition: str | None = None,
    ) -> bool:
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        if values:
            extra["ExpressionAttributeValues"] = to_item(values)
        return update_if(
            self._ddb,
            TableName=self._table,
            Key=campaign_key(campaign_id),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            **extra,
        )

    def change_status(
        self, campaign_id: str, to: CampaignStatus, when: Iterable[CampaignStatus]
    ) -> bool:
        allowed = {f":w{i}": s.value for i, s in enumerate(when)}
        return self._update(
            campaign_id,
            "SET #s = :to",
            {"#s": STATUS},
            {":to": to.value, **allowed},
            f"#s IN ({', '.join(allowed)})",
        )

    def end_validation(
        self,
        campaign_id: str,
        counts: Mapping[str, int],
        errors_uri: str | None,
        *,
        failed: bool,
        now: str,
    ) -> None:
        names = {f"#c{i}": f"{COUNT_PREFIX}{k}" for i, k in enumerate(counts)}
        values: dict[str, Any] = {f":c{i}": v for i, v in enumerate(counts.values())}
        sets = [f"#c{i} = :c{i}" for i in range(len(counts))]
        sets += ["#v = :true", "#st = if_not_exists(#st, :now)"]
        names |= {"#v": "validated", "#st": "started-at"}
        values |= {":true": True, ":now": now}
        if errors_uri is not None:
            sets.append("#e = :e")
            names["#e"] = "errors-uri"
            values[":e"] = errors_uri
        if failed:
            sets.append("#s = :failed")
            names["#s"] = STATUS
            values[":failed"] = CampaignStatus.FAILED.value
        self._update(campaign_id, "SET " + ", ".join(sets), names, values)
        if not failed:
            self.change_status(campaign_id, CampaignStatus.RUNNING, [CampaignStatus.VALIDATING])

    def acquire_slot(self, campaign_id: str, row: int, limit: int) -> bool:
        """The row's `slot` and `opened` flags and the campaign's `in-flight` + 1 (below
        ``limit``) in one transaction, unless the row holds a slot already; when the
        transaction is refused, whether the row holds one (one consistent read)."""
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": row_key(campaign_id, row),
                            "UpdateExpression": "SET #s = :true, #o = :true",
                            "ConditionExpression": (
                                "attribute_not_exists(#s) AND attribute_not_exists(#l)"
                            ),
                            "ExpressionAttributeNames": {"#s": SLOT, "#o": OPENED, "#l": LINE},
                            "ExpressionAttributeValues": to_item({":true": True}),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": campaign_key(campaign_id),
                            "UpdateExpression": "ADD #f :one",
                            "ConditionExpression": "#f < :limit",
                            "ExpressionAttributeNames": {"#f": IN_FLIGHT},
                            "ExpressionAttributeValues": to_item({":one": 1, ":limit": limit}),
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            found = self._ddb.get_item(
                TableName=self._table, Key=row_key(campaign_id, row), ConsistentRead=True
            ).get("Item", {})
            return SLOT in found and LINE not in found
        return True

    def count_placed(self, campaign_id: str, row: int) -> bool:
        """The row's `placed-counted` flag and the campaign's `placed` count in one
        transaction, only when the flag is not set yet and the row has not ended (its end
        counted it, if it was a call's result)."""
        return self._transact(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": row_key(campaign_id, row),
                    "UpdateExpression": "SET #pc = :true",
                    "ConditionExpression": "attribute_not_exists(#pc) AND attribute_not_exists(#l)",
                    "ExpressionAttributeNames": {"#pc": PLACED_COUNTED, "#l": LINE},
                    "ExpressionAttributeValues": to_item({":true": True}),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": campaign_key(campaign_id),
                    "UpdateExpression": "ADD #p :one",
                    "ExpressionAttributeNames": {"#p": f"{COUNT_PREFIX}placed"},
                    "ExpressionAttributeValues": to_item({":one": 1}),
                }
            },
        )

    def row_ended(self, campaign_id: str, row: int) -> bool:
        found = self._ddb.get_item(
            TableName=self._table,
            Key=row_key(campaign_id, row),
            ProjectionExpression="#l",
            ExpressionAttributeNames={"#l": LINE},
        )
        return LINE in found.get("Item", {})

    def end_row(self, campaign_id: str, end: RowEnd) -> bool:
        """The row's line and counters in one transaction, conditioned on the row as read
        just before (consistent): not ended; `opened` as read (an opened row holds a slot:
        the campaign's `in-flight` - 1; a call's result needs it); and — a call's result
        counting the row `placed` when its placer has not yet — `placed-counted` as read. A
        flag gained between the read and the write (a delivery opened the row, the placer
        counted) is read again; an end that still cannot be written raises (retried).

        A row opened before rows held their own slots (`opened` without `slot`: a campaign
        running across that upgrade) held its delivery's slot while it rang: its end gives
        that slot back all the same."""
        for _ in range(_END_ATTEMPTS):
            found = self._ddb.get_item(
                TableName=self._table, Key=row_key(campaign_id, end.row), ConsistentRead=True
            ).get("Item", {})
            if LINE in found or (end.revision is not None and OPENED not in found):
                return False
            if self._transact(*self._end_items(campaign_id, end, found)):
                return True
        raise RuntimeError(  # pragma: no cover - the row changed under every attempt
            f"row {end.row} of campaign {campaign_id} changed under {_END_ATTEMPTS} attempts"
        )

    def _end_items(
        self, campaign_id: str, end: RowEnd, found: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The row's and the campaign's updates of ``end`` for the row item ``found``."""
        counters = list(end.counters)
        row_names = {"#l": LINE}
        row_values: dict[str, Any] = {":line": json.dumps(end.line, ensure_ascii=False)}
        row_sets = "SET #l = :line"
        row_names["#o"] = OPENED
        holds_slot = OPENED in found  # taken with `opened` (acquire_slot), given back here
        condition = "attribute_not_exists(#l) AND "
        condition += "attribute_exists(#o)" if holds_slot else "attribute_not_exists(#o)"
        if end.revision is not None:  # a call's result (the row is opened: end_row)
            row_sets += ", #r = :rev, #out = :out"
            row_names |= {"#r": REVISION, "#out": OUTCOME, "#pc": PLACED_COUNTED}
            row_values |= {":rev": end.revision, ":out": str(end.line.get("outcome"))}
            if PLACED_COUNTED in found:
                condition += " AND attribute_exists(#pc)"
            else:  # the result came before its placer counted the call: it counts it
                row_sets += ", #pc = :true"
                row_values[":true"] = True
                condition += " AND attribute_not_exists(#pc)"
                counters.append(PLACED)
        names = {f"#c{i}": f"{COUNT_PREFIX}{c}" for i, c in enumerate(counters)}
        expression = "ADD " + ", ".join(f"{name} :one" for name in names)
        values: dict[str, Any] = {":one": 1}
        if holds_slot:
            expression += ", #f :minus"
            names["#f"] = IN_FLIGHT
            values[":minus"] = -1
        return (
            {
                "Update": {
                    "TableName": self._table,
                    "Key": row_key(campaign_id, end.row),
                    "UpdateExpression": row_sets,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": row_names,
                    "ExpressionAttributeValues": to_item(row_values),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": campaign_key(campaign_id),
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_item(values),
                }
            },
        )

    def correct_row(self, campaign_id: str, end: RowEnd) -> bool:
        if end.revision is None:
            return False
        new_outcome = str(end.line.get("outcome"))
        for _ in range(_CORRECTION_ATTEMPTS):
            found = self._ddb.get_item(
                TableName=self._table, Key=row_key(campaign_id, end.row), ConsistentRead=True
            ).get("Item")
            stored = from_item(found) if found else {}
            if OUTCOME not in stored or int(stored.get(REVISION) or 0) >= end.revision:
                return False
            old_outcome = str(stored[OUTCOME])
            names = {"#k": CORRECTIONS}
            adds = ["#k :one"]
            values: dict[str, Any] = {":one": 1}
            if old_outcome != new_outcome:
                names |= {
                    "#new": f"{COUNT_PREFIX}{new_outcome}",
                    "#old": f"{COUNT_PREFIX}{old_outcome}",
                }
                adds += ["#new :one", "#old :minus"]
                values[":minus"] = -1
            if self._transact(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": row_key(campaign_id, end.row),
                        "UpdateExpression": "SET #l = :line, #r = :rev, #out = :out",
                        "ConditionExpression": "#r = :was",
                        "ExpressionAttributeNames": {"#l": LINE, "#r": REVISION, "#out": OUTCOME},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":line": json.dumps(end.line, ensure_ascii=False),
                                ":rev": end.revision,
                                ":out": new_outcome,
                                ":was": int(stored[REVISION]),
                            }
                        ),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": campaign_key(campaign_id),
                        "UpdateExpression": "ADD " + ", ".join(adds),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            ):
                return True
        return False  # pragma: no cover - five corrections of one row raced this one

    def _transact(self, row: dict[str, Any], campaign: dict[str, Any]) -> bool:
        """Write the row item and the campaign item in one transaction; False (nothing
        written) when the row item's condition failed."""
        try:
            self._ddb.transact_write_items(TransactItems=[row, campaign])  # type: ignore[list-item]
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException" and (
                reasons and reasons[0].get("Code") == "ConditionalCheckFailed"
            ):
                return False
            raise
        return True

    def row_lines(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :row)",
            "ExpressionAttributeValues": to_item(
                {":pk": f"campaign#{campaign_id}", ":row": "row#"}
            ),
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            for item in page.get("Items", []):
                row = from_item(item)
                if LINE in row:  # an opened row not yet ended has none
                    yield json.loads(row[LINE])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_ended(
        self, campaign_id: str, status: CampaignStatus, results_uri: str | None, now: str
    ) -> bool:
        sets = "SET #s = :s, #fa = :now" + (", #r = :r" if results_uri else "")
        names = {"#s": STATUS, "#fa": "finished-at"}
        values: dict[str, Any] = {":s": status.value, ":now": now}
        if results_uri:
            names["#r"] = "results-uri"
            values[":r"] = results_uri
        return self._update(campaign_id, sets, names, values, "attribute_not_exists(#fa)")

    def mark_published(self, campaign_id: str) -> None:
        self._update(campaign_id, "SET #p = :true", {"#p": "finished-published"}, {":true": True})


__all__ = ["DynamoDbCampaignStore", "DynamoDbPacer"]
