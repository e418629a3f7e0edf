"""HTTP side of `/v1/dtmf-campaigns`: the campaign view and the routes' problem catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from dtmf_gateway.api.catalogues import campaign_request_problems
from dtmf_gateway.api.models import _Kebab
from dtmf_gateway.api.problems import Catalogue, ProblemAnswer, documented
from dtmf_gateway.domain.campaign_use_cases import (
    CampaignConflict,
    CampaignNotFound,
    estimated_finish,
)

if TYPE_CHECKING:
    from dtmf_gateway.domain.campaign_ports import StoredCampaign

CampaignStatusName = Literal["validating", "running", "paused", "finished", "cancelled", "failed"]


class CampaignAccepted(_Kebab):
    campaign_id: str = Field(alias="campaign-id")
    status: CampaignStatusName


class CampaignView(_Kebab):
    campaign_id: str = Field(alias="campaign-id")
    status: CampaignStatusName
    counts: dict[str, int] = Field(
        description="`rows`, `invalid-rows`, `duplicate-rows`, `placed`, `finished`, "
        "`not-placed`, `unknown` and one per call outcome (zeros may be absent)"
    )
    calls_per_second: float = Field(alias="calls-per-second")
    max_concurrent_calls: int = Field(alias="max-concurrent-calls")
    created_at: str = Field(alias="created-at")
    started_at: str | None = Field(alias="started-at")
    finished_at: str | None = Field(alias="finished-at")
    estimated_finish_at: str | None = Field(alias="estimated-finish-at")
    errors_uri: str | None = Field(alias="errors-uri")
    results_uri: str | None = Field(alias="results-uri")


def campaign_accepted(campaign: StoredCampaign) -> CampaignAccepted:
    return CampaignAccepted.model_validate(
        {"campaign-id": campaign.campaign_id, "status": campaign.status.value}
    )


def campaign_view(campaign: StoredCampaign, now: datetime) -> CampaignView:
    return CampaignView.model_validate(
        {
            "campaign-id": campaign.campaign_id,
            "status": campaign.status.value,
            "counts": {"rows": 0, "placed": 0, "finished": 0, **campaign.counts},
            "calls-per-second": campaign.calls_per_second,
            "max-concurrent-calls": campaign.max_concurrent_calls,
            "created-at": campaign.created_at,
            "started-at": campaign.started_at,
            "finished-at": campaign.finished_at,
            "estimated-finish-at": estimated_finish(campaign, now),
            "errors-uri": campaign.errors_uri,
            "results-uri": campaign.results_uri,
        }
    )


@documented(CampaignNotFound("reminders-2026-12"))
def _not_found(error: CampaignNotFound) -> ProblemAnswer:
    return ProblemAnswer(
        404, "not-found", "No such campaign", f"There is no campaign {error.campaign_id!r}."
    )


@documented(CampaignConflict("reminders-2026-12", "resume", "finished"))
def _conflict(error: CampaignConflict) -> ProblemAnswer:
    if error.action == "create":
        detail = (
            f"campaign-id {error.campaign_id!r} is already used by another campaign; "
            "choose another, or send the same request again"
        )
        return ProblemAnswer(409, "campaign-id-in-use", "Campaign id in use", detail)
    return ProblemAnswer(
        409,
        "campaign-state-conflict",
        "The campaign's status does not allow this",
        f"The campaign is {error.status}: it cannot be {error.action}d.",
        extensions={"campaign-status": error.status},
    )


def campaign_problems() -> Catalogue:
    return {
        **campaign_request_problems(),
        CampaignNotFound: _not_found,
        CampaignConflict: _conflict,
    }
