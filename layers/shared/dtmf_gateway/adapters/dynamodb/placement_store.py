"""What placing an instruction writes: the key claim, the reservation, its end without calls,
the calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.calls_table import (
    BODY_HASH,
    CALL_IDS,
    ERASED_AT,
    HELD_CALL_IDS,
    KEY_CLAIM_RECORD,
    PK,
    PLACING_UNTIL,
    RECORD_TYPE,
    REPLIES,
    STATUS,
    TTL,
    assignments,
    call_key,
    ended_instruction_fields,
    epoch_seconds,
    from_item,
    held_call_ids,
    instruction_item,
    instruction_key,
    is_key_claim,
    key_claim_item,
    pending_fields,
    pending_recording_fields,
    placement_recorded_fields,
    queued_call_fields,
    released_claim_fields,
    to_item,
)
from dtmf_gateway.adapters.dynamodb.conditional import (
    is_conditional_failure,
    set_fields,
    settle_held_call,
)
from dtmf_gateway.adapters.dynamodb.placement_answers import (
    encoded_replies,
    erased_replies,
    placed_before,
)
from dtmf_gateway.domain.calls import (
    CmQueuedCall,
    InstructionStatus,
    KeyClaim,
    NewInstruction,
)
from dtmf_gateway.domain.errors import IdempotencyKeyReused, InstructionAlreadyExists

if TYPE_CHECKING:
    from datetime import timedelta

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from dtmf_gateway.domain.placement_replay import PlacedBefore


class DynamoDbInstructionStore:
    """`InstructionStore` on the calls table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta,
        pending_shards: int,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._retention = retention
        self._shards = pending_shards

    def claim_key(self, claim: KeyClaim) -> None:
        """One PutItem at the scope's instruction slot (see calls_table.key_claim_item)."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(key_claim_item(claim)),
                # free, or a claim of this very body, or a claim that has expired; never an
                # instruction (one reserved under this key without an id: another body)
                ConditionExpression=f"attribute_not_exists({PK}) OR (#type = :claim AND "
                "(#hash = :hash OR #ttl <= :now))",
                ExpressionAttributeNames={"#type": RECORD_TYPE, "#hash": BODY_HASH, "#ttl": TTL},
                ExpressionAttributeValues=to_item(
                    {
                        ":claim": KEY_CLAIM_RECORD,
                        ":hash": claim.body_hash,
                        ":now": epoch_seconds(claim.claimed_at),
                    }
                ),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                raise IdempotencyKeyReused(claim.scope) from error
            raise

    def release_key(self, claim: KeyClaim) -> None:
        """One UpdateItem expiring the claim while it still holds this body's hash."""
        clause, names, values = assignments(released_claim_fields(claim))
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=instruction_key(claim.scope),
                UpdateExpression=f"SET {clause}",
                ConditionExpression="#type = :claim AND #hash = :hash",
                ExpressionAttributeNames={**names, "#type": RECORD_TYPE, "#hash": BODY_HASH},
                ExpressionAttributeValues=to_item(
                    {**values, ":claim": KEY_CLAIM_RECORD, ":hash": claim.body_hash}
                ),
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def reserve(self, instruction: NewInstruction) -> None:
        item = instruction_item(instruction, self._retention)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(item),
                # an id is free when unused, when an earlier attempt surely placed nothing,
                # or when it is the scope of a key claim that has expired
                # (issue 19: never an instruction whose personal data was erased)
                ConditionExpression=f"attribute_not_exists({PK}) OR (#status = :not_placed"
                " AND attribute_not_exists(#erased)) OR (#type = :claim AND #ttl <= :now)",
                ExpressionAttributeNames={
                    "#status": STATUS,
                    "#type": RECORD_TYPE,
                    "#ttl": TTL,
                    "#erased": ERASED_AT,
                },
                ExpressionAttributeValues=to_item(
                    {
                        ":not_placed": InstructionStatus.NOT_PLACED.value,
                        ":claim": KEY_CLAIM_RECORD,
                        ":now": epoch_seconds(instruction.created_at),
                    }
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            old: Any = error.response.get("Item") or {}
            if is_key_claim(from_item(old)):
                # the key was bound to an explicit-id body: this request (no id) differs
                raise IdempotencyKeyReused(instruction.instruction_id) from error
            found = placed_before(from_item(old)) if old else None
            raise InstructionAlreadyExists(instruction.instruction_id, found) from error

    def holder_of(self, instruction_id: str) -> PlacedBefore | None:
        """One strongly consistent GetItem: the instruction `reserve`'s condition would
        refuse the id for (see there), None when it would take it."""
        response = self._ddb.get_item(
            TableName=self._table, Key=instruction_key(instruction_id), ConsistentRead=True
        )
        item = from_item(response.get("Item") or {})
        if not item or is_key_claim(item):
            return None
        if item.get(STATUS) == InstructionStatus.NOT_PLACED.value and ERASED_AT not in item:
            return None
        return placed_before(item)

    def mark(
        self,
        instruction_id: str,
        status: InstructionStatus,
        reason: str,
        *,
        timed_out: bool = False,
    ) -> None:
        fields = ended_instruction_fields(status, reason, timed_out=timed_out)
        self._set_on_instruction(instruction_id, fields)

    def answered(self, instruction_id: str) -> None:
        """One UpdateItem removing `placing-until`: the answer is complete."""
        self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression="REMOVE #until",
            ConditionExpression=f"attribute_exists({PK})",
            ExpressionAttributeNames={"#until": PLACING_UNTIL},
        )

    def note_pending_recording(
        self, instruction: NewInstruction, replies: Sequence[CmQueuedCall]
    ) -> None:
        """One UpdateItem keeping CM's replies on the `placing` instruction whose recording
        failed, and its entry on the pending-calls index at its calls' stale time
        (calls_table.pending_recording_fields). Nothing when the recording was applied
        meanwhile (its call ids are named) or the instruction is gone. An instruction erased
        meanwhile (issue 19, `erased-at`) gets the replies as the erasure leaves them
        (placement_answers.erased_replies: no number in CM's error texts): one more
        UpdateItem, only then."""
        encoded = encoded_replies(instruction.callees, replies)
        try:
            self._note(instruction, encoded, erased=False)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            old: Any = error.response.get("Item") or {}
            if ERASED_AT not in from_item(old):
                return  # recorded meanwhile, or gone
        try:
            self._note(instruction, erased_replies(encoded), erased=True)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise

    def _note(self, instruction: NewInstruction, encoded: list[str], *, erased: bool) -> None:
        """The note's UpdateItem while the instruction is `placing`, its calls not named,
        and erased (``erased``) or not; ConditionalCheckFailedException (the item as it was)
        otherwise."""
        clause, names, values = assignments(
            pending_recording_fields(instruction, encoded, self._shards)
        )
        erasure = "attribute_exists(#erased)" if erased else "attribute_not_exists(#erased)"
        self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction.instruction_id),
            UpdateExpression=f"SET {clause}",
            ConditionExpression=f"attribute_exists({PK}) AND attribute_not_exists(#ids)"
            f" AND #status = :placing AND {erasure}",
            ExpressionAttributeNames={
                **names,
                "#ids": CALL_IDS,
                "#status": STATUS,
                "#erased": ERASED_AT,
            },
            ExpressionAttributeValues=to_item(
                {**values, ":placing": InstructionStatus.PLACING.value}
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _set_on_instruction(
        self,
        instruction_id: str,
        fields: Mapping[str, Any],
        *,
        unless: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        """SET `fields` on the (existing) instruction item and remove `placing-until` (each
        such write completes the answer, issue 15): the UpdateItem's response (`extra`: its
        ReturnValues…). `unless` (placeholder → attribute name): only while those attributes
        are absent too (ConditionalCheckFailedException otherwise)."""
        clause, names, values = assignments(fields)
        condition = f"attribute_exists({PK})"
        for placeholder in unless or {}:
            condition += f" AND attribute_not_exists({placeholder})"
        return self._ddb.update_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            UpdateExpression=f"SET {clause} REMOVE #until",
            ConditionExpression=condition,
            ExpressionAttributeNames={**names, **(unless or {}), "#until": PLACING_UNTIL},
            ExpressionAttributeValues=to_item(values),
            **extra,
        )

    def record_queued_calls(
        self,
        instruction: NewInstruction,
        calls: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall] = (),
    ) -> None:
        for call in calls:
            assert call.call_id is not None  # noqa: S101 - the service passes queued calls only
            described = queued_call_fields(instruction, call.call_id, call.callee, self._retention)
            pending = pending_fields(instruction, call.call_id, self._shards)
            key = call_key(instruction.instruction_id, call.call_id)
            if not set_fields(
                self._ddb, self._table, key, {**described, **pending}, only_if_new=True
            ):
                # The callback won the race and already finished this call: add what the
                # placement knows, leave its status and result alone.
                set_fields(self._ddb, self._table, key, described, only_if_new=False)
        # issue 15: with a key, the instruction keeps the replies its replay renders
        kept = encoded_replies(instruction.callees, replies) if instruction.body_hash else None
        self._record_call_ids(instruction.instruction_id, [c.call_id or "" for c in calls], kept)

    def _scrub_calls(self, instruction_id: str, call_ids: list[str], erased_at: str) -> None:
        """Issue 19: the instruction's personal data was erased while it was being placed:
        remove from the calls just written what the erasure removes (numbers, metadata)."""
        # imported here: the erasure's modules are not needed by a placement that meets no
        # erasure, so place-call's cold start does not load them
        from dtmf_gateway.adapters.dynamodb.erasure_store import erase_call_item

        for call_id in call_ids:
            erase_call_item(self._ddb, self._table, instruction_id, call_id, erased_at)

    def _record_call_ids(
        self, instruction_id: str, call_ids: list[str], replies: list[str] | None = None
    ) -> None:
        """Name the placement's calls on the instruction (one write per placement): from
        now on a callback for another call id is refused. Calls whose callbacks overtook
        the placement (held) are released when they are among them, else set aside.

        The common placement meets neither an erasure nor a held callback: its write is
        conditional on their marks being absent and returns nothing (parsing the whole
        instruction back cost ~0.2 ms of botocore CPU per placement, issue 15). When a mark
        is there the condition fails — DynamoDB charges the failed write like any other —
        and the write is made again returning the item (`_record_and_settle`): one more
        write, only when an erasure or a held callback came first. The outcome is the same
        either way: the marks cannot appear after a successful write (`held-call-ids` is
        added only while `call-ids` is absent; an erasure from then on sees the calls)."""
        fields = placement_recorded_fields(call_ids, replies)
        try:
            self._set_on_instruction(
                instruction_id,
                fields,
                unless={"#erased": ERASED_AT, "#held": HELD_CALL_IDS},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_conditional_failure(error) or not error.response.get("Item"):
                raise  # not a conditional failure, or the instruction is gone (as before)
            self._record_and_settle(instruction_id, call_ids, fields)

    def _record_and_settle(
        self, instruction_id: str, call_ids: list[str], fields: Mapping[str, Any]
    ) -> None:
        """Record the calls, then act on what the instruction holds once they are recorded:
        scrub them when it was erased while placing (issue 19), release or set aside the
        calls whose callbacks overtook the placement."""
        response = self._set_on_instruction(instruction_id, fields, ReturnValues="ALL_NEW")
        recorded_item = from_item(response.get("Attributes", {}))
        erased = recorded_item.get(ERASED_AT)
        if erased:  # issue 19: erased while placing (or while its recording waited)
            self._scrub_calls(instruction_id, call_ids, str(erased))
            replies = recorded_item.get(REPLIES)
            if isinstance(replies, list) and replies:  # CM's error texts may name a number
                self._set_on_instruction(instruction_id, {REPLIES: erased_replies(replies)})
        recorded = {c.lower() for c in call_ids}
        for held in sorted(held_call_ids(recorded_item)):
            settle_held_call(
                self._ddb,
                self._table,
                call_key(instruction_id, held),
                release=held in recorded,
            )
