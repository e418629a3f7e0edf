"""The calls table's item layout: keys, attribute names, items ⇄ typed records. No I/O.

Nothing else in the product spells an attribute name; the stores build their requests from
what is here, and the in-memory fakes (tests/fakes.py) keep exactly these items.

    pk = "instruction#<instruction-id>"
    sk = "instruction"              the instruction as accepted (StoredInstruction)
    sk = "call#<call-id>"           one per call CM queued, or whose callback came first
                                    (StoredCall)
    pk = "instruction#k-<32 hex>"   a key claim (KeyClaim, `record-type` `key-claim`): the
    sk = "instruction"              Idempotency-Key of an explicit-id request bound to its
                                    body's hash (`body-hash`), at the key's scope — the very
                                    slot a request with that key and no id would reserve, so
                                    one conditional write decides between the two; never an
                                    instruction (readers skip it), gone after `ttl` (24 h)
    pk = "callee#<e164>"            the per-callee hourly counter of the callee quota
    sk = "hour#<yyyymmddhh>"
    pk = "expiry-cursor"            how far the expirer has walked one shard of the
    sk = "shard#<n>"                pending-calls index (`processed-through`, epoch s;
                                    `record-type` `expiry-cursor`), see pending_calls.py

Attribute names are the API's JSON names (`instruction-id`, `queued-at`, …), with two
exceptions kept for the data already stored: the instruction's callees are `destinations`,
and its stale-after time (seconds) is `max-call-seconds`. Calls placed and calls held carry
`pending-shard` + `stale-at`, the keys of the sparse `pending-calls` index the expirer walks;
they stay when the call ends (issue 15: removing them cost an index write per call), so an
entry says "look at this call after `stale-at`", not "still waiting".
`ttl` is the retention deadline (epoch seconds) DynamoDB uses to delete old items.

Callbacks: a call's `result` is CM's result object as a JSON *string* (so no value CM sends
depends on DynamoDB's number type; older items hold a map, read alike), `callback-body` the
body as received (capped), `hold` why an ended call is not published (`awaiting-placement`,
`set-aside`), `revision` + `corrects` a correction of an ended call. The instruction's
`call-ids` are the calls its placement recorded (written once, with status `queued`), its
`held-call-ids` the calls whose callbacks overtook the placement.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from dtmf_gateway.domain.calls import (
    CallStatus,
    CmQueuedCall,
    Correction,
    Hold,
    InstructionStatus,
    KeyClaim,
    NewInstruction,
    Outcome,
    iso,
)
from dtmf_gateway.domain.schedules import (
    CalleeSchedule,
    NotPlacedReason,
    ScheduleStatus,
    latest_moment,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from dtmf_gateway.domain.stored import CallFinish, StoredCall, StoredInstruction

PENDING_INDEX = "pending-calls"
OWNER_INDEX = "owner-created"  # round 2 (#16): an owner's instructions by created-at

# keys
PK = "pk"
SK = "sk"
INSTRUCTION_SK = "instruction"
_INSTRUCTION_PK_PREFIX = "instruction#"
_CALL_SK_PREFIX = "call#"
EXPIRY_CURSOR_PK = "expiry-cursor"  # issue 15: the expirer's cursors, one item per shard
_SHARD_SK_PREFIX = "shard#"

# attributes
RECORD_TYPE = "record-type"
INSTRUCTION_ID = "instruction-id"
CALL_ID = "call-id"
OWNER = "owner"
CALLER = "caller"
CALLEE = "callee"
CALLEES = "destinations"
REQUEST = "request"
METADATA = "metadata"
STATUS = "status"
STATUS_REASON = "status-reason"
CREATED_AT = "created-at"
STALE_AFTER_SECONDS = "max-call-seconds"
IDEMPOTENCY_KEY = "idempotency-key"
OUTCOME = "outcome"
DIGITS = "digits"
RESULT = "result"
QUEUED_AT = "queued-at"
FINISHED_AT = "finished-at"
PENDING_SHARD = "pending-shard"
STALE_AT = "stale-at"
TTL = "ttl"
CALLBACK_BODY = "callback-body"
HOLD = "hold"
REVISION = "revision"
CORRECTS = "corrects"
CALL_IDS = "call-ids"
HELD_CALL_IDS = "held-call-ids"
QUOTA_COUNT = "calls"
BODY_HASH = "body-hash"
# issue 15: a keyed instruction's replay (adapters.dynamodb.placement_answers)
PLACING_UNTIL = "placing-until"
REPLIES = "replies"
CM_TIMED_OUT = "cm-timed-out"
# issue 19: protecting the typed digits, erasing personal data
DIGITS_MODE = "digits-mode"  # on call items of a non-plain instruction (in `request` on it)
EXPECTED_DIGITS_HASH = "expected-digits-hash"
VERIFIED = "verified"
ERASED_AT = "erased-at"
# round 2 (#16): a scheduled instruction's callees, a map callee key → its schedule; the key
# is the callee's index in `destinations` ("0", "1", …: never personal data, so it outlives
# an erasure); items written before held the E.164 number ("+…"), read alike (schedule_key)
SCHEDULE = "schedule"
SCHEDULED_FOR = "scheduled-for"
ATTEMPT = "attempt"
REASON = "reason"
ENDED_AT = "ended-at"
DETAIL = "detail"
CANCELLED_AT = "cancelled-at"  # a scheduled instruction a DELETE cancelled (absent before)
REDIALS = "redials"  # a redial attempt's entry: the call it redials (absent in older items)
# a call held `redialled` whose redial attempt's CM answer was lost: settled by the expirer
# at this moment (epoch seconds, also its `stale-at`), expiry.settle_held
REDIALLED_UNTIL = "redialled-until"
CAMPAIGN_ID = "campaign-id"  # instructions and calls a campaign's row placed
PROCESSED_THROUGH = "processed-through"  # issue 15: an expiry cursor's position (epoch s)

_INSTRUCTION = "instruction"  # record-type values
INSTRUCTION_RECORD = _INSTRUCTION  # (public: erase by number scans for it, issue 19)
CALL_RECORD = "call"  # (public: the scans for calls filter on it)
KEY_CLAIM_RECORD = "key-claim"  # (public: the conditions on the instruction slot test it)
EXPIRY_CURSOR_RECORD = "expiry-cursor"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Key = dict[str, "AttributeValueTypeDef"]


# ---------------------------------------------------------------- keys


def instruction_pk(instruction_id: str) -> str:
    return f"{_INSTRUCTION_PK_PREFIX}{instruction_id}"


def call_sk(call_id: str) -> str:
    return f"{_CALL_SK_PREFIX}{call_id}"


def instruction_key(instruction_id: str) -> Key:
    return to_item({PK: instruction_pk(instruction_id), SK: INSTRUCTION_SK})


def call_key(instruction_id: str, call_id: str) -> Key:
    return to_item({PK: instruction_pk(instruction_id), SK: call_sk(call_id)})


def expiry_cursor_key(shard: int) -> Key:
    """The expirer's cursor over one shard of the pending-calls index."""
    return to_item({PK: EXPIRY_CURSOR_PK, SK: f"{_SHARD_SK_PREFIX}{shard}"})


def shard_of_cursor_key(item: Mapping[str, Any]) -> int:
    """The shard number from a cursor item's raw (typed) sk."""
    return int(item[SK]["S"].removeprefix(_SHARD_SK_PREFIX))


def quota_key(callee: str, hour: str) -> Key:
    """The counter of calls to `callee` (E.164) in the clock hour `hour` (yyyymmddhh)."""
    return to_item({PK: f"callee#{callee}", SK: f"hour#{hour}"})


def is_call_sk(sk: str) -> bool:
    return sk.startswith(_CALL_SK_PREFIX)


def ids_of_call_key(item: Mapping[str, Any]) -> tuple[str, str]:
    """(instruction id, call id) from a call item's raw (typed) pk and sk."""
    pk, sk = item[PK]["S"], item[SK]["S"]
    return pk.removeprefix(_INSTRUCTION_PK_PREFIX), sk.removeprefix(_CALL_SK_PREFIX)


def pending_shard(call_id: str, shards: int) -> str:
    return str(zlib.crc32(call_id.encode()) % shards)


# ---------------------------------------------------------------- (de)serialisation


def to_item(values: Mapping[str, Any]) -> dict[str, AttributeValueTypeDef]:
    """DynamoDB's typed form of plain values; None means "leave the attribute absent"."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in item.items()}


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integers as int, others (only in maps written
    before results were stored as text) as float."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


# ---------------------------------------------------------------- records → items


def _expires(created_at: datetime, retention: timedelta) -> int:
    return int((created_at + retention).timestamp())


def instruction_item(instruction: NewInstruction, retention: timedelta) -> dict[str, Any]:
    """The instruction item as reserved: `placing`, or (round 2, #16) `scheduled` with one
    schedule per callee and retained from its latest scheduled moment."""
    item: dict[str, Any] = {
        PK: instruction_pk(instruction.instruction_id),
        SK: INSTRUCTION_SK,
        RECORD_TYPE: _INSTRUCTION,
        INSTRUCTION_ID: instruction.instruction_id,
        OWNER: instruction.owner,
        CALLER: instruction.caller,
        CALLEES: list(instruction.callees),
        REQUEST: instruction.request,
        METADATA: instruction.metadata,
        STATUS: InstructionStatus.PLACING.value,
        CREATED_AT: iso(instruction.created_at),
        STALE_AFTER_SECONDS: instruction.stale_after_seconds,
        IDEMPOTENCY_KEY: instruction.idempotency_key,
        CAMPAIGN_ID: instruction.campaign_id,
        TTL: _expires(instruction.created_at, retention),
        EXPECTED_DIGITS_HASH: instruction.expected_digits_hash,  # issue 19 (verify mode)
        BODY_HASH: instruction.body_hash,  # issue 15: with a key, what a replay checks
        PLACING_UNTIL: instruction.placing_until,
    }
    if instruction.schedule:
        item[STATUS] = InstructionStatus.SCHEDULED.value
        item[SCHEDULE] = {schedule_key(s.index): schedule_fields(s) for s in instruction.schedule}
        item[TTL] = _expires(latest_moment(instruction.schedule, instruction.created_at), retention)
    return item


# ---------------------------------------------------------------- round 2 (#16): schedules


def schedule_fields(schedule: CalleeSchedule) -> dict[str, Any]:
    """One callee's entry of the `schedule` map (absent values left out)."""
    values = {
        STATUS: schedule.status.value,
        SCHEDULED_FOR: schedule.scheduled_for,
        ATTEMPT: schedule.attempt,
        REASON: schedule.reason.value if schedule.reason else None,
        ENDED_AT: schedule.ended_at,
        CALL_ID: schedule.call_id,
        DETAIL: schedule.detail,
        QUEUED_AT: schedule.queued_at,
        REDIALS: schedule.redials,
    }
    return {k: v for k, v in values.items() if v is not None}


def schedule_key(index: int) -> str:
    """The `schedule` map's key of the callee at ``index`` (0-based) in `destinations`."""
    return str(index)


def is_number_key(key: str) -> bool:
    """Whether a `schedule` map key is an E.164 number (the layout before index keys)."""
    return key.startswith("+")


def schedule_from_fields(
    callee: str | None, index: int, values: Mapping[str, Any]
) -> CalleeSchedule | None:
    """A callee's schedule from its map entry (None when the entry is not one)."""
    status = _enum(ScheduleStatus, values.get(STATUS))
    if status is None:
        return None
    return CalleeSchedule(
        index=index,
        callee=callee,
        status=status,
        scheduled_for=values.get(SCHEDULED_FOR),
        attempt=int(values.get(ATTEMPT) or 1),
        reason=_enum(NotPlacedReason, values.get(REASON)),
        ended_at=values.get(ENDED_AT),
        call_id=values.get(CALL_ID),
        detail=values.get(DETAIL),
        queued_at=values.get(QUEUED_AT),
        redials=values.get(REDIALS),
    )


def schedules_of(item: Mapping[str, Any]) -> tuple[CalleeSchedule, ...]:
    """The callees' schedules of a plain instruction item, in the instruction's callee
    order (none for an instruction placed at once); see schedule_keys."""
    stored = item.get(SCHEDULE)
    if not isinstance(stored, dict):
        return ()
    found = (
        schedule_from_fields(callee, index, stored[key])
        for index, (key, callee) in schedule_keys(item).items()
    )
    return tuple(entry for entry in found if entry is not None)


def schedule_keys(item: Mapping[str, Any]) -> dict[int, tuple[str, str | None]]:
    """Per callee index (ascending), the key of its entry in the item's `schedule` map and
    its number (E.164; None once erased).

    An index key's number is read from `destinations`. An E.164 key (the earlier layout) is
    the number, its index its place in `destinations`; one that is not there (its instruction
    erased before keys were indexes) takes the first index no entry has, in the keys' sorted
    order, and reads as erased. A key that is neither, or whose value is not a map, is left
    out."""
    stored = item.get(SCHEDULE)
    if not isinstance(stored, dict):
        return {}
    callees = list(item.get(CALLEES) or [])
    found: dict[int, tuple[str, str | None]] = {}
    unplaced: list[str] = []
    for key in sorted(k for k, v in stored.items() if isinstance(k, str) and isinstance(v, dict)):
        if is_number_key(key):
            if key in callees:
                found.setdefault(callees.index(key), (key, key))
            else:
                unplaced.append(key)
        elif key.isascii() and key.isdigit() and int(key) < len(callees):  # wins over a number
            number = callees[int(key)]
            found[int(key)] = (key, number if isinstance(number, str) and number else None)
    free = (i for i in range(len(callees) + len(unplaced)) if i not in found)
    for key in unplaced:
        found[next(free)] = (key, None)
    return dict(sorted(found.items()))


def epoch_seconds(moment: datetime) -> int:
    """A moment as `ttl` holds it (and as the conditions compare it)."""
    return int(moment.timestamp())


def key_claim_item(claim: KeyClaim) -> dict[str, Any]:
    """The key claim at its scope's instruction slot, retained until the claim expires.

    No `created-at` (its claim time is `ttl` less the idempotency TTL): with `owner` it would
    put the claim in the `owner-created` index, which lists instructions only — one write
    unit per claim (issue 15) for an entry every listing filters out."""
    return {
        PK: instruction_pk(claim.scope),
        SK: INSTRUCTION_SK,
        RECORD_TYPE: KEY_CLAIM_RECORD,
        INSTRUCTION_ID: claim.instruction_id,
        OWNER: claim.owner,
        IDEMPOTENCY_KEY: claim.idempotency_key,
        BODY_HASH: claim.body_hash,
        TTL: epoch_seconds(claim.expires_at),
    }


def released_claim_fields(claim: KeyClaim) -> dict[str, Any]:
    """A released claim: expired as of its own claim time (conditions treat it as absent)."""
    return {TTL: epoch_seconds(claim.claimed_at)}


def ended_instruction_fields(
    status: InstructionStatus, reason: str, *, timed_out: bool = False
) -> dict[str, Any]:
    """Placing ended without queued calls (`unknown` or `not-placed`), and why (`unknown`:
    `cm-timed-out` when CM did not answer in time)."""
    return {STATUS: status.value, STATUS_REASON: reason, CM_TIMED_OUT: timed_out or None}


def queued_call_fields(
    instruction: NewInstruction, call_id: str, callee: str | None, retention: timedelta
) -> dict[str, Any]:
    """What the placement knows of a call (never its status or result)."""
    return {
        RECORD_TYPE: CALL_RECORD,
        INSTRUCTION_ID: instruction.instruction_id,
        CALL_ID: call_id,
        CALLER: instruction.caller,
        CALLEE: callee or "",
        METADATA: instruction.metadata,
        QUEUED_AT: iso(instruction.created_at),
        CAMPAIGN_ID: instruction.campaign_id,
        TTL: _expires(instruction.created_at, retention),
        DIGITS_MODE: _protected_mode(instruction.request.get(DIGITS_MODE)),  # issue 19
    }


def _protected_mode(mode: Any) -> str | None:
    """The digits mode a call item carries: only a protecting one (plain items unchanged)."""
    return None if mode in (None, "plain") else str(mode)


def pending_fields(instruction: NewInstruction, call_id: str, shards: int) -> dict[str, Any]:
    """A queued call's status and its entry in the sparse pending-calls index."""
    stale = instruction.created_at + timedelta(seconds=instruction.stale_after_seconds)
    return {
        STATUS: CallStatus.QUEUED.value,
        PENDING_SHARD: pending_shard(call_id, shards),
        STALE_AT: int(stale.timestamp()),
    }


def result_text(result: Mapping[str, Any] | None) -> str | None:
    """CM's result object as stored: compact JSON text."""
    if result is None:
        return None
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def _result_of(value: Any) -> dict[str, Any] | None:
    """The stored result: JSON text (current items) or a map (items written before)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def finished_fields(finish: CallFinish) -> dict[str, Any]:
    return {
        STATUS: CallStatus.FINISHED.value,
        OUTCOME: finish.outcome.value,
        DIGITS: finish.digits,
        RESULT: result_text(finish.result),
        FINISHED_AT: finish.finished_at,
        CALLBACK_BODY: finish.callback_body,
        VERIFIED: finish.verified,  # issue 19 (verify mode only)
        HOLD: finish.hold.value if finish.hold else None,  # round 2 (#16): redialled
    }


def correction_fields(finish: CallFinish, correction: Correction) -> dict[str, Any]:
    """A correction of an ended call (`revision` is added by the store's update)."""
    return {**finished_fields(finish), CORRECTS: correction.value}


def held_fields(release_at: datetime, shards: int, call_id: str) -> dict[str, Any]:
    """A held call's mark and its entry on the pending index (settled at `release_at`)."""
    return {
        HOLD: Hold.AWAITING_PLACEMENT.value,
        PENDING_SHARD: pending_shard(call_id, shards),
        STALE_AT: int(release_at.timestamp()),
    }


def placement_recorded_fields(
    call_ids: list[str], replies: list[str] | None = None
) -> dict[str, Any]:
    """The instruction once its placement recorded its calls (one write per placement), and
    (issue 15, with a key) CM's replies as a replay renders them (placement_answers)."""
    return {
        STATUS: InstructionStatus.QUEUED.value,
        CALL_IDS: [c.lower() for c in call_ids],
        REPLIES: replies or None,
    }


def pending_recording_fields(
    instruction: NewInstruction, replies: list[str], shards: int
) -> dict[str, Any]:
    """Issue 15: CM's replies (`placement_answers.encoded_replies`) kept on a `placing`
    instruction whose recording could not be written, and the instruction's own entry on the
    pending-calls index at its calls' stale time: there the expirer applies the recording if
    nothing has by then (the placement-recordings queue failed too, or still retries it)."""
    stale = instruction.created_at + timedelta(seconds=instruction.stale_after_seconds)
    return {
        REPLIES: replies,
        PENDING_SHARD: pending_shard(instruction.instruction_id, shards),
        STALE_AT: int(stale.timestamp()),
    }


def recording_pending(item: Mapping[str, Any]) -> bool:
    """Whether a plain instruction item keeps CM's replies while its recording waits
    (`pending_recording_fields`: `placing`, replies, no call ids yet)."""
    return (
        item.get(STATUS) == InstructionStatus.PLACING.value
        and bool(item.get(REPLIES))
        and CALL_IDS not in item
    )


def is_waiting(item: Mapping[str, Any]) -> bool:
    """Whether a call item (plain values) may still wait for the expirer: queued, or held
    until its placement confirms it, or held `redialled` (until a deadline, REDIALLED_UNTIL;
    or without one: a redial attempt stored before `redials` may name it with its CM answer
    lost, which only its instruction tells, `PendingCalls.held`). Any other call ended (its
    index entry stays)."""
    return item.get(STATUS) == CallStatus.QUEUED.value or item.get(HOLD) in (
        Hold.AWAITING_PLACEMENT.value,
        Hold.REDIALLED.value,
    )


def expired_fields(finished_at: str) -> dict[str, Any]:
    return {
        STATUS: CallStatus.EXPIRED.value,
        OUTCOME: Outcome.EXPIRED.value,
        FINISHED_AT: finished_at,
    }


def unseen_call_fields(
    instruction: StoredInstruction, finish: CallFinish, retention: timedelta
) -> dict[str, Any]:
    """A call whose callback arrived before the placement recorded it: complete and ended."""
    return {
        RECORD_TYPE: CALL_RECORD,
        INSTRUCTION_ID: instruction.instruction_id,
        CALL_ID: finish.call_id,
        CALLER: instruction.caller,
        CALLEE: finish.callee,
        METADATA: instruction.metadata,
        QUEUED_AT: instruction.created_at,
        CAMPAIGN_ID: instruction.campaign_id,
        TTL: _expires(datetime.fromisoformat(instruction.created_at), retention),
        DIGITS_MODE: _protected_mode(instruction.digits_mode),  # issue 19
        **finished_fields(finish),
    }


# ---------------------------------------------------------------- erasure (issue 19)

#: What erasing removes from the instruction item: the caller, the keyed hash of the expected
#: digits, and the personal keys of its `request` map (numbers and prompts).
ERASED_REQUEST_KEYS = ("callee", "callees", "caller", "prompt", "valid-prompt", "invalid-prompt")
ERASED_INSTRUCTION_ATTRIBUTES = (CALLER, EXPECTED_DIGITS_HASH)
#: What erasing removes from a call item.
ERASED_CALL_ATTRIBUTES = (CALLER, CALLEE, DIGITS, CALLBACK_BODY)


def erased_callees(count: int) -> list[None]:
    """The instruction's callees once erased: as many nulls (their order and count stay)."""
    return [None] * count


# ---------------------------------------------------------------- items → records


def _enum[E: StrEnum](kind: type[E], value: Any) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None


def instruction_from_item(item: Mapping[str, Any]) -> StoredInstruction:
    """The instruction of a plain (deserialised) instruction item."""
    # imported here, as in call_from_item: a placement writes items but never reads one back
    # (place-call's cold start does not load the stored records)
    from dtmf_gateway.domain.stored import StoredInstruction

    request = item.get(REQUEST) or {}
    return StoredInstruction(
        instruction_id=item[INSTRUCTION_ID],
        owner=item.get(OWNER, ""),
        status=InstructionStatus(item[STATUS]),
        caller=item.get(CALLER),  # absent once erased (issue 19)
        callees=tuple(item.get(CALLEES, [])),
        metadata=item.get(METADATA, {}),
        created_at=item[CREATED_AT],
        status_reason=item.get(STATUS_REASON) or None,
        min_digits=request.get("min-digits"),
        max_digits=request.get("max-digits"),
        regex=request.get("regex"),
        call_ids=tuple(item[CALL_IDS]) if CALL_IDS in item else None,
        digits_mode=str(request.get(DIGITS_MODE) or "plain"),  # issue 19
        expected_digits_hash=item.get(EXPECTED_DIGITS_HASH),
        erased_at=item.get(ERASED_AT),
        idempotency_key=item.get(IDEMPOTENCY_KEY),
        schedule=schedules_of(item),
        request=request,
        campaign_id=item.get(CAMPAIGN_ID) or None,
        awaiting_recording=awaiting_recording(item),
        cancelled_at=item.get(CANCELLED_AT) or None,
    )


def awaiting_recording(item: Mapping[str, Any]) -> tuple[CmQueuedCall, ...]:
    """The queued calls kept on a plain instruction item whose recording waits (issue 15:
    `recording_pending`), callees as `destinations` holds them now; empty otherwise."""
    if not recording_pending(item):
        return ()
    # imported here: only an instruction whose recording failed needs the replies decoded
    from dtmf_gateway.adapters.dynamodb.placement_answers import decoded_replies

    replies = decoded_replies(list(item.get(CALLEES) or []), item[REPLIES])
    return tuple(r for r in replies if r.success and r.call_id)


def noted_instruction(item: Mapping[str, Any]) -> NewInstruction:
    """The instruction a placement reserved, from its plain item, as `record_queued_calls`
    of its noted recording takes it (issue 15: the expirer applies it). Without `body-hash`
    (the noted `replies` stay as they are) and `placing-until`; an erased item's numbers are
    empty (the recording is scrubbed again after it is written)."""
    return NewInstruction(
        instruction_id=item[INSTRUCTION_ID],
        owner=item.get(OWNER, ""),
        caller=item.get(CALLER) or "",
        callees=tuple(c or "" for c in item.get(CALLEES) or ()),
        request=item.get(REQUEST) or {},
        metadata=item.get(METADATA) or {},
        created_at=datetime.fromisoformat(item[CREATED_AT]),
        stale_after_seconds=int(item[STALE_AFTER_SECONDS]),
        idempotency_key=item.get(IDEMPOTENCY_KEY),
        expected_digits_hash=item.get(EXPECTED_DIGITS_HASH),
        campaign_id=item.get(CAMPAIGN_ID) or None,
    )


def is_key_claim(item: Mapping[str, Any]) -> bool:
    """Whether a plain item at an instruction slot is a key claim, not an instruction."""
    return item.get(RECORD_TYPE) == KEY_CLAIM_RECORD


def is_instruction_item(item: Mapping[str, Any]) -> bool:
    """Whether a plain item is an instruction (not a call, a key claim or a counter)."""
    return item.get(SK) == INSTRUCTION_SK and not is_key_claim(item)


def held_call_ids(item: Mapping[str, Any]) -> set[str]:
    """The held call ids named on a plain instruction item."""
    return set(item.get(HELD_CALL_IDS) or ())


def is_call_item(item: Mapping[str, Any]) -> bool:
    return item.get(RECORD_TYPE) == CALL_RECORD


def call_from_item(item: Mapping[str, Any]) -> StoredCall:
    """The call of a plain (deserialised) call item, read tolerantly (see StoredCall)."""
    from dtmf_gateway.domain.stored import StoredCall

    return StoredCall(
        instruction_id=str(item.get(INSTRUCTION_ID) or ""),
        call_id=str(item.get(CALL_ID) or ""),
        caller=item.get(CALLER),
        callee=item.get(CALLEE),
        status=_enum(CallStatus, item.get(STATUS)),
        outcome=_enum(Outcome, item.get(OUTCOME)),
        digits=item.get(DIGITS),
        result=_result_of(item.get(RESULT)),
        metadata=item.get(METADATA) or {},
        queued_at=item.get(QUEUED_AT),
        finished_at=item.get(FINISHED_AT),
        hold=_enum(Hold, item.get(HOLD)),
        revision=int(item.get(REVISION) or 0),
        corrects=_enum(Correction, item.get(CORRECTS)),
        callback_body=item.get(CALLBACK_BODY),
        retained_until=_moment(item.get(TTL)),
        verified=item[VERIFIED] if isinstance(item.get(VERIFIED), bool) else None,  # issue 19
        digits_mode=item.get(DIGITS_MODE),
        erased_at=item.get(ERASED_AT),
        attempt=item[ATTEMPT] if isinstance(item.get(ATTEMPT), int) else None,
        campaign_id=item.get(CAMPAIGN_ID) or None,
    )


def _moment(epoch_seconds: Any) -> datetime | None:
    """The retention deadline of an item's `ttl` (None when absent or not a number)."""
    if isinstance(epoch_seconds, bool) or not isinstance(epoch_seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(epoch_seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# ---------------------------------------------------------------- update expressions


def assignments(fields: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """`#f0 = :f0, #f1 = :f1, …` for the fields that have a value (None = leave absent):
    the clause, its attribute names and its (plain) values."""
    present = [(k, v) for k, v in fields.items() if v is not None]
    names = {f"#f{i}": k for i, (k, _) in enumerate(present)}
    values = {f":f{i}": v for i, (_, v) in enumerate(present)}
    clause = ", ".join(f"#f{i} = :f{i}" for i in range(len(present)))
    return clause, names, values


# ---------------------------------------------------------------- round 2: signed webhooks
# The instruction's `webhook-url` is kept, like every request field, in its `request` map.
WEBHOOK_URL_PROJECTION = "#request.#webhook, #ttl, #erased"
WEBHOOK_URL_NAMES = {
    "#request": REQUEST,
    "#webhook": "webhook-url",
    "#ttl": TTL,
    "#erased": ERASED_AT,  # issue 19: a delivery after the erasure posts no personal data
}


def past_retention(item: Mapping[str, Any], now: float) -> bool:
    """Whether a plain item is past its retention: its `ttl` (epoch seconds, a number) at or
    before `now` (epoch seconds). DynamoDB deletes such items only eventually (up to days
    later, "Working with Time to Live", DynamoDB Developer Guide), so every read filters them;
    an item without a `ttl` is kept."""
    expires = item.get(TTL)
    return isinstance(expires, (int, float)) and expires <= now


def webhook_url_of(item: Mapping[str, Any], now: float) -> str | None:
    """The `webhook-url` of a plain instruction item read with WEBHOOK_URL_PROJECTION; None
    when it has none or is past its retention (`ttl` at or before `now`, epoch seconds)."""
    if past_retention(item, now):
        return None
    url = (item.get(REQUEST) or {}).get("webhook-url")
    return url if isinstance(url, str) and url else None
