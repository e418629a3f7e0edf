"""Typed models of the events dtmf-gateway publishes (schema version 1)."""

from dtmf_gateway_events.models import (
    DETAIL_MODELS,
    SCHEMA_VERSION,
    SOURCE,
    CampaignStatus,
    CmResult,
    DtmfCallNotPlaced,
    DtmfCampaignFinished,
    DtmfResult,
    NotPlacedReason,
    OtherWebhook,
    Outcome,
    WebhookPayload,
    parse_detail,
)

__all__ = [
    "DETAIL_MODELS",
    "SCHEMA_VERSION",
    "SOURCE",
    "CampaignStatus",
    "CmResult",
    "DtmfCallNotPlaced",
    "DtmfCampaignFinished",
    "DtmfResult",
    "NotPlacedReason",
    "OtherWebhook",
    "Outcome",
    "WebhookPayload",
    "parse_detail",
]
__version__ = "1.2.0"
