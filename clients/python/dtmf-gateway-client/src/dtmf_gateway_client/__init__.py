"""Typed Python client of the dtmf-gateway API."""

from dtmf_gateway_client.auth import SigV4
from dtmf_gateway_client.client import DtmfGatewayClient
from dtmf_gateway_client.errors import (
    CmFailure,
    Conflict,
    DtmfGatewayError,
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
)
from dtmf_gateway_client.models import Call, Instruction, InstructionPage, Placement, QueuedCall

__all__ = [
    "Call",
    "CmFailure",
    "Conflict",
    "DtmfGatewayClient",
    "DtmfGatewayError",
    "FieldError",
    "Forbidden",
    "Instruction",
    "InstructionPage",
    "InvalidRequest",
    "NotFound",
    "Placement",
    "QueuedCall",
    "RateLimited",
    "ServerError",
    "SigV4",
]
__version__ = "0.3.0"
