"""Configuration from the function's environment (set by template.yaml), read once per cold start.

A missing or malformed variable fails the cold start loudly instead of misbehaving later:
numbers are checked when read, and each function's wiring (`wiring.py`) calls
`Settings.require` for the variables it needs, so a function fails naming the variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import cache
from typing import NamedTuple


class ConfigurationError(RuntimeError):
    pass


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number") from None


class Settings(NamedTuple):
    """The function's configuration, immutable, one field per environment variable it reads.

    A `NamedTuple`, not a frozen dataclass, for the cold start: every function builds this
    class at init, and a dataclass generates and compiles its methods from source when its
    class is made (~3 ms of CPU for these 44 fields on place-call's cold start, against
    ~0.6 ms for the named tuple: `python -m bench.cold`, issue 15). Read its fields by name.
    """

    table_name: str
    event_bus_name: str
    dead_letter_queue_url: str
    idempotency_table_name: str
    cm_base_url: str
    cm_product_token_secret: str
    callback_signing_secret: str
    callback_base_url: str
    allowed_destination_countries: str
    blocked_number_types: str
    allowed_callers: str
    retention: timedelta
    pending_shards: int
    calls_per_callee_per_hour: int
    cm_connect_timeout: float
    cm_total_timeout: float
    secrets_max_age: int
    version: str
    # round 2, signed webhooks (template: AllowedWebhookHosts, WebhookAllowLoopback, ...)
    allowed_webhook_hosts: str = ""
    webhook_allow_loopback: bool = False
    webhook_signing_secret: str = ""
    webhook_queue_url: str = ""
    webhook_lanes_url: str = ""
    webhook_dlq_url: str = ""
    webhook_lanes_per_host: int = 2
    webhook_retry_base_seconds: int = 60
    webhook_max_attempts: int = 14
    webhook_connect_timeout: float = 3.0
    webhook_total_timeout: float = 10.0
    digits_hash_secret: str = ""  # issue 19
    place_call_function_name: str = ""  # issue 19: whose idempotency records erasure edits
    # round 2 (#16): scheduling
    quiet_hours: str = ""
    max_schedule_days: int = 30
    dial_schedule_group: str = ""
    dial_function_arn: str = ""
    dial_scheduler_role_arn: str = ""
    dial_dead_letter_arn: str = ""
    # campaigns (issue 17)
    campaigns_table_name: str = ""
    campaign_bucket: str = ""
    campaign_control_queue_url: str = ""
    campaign_rows_queue_url: str = ""
    cm_max_calls_per_second: float = 50.0
    campaign_calls_per_second: float = 30.0  # all campaigns together: the rest is the API's
    # a placement's recording that cannot be written at once waits there (issue 15)
    placement_recordings_queue_url: str = ""

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(
            table_name=os.environ.get("TABLE_NAME", "").strip(),
            event_bus_name=os.environ.get("EVENT_BUS_NAME", "").strip(),
            dead_letter_queue_url=os.environ.get("DEAD_LETTER_QUEUE_URL", "").strip(),
            idempotency_table_name=os.environ.get("IDEMPOTENCY_TABLE_NAME", "").strip(),
            cm_base_url=os.environ.get("CM_BASE_URL", "https://api.cm.com"),
            cm_product_token_secret=os.environ.get("CM_PRODUCT_TOKEN_SECRET", "").strip(),
            callback_signing_secret=os.environ.get("CALLBACK_SIGNING_SECRET", "").strip(),
            callback_base_url=os.environ.get("CALLBACK_BASE_URL", "").strip(),
            allowed_destination_countries=os.environ.get("ALLOWED_DESTINATION_COUNTRIES", "*"),
            blocked_number_types=os.environ.get("BLOCKED_NUMBER_TYPES", "default"),
            allowed_callers=os.environ.get("ALLOWED_CALLERS", ""),
            retention=timedelta(days=_number("RETENTION_DAYS", 30)),
            pending_shards=int(_number("PENDING_SHARDS", 8)),
            calls_per_callee_per_hour=int(_number("MAX_CALLS_PER_CALLEE_PER_HOUR", 0)),
            cm_connect_timeout=_number("CM_CONNECT_TIMEOUT_SECONDS", 2.0),
            cm_total_timeout=_number("CM_TIMEOUT_SECONDS", 8.0),
            secrets_max_age=int(_number("SECRETS_MAX_AGE_SECONDS", 300)),
            # the stack's version (template Globals, the Version output); "unknown" outside Lambda
            version=os.environ.get("DTMF_GATEWAY_VERSION", "").strip() or "unknown",
            allowed_webhook_hosts=os.environ.get("ALLOWED_WEBHOOK_HOSTS", ""),
            webhook_allow_loopback=os.environ.get("WEBHOOK_ALLOW_LOOPBACK", "").strip() == "true",
            webhook_signing_secret=os.environ.get("WEBHOOK_SIGNING_SECRET", "").strip(),
            webhook_queue_url=os.environ.get("WEBHOOK_QUEUE_URL", "").strip(),
            webhook_lanes_url=os.environ.get("WEBHOOK_LANES_URL", "").strip(),
            webhook_dlq_url=os.environ.get("WEBHOOK_DLQ_URL", "").strip(),
            webhook_lanes_per_host=int(_number("WEBHOOK_CONCURRENCY_PER_HOST", 2)),
            webhook_retry_base_seconds=int(_number("WEBHOOK_RETRY_BASE_SECONDS", 60)),
            webhook_max_attempts=int(_number("WEBHOOK_MAX_ATTEMPTS", 14)),
            webhook_connect_timeout=_number("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3.0),
            webhook_total_timeout=_number("WEBHOOK_TIMEOUT_SECONDS", 10.0),
            digits_hash_secret=os.environ.get("DIGITS_HASH_SECRET", "").strip(),  # issue 19
            place_call_function_name=os.environ.get("PLACE_CALL_FUNCTION_NAME", "").strip(),
            quiet_hours=os.environ.get("QUIET_HOURS", "").strip(),
            max_schedule_days=int(_number("MAX_SCHEDULE_DAYS", 30)),
            dial_schedule_group=os.environ.get("DIAL_SCHEDULE_GROUP", "").strip(),
            dial_function_arn=os.environ.get("DIAL_FUNCTION_ARN", "").strip(),
            dial_scheduler_role_arn=os.environ.get("DIAL_SCHEDULER_ROLE_ARN", "").strip(),
            dial_dead_letter_arn=os.environ.get("DIAL_DEAD_LETTER_ARN", "").strip(),
            # campaigns (issue 17)
            campaigns_table_name=os.environ.get("CAMPAIGNS_TABLE_NAME", "").strip(),
            campaign_bucket=os.environ.get("CAMPAIGN_BUCKET", "").strip(),
            campaign_control_queue_url=os.environ.get("CAMPAIGN_CONTROL_QUEUE_URL", "").strip(),
            campaign_rows_queue_url=os.environ.get("CAMPAIGN_ROWS_QUEUE_URL", "").strip(),
            cm_max_calls_per_second=_number("CM_MAX_CALLS_PER_SECOND", 50.0),
            campaign_calls_per_second=_number("CAMPAIGN_CALLS_PER_SECOND", 30.0),
            placement_recordings_queue_url=os.environ.get(
                "PLACEMENT_RECORDINGS_QUEUE_URL", ""
            ).strip(),
        )

    def require(self, *variables: str) -> Settings:
        """Self, once every named environment variable (e.g. ``"TABLE_NAME"``) is set;
        ConfigurationError naming the first one missing otherwise."""
        for variable in variables:
            if not getattr(self, _FIELD_OF[variable]):
                raise ConfigurationError(f"environment variable {variable} must be set")
        return self


_FIELD_OF = {
    "TABLE_NAME": "table_name",
    "EVENT_BUS_NAME": "event_bus_name",
    "DEAD_LETTER_QUEUE_URL": "dead_letter_queue_url",
    "IDEMPOTENCY_TABLE_NAME": "idempotency_table_name",
    "CM_PRODUCT_TOKEN_SECRET": "cm_product_token_secret",
    "CALLBACK_SIGNING_SECRET": "callback_signing_secret",
    "CALLBACK_BASE_URL": "callback_base_url",
    "WEBHOOK_SIGNING_SECRET": "webhook_signing_secret",
    "WEBHOOK_QUEUE_URL": "webhook_queue_url",
    "WEBHOOK_LANES_URL": "webhook_lanes_url",
    "WEBHOOK_DLQ_URL": "webhook_dlq_url",
    "DIGITS_HASH_SECRET": "digits_hash_secret",  # issue 19
    "PLACE_CALL_FUNCTION_NAME": "place_call_function_name",
    "DIAL_SCHEDULE_GROUP": "dial_schedule_group",
    "DIAL_FUNCTION_ARN": "dial_function_arn",
    "DIAL_SCHEDULER_ROLE_ARN": "dial_scheduler_role_arn",
    # campaigns (issue 17)
    "CAMPAIGNS_TABLE_NAME": "campaigns_table_name",
    "CAMPAIGN_BUCKET": "campaign_bucket",
    "CAMPAIGN_CONTROL_QUEUE_URL": "campaign_control_queue_url",
    "CAMPAIGN_ROWS_QUEUE_URL": "campaign_rows_queue_url",
    "PLACEMENT_RECORDINGS_QUEUE_URL": "placement_recordings_queue_url",
}


@cache
def settings() -> Settings:
    return Settings.from_environment()
