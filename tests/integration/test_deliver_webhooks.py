"""Webhooks end to end in-process (moto): a request's `webhook-url` is stored with the
instruction; the delivery function routes each result event into its host's lane, makes one
signed attempt per lane message, sends failures back delayed by their backoff (beyond 15
minutes with a `not-before` it waits out) and the last one to the DLQ. What the local stack
cannot show (long backoffs, lanes) is shown here."""

from __future__ import annotations

import functools
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from standardwebhooks import Webhook

from devtools.lambdas import LambdaContext, http_event, load_function, sample_event
from dtmf_gateway.adapters import webhooks as webhook_adapters
from tests.conftest import REGION, Aws, _reset_caches
from tests.support.lambdas import invoke_http

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
HOST = "hooks.example.com"
URL = f"https://{HOST}/dtmf-results"


@dataclass
class World:
    sqs: Any
    queue_url: str
    lanes_url: str
    dlq_url: str
    statuses: list[int]
    posted: list[httpx.Request] = field(default_factory=list)

    def drain(self, url: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", []):
            for message in batch:
                out.append(message)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out


@pytest.fixture
def world(function_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    lanes_url = sqs.create_queue(QueueName="webhook-lanes.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    dlq_url = sqs.create_queue(QueueName="webhook-dlq")["QueueUrl"]
    secret = function_env.secrets.create_secret(
        Name="webhook-signing", SecretString=json.dumps({"current": SECRET, "previous": ""})
    )["ARN"]
    for key, value in {
        "ALLOWED_WEBHOOK_HOSTS": HOST,
        "WEBHOOK_SIGNING_SECRET": secret,
        "WEBHOOK_QUEUE_URL": queue_url,
        "WEBHOOK_LANES_URL": lanes_url,
        "WEBHOOK_DLQ_URL": dlq_url,
        "WEBHOOK_RETRY_BASE_SECONDS": "1000",
        "WEBHOOK_MAX_ATTEMPTS": "3",
        "WEBHOOK_CONCURRENCY_PER_HOST": "2",
    }.items():
        monkeypatch.setenv(key, value)
    _reset_caches()
    state = World(sqs, queue_url, lanes_url, dlq_url, statuses=[204])

    def receiver(request: httpx.Request) -> httpx.Response:
        state.posted.append(request)
        return httpx.Response(state.statuses[min(len(state.posted), len(state.statuses)) - 1])

    monkeypatch.setattr(
        webhook_adapters,
        "HttpWebhookSender",
        functools.partial(
            webhook_adapters.HttpWebhookSender, transport=httpx.MockTransport(receiver)
        ),
    )
    monkeypatch.setattr(
        webhook_adapters.DnsResolver,
        "resolve",
        lambda _self, _host: [ipaddress.ip_address("93.184.216.34")],
    )
    yield state
    _reset_caches()


def _place(place_call: Any, instruction_id: str, **extra: Any) -> None:
    body = {**json.loads(sample_event("place_call.json")["body"]), "instruction-id": instruction_id}
    event = http_event(
        "place_call.json", body={**body, **extra}, headers={"Idempotency-Key": instruction_id}
    )
    result = invoke_http(place_call, event)
    assert result.status == 202, result.body


def _event(instruction_id: str) -> str:
    event = sample_event("example_consumer.json")
    event["detail"]["instruction-id"] = instruction_id
    event["resources"] = [f"urn:dtmf-gateway:result:{instruction_id}:c-1"]
    return json.dumps(event)


def _record(body: str, *, fifo: bool, attributes: dict[str, int] | None = None) -> dict[str, Any]:
    arn = f"arn:aws:sqs:{REGION}:123456789012:" + ("webhook-lanes.fifo" if fifo else "webhooks")
    return {
        "messageId": f"m-{time.monotonic_ns()}",
        "receiptHandle": "rh",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            k: {"stringValue": str(v), "dataType": "Number"} for k, v in (attributes or {}).items()
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


def _run(*records: dict[str, Any], sent: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the function on `records`; what it sent to the webhook queue goes to `sent` (a
    delayed message cannot be received back here)."""
    module = load_function("deliver_webhooks")
    if sent is not None:
        client = module.queue._sqs
        send = client.send_message

        def recorded(**kwargs: Any) -> Any:
            sent.append(kwargs)
            return send(**kwargs)

        client.send_message = recorded
    result: dict[str, Any] = module.handler({"Records": list(records)}, LambdaContext())
    return result


def _attribute(message: dict[str, Any], name: str) -> str:
    return str(message["MessageAttributes"][name]["StringValue"])


def test_a_result_with_a_webhook_goes_to_its_hosts_lane_then_is_posted_signed(
    world: World, place_call: Any
) -> None:
    _place(place_call, "with-hook", **{"webhook-url": URL})
    _place(place_call, "without-hook")

    assert _run(
        _record(_event("with-hook"), fifo=False), _record(_event("without-hook"), fifo=False)
    ) == {"batchItemFailures": []}
    [lane] = world.drain(world.lanes_url)
    assert lane["Attributes"]["MessageGroupId"].startswith(f"{HOST}#")
    assert _attribute(lane, "attempt") == "0"

    assert _run(_record(lane["Body"], fifo=True)) == {"batchItemFailures": []}
    [request] = world.posted
    # pinned to the address the delivery checked; the name goes in Host (and SNI)
    assert str(request.url) == URL.replace(HOST, "93.184.216.34")
    assert request.headers["host"] == HOST
    assert request.extensions["sni_hostname"] == HOST
    event = Webhook(SECRET).verify(request.content, dict(request.headers))
    assert event["type"] == "DTMF Result"
    assert event["data"]["instruction-id"] == "with-hook"
    assert world.drain(world.queue_url) == []
    assert world.drain(world.dlq_url) == []


def test_a_failed_attempt_waits_out_its_backoff_outside_the_lanes_then_is_dead_lettered(
    world: World, place_call: Any
) -> None:
    world.statuses = [503]
    _place(place_call, "failing", **{"webhook-url": URL})
    body = _event("failing")

    sent: list[dict[str, Any]] = []
    _run(_record(body, fifo=True), sent=sent)  # attempt 1 of 3
    [retry] = sent
    assert retry["MessageBody"] == body
    assert retry["DelaySeconds"] == 900  # SQS's longest; the 1000 s backoff's rest:
    attributes = {k: int(v["StringValue"]) for k, v in retry["MessageAttributes"].items()}
    assert attributes["attempt"] == 1
    assert 995 <= attributes["not-before"] - time.time() <= 1000

    waiting = {"attempt": 1, "not-before": int(time.time()) + 100}
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody=body)
    [received] = world.sqs.receive_message(QueueUrl=world.queue_url, VisibilityTimeout=1)[
        "Messages"
    ]
    record = {**_record(body, fifo=False, attributes=waiting)}
    record["receiptHandle"] = received["ReceiptHandle"]
    early = _run(record)
    assert len(early["batchItemFailures"]) == 1  # kept waiting, not attempted
    assert world.drain(world.lanes_url) == []
    time.sleep(1.5)
    assert world.drain(world.queue_url) == []  # invisible for the rest of its wait, not 1 s

    _run(_record(body, fifo=True, attributes={"attempt": 2}))  # attempt 3 of 3: the last
    [letter] = world.drain(world.dlq_url)
    assert letter["Body"] == body
    assert _attribute(letter, "reason") == "attempt 3: status 503"
    assert world.drain(world.queue_url) == []
    assert len(world.posted) == 2


def test_a_message_that_is_not_a_result_event_is_dead_lettered_at_once(world: World) -> None:
    assert _run(_record("{not json", fifo=False)) == {"batchItemFailures": []}

    [letter] = world.drain(world.dlq_url)
    assert letter["Body"] == "{not json"
    assert _attribute(letter, "reason").startswith("not a result event")


def test_the_sample_event_is_routed_to_its_lane(world: World, place_call: Any) -> None:
    sample = sample_event("deliver_webhooks.json")
    instruction_id = json.loads(sample["Records"][0]["body"])["detail"]["instruction-id"]
    _place(place_call, instruction_id, **{"webhook-url": URL})

    result = load_function("deliver_webhooks").handler(sample, LambdaContext())

    assert result == {"batchItemFailures": []}
    [lane] = world.drain(world.lanes_url)
    assert lane["Body"] == sample["Records"][0]["body"]
