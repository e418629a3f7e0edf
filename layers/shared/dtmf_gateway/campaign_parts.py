"""What the campaign functions are given (issue 17), built by `wiring.campaigns_api` and
`wiring.campaign_worker`. Its own module so that the other functions, which import `wiring`,
do not define these records at their cold start (~1 ms of CPU)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dtmf_gateway.domain.campaign_use_cases import (
        ControlCampaign,
        CreateCampaign,
        PlaceRow,
        RecordRowResult,
        ValidateCampaign,
    )


class RetryBackoff(Protocol):
    def retry_soon(self, record: Mapping[str, Any]) -> int | None:
        """Make the failed SQS event ``record`` come back soon; the delay in seconds (None:
        not a queue of this worker). Raises the queue's errors."""
        ...


@dataclass(frozen=True, slots=True)
class CampaignsApi:
    """What the campaigns routes use: the use cases and the pacing bounds of a request."""

    create: CreateCampaign
    control: ControlCampaign
    max_calls_per_second: float
    default_calls_per_second: float
    campaign_calls_per_second: float  # all campaigns' share: what a campaign can get at most


@dataclass(frozen=True, slots=True)
class CampaignWorker:
    """What the campaign worker uses: validation (control queue), placement (rows queue),
    results (`DTMF Result` events of campaign rows)."""

    control_queue_url: str
    validate: ValidateCampaign
    place: PlaceRow
    record: RecordRowResult
    #: a failed message's next receive, soon (adapters.campaign_io.SqsRetryBackoff)
    retries: RetryBackoff
