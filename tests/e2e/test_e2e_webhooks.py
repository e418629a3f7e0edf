"""Issue 18 through the deployed stack: results POSTed to a `webhook-url`, signed (verified
with the `standardwebhooks` library), retried with backoff, dead-lettered; targets refused.

The local stack deploys with AllowedWebhookHosts=127.0.0.1, WebhookAllowLoopback=true, 1 s
backoff and 4 attempts (scripts/local_stack.py): the receivers here are http servers on
loopback, each scripted with the statuses it answers, in order (the last one repeating).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from stack_client import LocalStack
from standardwebhooks import Webhook

from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering `statuses` in turn (the last repeating)."""

    statuses: list[int]
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/dtmf-results"

    def wait_for(self, count: int, timeout: float, settle: float = 3.0) -> list[Received]:
        """At least `count` deliveries, then `settle` seconds more to catch any extra one."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(settle)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder = Receiver(statuses=[204])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            index = len(holder.received)
            holder.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(holder.statuses[min(index, len(holder.statuses) - 1)])
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    holder.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=holder.server.serve_forever, daemon=True)
    thread.start()
    yield holder
    holder.server.shutdown()
    holder.server.server_close()


@pytest.fixture(scope="module")
def signing_secret(stack: LocalStack) -> str:
    assert stack.webhook_secret_arn, ".local/stack.json has no webhook-secret-arn"
    raw = stack.client("secretsmanager").get_secret_value(SecretId=stack.webhook_secret_arn)
    secret: str = json.loads(raw["SecretString"])["current"]
    assert secret.startswith("whsec_")  # the Standard Webhooks form (contract)
    return secret


def _verified(secret: str, delivery: Received) -> dict[str, Any]:
    event: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return event


def test_each_result_is_delivered_once_per_event_signed(
    stack: LocalStack, receiver: Receiver, signing_secret: str, new_id: str
) -> None:
    callees = ["+31612345601", "+31612345602"]
    stack.script_callee(callees[0], pickup="answer", keys=["4821#"])
    stack.script_callee(callees[1], pickup="no-answer")

    placed = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callees=callees, **{"webhook-url": receiver.url}),
    )

    assert placed.status_code == 202, placed.text
    deliveries = receiver.wait_for(2, timeout=60)
    assert len(deliveries) == 2  # one per result, nothing twice
    events = [_verified(signing_secret, d) for d in deliveries]
    assert {e["type"] for e in events} == {"DTMF Result"}
    by_callee = {e["data"]["callee"]: e["data"] for e in events}
    assert by_callee[callees[0]]["outcome"] == "input-received"
    assert by_callee[callees[0]]["digits"] == "4821"
    assert by_callee[callees[1]]["outcome"] == "unanswered"
    assert {e["data"]["instruction-id"] for e in events} == {new_id}
    ids = [d.headers["webhook-id"] for d in deliveries]
    assert len(set(ids)) == 2
    assert all(i.startswith("msg_") for i in ids)
    # a signature made with another secret does not verify
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(deliveries[0].body, deliveries[0].headers)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    stack: LocalStack, receiver: Receiver, signing_secret: str, new_id: str
) -> None:
    receiver.statuses = [500, 503, 204]
    callee = "+31612345603"
    stack.script_callee(callee, pickup="answer", keys=["1234#"])

    placed = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee=callee, **{"webhook-url": receiver.url}),
    )

    assert placed.status_code == 202, placed.text
    deliveries = receiver.wait_for(3, timeout=60, settle=6)
    assert len(deliveries) == 3  # two failures, the success, and nothing after it
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1  # stable across retries
    assert len({d.body for d in deliveries}) == 1
    event = _verified(signing_secret, deliveries[2])
    assert event["data"]["digits"] == "1234"


def test_a_receiver_that_never_succeeds_ends_in_the_alarmed_dlq(
    stack: LocalStack, receiver: Receiver, new_id: str
) -> None:
    receiver.statuses = [503]
    callee = "+31612345604"
    stack.script_callee(callee, pickup="answer", keys=["9999#"])

    placed = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee=callee, **{"webhook-url": receiver.url}),
    )

    assert placed.status_code == 202, placed.text
    deliveries = receiver.wait_for(4, timeout=90, settle=4)
    assert len(deliveries) == 4  # WebhookMaxAttempts on the local stack, then no more
    sqs = stack.client("sqs")
    letter = _dead_letter_of(sqs, stack.webhook_dlq_url, new_id, timeout=30)
    assert letter["detail"]["callee"] == callee
    # the alarm watches this queue's visible messages (the emulator does not publish AWS/SQS
    # metrics; the same number is read from the queue itself)
    [alarm] = stack.client("cloudwatch").describe_alarms(
        AlarmNames=[f"{stack.stack_name}-webhook-dlq"]
    )["MetricAlarms"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 0
    queue_name = stack.webhook_dlq_url.rsplit("/", 1)[1]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]


def _dead_letter_of(sqs: Any, url: str, instruction_id: str, timeout: float) -> dict[str, Any]:
    """The DLQ message holding `instruction_id`'s event (deleted once found); the queue's
    visible count is above the alarm's threshold (0) while it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        if int(attributes["ApproximateNumberOfMessages"]) > 0:
            for message in sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2
            ).get("Messages", []):
                event: dict[str, Any] = json.loads(message["Body"])
                if event.get("detail", {}).get("instruction-id") == instruction_id:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    return event
        time.sleep(0.5)
    pytest.fail(f"no dead letter for {instruction_id} within {timeout} s")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://hooks.example.com/dtmf", "not allowed on this stack"),
        ("http://localhost:9/dtmf", "not allowed on this stack"),
        ("https://10.0.0.1/dtmf", "not an IP address"),
        ("ftp://127.0.0.1/dtmf", "absolute https URL"),
    ],
)
def test_a_target_not_allowed_is_refused_at_request_time(
    stack: LocalStack, new_id: str, url: str, message: str
) -> None:
    callee = "+31612345605"
    stack.script_callee(callee, pickup="answer", keys=["4821#"])

    refused = stack.api(
        "POST", "/v1/dtmf-calls", instruction(new_id, callee=callee, **{"webhook-url": url})
    )

    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "webhook-url"
    assert message in error["message"]
    assert stack.simulator_calls(**{"instruction-id": new_id}) == []  # nothing placed
    assert stack.api("GET", f"/v1/dtmf-calls/{new_id}").status_code == 404  # nothing stored
