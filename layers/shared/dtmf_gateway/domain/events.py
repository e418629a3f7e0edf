"""The `DTMF Result` event: one per call that ends (finished or expired), versioned.

The pydantic model is the source of truth; `schemas/dtmf-result.v1.json` is generated from it
(`make schema`) and a contract test keeps the two identical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from dtmf_gateway.domain.calls import CmResult, Correction, Outcome

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import StoredCall

EVENT_SOURCE = "dtmf-gateway"
DETAIL_TYPE = "DTMF Result"
SCHEMA_VERSION = "1"

_E164 = r"^\+[1-9][0-9]{6,14}$"
_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


class DtmfResultDetail(BaseModel):
    """`detail` of a `DTMF Result` event (source `dtmf-gateway`)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        frozen=True,
        title="DtmfResult",
    )

    schema_version: Literal["1"] = Field(default="1", alias="schema-version")
    instruction_id: str = Field(alias="instruction-id", min_length=1, max_length=64)
    call_id: str = Field(alias="call-id", min_length=1, max_length=64)
    caller: str = Field(pattern=_E164)
    callee: str = Field(pattern=_E164)
    outcome: Outcome
    digits: str | None = Field(
        description="what the callee typed on the last attempt; null when nothing", max_length=256
    )
    result: CmResult | None = Field(description="CM's result object; null when expired")
    metadata: dict[str, str] = Field(description="as given when the call was placed")
    queued_at: str = Field(alias="queued-at", pattern=_ISO_UTC)
    finished_at: str = Field(alias="finished-at", pattern=_ISO_UTC)
    revision: int = Field(
        default=0,
        ge=0,
        description="0 for a call's first result; each correction of it adds one (the latest "
        "revision is the call's result)",
    )
    corrects: Correction | None = Field(
        default=None,
        description="set on a correction: `expired` (a real callback arrived after the call "
        "was published as expired), `rederived` (the outcome was re-derived from CM's stored "
        "callback body)",
    )

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def detail_from_call(call: StoredCall) -> DtmfResultDetail:
    """The event of an ended call; pydantic's ValidationError when the record lacks what the
    event needs (then the record is malformed: retried, never published half-empty)."""
    return DtmfResultDetail.model_validate(
        {
            "instruction-id": call.instruction_id,
            "call-id": call.call_id,
            "caller": call.caller,
            "callee": call.callee,
            "outcome": call.outcome,
            "digits": call.digits or None,
            "result": call.result,
            "metadata": call.metadata,
            "queued-at": call.queued_at,
            "finished-at": call.finished_at,
            "revision": call.revision,
            "corrects": call.corrects,
        }
    )
