"""The calls table's stream records as typed changes of calls (the outbox's input)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import call_from_item, is_call_item, plain
from dtmf_gateway.domain.publishing import Change

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    from dtmf_gateway.domain.calls import StoredCall


def _call(image: Mapping[str, Any] | None) -> StoredCall | None:
    if not image:
        return None
    item = plain(dict(image))
    return call_from_item(item) if is_call_item(item) else None


def changes(event: DynamoDBStreamEvent) -> list[Change]:
    """One Change per record, identified by its sequence number (for partial batch failures);
    images that are not calls (the instruction item) become None."""
    return [
        Change(
            record_id=str(record.dynamodb.sequence_number if record.dynamodb else ""),
            old=_call(record.dynamodb.old_image) if record.dynamodb else None,
            new=_call(record.dynamodb.new_image) if record.dynamodb else None,
        )
        for record in event.records
    ]
