"""Composition root: builds the adapters from Settings, once per execution environment.

Functions call these at module load (the Lambda init phase), so clients, secrets caches and
compiled models are reused by every invocation, and a missing setting fails the cold start
naming its variable (`Settings.require`). Each factory imports only what its function uses,
so no function loads another's modules. AWS clients take their endpoints from the standard
AWS_ENDPOINT_URL* variables only (that is how the local stack and tests redirect them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import boto3

from dtmf_gateway.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    # campaigns (issue 17)
    from dtmf_gateway.adapters.campaign_io import EventBridgeCampaignEvents
    from dtmf_gateway.adapters.dead_letters import SqsDeadLetters
    from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
    from dtmf_gateway.adapters.eventbridge import EventBridgeResultPublisher
    from dtmf_gateway.adapters.secrets import ManagedSecrets, SignedCallbackUrls
    from dtmf_gateway.api.placement import IdempotentPlacement
    from dtmf_gateway.domain.callbacks import RecordCallback
    from dtmf_gateway.domain.campaign_use_cases import (
        ControlCampaign,
        CreateCampaign,
        PlaceRow,
        RecordRowResult,
        ValidateCampaign,
    )
    from dtmf_gateway.domain.placement import PlaceInstruction
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.reading import ReadInstruction


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb")


@cache
def managed_secrets() -> ManagedSecrets:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from dtmf_gateway.adapters.secrets import ManagedSecrets

    s = settings().require("CALLBACK_SIGNING_SECRET")
    return ManagedSecrets(
        SecretsProvider(boto3_client=boto3.client("secretsmanager")),
        product_token_secret=s.cm_product_token_secret,
        signing_secret=s.callback_signing_secret,
        max_age=s.secrets_max_age,
    )


@cache
def callback_urls() -> SignedCallbackUrls:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from dtmf_gateway.adapters.secrets import SignedCallbackUrls

    s = settings().require("CALLBACK_BASE_URL_PARAMETER")
    return SignedCallbackUrls(
        SSMProvider(boto3_client=boto3.client("ssm")),
        secrets=managed_secrets(),
        base_url_parameter=s.callback_base_url_parameter,
        max_age=s.secrets_max_age,
    )


@cache
def dial_policy() -> DialPolicy:
    from dtmf_gateway.domain.policy import DialPolicy

    s = settings()
    policy = DialPolicy.from_settings(
        allowed_countries=s.allowed_destination_countries,
        blocked_number_types=s.blocked_number_types,
        allowed_callers=s.allowed_callers,
    )
    if policy.unusable_callers:
        from dtmf_gateway.observability import logger

        logger.warning(
            "AllowedCallers entries ignored: not valid phone numbers",
            extra={"entries": list(policy.unusable_callers)},
        )
    return policy


def _log_bookkeeping_error(error: Exception) -> None:
    from dtmf_gateway.observability import count, logger

    count("CallRecordWriteFailed")
    logger.error("calls queued but not recorded; callbacks will record them", exc_info=error)


@cache
def placement() -> IdempotentPlacement:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
    )

    from dtmf_gateway.api.placement import IdempotentPlacement

    s = settings().require("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "CM_PRODUCT_TOKEN_SECRET")
    persistence = DynamoDBPersistenceLayer(
        table_name=s.idempotency_table_name, boto3_client=dynamodb()
    )
    return IdempotentPlacement(placement_service(), persistence)


@cache
def placement_service() -> PlaceInstruction:
    """The placement use case (POST /v1/dtmf-calls and each campaign row)."""
    from dtmf_gateway.adapters.cm_client import HttpCmClient
    from dtmf_gateway.adapters.dynamodb.callee_quota import DynamoDbCalleeQuota
    from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
    from dtmf_gateway.domain.placement import PlaceInstruction

    s = settings().require("TABLE_NAME", "CM_PRODUCT_TOKEN_SECRET")
    secrets = managed_secrets()
    return PlaceInstruction(
        cm=HttpCmClient(
            base_url=s.cm_base_url,
            product_token=secrets.product_token,
            connect_timeout=s.cm_connect_timeout,
            total_timeout=s.cm_total_timeout,
        ),
        store=DynamoDbInstructionStore(
            dynamodb(), s.table_name, retention=s.retention, pending_shards=s.pending_shards
        ),
        callback_urls=callback_urls(),
        policy=dial_policy(),
        on_bookkeeping_error=_log_bookkeeping_error,
        quota=DynamoDbCalleeQuota(dynamodb(), s.table_name, limit=s.calls_per_callee_per_hour),
        calls_per_callee_per_hour=s.calls_per_callee_per_hour,
    )


@cache
def record_callback() -> RecordCallback:
    from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore
    from dtmf_gateway.domain.callbacks import RecordCallback

    s = settings().require("TABLE_NAME")
    store = DynamoDbCallbackStore(
        dynamodb(), s.table_name, retention=s.retention, pending_shards=s.pending_shards
    )
    return RecordCallback(store)


@cache
def read_instruction() -> ReadInstruction:
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
    from dtmf_gateway.domain.reading import ReadInstruction

    s = settings().require("TABLE_NAME")
    return ReadInstruction(DynamoDbInstructionReader(dynamodb(), s.table_name))


@cache
def result_publisher() -> EventBridgeResultPublisher:
    from dtmf_gateway.adapters.eventbridge import EventBridgeResultPublisher

    s = settings().require("EVENT_BUS_NAME")
    return EventBridgeResultPublisher(boto3.client("events"), s.event_bus_name)


@cache
def dead_letters() -> SqsDeadLetters:
    from dtmf_gateway.adapters.dead_letters import SqsDeadLetters

    s = settings().require("DEAD_LETTER_QUEUE_URL")
    return SqsDeadLetters(boto3.client("sqs"), s.dead_letter_queue_url)


@cache
def pending_calls() -> DynamoDbPendingCalls:
    from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls

    s = settings().require("TABLE_NAME")
    return DynamoDbPendingCalls(dynamodb(), s.table_name, shards=s.pending_shards)


# ---------------------------------------------------------------- campaigns (issue 17)


@dataclass(frozen=True, slots=True)
class CampaignsApi:
    """What the campaigns routes use: the use cases and the pacing bounds of a request."""

    create: CreateCampaign
    control: ControlCampaign
    max_calls_per_second: float
    default_calls_per_second: float


@dataclass(frozen=True, slots=True)
class CampaignWorker:
    """What the campaign worker uses: validation (control queue), placement (rows queue),
    results (`DTMF Result` events of campaign rows)."""

    control_queue_url: str
    validate: ValidateCampaign
    place: PlaceRow
    record: RecordRowResult


@cache
def campaigns_api() -> CampaignsApi:
    from dtmf_gateway.adapters.campaign_io import S3CampaignFiles, SqsValidationRequests
    from dtmf_gateway.adapters.dynamodb.campaigns_table import DynamoDbCampaignStore
    from dtmf_gateway.domain.campaign_use_cases import (
        ControlCampaign,
        CreateCampaign,
        FinishCampaign,
    )

    s = settings().require(
        "CAMPAIGNS_TABLE_NAME", "CAMPAIGN_BUCKET", "CAMPAIGN_CONTROL_QUEUE_URL", "EVENT_BUS_NAME"
    )
    store = DynamoDbCampaignStore(dynamodb(), s.campaigns_table_name)
    files = S3CampaignFiles(boto3.client("s3"), s.campaign_bucket)
    queue = SqsValidationRequests(boto3.client("sqs"), s.campaign_control_queue_url)
    finish = FinishCampaign(store, files, _campaign_events())
    return CampaignsApi(
        create=CreateCampaign(store, files, queue),
        control=ControlCampaign(store, finish),
        max_calls_per_second=s.cm_max_calls_per_second,
        default_calls_per_second=min(1.0, s.campaign_calls_per_second),
    )


def _campaign_events() -> EventBridgeCampaignEvents:
    from dtmf_gateway.adapters.campaign_io import EventBridgeCampaignEvents

    s = settings().require("EVENT_BUS_NAME")
    return EventBridgeCampaignEvents(boto3.client("events"), s.event_bus_name)


@cache
def campaign_worker() -> CampaignWorker:
    from dtmf_gateway.adapters.campaign_io import S3CampaignFiles, SqsRowQueue
    from dtmf_gateway.adapters.dynamodb.campaigns_table import (
        DynamoDbCampaignStore,
        DynamoDbPacer,
    )
    from dtmf_gateway.domain.campaign_use_cases import (
        EndRow,
        FinishCampaign,
        PacingLimits,
        PlaceRow,
        RecordRowResult,
        ValidateCampaign,
    )

    s = settings().require(
        "CAMPAIGNS_TABLE_NAME",
        "CAMPAIGN_BUCKET",
        "CAMPAIGN_CONTROL_QUEUE_URL",
        "CAMPAIGN_ROWS_QUEUE_URL",
        "EVENT_BUS_NAME",
    )
    store = DynamoDbCampaignStore(dynamodb(), s.campaigns_table_name)
    files = S3CampaignFiles(boto3.client("s3"), s.campaign_bucket)
    queue = SqsRowQueue(boto3.client("sqs"), s.campaign_rows_queue_url)
    events = _campaign_events()
    finish = FinishCampaign(store, files, events, checks=queue)
    ends = EndRow(store, events, finish)
    return CampaignWorker(
        control_queue_url=s.campaign_control_queue_url,
        validate=ValidateCampaign(
            store=store, files=files, queue=queue, policy=dial_policy(), finish=finish
        ),
        place=PlaceRow(
            store=store,
            queue=queue,
            pacer=DynamoDbPacer(dynamodb(), s.campaigns_table_name),
            limits=PacingLimits(
                cm_max_calls_per_second=s.cm_max_calls_per_second,
                campaign_calls_per_second=s.campaign_calls_per_second,
            ),
            placement=placement_service(),
            policy=dial_policy(),
            ends=ends,
        ),
        record=RecordRowResult(store, finish),
    )
