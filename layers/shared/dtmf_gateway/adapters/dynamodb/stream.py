"""The calls table's stream records as typed changes of calls (the outbox's input)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    SCHEDULE,
    call_from_item,
    instruction_from_item,
    is_call_item,
    is_instruction_item,
    plain,
)
from dtmf_gateway.domain.publishing import Change

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
    )

    from dtmf_gateway.domain.stored import StoredCall, StoredInstruction


class UndecodableStreamRecord(ValueError):
    """A stream record whose images are not DynamoDB JSON of the calls table (DynamoDB never
    writes one; a forged or corrupted record): ``record_id`` is its sequence number."""

    def __init__(self, record_id: str, reason: str) -> None:
        super().__init__(f"stream record {record_id!r} cannot be decoded: {reason}")
        self.record_id = record_id


def _call(image: Mapping[str, Any] | None) -> StoredCall | None:
    if not image:
        return None
    item = plain(dict(image))
    return call_from_item(item) if is_call_item(item) else None


def _scheduled_instruction(image: Mapping[str, Any] | None) -> StoredInstruction | None:
    """Round 2 (#16): a scheduled instruction (its callees' schedules), else None."""
    if not image:
        return None
    item = plain(dict(image))
    if not is_instruction_item(item) or SCHEDULE not in item:
        return None
    return instruction_from_item(item)


def _change(record: DynamoDBRecord) -> Change:
    stream = record.dynamodb
    record_id = str(stream.sequence_number if stream else "")
    if stream is None:
        return Change(record_id=record_id, old=None, new=None)
    try:
        return Change(
            record_id=record_id,
            old=_call(stream.old_image),
            new=_call(stream.new_image),
            old_instruction=_scheduled_instruction(stream.old_image),
            new_instruction=_scheduled_instruction(stream.new_image),
        )
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as error:
        # the deserialiser's and int()'s errors on shapes DynamoDB does not write
        raise UndecodableStreamRecord(record_id, type(error).__name__) from error


def changes(event: DynamoDBStreamEvent) -> list[Change]:
    """One Change per record, identified by its sequence number (for partial batch failures);
    images that are not calls (the instruction item) become None.

    Raises UndecodableStreamRecord for a record whose images are not DynamoDB JSON of calls
    (the batch fails and is bisected until that record is set aside alone)."""
    return [_change(record) for record in event.records]
