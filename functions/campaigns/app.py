"""/v1/dtmf-campaigns — create a campaign (202), read it, pause, resume or cancel it (200).

Route → use case → response; every error is answered by the catalogue. A campaign belongs to
the IAM principal that created it; to anyone else it does not exist (404).
"""

from __future__ import annotations

# isort: off
import dtmf_gateway.init_begins  # noqa: F401 - first, for its effect: init runs no GC passes

# isort: on
from dataclasses import replace

from aws_lambda_powertools.event_handler import Response

from dtmf_gateway import wiring
from dtmf_gateway.api import gateway
from dtmf_gateway.api.body import json_body
from dtmf_gateway.api.campaigns import (
    CAMPAIGN_ACTIONS,
    UnknownCampaignAction,
    campaign_accepted,
    campaign_problems,
    campaign_view,
)
from dtmf_gateway.api.models import json_response
from dtmf_gateway.api.placement import checked_idempotency_key
from dtmf_gateway.api.problems import register
from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.campaign_ports import StoredCampaign
from dtmf_gateway.domain.campaign_use_cases import CampaignNotFound
from dtmf_gateway.domain.campaigns import (
    CAMPAIGN_ID,
    derived_campaign_id,
    parse_campaign_request,
)
from dtmf_gateway.observability import logger

app = gateway.resolver()
campaigns = wiring.campaigns_api()


def _owner() -> str:
    return gateway.caller(app)


def _checked(campaign_id: str) -> str:
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        raise CampaignNotFound(campaign_id[:40])
    return campaign_id


def _view(campaign: StoredCampaign) -> Response[str]:
    return json_response(
        campaign_view(campaign, utc_now(), campaign_share=campaigns.campaign_calls_per_second)
    )


@app.post("/dtmf-campaigns")
def create_campaign() -> Response[str]:
    event = app.current_event
    body = json_body(
        event.body,
        is_base64=bool(event.is_base64_encoded),
        content_type=event.headers.get("content-type"),
    )
    request = parse_campaign_request(
        body,
        max_calls_per_second=campaigns.max_calls_per_second,
        default_calls_per_second=campaigns.default_calls_per_second,
    )
    key = checked_idempotency_key(event.headers.get("idempotency-key"))
    owner = _owner()
    if request.campaign_id is None and key is not None:  # a retried create: the same campaign
        request = replace(request, campaign_id=derived_campaign_id(owner, key))
    campaign, new = campaigns.create.create(request, owner)
    logger.set_correlation_id(campaign.campaign_id)
    logger.info("campaign accepted" if new else "campaign request repeated")
    return json_response(campaign_accepted(campaign), 202)


@app.get("/dtmf-campaigns/<campaign_id>")
def get_campaign(campaign_id: str) -> Response[str]:
    campaign = campaigns.control.read(_checked(campaign_id), _owner())
    return _view(campaign)


@app.post("/dtmf-campaigns/<campaign_id>/<action>")
def act_on_campaign(campaign_id: str, action: str) -> Response[str]:
    if action not in CAMPAIGN_ACTIONS:
        raise UnknownCampaignAction(campaign_id[:40], action)
    campaign = campaigns.control.act(_checked(campaign_id), _owner(), action)
    logger.info("campaign control", extra={"action": action, "status": campaign.status.value})
    return _view(campaign)


register(app, campaign_problems())


handler = gateway.lambda_handler(app)
