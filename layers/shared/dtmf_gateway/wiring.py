"""Composition root: builds the adapters from Settings, once per execution environment.

Functions call these at module load (the Lambda init phase), so clients, secrets caches and
compiled models are reused by every invocation, and a missing setting fails the cold start
naming its variable (`Settings.require`). Each factory imports only what its function uses,
so no function loads another's modules. AWS clients take their endpoints from the standard
AWS_ENDPOINT_URL* variables only (that is how the local stack and tests redirect them).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from dtmf_gateway import snapstart
from dtmf_gateway.settings import settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

    # campaigns (issue 17)
    from dtmf_gateway.adapters.campaign_io import EventBridgeCampaignEvents
    from dtmf_gateway.adapters.cm_client import HttpCmClient
    from dtmf_gateway.adapters.dead_letters import SqsDeadLetters
    from dtmf_gateway.adapters.dynamodb.erasure_marks import DynamoDbErasureMarks
    from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
    from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from dtmf_gateway.adapters.eventbridge import EventBridgeResultPublisher
    from dtmf_gateway.adapters.placement_recordings import SqsPlacementRecordings
    from dtmf_gateway.adapters.scheduler import EventBridgeDialScheduler
    from dtmf_gateway.adapters.secrets import ManagedSecrets, SignedCallbackUrls
    from dtmf_gateway.adapters.webhooks import (
        SqsWebhookDeadLetters,
        SqsWebhookLanes,
        SqsWebhookQueue,
    )
    from dtmf_gateway.api.placement import IdempotentPlacement
    from dtmf_gateway.campaign_parts import CampaignsApi, CampaignWorker
    from dtmf_gateway.domain.callbacks import RecordCallback
    from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction
    from dtmf_gateway.domain.campaign_use_cases import PacingLimits
    from dtmf_gateway.domain.dial_recording import ApplyDialRecording, DialRecording
    from dtmf_gateway.domain.dialling import CancelInstruction, DialScheduledCall
    from dtmf_gateway.domain.erasure import EraseInstruction
    from dtmf_gateway.domain.listing import ListInstructions
    from dtmf_gateway.domain.placement import PlaceInstruction
    from dtmf_gateway.domain.placement_recording import ApplyPlacementRecording
    from dtmf_gateway.domain.policy import DialPolicy
    from dtmf_gateway.domain.ports import (
        DialRecordings,
        DialScheduler,
        PlacementRecordings,
        ScheduledDial,
    )
    from dtmf_gateway.domain.reading import ReadInstruction
    from dtmf_gateway.domain.redialling import Redials
    from dtmf_gateway.domain.schedules import SchedulingRules
    from dtmf_gateway.domain.stack_pacing import PacedPlaceInstruction, StackPacing
    from dtmf_gateway.domain.webhook_targets import WebhookTargets
    from dtmf_gateway.domain.webhooks import DeliverWebhook


@cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client of every function, without botocore's client-side parameter
    validation (`parameter_validation=False`): DynamoDB validates every request server-side
    all the same (a request the model refuses is a ValidationException instead of a
    ParamValidationError; nothing of ours catches either). The check walks every node of a
    request's attribute-value maps: ~20% of botocore's CPU per request here; place-call's
    warm added CPU fell by 0.4-0.5 ms per placement (p50, 4-5 requests), the callback's by
    ~0.1 ms (same-process A/B, README "Performance and cost")."""
    return boto3.client("dynamodb", config=Config(parameter_validation=False))


def secrets_client() -> SecretsManagerClient:
    """A Secrets Manager client whose reads are bounded: 1 s to connect, 1 s to read, two
    attempts (botocore's defaults are 60 s, 60 s and several attempts). A read costs tens of
    ms; a stalled one must not hold a request for minutes nor a SnapStart restore past its
    10 s limit (`snapstart.REFRESH_BUDGET_SECONDS`): at most ~5 s per read, backoff included."""
    return boto3.client(
        "secretsmanager",
        config=Config(
            connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2, "mode": "standard"}
        ),
    )


@cache
def managed_secrets() -> ManagedSecrets:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from dtmf_gateway.adapters.secrets import ManagedSecrets

    s = settings().require("CALLBACK_SIGNING_SECRET")
    secrets = ManagedSecrets(
        SecretsProvider(boto3_client=secrets_client()),
        product_token_secret=s.cm_product_token_secret,
        signing_secret=s.callback_signing_secret,
        max_age=s.secrets_max_age,
        digits_hash_secret=s.digits_hash_secret,  # issue 19 (read only in verify mode)
    )
    snapstart.forget_before_snapshot(secrets.forget)
    snapstart.refresh_after_restore(secrets.signing_keys)  # every user signs or checks tokens
    return secrets


@cache
def callback_urls() -> SignedCallbackUrls:
    from dtmf_gateway.adapters.secrets import SignedCallbackUrls

    s = settings().require("CALLBACK_BASE_URL")
    return SignedCallbackUrls(secrets=managed_secrets(), base_url=s.callback_base_url)


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


def _log_recording_deferred(error: Exception) -> None:
    from dtmf_gateway.observability import logger

    logger.warning(
        "calls queued; their recording failed and waits in the placement-recordings queue",
        exc_info=error,
    )


def _log_unattributed_replies(instruction_id: str, replies: tuple[CmQueuedCall, ...]) -> None:
    """CM queued calls that are no callee's of the instruction (alarm `cm-reply-unattributed`):
    logged by call id, never by number (CM's echo may be a stranger's)."""
    from dtmf_gateway.observability import count_by, logger

    count_by("CmErrors", "kind", "reply-unattributed")  # one per placement, as every kind
    logger.error(
        "CM queued calls that are none of the instruction's callees; their callbacks are refused",
        extra={"instruction_id": instruction_id, "call_ids": [r.call_id for r in replies]},
    )


class _RecordingsOnFirstUse:
    """`PlacementRecordings` whose adapter (the SQS adapter's module and client) is built by
    `build` on the first deferral: a placement whose recording is written at once never needs
    it, so place-call's cold start does not pay for it (tests/unit/test_cold_path_imports.py)."""

    def __init__(self, build: Callable[[], PlacementRecordings]) -> None:
        self._build = build

    def defer(
        self,
        instruction: NewInstruction,
        queued: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall],
    ) -> None:
        self._build().defer(instruction, queued, replies)


class _DialSchedulerOnFirstUse:
    """`DialScheduler` whose adapter (its module and the Scheduler client) is built by `build`
    on the first placement that schedules a dial: an immediate placement never needs it, so
    place-call's cold start does not create the client (~20 ms of init CPU, issue 15;
    tests/unit/test_cold_path_imports.py)."""

    def __init__(self, build: Callable[[], DialScheduler]) -> None:
        self._build = build

    def schedule(self, dial: ScheduledDial) -> None:
        self._build().schedule(dial)


@cache
def placement_recordings() -> SqsPlacementRecordings:
    """The placement-recordings queue (issue 15: a recording that could not be written)."""
    from dtmf_gateway.adapters.placement_recordings import SqsPlacementRecordings

    s = settings().require("PLACEMENT_RECORDINGS_QUEUE_URL")
    return SqsPlacementRecordings(boto3.client("sqs"), s.placement_recordings_queue_url)


def dial_recordings() -> DialRecordings:
    """The placement-recordings queue for a scheduled dial's recording that failed."""
    from dtmf_gateway.adapters.dial_recordings import SqsDialRecordings

    s = settings().require("PLACEMENT_RECORDINGS_QUEUE_URL")
    return SqsDialRecordings(boto3.client("sqs"), s.placement_recordings_queue_url)


class _DialRecordingsOnFirstUse:
    """`DialRecordings` built on the first deferral (as `_RecordingsOnFirstUse`)."""

    def __init__(self, build: Callable[[], DialRecordings]) -> None:
        self._build = build

    def defer_dial(self, recording: DialRecording) -> None:
        self._build().defer_dial(recording)


@cache
def apply_dial_recording() -> ApplyDialRecording:
    """record-placements: a scheduled dial's deferred recording applied (a callback that
    overtook it may schedule the callee's redial: `redials`, built on first need)."""
    from dtmf_gateway.domain.dial_recording import ApplyDialRecording

    return ApplyDialRecording(schedule_store(), redials=redials)


@cache
def apply_placement_recording() -> ApplyPlacementRecording:
    """record-placements: a deferred recording applied (issue 15)."""
    from dtmf_gateway.domain.placement_recording import ApplyPlacementRecording

    return ApplyPlacementRecording(instruction_store())


@cache
def instruction_store() -> DynamoDbInstructionStore:
    """What placing writes; record-placements applies deferred recordings with it."""
    from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore

    s = settings().require("TABLE_NAME")
    return DynamoDbInstructionStore(
        dynamodb(), s.table_name, retention=s.retention, pending_shards=s.pending_shards
    )


@cache
def placement() -> IdempotentPlacement:
    """POST /v1/dtmf-calls: the use case behind its Idempotency-Key (the instruction is the
    key's record, issue 15: no idempotency table)."""
    from dtmf_gateway.api.placement import IdempotentPlacement

    return IdempotentPlacement(paced_placement_service())


@cache
def placement_service() -> PlaceInstruction:
    """The placement use case of each campaign row (the row paces itself: `PlaceRow`)."""
    from dtmf_gateway.domain.placement import PlaceInstruction

    return _placement_service(PlaceInstruction)


@cache
def paced_placement_service() -> PacedPlaceInstruction:
    """The placement use case of POST /v1/dtmf-calls: one token per callee from the stack's
    `CmMaxCallsPerSecond` right before CM is called (429 when the second is spent)."""
    from dtmf_gateway.domain.stack_pacing import PacedPlaceInstruction

    return _placement_service(PacedPlaceInstruction).paced_by(stack_pacing(waits=0))


@cache
def stack_pacing(*, waits: int) -> StackPacing:
    """The stack-wide counter (`rate#all` in the campaigns table), ``waits`` windows waited
    in-process when spent (0: the API answers 429 at once; 1: a scheduled dial)."""
    from dtmf_gateway.adapters.dynamodb.pacing import DynamoDbPacer
    from dtmf_gateway.domain.stack_pacing import StackPacing

    s = settings().require("CAMPAIGNS_TABLE_NAME")
    _check_pacing_limits(campaigns=False)
    pacer = DynamoDbPacer(dynamodb(), s.campaigns_table_name)
    return StackPacing(pacer, s.cm_max_calls_per_second, waits=waits)


def _check_pacing_limits(*, campaigns: bool) -> None:
    """`CmMaxCallsPerSecond` and `CampaignCallsPerSecond`, checked (`stack_pacing.check_limits`:
    CloudFormation Rules cannot compare numbers); a broken relation fails the cold start
    naming the parameters (``campaigns=False``: the stack's limit alone, for direct calls)."""
    from dtmf_gateway.domain.stack_pacing import check_limits
    from dtmf_gateway.settings import ConfigurationError

    s = settings()
    try:
        check_limits(s.cm_max_calls_per_second, s.campaign_calls_per_second if campaigns else None)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _pacing_limits() -> PacingLimits:
    """Both limits, checked (`_check_pacing_limits`), for the campaign use cases. Direct calls
    check theirs with `_check_pacing_limits` alone: this import loads the campaign machinery
    (~9 ms of CPU), which place-call never uses (tests/unit/test_cold_path_imports.py)."""
    from dtmf_gateway.domain.campaign_use_cases import PacingLimits

    _check_pacing_limits(campaigns=True)
    s = settings()
    return PacingLimits(s.cm_max_calls_per_second, s.campaign_calls_per_second)


def _placement_service[P: PlaceInstruction](kind: type[P]) -> P:
    """A placement use case (plain or paced) on the stack's adapters."""
    from dtmf_gateway.adapters.dynamodb.callee_quota import DynamoDbCalleeQuota

    s = settings().require(
        "TABLE_NAME", "CM_PRODUCT_TOKEN_SECRET", "PLACEMENT_RECORDINGS_QUEUE_URL"
    )
    secrets = managed_secrets()
    return kind(
        cm=cm_client(),
        store=instruction_store(),
        callback_urls=callback_urls(),
        policy=dial_policy(),
        on_bookkeeping_error=_log_bookkeeping_error,
        recordings=_RecordingsOnFirstUse(placement_recordings),
        on_recording_deferred=_log_recording_deferred,
        on_unattributed_replies=_log_unattributed_replies,
        quota=DynamoDbCalleeQuota(dynamodb(), s.table_name, limit=s.calls_per_callee_per_hour),
        calls_per_callee_per_hour=s.calls_per_callee_per_hour,
        digit_keys=secrets,  # issue 19
        scheduler=_DialSchedulerOnFirstUse(dial_scheduler),
        scheduling=scheduling_rules(),
    )


@cache
def cm_client() -> HttpCmClient:
    from dtmf_gateway.adapters.cm_client import HttpCmClient

    s = settings().require("CM_PRODUCT_TOKEN_SECRET")
    cm = HttpCmClient(
        base_url=s.cm_base_url,
        product_token=managed_secrets().product_token,
        connect_timeout=s.cm_connect_timeout,
        total_timeout=s.cm_total_timeout,
    )
    cm.prepare()  # the first placement's one-off work: httpcore's import, the TLS context
    snapstart.forget_before_snapshot(cm.forget_connections)
    snapstart.refresh_after_restore(managed_secrets().product_token)
    return cm


# ---------------------------------------------------------------- round 2 (#16): schedules


@cache
def scheduling_rules() -> SchedulingRules:
    """The stack's `QuietHours` (a malformed value fails the cold start) and
    `MaxScheduleDays`."""
    from dtmf_gateway.domain.quiet_hours import InvalidQuietHours, QuietHours
    from dtmf_gateway.domain.schedules import SchedulingRules
    from dtmf_gateway.settings import ConfigurationError

    s = settings()
    try:
        quiet = QuietHours.parse(s.quiet_hours)
    except InvalidQuietHours as error:
        raise ConfigurationError(f"environment variable QUIET_HOURS: {error}") from None
    if quiet is not None:
        _load_time_zone_metadata()
    return SchedulingRules(default_quiet_hours=quiet, max_schedule_days=s.max_schedule_days)


def _load_time_zone_metadata() -> None:
    """Import libphonenumber's prefix-to-time-zone table (`phonenumbers.timezone`, which loads
    all of `phonenumbers.tzdata` at once) now, at init: under the stack's quiet hours (the
    template's default, 21:00-08:00) every placement looks up its callees' zones
    (`quiet_hours.callee_zones`), so the first one would import it otherwise. It is moved, not
    removed: ~2 ms of CPU leaves the first request and joins init, where `bench.cold`'s floor
    (the same third-party modules) pays it too (README "Performance and cost")."""
    importlib.import_module("phonenumbers.timezone")


@cache
def dial_scheduler() -> EventBridgeDialScheduler:
    from dtmf_gateway.adapters.scheduler import EventBridgeDialScheduler

    s = settings().require("DIAL_SCHEDULE_GROUP", "DIAL_FUNCTION_ARN", "DIAL_SCHEDULER_ROLE_ARN")
    return EventBridgeDialScheduler(
        boto3.client("scheduler"),
        group_name=s.dial_schedule_group,
        target_arn=s.dial_function_arn,
        role_arn=s.dial_scheduler_role_arn,
        dead_letter_arn=s.dial_dead_letter_arn or None,
    )


@cache
def schedule_store() -> DynamoDbScheduleStore:
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore

    s = settings().require("TABLE_NAME")
    return DynamoDbScheduleStore(
        dynamodb(), s.table_name, retention=s.retention, pending_shards=s.pending_shards
    )


@cache
def dial_scheduled_call() -> DialScheduledCall:
    from dtmf_gateway.adapters.dynamodb.callee_quota import DynamoDbCalleeQuota
    from dtmf_gateway.domain.dialling import DialScheduledCall

    s = settings().require("TABLE_NAME", "PLACEMENT_RECORDINGS_QUEUE_URL")
    return DialScheduledCall(
        store=schedule_store(),
        cm=cm_client(),
        callback_urls=callback_urls(),
        policy=dial_policy(),
        scheduler=dial_scheduler(),
        rules=scheduling_rules(),
        quota=DynamoDbCalleeQuota(dynamodb(), s.table_name, limit=s.calls_per_callee_per_hour),
        calls_per_callee_per_hour=s.calls_per_callee_per_hour,
        stack_pacing=stack_pacing(waits=1),
        recordings=_DialRecordingsOnFirstUse(dial_recordings),
        redials=redials(),  # a callback that overtook the dial's recording may redial
        on_unattributed_replies=_log_unattributed_replies,  # as the placement's alarm
    )


@cache
def cancel_instruction() -> CancelInstruction:
    from dtmf_gateway.domain.dialling import CancelInstruction

    return CancelInstruction(schedule_store())


@cache
def list_instructions() -> ListInstructions:
    """Round 2 (#16): `GET /v1/dtmf-calls`."""
    from dtmf_gateway.adapters.dynamodb.instruction_index import DynamoDbInstructionIndex
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
    from dtmf_gateway.domain.listing import ListInstructions

    s = settings().require("TABLE_NAME")
    return ListInstructions(
        DynamoDbInstructionIndex(dynamodb(), s.table_name),
        DynamoDbInstructionReader(dynamodb(), s.table_name),
    )


@cache
def record_callback() -> RecordCallback:
    from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore
    from dtmf_gateway.domain.callbacks import RecordCallback

    s = settings().require("TABLE_NAME")
    store = DynamoDbCallbackStore(
        dynamodb(), s.table_name, retention=s.retention, pending_shards=s.pending_shards
    )
    return RecordCallback(store, redials=redials, digit_keys=managed_secrets())  # issue 19


@cache
def redials() -> Redials:
    """Round 2 (#16): the callback schedules a callee's next attempt."""
    from dtmf_gateway.domain.redialling import Redials

    return Redials(schedule_store(), dial_scheduler(), scheduling_rules())


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
def erasure_marks() -> DynamoDbErasureMarks:
    """Issue 19: the outbox's look at its results' instructions (erased or not)."""
    from dtmf_gateway.adapters.dynamodb.erasure_marks import DynamoDbErasureMarks

    return DynamoDbErasureMarks(dynamodb(), settings().require("TABLE_NAME").table_name)


@cache
def dead_letters() -> SqsDeadLetters:
    from dtmf_gateway.adapters.dead_letters import SqsDeadLetters

    s = settings().require("DEAD_LETTER_QUEUE_URL")
    return SqsDeadLetters(boto3.client("sqs"), s.dead_letter_queue_url)


@cache
def pending_calls() -> DynamoDbPendingCalls:
    from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls

    s = settings().require("TABLE_NAME")
    return DynamoDbPendingCalls(
        dynamodb(), s.table_name, shards=s.pending_shards, recorder=instruction_store()
    )


# ---------------------------------------------------------------- round 2: signed webhooks
@cache
def webhook_targets() -> WebhookTargets:
    from dtmf_gateway.domain.webhook_targets import WebhookTargets

    s = settings()
    return WebhookTargets.from_settings(
        s.allowed_webhook_hosts, allow_loopback=s.webhook_allow_loopback
    )


@cache
def deliver_webhook() -> DeliverWebhook:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from dtmf_gateway.adapters.dynamodb.webhook_urls import DynamoDbWebhookUrls
    from dtmf_gateway.adapters.webhooks import (
        DnsResolver,
        HttpWebhookSender,
        WebhookSigningSecret,
    )
    from dtmf_gateway.domain.webhooks import DeliverWebhook

    s = settings().require("TABLE_NAME", "WEBHOOK_SIGNING_SECRET")
    secret = WebhookSigningSecret(
        SecretsProvider(boto3_client=secrets_client()),
        secret=s.webhook_signing_secret,
        max_age=s.secrets_max_age,
    )
    return DeliverWebhook(
        targets=webhook_targets(),
        urls=DynamoDbWebhookUrls(dynamodb(), s.table_name),
        resolver=DnsResolver(),
        sender=HttpWebhookSender(
            secret,
            connect_timeout=s.webhook_connect_timeout,
            total_timeout=s.webhook_total_timeout,
        ),
        base_delay_seconds=s.webhook_retry_base_seconds,
        max_attempts=s.webhook_max_attempts,
        lanes_per_host=s.webhook_lanes_per_host,
    )


@cache
def webhook_queue() -> SqsWebhookQueue:
    from dtmf_gateway.adapters.webhooks import SqsWebhookQueue

    s = settings().require("WEBHOOK_QUEUE_URL")
    return SqsWebhookQueue(boto3.client("sqs"), s.webhook_queue_url)


@cache
def webhook_lanes() -> SqsWebhookLanes:
    from dtmf_gateway.adapters.webhooks import SqsWebhookLanes

    s = settings().require("WEBHOOK_LANES_URL")
    return SqsWebhookLanes(boto3.client("sqs"), s.webhook_lanes_url)


@cache
def webhook_dead_letters() -> SqsWebhookDeadLetters:
    from dtmf_gateway.adapters.webhooks import SqsWebhookDeadLetters

    s = settings().require("WEBHOOK_DLQ_URL")
    return SqsWebhookDeadLetters(boto3.client("sqs"), s.webhook_dlq_url)


@cache
def erase_instruction() -> EraseInstruction:
    """Issue 19: `DELETE /v1/dtmf-calls/{id}/personal-data`."""
    from dtmf_gateway.adapters.dynamodb.erasure_store import DynamoDbErasureStore
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
    from dtmf_gateway.domain.erasure import EraseInstruction

    s = settings().require("TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "PLACE_CALL_FUNCTION_NAME")
    return EraseInstruction(
        DynamoDbInstructionReader(dynamodb(), s.table_name),
        DynamoDbErasureStore(
            dynamodb(),
            s.table_name,
            idempotency_table_name=s.idempotency_table_name,
            placement_function_name=s.place_call_function_name,
        ),
    )


# ---------------------------------------------------------------- campaigns (issue 17)


@cache
def campaigns_api() -> CampaignsApi:
    from dtmf_gateway.adapters.campaign_io import S3CampaignFiles, SqsValidationRequests
    from dtmf_gateway.adapters.dynamodb.campaigns_table import DynamoDbCampaignStore
    from dtmf_gateway.campaign_parts import CampaignsApi
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
    _pacing_limits()  # a campaign is not accepted by a stack whose shares are broken
    return CampaignsApi(
        create=CreateCampaign(store, files, queue),
        control=ControlCampaign(store, finish),
        max_calls_per_second=s.cm_max_calls_per_second,
        default_calls_per_second=min(1.0, s.campaign_calls_per_second),
        campaign_calls_per_second=s.campaign_calls_per_second,
    )


def _campaign_events() -> EventBridgeCampaignEvents:
    from dtmf_gateway.adapters.campaign_io import EventBridgeCampaignEvents

    s = settings().require("EVENT_BUS_NAME")
    return EventBridgeCampaignEvents(boto3.client("events"), s.event_bus_name)


@cache
def campaign_worker() -> CampaignWorker:
    from dtmf_gateway.adapters.campaign_io import S3CampaignFiles, SqsRetryBackoff, SqsRowQueue
    from dtmf_gateway.adapters.dynamodb.campaigns_table import (
        DynamoDbCampaignStore,
        DynamoDbPacer,
    )
    from dtmf_gateway.campaign_parts import CampaignWorker
    from dtmf_gateway.domain.campaign_use_cases import (
        EndRow,
        FinishCampaign,
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
            limits=_pacing_limits(),
            placement=placement_service(),
            policy=dial_policy(),
            ends=ends,
        ),
        record=RecordRowResult(store, finish),
        retries=SqsRetryBackoff(
            boto3.client("sqs"), (s.campaign_control_queue_url, s.campaign_rows_queue_url)
        ),
    )
