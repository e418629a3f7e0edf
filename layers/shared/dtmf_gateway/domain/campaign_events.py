"""The events a campaign publishes beside `DTMF Result`: `DTMF Campaign Finished` (one per
campaign, at its terminal status) and `DTMF Call Not Placed` (a row that ended without a CM
call). Source `dtmf-gateway`, kebab-case, versioned; `make schema` writes their JSON Schemas
(`schemas/dtmf-campaign-finished.v1.json`, `schemas/dtmf-call-not-placed.v1.json`).

`DTMF Call Not Placed` is the contract's detail-type shared with scheduled calls (#16): its
one definition is `domain.not_placed.NotPlacedDetail`, re-exported here for campaigns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dtmf_gateway.domain.not_placed import NOT_PLACED_DETAIL_TYPE, NotPlacedDetail

EVENT_SOURCE = "dtmf-gateway"
CAMPAIGN_FINISHED = "DTMF Campaign Finished"
CALL_NOT_PLACED = NOT_PLACED_DETAIL_TYPE

_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


class CampaignFinishedDetail(BaseModel):
    """`detail` of `DTMF Campaign Finished`: the campaign's terminal status and totals."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, title="DtmfCampaignFinished"
    )

    schema_version: Literal["1"] = Field(default="1", alias="schema-version")
    campaign_id: str = Field(alias="campaign-id", min_length=1, max_length=40)
    status: Literal["finished", "cancelled", "failed"]
    counts: dict[str, int] = Field(
        description="`rows`, `invalid-rows`, `duplicate-rows`, `placed`, `finished`, "
        "`not-placed`, `unknown` and one count per call outcome (zeros may be absent)"
    )
    finished_at: str = Field(alias="finished-at", pattern=_ISO_UTC)
    results_uri: str | None = Field(
        default=None, alias="results-uri", description="s3:// URI of the results (JSON Lines)"
    )
    errors_uri: str | None = Field(
        default=None, alias="errors-uri", description="s3:// URI of the invalid rows"
    )


#: One model of the event for scheduled callees and campaign rows (domain.not_placed).
CallNotPlacedDetail = NotPlacedDetail
