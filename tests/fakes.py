"""In-memory stand-ins for the adapters, behind the same small interfaces (domain/ports.py,
domain/callbacks.py, domain/publishing.py). Used by the domain unit tests and the benchmark."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from dtmf_gateway.domain.events import DtmfResultDetail
from dtmf_gateway.domain.ports import CmError, InstructionAlreadyExists


@dataclass
class ScriptedCm:
    """CmApi: queues every callee with a predictable call id, or raises the scripted error."""

    error: CmError | None = None
    refuse: frozenset[str] = frozenset()
    payloads: list[Mapping[str, object]] = field(default_factory=list)

    def place(self, payload: Mapping[str, object]) -> list[CmQueuedCall]:
        self.payloads.append(payload)
        if self.error is not None:
            raise self.error
        callees = payload.get("callees") or [payload["callee"]]
        assert isinstance(callees, list)
        return [
            CmQueuedCall(
                call_id=None if callee in self.refuse else f"call-{len(self.payloads)}-{n}",
                callee=str(callee),
                success=callee not in self.refuse,
                error="not reachable" if callee in self.refuse else None,
            )
            for n, callee in enumerate(callees)
        ]


@dataclass
class StaticCallbackUrls:
    base: str = "https://dtmf.example.com"

    def for_instruction(self, instruction_id: str) -> str:
        return f"{self.base}/v1/callbacks/cm/{instruction_id}?token=t"


@dataclass
class InMemoryStore:
    """InstructionStore + CallbackStore with the same conditional semantics as DynamoDB's."""

    instructions: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fail_recording: Exception | None = None

    def reserve(self, instruction: NewInstruction) -> None:
        existing = self.instructions.get(instruction.instruction_id)
        if existing and existing["status"] != InstructionStatus.NOT_PLACED:
            raise InstructionAlreadyExists(instruction.instruction_id)
        self.instructions[instruction.instruction_id] = {
            "instruction": instruction,
            "status": InstructionStatus.PLACING.value,
        }

    def mark(self, instruction_id: str, status: InstructionStatus, reason: str) -> None:
        self.instructions[instruction_id].update(status=status.value, reason=reason)

    def record_queued_calls(
        self, instruction: NewInstruction, calls: Sequence[CmQueuedCall]
    ) -> None:
        if self.fail_recording is not None:
            raise self.fail_recording
        for call in calls:
            assert call.call_id is not None
            record = self.calls.setdefault((instruction.instruction_id, call.call_id), {})
            record.update(
                callee=call.callee, caller=instruction.caller, metadata=instruction.metadata
            )
            record["queued-at"] = iso(instruction.created_at)
            record.setdefault("status", CallStatus.QUEUED.value)

    def load_instruction(self, instruction_id: str) -> KnownInstruction | None:
        stored = self.instructions.get(instruction_id)
        if stored is None:
            return None
        instruction: NewInstruction = stored["instruction"]
        request = instruction.request
        return KnownInstruction(
            instruction_id=instruction_id,
            status=stored["status"],
            caller=instruction.caller,
            destinations=instruction.destinations,
            metadata=instruction.metadata,
            created_at=iso(instruction.created_at),
            min_digits=request.get("min-digits"),
            max_digits=request.get("max-digits"),
            regex=request.get("regex"),
        )

    def finish_queued_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        record = self.calls.get((instruction.instruction_id, finish.call_id))
        if record is None:
            return FinishStatus.NOT_FOUND
        if record["status"] != CallStatus.QUEUED:
            return FinishStatus.DUPLICATE
        record.update(_finished(finish))
        return FinishStatus.RECORDED

    def finish_unseen_call(self, instruction: KnownInstruction, finish: CallFinish) -> FinishStatus:
        key = (instruction.instruction_id, finish.call_id)
        if key in self.calls:
            return FinishStatus.NOT_FOUND
        self.calls[key] = {
            "callee": finish.callee,
            "caller": instruction.caller,
            "metadata": instruction.metadata,
            "queued-at": instruction.created_at,
            **_finished(finish),
        }
        return FinishStatus.RECORDED


def _finished(finish: CallFinish) -> dict[str, Any]:
    return {
        "status": CallStatus.FINISHED.value,
        "outcome": finish.outcome.value,
        "digits": finish.digits,
        "result": finish.result,
        "finished-at": finish.finished_at,
    }


@dataclass
class CollectingPublisher:
    """ResultPublisher that keeps what it was given; indexes in `fail` are reported failed."""

    fail: set[int] = field(default_factory=set)
    published: list[DtmfResultDetail] = field(default_factory=list)

    def publish(self, details: Sequence[DtmfResultDetail]) -> list[int]:
        self.published.extend(d for i, d in enumerate(details) if i not in self.fail)
        return sorted(i for i in self.fail if i < len(details))
