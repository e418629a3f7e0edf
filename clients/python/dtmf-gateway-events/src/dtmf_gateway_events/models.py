"""The `detail` of each event dtmf-gateway publishes on its bus (source `dtmf-gateway`), and the
body of its webhooks, as pydantic v2 models.

Schema version "1" (the gateway's README, "Result events"; JSON Schemas in its `schemas/`).
Forward compatible as the contract asks of consumers: unknown keys are kept (`extra="allow"`,
reachable through `model_extra`), and an `outcome` this version does not know is kept as a
plain string (`is_failure` is then True).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

SOURCE = "dtmf-gateway"
SCHEMA_VERSION = "1"

E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")]
IsoUtc = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")]


class Outcome(StrEnum):
    """What happened on a call (README, "Outcomes")."""

    INPUT_RECEIVED = "input-received"
    INVALID_INPUT = "invalid-input"
    NO_INPUT = "no-input"
    UNANSWERED = "unanswered"
    REJECTED = "rejected"
    FAILED = "failed"
    EXPIRED = "expired"


class NotPlacedReason(StrEnum):
    """Why a callee ended without a CM call (`DTMF Call Not Placed`)."""

    CANCELLED = "cancelled"
    DEADLINE_PASSED = "deadline-passed"
    POLICY_REFUSED = "policy-refused"
    CM_REFUSED = "cm-refused"
    INSTRUCTION_ID_IN_USE = "instruction-id-in-use"


class CampaignStatus(StrEnum):
    """Terminal status of a campaign (`DTMF Campaign Finished`)."""

    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


class _Detail(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class CmResult(_Detail):
    """CM's `result` object of a finished call, as received (CM's new keys are kept)."""

    code: int = Field(
        description="CM result code: 9 Cancelled, 10 Finished, 11 Failed, 12 Rejected"
    )
    description: str | None = None
    sip_disconnect_code: str | None = Field(None, alias="sip-disconnect-code")
    sip_disconnect_reason: str | None = Field(None, alias="sip-disconnect-reason")


class DtmfResult(_Detail):
    """`detail` of a `DTMF Result` event: one per callee whose result is final."""

    schema_version: Literal["1"] = Field("1", alias="schema-version")
    instruction_id: str = Field(alias="instruction-id", min_length=1)
    call_id: str = Field(alias="call-id", min_length=1)
    caller: E164 | None
    callee: E164 | None
    outcome: Outcome | str
    digits: str | None = Field(description="what the callee typed; null when nothing")
    result: CmResult | None = Field(description="CM's result object; null when expired")
    metadata: dict[str, str]
    queued_at: IsoUtc = Field(alias="queued-at")
    finished_at: IsoUtc = Field(alias="finished-at")
    revision: int = Field(0, ge=0, description="0, then +1 per correction of this call's result")
    corrects: str | None = Field(None, description="`expired` or `rederived` on a correction")
    truncated: list[str] | None = Field(None, description="JSON pointers of shortened values")
    # round 2, additive
    attempts: int | None = Field(None, ge=1, description="CM calls made for this callee")
    campaign_id: str | None = Field(None, alias="campaign-id")
    verified: bool | None = Field(None, description="digits-mode verify: typed = expected")
    erased_at: IsoUtc | None = Field(
        None, alias="erased-at", description="personal data erased: caller, callee, digits null"
    )

    @property
    def is_failure(self) -> bool:
        """True unless the callee typed valid input (an unknown outcome counts as failure)."""
        return self.outcome != Outcome.INPUT_RECEIVED


class DtmfCallNotPlaced(_Detail):
    """`detail` of a `DTMF Call Not Placed` event: a callee that ended without a CM call."""

    schema_version: Literal["1"] = Field("1", alias="schema-version")
    instruction_id: str = Field(alias="instruction-id", min_length=1)
    callee: E164 | None
    caller: E164 | None
    reason: NotPlacedReason | str
    metadata: dict[str, str] = Field(default_factory=dict)
    campaign_id: str | None = Field(None, alias="campaign-id")
    ended_at: IsoUtc = Field(alias="ended-at")


class DtmfCampaignFinished(_Detail):
    """`detail` of a `DTMF Campaign Finished` event: once per campaign, at its end."""

    schema_version: Literal["1"] = Field("1", alias="schema-version")
    campaign_id: str = Field(alias="campaign-id", min_length=1)
    status: CampaignStatus | str
    counts: dict[str, int] = Field(
        description="flat: rows, invalid-rows, placed, finished, and one key per outcome "
        "(zeros may be absent)"
    )
    finished_at: IsoUtc = Field(alias="finished-at")
    results_uri: str | None = Field(
        None, alias="results-uri", description="s3:// URI of the results (JSON Lines)"
    )
    errors_uri: str | None = Field(
        None, alias="errors-uri", description="s3:// URI of the invalid rows"
    )

    def count(self, key: str) -> int:
        """One of `counts` (`"rows"`, `"input-received"`, ...), 0 when absent."""
        return self.counts.get(key, 0)


#: detail-type → its detail model.
DETAIL_MODELS: dict[str, type[_Detail]] = {
    "DTMF Result": DtmfResult,
    "DTMF Call Not Placed": DtmfCallNotPlaced,
    "DTMF Campaign Finished": DtmfCampaignFinished,
}


class DtmfResultWebhook(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["DTMF Result"]
    data: DtmfResult


class DtmfCallNotPlacedWebhook(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: Literal["DTMF Call Not Placed"]
    data: DtmfCallNotPlaced


class OtherWebhook(BaseModel):
    """A webhook of a detail-type this version does not know (a minor version may add
    detail-types): kept as received, so an older receiver acknowledges it instead of failing
    it into 24 hours of retries."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    data: dict[str, Any]


_WEBHOOK_TAGS = frozenset({"DTMF Result", "DTMF Call Not Placed"})


def _webhook_tag(body: Any) -> str:
    kind = body.get("type") if isinstance(body, dict) else getattr(body, "type", None)
    return kind if kind in _WEBHOOK_TAGS else "other"


#: The body of a webhook (`{"type": <detail-type>, "data": <detail>}`), after verifying its
#: signature: ``pydantic.TypeAdapter(WebhookPayload).validate_json(body)`` (a type alias, not
#: a model: it has no ``model_validate``). An unknown `type` parses as `OtherWebhook`.
WebhookPayload = Annotated[
    Annotated[DtmfResultWebhook, Tag("DTMF Result")]
    | Annotated[DtmfCallNotPlacedWebhook, Tag("DTMF Call Not Placed")]
    | Annotated[OtherWebhook, Tag("other")],
    Discriminator(_webhook_tag),
]


def parse_detail(detail_type: str, detail: dict[str, Any]) -> _Detail:
    """The model of `detail` for its `detail-type`; KeyError for a detail-type this version
    does not know, pydantic's ValidationError for a detail that does not fit."""
    return DETAIL_MODELS[detail_type].model_validate(detail)
