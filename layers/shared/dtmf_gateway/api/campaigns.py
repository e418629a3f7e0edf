"""HTTP side of `/v1/dtmf-campaigns`: the campaign view and the routes' problem catalogue."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from pydantic import ConfigDict, Field, WithJsonSchema

from dtmf_gateway.api.catalogues import campaign_request_problems
from dtmf_gateway.api.models import _Kebab
from dtmf_gateway.api.problems import Catalogue, ProblemAnswer, documented
from dtmf_gateway.domain.campaign_use_cases import (
    CampaignConflict,
    CampaignNotFound,
    estimated_finish,
)
from dtmf_gateway.domain.campaigns import (
    CAMPAIGN_ID_MAX_LENGTH,
    DEFAULT_MAX_CONCURRENT_CALLS,
    MAX_CONCURRENT_CALLS,
    MAX_FILE_ROWS,
    MAX_INLINE_ROWS,
    MIN_CALLS_PER_SECOND,
    S3_URI,
)
from dtmf_gateway.domain.ids import INSTRUCTION_ID_PATTERN

if TYPE_CHECKING:
    from dtmf_gateway.domain.campaign_ports import StoredCampaign

CampaignStatusName = Literal["validating", "running", "paused", "finished", "cancelled", "failed"]


#: The components schema of a campaign's `instruction` (the OpenAPI document derives it from
#: DtmfCallRequest's, without the keys each row supplies: scripts/generate_openapi.py).
CAMPAIGN_INSTRUCTION_REF = "#/components/schemas/CampaignInstruction"


class CampaignRow(_Kebab):
    """One callee of an inline list. Each row is validated before the first call with the
    rules of a single POST (number, dialling policy, filled prompts): a row that breaks them
    is an invalid row in `errors-uri`, not a `422` of the request."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    callee: str = Field(description="the number to call (E.164, or a spelling it reads as)")
    metadata: dict[str, str] | None = Field(
        None, description="merged over the template's `metadata`"
    )
    variables: dict[str, str] | None = Field(
        None, description="fill the `{{name}}` placeholders of the template's prompts"
    )


class DtmfCampaignRequest(_Kebab):
    """A campaign: one instruction template, its callees inline (`callees`) or in an object of
    the stack's campaign bucket (`callees-s3-uri`: CSV with a `callee` column, or JSON Lines;
    up to 1,000,000 rows) — exactly one of the two. Round-2 instruction keys (`not-before`,
    `quiet-hours`, `redial`, …) may also be given beside `instruction`: they apply to every
    row. SigV4 (service execute-api)."""

    # (The docstring is the OpenAPI description.) The shape the handler's parser
    # (domain.campaigns.parse_campaign_request, with its field-by-field messages) enforces,
    # stated with the parser's own constants; tests/integration/test_openapi.py holds the two
    # to the same verdicts.

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    campaign_id: str | None = Field(
        None,
        alias="campaign-id",
        min_length=1,
        max_length=CAMPAIGN_ID_MAX_LENGTH,
        pattern=INSTRUCTION_ID_PATTERN,
        description="generated when absent; the same request again answers the same campaign",
    )
    instruction: Annotated[
        dict[str, Any], WithJsonSchema({"allOf": [{"$ref": CAMPAIGN_INSTRUCTION_REF}]})
    ]
    callees: list[CampaignRow] | None = Field(
        None, min_length=1, max_length=MAX_INLINE_ROWS, description="the rows, inline"
    )
    callees_s3_uri: str | None = Field(
        None,
        alias="callees-s3-uri",
        pattern=re.sub(r"\?P<\w+>", "", S3_URI.pattern),  # JSON Schema has no named groups
        description=f"`s3://<CampaignBucketName>/key`, at most {MAX_FILE_ROWS:,} rows",
    )
    calls_per_second: float | None = Field(
        None,
        alias="calls-per-second",
        ge=MIN_CALLS_PER_SECOND,
        description="calls placed per second at most, up to the stack's CmMaxCallsPerSecond "
        "(a larger value is a 422); default 1",
    )
    max_concurrent_calls: int | None = Field(
        None,
        alias="max-concurrent-calls",
        ge=1,
        le=MAX_CONCURRENT_CALLS,
        description=f"calls in progress at once at most; default {DEFAULT_MAX_CONCURRENT_CALLS}",
    )
    skip_invalid_rows: bool | None = Field(
        None,
        alias="skip-invalid-rows",
        description="call the valid rows even when some are invalid (default false: the "
        "campaign ends failed and places nothing)",
    )


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


def campaign_view(
    campaign: StoredCampaign, now: datetime, *, campaign_share: float | None = None
) -> CampaignView:
    """The GET view; ``campaign_share``: the stack's `CampaignCallsPerSecond`, which caps
    the rate the estimate counts on."""
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
            "estimated-finish-at": estimated_finish(campaign, now, campaign_share=campaign_share),
            "errors-uri": campaign.errors_uri,
            "results-uri": campaign.results_uri,
        }
    )


@documented(CampaignNotFound("reminders-2026-12"))
def _not_found(error: CampaignNotFound) -> ProblemAnswer:
    return ProblemAnswer(
        404, "not-found", "No such campaign", f"There is no campaign {error.campaign_id!r}."
    )


class UnknownCampaignAction(CampaignNotFound):
    """`POST /v1/dtmf-campaigns/{campaign-id}/{action}` with an action that is none of
    `pause`, `resume`, `cancel` (matched exactly)."""

    def __init__(self, campaign_id: str, action: str) -> None:
        super().__init__(campaign_id)
        self.action = action


#: The control actions of `POST /v1/dtmf-campaigns/{campaign-id}/{action}`.
CAMPAIGN_ACTIONS = ("pause", "resume", "cancel")


@documented(UnknownCampaignAction("reminders-2026-12", "stop"))
def _unknown_action(error: UnknownCampaignAction) -> ProblemAnswer:
    return ProblemAnswer(
        404,
        "not-found",
        "No such campaign action",
        f"There is no action {error.action[:40]!r} on a campaign: "
        f"{', '.join(CAMPAIGN_ACTIONS)} (lower case).",
    )


@documented(NotFoundError())
def _no_campaign_route(_: Exception) -> ProblemAnswer:
    return _not_found(CampaignNotFound("(not a campaign-id)"))


@documented(
    CampaignConflict("reminders-2026-12", "resume", "finished"),
    CampaignConflict("reminders-2026-12", "create", "taken"),
)
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
        UnknownCampaignAction: _unknown_action,
        # a path Powertools' router cannot match (`%00`, `/` in the id): no such campaign
        NotFoundError: _no_campaign_route,
        CampaignConflict: _conflict,
    }
