"""In-memory stand-ins for every adapter, behind the same small interfaces
(domain/ports.py), for the domain unit tests and `make bench`.

* :class:`FakeCm` — ``CmApi``: queues every callee, or raises / refuses as scripted;
* :class:`Table` — the calls table's items, keyed like DynamoDB, with read/write counters;
* :class:`InMemoryInstructionStore`, :class:`InMemoryCallbackStore` — ``InstructionStore`` and
  ``CallbackStore`` on one :class:`Table`, with DynamoDB's conditional semantics and the very
  item shapes the DynamoDB adapter writes (its pure builders are reused);
* :class:`FakeSecrets`, :class:`FakeCallbackUrls` — secrets already fetched, real HMAC tokens;
* :class:`InMemoryPublisher` — ``ResultPublisher`` keeping the PutEvents entries it would send;
* :class:`InMemoryDeadLetters` — ``DeadLetters`` keeping what the publisher set aside;
* :class:`InMemoryPlacementRecordings` — ``PlacementRecordings`` keeping deferred recordings;
* :class:`InMemoryPersistence` — a Powertools idempotency persistence layer in a dict.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from dtmf_gateway.adapters.cm_client import to_cm_payload
from dtmf_gateway.adapters.dynamodb.calls_table import (
    BODY_HASH,
    CALL_IDS,
    CALLEE,
    ERASED_AT,
    HELD_CALL_IDS,
    HOLD,
    INSTRUCTION_SK,
    PLACING_UNTIL,
    REVISION,
    STATUS,
    TTL,
    call_sk,
    correction_fields,
    ended_instruction_fields,
    epoch_seconds,
    finished_fields,
    held_call_ids,
    held_fields,
    instruction_from_item,
    instruction_item,
    instruction_pk,
    is_key_claim,
    key_claim_item,
    pending_fields,
    pending_recording_fields,
    placement_recorded_fields,
    queued_call_fields,
    released_claim_fields,
    unseen_call_fields,
)
from dtmf_gateway.adapters.dynamodb.placement_answers import (
    encoded_replies,
    erased_replies,
    placed_before,
)
from dtmf_gateway.adapters.eventbridge import result_entry
from dtmf_gateway.domain.callees import is_other_callee
from dtmf_gateway.domain.calls import (
    CallStatus,
    CmQueuedCall,
    Correction,
    Hold,
    InstructionStatus,
    KeyClaim,
    NewInstruction,
)
from dtmf_gateway.domain.errors import CmError, IdempotencyKeyReused, InstructionAlreadyExists
from dtmf_gateway.domain.events import DtmfResultDetail
from dtmf_gateway.domain.not_placed import NotPlacedDetail
from dtmf_gateway.domain.placement_replay import PlacedBefore
from dtmf_gateway.domain.ports import PublishFailure, ScheduledDial, SetAside
from dtmf_gateway.domain.request import DtmfCallRequest
from dtmf_gateway.domain.signing import SigningKeys, callback_token
from dtmf_gateway.domain.stored import CallFinish, FinishStatus, StoredInstruction

PRODUCT_TOKEN = "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21"
SIGNING_KEYS = SigningKeys(current=b"k" * 48, previous=b"p" * 48)
CALLBACK_BASE_URL = "https://dtmf.example.com"

Key = tuple[str, str]


class FakeCm:
    """CM's synchronous reply: every callee queued with a fresh call id, except those in
    `refuse` (`success: false`); or the scripted `error` raised."""

    def __init__(
        self, *, error: CmError | None = None, refuse: frozenset[str] = frozenset()
    ) -> None:
        self.error = error
        self.refuse = refuse
        self.requests = 0
        self.last_payload: Mapping[str, object] | None = None
        self.last_time_budget: float | None = None

    def place(
        self,
        request: DtmfCallRequest,
        *,
        instruction_id: str,
        callback_url: str,
        time_budget_seconds: float | None = None,
    ) -> list[CmQueuedCall]:
        self.requests += 1
        self.last_time_budget = time_budget_seconds
        self.last_payload = to_cm_payload(
            request, instruction_id=instruction_id, callback_url=callback_url
        )
        if self.error is not None:
            raise self.error
        callees = request.all_callees()
        return [
            CmQueuedCall(call_id=None, callee=str(c), success=False, error="not reachable")
            if c in self.refuse
            else CmQueuedCall(call_id=str(uuid.uuid4()), callee=str(c), success=True)
            for c in callees
        ]


class Table:
    """The items of the calls table, keyed like DynamoDB (pk, sk), as plain dicts."""

    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {}
        self.writes = 0
        self.reads = 0

    def call(self, instruction_id: str, call_id: str) -> dict[str, Any] | None:
        return self.items.get((instruction_pk(instruction_id), call_sk(call_id)))


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class InMemoryInstructionStore:
    def __init__(
        self,
        table: Table,
        *,
        retention: timedelta = timedelta(days=30),
        pending_shards: int = 8,
        fail_recording: Exception | None = None,
        note_survives: bool = False,
    ) -> None:
        self._table = table
        self._retention = retention
        self._shards = pending_shards
        self.fail_recording = fail_recording
        # an outage fails the note too (note_pending_recording); True: only the recording
        self.note_survives = note_survives

    def claim_key(self, claim: KeyClaim) -> None:
        self._table.writes += 1
        key = (instruction_pk(claim.scope), INSTRUCTION_SK)
        existing = self._table.items.get(key)
        if existing is not None and not (
            is_key_claim(existing)
            and (
                existing[BODY_HASH] == claim.body_hash
                or existing[TTL] <= epoch_seconds(claim.claimed_at)
            )
        ):
            raise IdempotencyKeyReused(claim.scope)
        self._table.items[key] = _present(key_claim_item(claim))

    def release_key(self, claim: KeyClaim) -> None:
        self._table.writes += 1
        existing = self._table.items.get((instruction_pk(claim.scope), INSTRUCTION_SK))
        if existing and is_key_claim(existing) and existing[BODY_HASH] == claim.body_hash:
            existing.update(released_claim_fields(claim))

    def reserve(self, instruction: NewInstruction) -> None:
        self._table.writes += 1
        key = (instruction_pk(instruction.instruction_id), INSTRUCTION_SK)
        existing = self._table.items.get(key)
        if existing is not None and is_key_claim(existing):
            if existing[TTL] > epoch_seconds(instruction.created_at):
                raise IdempotencyKeyReused(instruction.instruction_id)
        elif existing is not None and existing[STATUS] != InstructionStatus.NOT_PLACED:
            found = placed_before(existing)
            raise InstructionAlreadyExists(instruction.instruction_id, found)
        self._table.items[key] = _present(instruction_item(instruction, self._retention))

    def holder_of(self, instruction_id: str) -> PlacedBefore | None:
        self._table.reads += 1
        existing = self._table.items.get((instruction_pk(instruction_id), INSTRUCTION_SK))
        if existing is None or is_key_claim(existing):
            return None
        if existing[STATUS] == InstructionStatus.NOT_PLACED:  # as `reserve` takes it
            return None
        return placed_before(existing)

    def mark(
        self,
        instruction_id: str,
        status: InstructionStatus,
        reason: str,
        *,
        timed_out: bool = False,
    ) -> None:
        self._table.writes += 1
        item = self._table.items[(instruction_pk(instruction_id), INSTRUCTION_SK)]
        item.update(_present(ended_instruction_fields(status, reason, timed_out=timed_out)))
        item.pop(PLACING_UNTIL, None)

    def answered(self, instruction_id: str) -> None:
        self._table.writes += 1
        self._table.items[(instruction_pk(instruction_id), INSTRUCTION_SK)].pop(PLACING_UNTIL, None)

    def record_queued_calls(
        self,
        instruction: NewInstruction,
        calls: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall] = (),
    ) -> None:
        if self.fail_recording is not None:
            raise self.fail_recording
        for call in calls:
            self._table.writes += 1
            assert call.call_id is not None
            key = (instruction_pk(instruction.instruction_id), call_sk(call.call_id))
            item = self._table.items.setdefault(key, {"pk": key[0], "sk": key[1]})
            if STATUS not in item:  # the callback has not won the race
                item.update(pending_fields(instruction, call.call_id, self._shards))
            item.update(queued_call_fields(instruction, call.call_id, call.callee, self._retention))
        self._table.writes += 1
        inst = self._table.items[(instruction_pk(instruction.instruction_id), INSTRUCTION_SK)]
        kept = encoded_replies(instruction.callees, replies) if instruction.body_hash else None
        inst.update(_present(placement_recorded_fields([c.call_id or "" for c in calls], kept)))
        inst.pop(PLACING_UNTIL, None)
        recorded = set(inst[CALL_IDS])
        for held in held_call_ids(inst):
            settle_held(self._table, instruction.instruction_id, held, release=held in recorded)

    def note_pending_recording(
        self, instruction: NewInstruction, replies: Sequence[CmQueuedCall]
    ) -> None:
        if self.fail_recording is not None and not self.note_survives:
            raise self.fail_recording
        self._table.writes += 1
        inst = self._table.items.get((instruction_pk(instruction.instruction_id), INSTRUCTION_SK))
        if inst is None or CALL_IDS in inst or inst.get(STATUS) != InstructionStatus.PLACING:
            return
        encoded = encoded_replies(instruction.callees, replies)
        if ERASED_AT in inst:  # as the erasure leaves them
            encoded = erased_replies(encoded)
        inst.update(pending_recording_fields(instruction, encoded, self._shards))


def settle_held(table: Table, instruction_id: str, call_id: str, *, release: bool) -> bool:
    """The adapter's settle_held_call on the in-memory table."""
    item = table.call(instruction_id, call_id)
    if item is None or item.get(HOLD) != Hold.AWAITING_PLACEMENT:
        return False
    table.writes += 1
    if release:
        del item[HOLD]
    else:
        item[HOLD] = Hold.SET_ASIDE.value
    return True


class InMemoryCallbackStore:
    def __init__(
        self, table: Table, *, retention: timedelta = timedelta(days=30), pending_shards: int = 8
    ) -> None:
        self._table = table
        self._retention = retention
        self._shards = pending_shards

    def load_instruction(self, instruction_id: str) -> StoredInstruction | None:
        self._table.reads += 1
        item = self._table.items.get((instruction_pk(instruction_id), INSTRUCTION_SK))
        return None if item is None or is_key_claim(item) else instruction_from_item(item)

    def finish_queued_call(
        self,
        instruction: StoredInstruction,
        finish: CallFinish,
        named: frozenset[str] | None = None,
    ) -> FinishStatus:
        self._table.writes += 1
        item = self._table.call(instruction.instruction_id, finish.call_id)
        if item is None:
            return FinishStatus.NOT_FOUND
        if is_other_callee(item.get(CALLEE), named):
            return FinishStatus.OTHER_CALLEE
        if item.get(STATUS) == CallStatus.EXPIRED and HOLD not in item:
            item.update(_present(correction_fields(finish, Correction.EXPIRED)))
            item[REVISION] = item.get(REVISION, 0) + 1
            return FinishStatus.CORRECTED
        if item.get(STATUS) != CallStatus.QUEUED:
            return FinishStatus.DUPLICATE
        item.update(_present(finished_fields(finish)))
        return FinishStatus.RECORDED

    def finish_unseen_call(
        self, instruction: StoredInstruction, finish: CallFinish
    ) -> FinishStatus:
        self._table.writes += 1
        key = (instruction_pk(instruction.instruction_id), call_sk(finish.call_id))
        if key in self._table.items:
            return FinishStatus.ALREADY_STORED  # the placement wrote it meanwhile
        fields = unseen_call_fields(instruction, finish, self._retention)
        self._table.items[key] = {"pk": key[0], "sk": key[1], **_present(fields)}
        return FinishStatus.RECORDED

    def hold_call(
        self, instruction: StoredInstruction, finish: CallFinish, release_at: dt.datetime
    ) -> FinishStatus:
        self._table.writes += 1
        inst = self._table.items.get((instruction_pk(instruction.instruction_id), INSTRUCTION_SK))
        if inst is None or CALL_IDS in inst:
            return FinishStatus.PLACEMENT_RECORDED
        inst.setdefault(HELD_CALL_IDS, set()).add(finish.call_id)
        key = (instruction_pk(instruction.instruction_id), call_sk(finish.call_id))
        if key in self._table.items:
            return FinishStatus.ALREADY_STORED
        fields = {
            **unseen_call_fields(instruction, finish, self._retention),
            **held_fields(release_at, self._shards, finish.call_id),
        }
        self._table.items[key] = {"pk": key[0], "sk": key[1], **_present(fields)}
        return FinishStatus.HELD


class FakeSecrets:
    """The two secrets, already fetched (as they are in a warm environment)."""

    def product_token(self) -> str:
        return PRODUCT_TOKEN

    def signing_keys(self) -> SigningKeys:
        return SIGNING_KEYS


class FakeCallbackUrls:
    """``SignedCallbackUrls`` with the signing key and base URL already at hand."""

    def __init__(self, secrets: FakeSecrets | None = None) -> None:
        self._secrets = secrets or FakeSecrets()

    def for_instruction(self, instruction_id: str) -> str:
        token = callback_token(self._secrets.signing_keys(), instruction_id)
        return f"{CALLBACK_BASE_URL}/v1/callbacks/cm/{quote(instruction_id, safe='')}?token={token}"


class InMemoryPublisher:
    """Keeps the PutEvents entries it would send; the indexes in `fail` are reported failed
    (retryable), those in `refuse` refused for good."""

    def __init__(
        self,
        bus_name: str = "dtmf-results",
        *,
        fail: frozenset[int] = frozenset(),
        refuse: frozenset[int] = frozenset(),
    ):
        self._bus = bus_name
        self.fail = fail
        self.refuse = refuse
        self.entries: list[dict[str, Any]] = []

    def publish(
        self, details: Sequence[DtmfResultDetail | NotPlacedDetail]
    ) -> list[PublishFailure]:
        failures = []
        for index, detail in enumerate(details):
            if index in self.fail | self.refuse:
                failures.append(PublishFailure(index, "scripted", index in self.refuse))
            else:
                self.entries.append(dict(result_entry(detail, self._bus)))
        if len(self.entries) > 1000:  # the benchmark publishes thousands
            del self.entries[:-10]
        return failures


class InMemoryDeadLetters:
    """``DeadLetters`` keeping the letters; fails (keeps nothing) while `unavailable`."""

    def __init__(self) -> None:
        self.letters: list[SetAside] = []
        self.unavailable = False

    def set_aside(self, letters: Sequence[SetAside]) -> list[int]:
        if self.unavailable:
            return list(range(len(letters)))
        self.letters.extend(letters)
        return []


class InMemoryPlacementRecordings:
    """``PlacementRecordings`` keeping each deferred recording (the arguments of
    `record_queued_calls`); raises `unavailable` (keeps nothing) while it is set."""

    def __init__(self, unavailable: Exception | None = None) -> None:
        self.deferred: list[tuple[NewInstruction, list[CmQueuedCall], list[CmQueuedCall]]] = []
        self.unavailable = unavailable

    def defer(
        self,
        instruction: NewInstruction,
        queued: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall],
    ) -> None:
        if self.unavailable is not None:
            raise self.unavailable
        self.deferred.append((instruction, list(queued), list(replies)))


class InMemoryPersistence(BasePersistenceLayer):
    """Powertools idempotency records in a dict, with DynamoDB's conditional-put semantics."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self.calls = itertools.count()

    def _get_record(self, idempotency_key: str) -> DataRecord:
        next(self.calls)
        record = self.records.get(idempotency_key)
        if record is None:
            raise IdempotencyItemNotFoundError
        return copy.copy(record)

    def _put_record(self, data_record: DataRecord) -> None:
        next(self.calls)
        existing = self.records.get(data_record.idempotency_key)
        if existing is not None and not existing.is_expired:
            in_progress_lapsed = (
                existing.status == STATUS_CONSTANTS["INPROGRESS"]
                and existing.in_progress_expiry_timestamp is not None
                and existing.in_progress_expiry_timestamp
                < int(dt.datetime.now().timestamp() * 1000)
            )
            if not in_progress_lapsed:
                raise IdempotencyItemAlreadyExistsError(old_data_record=copy.copy(existing))
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _update_record(self, data_record: DataRecord) -> None:
        next(self.calls)
        self.records[data_record.idempotency_key] = copy.copy(data_record)

    def _delete_record(self, data_record: DataRecord) -> None:
        next(self.calls)
        self.records.pop(data_record.idempotency_key, None)


class InMemoryCalleeQuota:
    """``CalleeQuota``: calls per callee per clock hour, all-or-nothing like the adapter."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[tuple[str, str], int] = {}

    def acquire(self, callees: Sequence[str], now: dt.datetime) -> list[str]:
        hour = now.strftime("%Y%m%d%H")
        over = [c for c in callees if self.counts.get((c, hour), 0) >= self.limit]
        if not over:
            for callee in callees:
                self.counts[(callee, hour)] = self.counts.get((callee, hour), 0) + 1
        return over


class FakeDialScheduler:
    """`DialScheduler` that keeps the dials (a test fires them by hand); `fail` raises."""

    def __init__(self, *, fail: Exception | None = None) -> None:
        self.dials: list[ScheduledDial] = []
        self.fail = fail

    def schedule(self, dial: ScheduledDial) -> None:
        if self.fail is not None:
            raise self.fail
        if dial not in self.dials:
            self.dials.append(dial)
