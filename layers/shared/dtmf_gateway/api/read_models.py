"""The read routes' response bodies: an instruction as GET, list, cancel and erase answer it,
its calls and each call's attempts (rendered from domain reads by `api.views`).

Apart from `api.models` so that a function that never answers with them (place-call, the
callback) does not load them at its cold start (tests/unit/test_cold_path_imports.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dtmf_gateway.api.models import _LaterKebab
from dtmf_gateway.domain.calls import Outcome
from dtmf_gateway.domain.stored import CmResult


class AttemptView(_LaterKebab):
    """One CM call made for a callee (round 2, #16)."""

    call_id: str = Field(alias="call-id")
    outcome: Outcome | None
    result: CmResult | None
    queued_at: str | None = Field(alias="queued-at")
    finished_at: str | None = Field(alias="finished-at")


class CallView(_LaterKebab):
    call_id: str | None = Field(alias="call-id", description="null while nothing is placed")
    callee: str | None
    status: Literal["queued", "finished", "expired", "scheduled", "cancelled", "not-placed"]
    outcome: Outcome | None
    digits: str | None
    result: CmResult | None
    queued_at: str | None = Field(alias="queued-at")
    finished_at: str | None = Field(alias="finished-at")
    verified: bool | None = Field(
        default=None,
        description="digits-mode verify only: whether the callee typed the expected digits",
    )  # issue 19
    # round 2 (#16)
    scheduled_for: str | None = Field(default=None, alias="scheduled-for")
    attempts: list[AttemptView] = Field(
        default_factory=list, description="one per CM call made for this callee, oldest first"
    )


class InstructionView(_LaterKebab):
    instruction_id: str = Field(alias="instruction-id")
    status: Literal[
        "placing", "queued", "finished", "unknown", "not-placed", "scheduled", "cancelled"
    ]
    caller: str | None = Field(description="E.164; null once the personal data is erased")
    callees: list[str | None] = Field(description="E.164 each; null once erased")
    metadata: dict[str, str]
    created_at: str = Field(alias="created-at")
    calls: list[CallView]
    status_reason: str | None = Field(default=None, alias="status-reason")
    erased_at: str | None = Field(
        default=None,
        alias="erased-at",
        description="present once the instruction's personal data was erased (ISO-8601 UTC)",
    )  # issue 19


class InstructionList(_LaterKebab):
    """Round 2 (#16): `GET /v1/dtmf-calls`."""

    items: list[InstructionView]
    next_token: str | None = Field(
        alias="next-token", description="pass it back as `next-token` for the next page"
    )
