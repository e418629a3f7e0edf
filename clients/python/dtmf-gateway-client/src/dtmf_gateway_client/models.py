"""Response bodies of the API (kebab-case JSON names, as in the gateway's OpenAPI document).
Unknown keys are kept (`model_extra`): the API may add keys without a new version."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Instruction statuses after which nothing more happens to it.
FINAL_STATUSES = frozenset({"finished", "not-placed", "cancelled"})
#: Call statuses after which that callee's result will not change.
FINAL_CALL_STATUSES = frozenset({"finished", "expired", "cancelled", "not-placed"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class QueuedCall(_Model):
    """One callee of a placement answer (`202`)."""

    call_id: str | None = Field(None, alias="call-id")
    callee: str | None = None
    status: str
    scheduled_for: str | None = Field(None, alias="scheduled-for")
    error: str | None = None


class Placement(_Model):
    """`202` of `POST /v1/dtmf-calls` (operation `placeDtmfCall`). `replayed` is True when
    the gateway answered a retry from its idempotency record (`Idempotent-Replayed`)."""

    instruction_id: str = Field(alias="instruction-id")
    status: str
    calls: list[QueuedCall]
    replayed: bool = False


class CmResult(_Model):
    code: int
    description: str | None = None


class Attempt(_Model):
    call_id: str | None = Field(None, alias="call-id")
    outcome: str | None = None
    result: CmResult | None = None
    queued_at: str | None = Field(None, alias="queued-at")
    finished_at: str | None = Field(None, alias="finished-at")


class Call(_Model):
    """One callee of an instruction (`calls[]`)."""

    call_id: str | None = Field(None, alias="call-id")
    callee: str | None = None
    status: str
    outcome: str | None = None
    digits: str | None = None
    result: CmResult | None = None
    queued_at: str | None = Field(None, alias="queued-at")
    finished_at: str | None = Field(None, alias="finished-at")
    scheduled_for: str | None = Field(None, alias="scheduled-for")
    attempts: list[Attempt] | None = None
    verified: bool | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_CALL_STATUSES


class Instruction(_Model):
    """An instruction view: `GET /v1/dtmf-calls/{instruction-id}` (operation `getDtmfCall`),
    `DELETE` (cancel) and each item of the list."""

    instruction_id: str = Field(alias="instruction-id")
    status: str
    caller: str | None = None
    callees: list[str | None] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: str | None = Field(None, alias="created-at")
    calls: list[Call] = Field(default_factory=list)
    status_reason: str | None = Field(None, alias="status-reason")

    @property
    def is_final(self) -> bool:
        """True when every callee's result is final (or the instruction itself is)."""
        if self.status in FINAL_STATUSES:
            return True
        return self.status not in {"placing", "unknown"} and all(c.is_final for c in self.calls)


class InstructionPage(_Model):
    """`GET /v1/dtmf-calls`: the caller's instructions, newest first, and the next page's
    token (None on the last page)."""

    items: list[Instruction]
    next_token: str | None = Field(None, alias="next-token")


def dump_instruction(instruction: dict[str, Any]) -> dict[str, Any]:
    """`instruction` without None values (the API treats null as absent anyway)."""
    return {k: v for k, v in instruction.items() if v is not None}
