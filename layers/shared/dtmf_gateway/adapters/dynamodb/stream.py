"""The calls table's stream records as typed changes of calls (the outbox's input)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dtmf_gateway.adapters.dynamodb.calls_table import (
    SCHEDULE,
    STATUS,
    call_from_item,
    instruction_from_item,
    is_call_item,
    is_instruction_item,
    plain,
)
from dtmf_gateway.domain.calls import CallStatus, InstructionStatus
from dtmf_gateway.domain.publishing import Change

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
    )

    from dtmf_gateway.domain.stored import StoredCall, StoredInstruction


#: What the publisher's event source mapping lets through to it (template.yaml,
#: `CallChanges` FilterCriteria; tests/infrastructure/test_publisher_filter.py holds the two
#: together): an INSERT or MODIFY whose new image's `status` is one of these. The rest of a
#: shard's records (queued calls, counters, cursors, an instruction's own progress) never
#: reach it, though they lie between a batch's first and last sequence numbers.
PUBLISHER_EVENT_NAMES = frozenset({"INSERT", "MODIFY"})
PUBLISHER_STATUSES = frozenset(
    {CallStatus.FINISHED.value, CallStatus.EXPIRED.value, InstructionStatus.SCHEDULED.value}
)


def reaches_publisher(record: Mapping[str, Any]) -> bool:
    """Whether a stream record (DynamoDB JSON, as GetRecords or Lambda's event gives it)
    passes the publisher's filter (see PUBLISHER_STATUSES)."""
    change = record.get("dynamodb")
    image = change.get("NewImage") if isinstance(change, Mapping) else None
    status = image.get(STATUS) if isinstance(image, Mapping) else None
    return (
        record.get("eventName") in PUBLISHER_EVENT_NAMES
        and isinstance(status, Mapping)
        and status.get("S") in PUBLISHER_STATUSES
    )


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


def change_of(record: Mapping[str, Any]) -> Change:
    """One stream record as GetRecords returns it (NEW_AND_OLD_IMAGES) as a Change.

    Raises UndecodableStreamRecord as :func:`changes`."""
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
    )

    return _change(DynamoDBRecord(dict(record)))


def changes(event: DynamoDBStreamEvent) -> list[Change]:
    """One Change per record, identified by its sequence number (for partial batch failures);
    images that are not calls (the instruction item) become None.

    Raises UndecodableStreamRecord for a record whose images are not DynamoDB JSON of calls
    (the batch fails and is bisected until that record is set aside alone)."""
    return [_change(record) for record in event.records]
