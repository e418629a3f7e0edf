"""In-memory stand-ins for everything a handler talks to, so the warm benchmark measures the
product's own CPU per request and no I/O.

Each fake implements the same small interface as the adapter it replaces:

* :class:`FakeCm` - ``CmApi`` (domain/ports.py) instead of ``HttpCmClient``;
* :class:`InMemoryInstructionStore` - ``InstructionStore`` (ports.py);
* :class:`InMemoryCallbackStore` - ``CallbackStore`` (domain/callbacks.py), sharing the items
  of the instruction store, so a callback finds what a placement wrote;
* :class:`FakeCallbackUrls` - ``CallbackUrls`` (ports.py), signing with the real HMAC;
* :class:`FakeSecrets` - what handlers use of ``ManagedSecrets`` (product token, signing keys);
* :class:`InMemoryPublisher` - ``ResultPublisher`` (domain/publishing.py), building each entry
  as the EventBridge adapter does;
* :class:`InMemoryPersistence` - a Powertools idempotency ``BasePersistenceLayer`` in a dict.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
import zlib
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

from dtmf_gateway.domain.calls import (
    CallFinish,
    CallStatus,
    CmQueuedCall,
    FinishStatus,
    InstructionStatus,
    KnownInstruction,
    NewInstruction,
    iso,
)
from dtmf_gateway.domain.events import DETAIL_TYPE, EVENT_SOURCE, DtmfResultDetail
from dtmf_gateway.domain.ports import InstructionAlreadyExists
from dtmf_gateway.domain.signing import SigningKeys, callback_token

PRODUCT_TOKEN = "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21"
SIGNING_KEYS = SigningKeys(current=b"k" * 48, previous=b"p" * 48)
CALLBACK_BASE_URL = "https://dtmf.example.com"

Key = tuple[str, str]


class FakeCm:
    """CM queues every callee (what its synchronous `call-queued` reply says)."""

    def __init__(self) -> None:
        self.requests = 0

    def place(self, payload: Mapping[str, object]) -> list[CmQueuedCall]:
        self.requests += 1
        callees = payload.get("callees") or [payload["callee"]]
        assert isinstance(callees, list)  # noqa: S101 - the payload's own shape
        return [
            CmQueuedCall(call_id=str(uuid.uuid4()), callee=str(c), success=True) for c in callees
        ]


class Table:
    """The items of the calls table, keyed like DynamoDB (pk, sk), as plain dicts."""

    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {}
        self.writes = 0
        self.reads = 0


class InMemoryInstructionStore:
    """Keeps the same attributes as the DynamoDB adapter writes (so stream images match)."""

    def __init__(
        self, table: Table, *, retention: timedelta = timedelta(days=30), pending_shards: int = 8
    ) -> None:
        self._table = table
        self._retention = retention
        self._shards = pending_shards

    def reserve(self, instruction: NewInstruction) -> None:
        key = (f"instruction#{instruction.instruction_id}", "instruction")
        self._table.writes += 1
        existing = self._table.items.get(key)
        if existing is not None and existing["status"] != InstructionStatus.NOT_PLACED:
            raise InstructionAlreadyExists(instruction.instruction_id)
        self._table.items[key] = {
            "pk": key[0],
            "sk": key[1],
            "record-type": "instruction",
            "instruction-id": instruction.instruction_id,
            "owner": instruction.owner,
            "caller": instruction.caller,
            "destinations": list(instruction.destinations),
            "request": instruction.request,
            "metadata": instruction.metadata,
            "status": InstructionStatus.PLACING.value,
            "created-at": iso(instruction.created_at),
            "max-call-seconds": instruction.max_call_seconds,
            "ttl": int((instruction.created_at + self._retention).timestamp()),
        }

    def mark(self, instruction_id: str, status: InstructionStatus, reason: str) -> None:
        self._table.writes += 1
        item = self._table.items[(f"instruction#{instruction_id}", "instruction")]
        item["status"] = status.value
        item["status-reason"] = reason

    def record_queued_calls(
        self, instruction: NewInstruction, calls: Sequence[CmQueuedCall]
    ) -> None:
        created = instruction.created_at
        stale_at = int((created + timedelta(seconds=instruction.max_call_seconds)).timestamp())
        for call in calls:
            self._table.writes += 1
            assert call.call_id is not None  # noqa: S101 - only queued calls come here
            pk = f"instruction#{instruction.instruction_id}"
            item = self._table.items.setdefault((pk, f"call#{call.call_id}"), {})
            described: dict[str, Any] = {
                "pk": pk,
                "sk": f"call#{call.call_id}",
                "record-type": "call",
                "instruction-id": instruction.instruction_id,
                "call-id": call.call_id,
                "caller": instruction.caller,
                "callee": call.callee or "",
                "metadata": instruction.metadata,
                "queued-at": iso(created),
                "ttl": int((created + self._retention).timestamp()),
            }
            if "status" not in item:
                described["status"] = CallStatus.QUEUED.value
                described["pending-shard"] = str(zlib.crc32(call.call_id.encode()) % self._shards)
                described["stale-at"] = stale_at
            item.update(described)


class InMemoryCallbackStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def load_instruction(self, instruction_id: str) -> KnownInstruction | None:
        self._table.reads += 1
        item = self._table.items.get((f"instruction#{instruction_id}", "instruction"))
        if item is None:
            return None
        request = item.get("request", {})
        return KnownInstruction(
            instruction_id=instruction_id,
            status=item["status"],
            caller=item["caller"],
            destinations=tuple(item.get("destinations", [])),
            metadata=item.get("metadata", {}),
            created_at=item["created-at"],
            min_digits=request.get("min-digits"),
            max_digits=request.get("max-digits"),
            regex=request.get("regex"),
        )

    def _finished(self, finish: CallFinish) -> dict[str, Any]:
        values = {
            "status": CallStatus.FINISHED.value,
            "outcome": finish.outcome.value,
            "digits": finish.digits,
            "result": finish.result,
            "finished-at": finish.finished_at,
        }
        return {k: v for k, v in values.items() if v is not None}

    def finish_queued_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        self._table.writes += 1
        item = self._table.items.get(
            (f"instruction#{instruction.instruction_id}", f"call#{finish.call_id}")
        )
        if item is None:
            return FinishStatus.NOT_FOUND
        if item.get("status") != CallStatus.QUEUED:
            return FinishStatus.DUPLICATE
        item.update(self._finished(finish))
        item.pop("pending-shard", None)
        item.pop("stale-at", None)
        return FinishStatus.RECORDED

    def finish_unseen_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        self._table.writes += 1
        key = (f"instruction#{instruction.instruction_id}", f"call#{finish.call_id}")
        if key in self._table.items:
            return FinishStatus.NOT_FOUND
        self._table.items[key] = {
            "pk": key[0],
            "sk": key[1],
            "record-type": "call",
            "instruction-id": instruction.instruction_id,
            "call-id": finish.call_id,
            "caller": instruction.caller,
            "callee": finish.callee,
            "metadata": instruction.metadata,
            "queued-at": instruction.created_at,
            **self._finished(finish),
        }
        return FinishStatus.RECORDED


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
    """Builds every PutEvents entry as the EventBridge adapter does, keeps it, never fails."""

    def __init__(self, bus_name: str = "dtmf-bench-results") -> None:
        self._bus = bus_name
        self.entries: list[dict[str, Any]] = []

    def publish(self, details: Sequence[DtmfResultDetail]) -> list[int]:
        for detail in details:
            self.entries.append(
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": detail.to_json(),
                    "EventBusName": self._bus,
                    "Resources": [detail.dedupe_key()],
                }
            )
        if len(self.entries) > 1000:
            del self.entries[:-10]
        return []


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
