"""Shared fixtures: fake AWS (moto, tables created from template.yaml), fake CM, handlers."""

from __future__ import annotations

import os

# Before any product module is imported: Powertools names its logger after the service.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "dtmf-gateway")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DtmfGateway")

import functools
import importlib
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.cm import FakeCm
from devtools.template import create_table

REGION = "eu-west-1"
STACK = "dtmf-test"
SIGNING_KEY = "k" * 48
PREVIOUS_SIGNING_KEY = "p" * 48
DIGITS_HASH_KEY = "d" * 48  # issue 19: the expected-digits hash key
PRODUCT_TOKEN = "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21"
CALLBACK_BASE_URL = "https://dtmf.example.com"

# Every log line the product writes during the whole session, formatted exactly as Lambda
# would ship it (Powertools JSON lines and EMF metrics documents, which since issue 15 carry a
# request's INFO record) — tests/integration/test_log_hygiene.py (run last) audits it for
# digits, phone numbers and tokens.
SESSION_LOG: list[str] = []
# Where Powertools prints EMF documents (the request's document, `single_metric`'s own ones):
# `print` in these modules is shadowed by one that also keeps the line in SESSION_LOG.
_EMF_PRINTERS = (
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
    "aws_lambda_powertools.metrics.base",
)


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        SESSION_LOG.append(self.format(record))


def _print_and_keep(*values: Any, **options: Any) -> None:
    """`print`, keeping the printed line (an EMF document) in SESSION_LOG too, less its
    `_aws.Timestamp`: the epoch milliseconds the EMF specification requires, written by
    Powertools and not the product's, which any digit audit would take for a number."""
    line = " ".join(str(value) for value in values)
    try:
        document = json.loads(line)
        document["_aws"].pop("Timestamp")
    except (ValueError, TypeError, KeyError):
        SESSION_LOG.append(line)
    else:
        SESSION_LOG.append(json.dumps(document, separators=(",", ":")))
    print(*values, **options)


@pytest.fixture(scope="session", autouse=True)
def _capture_all_logs() -> Iterator[None]:
    from dtmf_gateway.observability import logger

    product = logging.getLogger(logger.service)
    json_handler = _Collect(logging.DEBUG)
    json_handler.setFormatter(product.handlers[0].formatter)
    everything_else = _Collect(logging.DEBUG)  # boto, Powertools internals, httpx …
    product.addHandler(json_handler)
    logging.getLogger().addHandler(everything_else)
    with pytest.MonkeyPatch.context() as patch:
        for module in _EMF_PRINTERS:
            patch.setattr(importlib.import_module(module), "print", _print_and_keep, raising=False)
        yield
    product.removeHandler(json_handler)
    logging.getLogger().removeHandler(everything_else)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log audit runs after everything else, so it sees the whole session's logs."""
    items.sort(key=lambda item: item.get_closest_marker("log_audit") is not None)


@pytest.fixture(autouse=True)
def _aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "dtmf-gateway")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DtmfGateway")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture(scope="session", autouse=True)
def _atomic_dynamodb_writes() -> Iterator[None]:
    """DynamoDB applies a conditional write atomically; moto evaluates the condition and
    writes in two steps, so concurrent test threads could both pass a condition. One lock
    around moto's write operations restores the real service's guarantee. The same lock is
    held around each whole DynamoDB request moto answers: its handlers read shared state
    outside the backend (UpdateItem deep-copies the stored item before the locked write, a
    transaction the whole table), which a write on another thread changed under them
    ("dictionary changed size during iteration" in the threaded pacing tests)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    handle = DynamoHandler.call_action

    def handled(self: Any) -> Any:
        with lock:
            return handle(self)

    DynamoHandler.call_action = handled  # type: ignore[method-assign]
    originals = {}
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        originals[name] = original

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    yield
    DynamoHandler.call_action = handle  # type: ignore[method-assign]
    for name, original in originals.items():
        setattr(DynamoDBBackend, name, original)


DIAL_SCHEDULE_GROUP = "dtmf-gateway-dials"


@dataclass
class Aws:
    table_name: str
    idempotency_table_name: str
    product_token_secret: str
    signing_secret: str
    dynamodb: Any
    secrets: Any
    digits_hash_secret: str = ""  # issue 19
    placement_recordings_queue_url: str = ""  # issue 15: recordings deferred by place-call

    def env(self) -> dict[str, str]:
        return {
            "TABLE_NAME": self.table_name,
            "IDEMPOTENCY_TABLE_NAME": self.idempotency_table_name,
            "CM_BASE_URL": "https://cm.test",
            "CM_PRODUCT_TOKEN_SECRET": self.product_token_secret,
            "CALLBACK_SIGNING_SECRET": self.signing_secret,
            "CALLBACK_BASE_URL": CALLBACK_BASE_URL,
            "DIGITS_HASH_SECRET": self.digits_hash_secret,
            # Powertools names idempotency records after AWS_LAMBDA_FUNCTION_NAME, which is
            # unset in-process: its default then (issue 19's erasure edits those records)
            "PLACE_CALL_FUNCTION_NAME": "test-func",
            "ALLOWED_DESTINATION_COUNTRIES": "NL,BE,DE,GB",
            "BLOCKED_NUMBER_TYPES": "PREMIUM_RATE,SHARED_COST,UAN,PERSONAL_NUMBER,PAGER,"
            "VOICEMAIL,UNKNOWN",
            "ALLOWED_CALLERS": "",
            "RETENTION_DAYS": "30",
            "DTMF_GATEWAY_VERSION": "0.2.0-test",
            # round 2 (#16): scheduled dials
            "DIAL_SCHEDULE_GROUP": DIAL_SCHEDULE_GROUP,
            "DIAL_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:123456789012:function:dial-call",
            "DIAL_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/dial-scheduler",
            # #17: the stack-wide pacing counter of direct and scheduled placements
            "CAMPAIGNS_TABLE_NAME": "campaigns",
            "PLACEMENT_RECORDINGS_QUEUE_URL": self.placement_recordings_queue_url,
        }

    def items(self) -> list[dict[str, Any]]:
        from dtmf_gateway.adapters.dynamodb.calls_table import from_item

        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.table_name)
        return [from_item(i) for page in pages for i in page["Items"]]

    def put_signing_keys(self, current: str, previous: str = "") -> None:
        self.secrets.put_secret_value(
            SecretId=self.signing_secret,
            SecretString=json.dumps({"current": current, "previous": previous}),
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        create_table(dynamodb, "CallsTable", "calls")
        create_table(dynamodb, "IdempotencyTable", "idempotency")
        create_table(dynamodb, "CampaignsTable", "campaigns")
        boto3.client("scheduler", region_name=REGION).create_schedule_group(
            Name=DIAL_SCHEDULE_GROUP
        )
        token_arn = secrets.create_secret(Name="cm-token", SecretString=PRODUCT_TOKEN)["ARN"]
        signing_arn = secrets.create_secret(
            Name="callback-signing",
            SecretString=json.dumps({"current": SIGNING_KEY, "previous": PREVIOUS_SIGNING_KEY}),
        )["ARN"]
        digits_arn = secrets.create_secret(
            Name="digits-hash",
            SecretString=json.dumps({"current": DIGITS_HASH_KEY, "previous": ""}),
        )["ARN"]
        recordings_url = boto3.client("sqs", region_name=REGION).create_queue(
            QueueName="placement-recordings"
        )["QueueUrl"]
        yield Aws(
            placement_recordings_queue_url=recordings_url,
            digits_hash_secret=digits_arn,
            table_name="calls",
            idempotency_table_name="idempotency",
            product_token_secret=token_arn,
            signing_secret=signing_arn,
            dynamodb=dynamodb,
            secrets=secrets,
        )


def _reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from dtmf_gateway import settings, snapstart, wiring

    parameters.clear_caches()
    settings.settings.cache_clear()
    # Each wiring registers its CM client's forget hook for SnapStart, which keeps the client
    # (and its thread's event loop: an epoll and a socket pair) alive for the process. A Lambda
    # builds the wiring once; the suite builds it for every test, so close them and let go,
    # or the suite runs past the 1024 descriptors select() accepts (simulator tests fail).
    snapstart.before_snapshot()
    snapstart._forget.clear()  # the test-only reset of the registry
    snapstart._refresh.clear()
    for name in dir(wiring):
        fn = getattr(wiring, name)
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


@pytest.fixture
def cm() -> FakeCm:
    return FakeCm()


@pytest.fixture
def function_env(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    _reset_caches()
    return aws


@pytest.fixture
def place_call(function_env: Aws, cm: FakeCm, monkeypatch: pytest.MonkeyPatch) -> Any:
    """functions/place_call/app.py, with CM behind the FakeCm transport and no real sleeps."""
    from devtools.lambdas import load_function
    from dtmf_gateway.adapters import cm_client

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    module = load_function("place_call")
    yield module
    _reset_caches()


@pytest.fixture
def cm_callback(function_env: Aws) -> Any:
    from devtools.lambdas import load_function

    return load_function("cm_callback")


@pytest.fixture
def erase_personal_data(function_env: Aws) -> Any:
    from devtools.lambdas import load_function

    return load_function("erase_personal_data")


@pytest.fixture
def get_call(function_env: Aws) -> Any:
    from devtools.lambdas import load_function

    return load_function("get_call")


@dataclass
class Bus:
    name: str
    capture_queue_url: str
    events: Any
    sqs: Any

    def received(self, wait: int = 0) -> list[dict[str, Any]]:
        """Every event the bus routed to the capture queue so far (drains the queue)."""
        out: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.capture_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
            ).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.capture_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def bus(function_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Bus:
    """The result bus with a rule that copies every DTMF Result into a queue (as locally)."""
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="results")
    queue_url = sqs.create_queue(QueueName="capture")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="capture",
        EventBusName="results",
        EventPattern=json.dumps({"source": ["dtmf-gateway"], "detail-type": ["DTMF Result"]}),
    )
    events.put_targets(
        Rule="capture", EventBusName="results", Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    monkeypatch.setenv("EVENT_BUS_NAME", "results")
    _reset_caches()
    return Bus(name="results", capture_queue_url=queue_url, events=events, sqs=sqs)


@pytest.fixture
def publisher_dlq(function_env: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """The publisher's dead-letter queue (its URL), as the template wires it."""
    url: str = boto3.client("sqs", region_name=REGION).create_queue(QueueName="publish-dlq")[
        "QueueUrl"
    ]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    _reset_caches()
    return url


@pytest.fixture
def publish_results(bus: Bus, publisher_dlq: str) -> Any:
    from devtools.lambdas import load_function

    return load_function("publish_results")
