"""Signed webhooks (issue 18): which targets a request may name, what one delivery attempt
does, the backoff, the `webhook-id`, and the signature receivers verify with the
`standardwebhooks` library."""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from dtmf_gateway.adapters.webhooks import HttpWebhookSender, WebhookSigningSecret
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.request import parse_dtmf_call_request
from dtmf_gateway.domain.webhooks import (
    Address,
    DeliverWebhook,
    Verdict,
    WebhookMessage,
    WebhookTarget,
    WebhookTargets,
    lane_of,
    retry_delay,
    webhook_id,
)
from dtmf_gateway.settings import ConfigurationError

TARGETS = WebhookTargets.from_settings("hooks.example.com, Other.Example.org", allow_loopback=False)
LOCAL = WebhookTargets.from_settings("127.0.0.1", allow_loopback=True)
BODY = {
    "callee": "+31612345678",
    "caller": "+31201234567",
    "prompt": "Type your PIN",
    "valid-prompt": "Thanks",
}
EVENT: dict[str, Any] = {
    "id": "5f0c6b9e-2c1a-4e8f-9d7b-3a2c1b0e9f8d",
    "detail-type": "DTMF Result",
    "source": "dtmf-gateway",
    "resources": ["urn:dtmf-gateway:result:order-1:call-1"],
    "detail": {"instruction-id": "order-1", "call-id": "call-1", "digits": "4821"},
}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LWtleQ=="


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/dtmf",
        "https://HOOKS.example.com./dtmf?tenant=7",
        "https://other.example.org:8443/x",
    ],
)
def test_an_https_url_on_an_allowed_host_is_accepted(url: str) -> None:
    request = parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=TARGETS)

    assert request.webhook_url == url
    assert '"webhook-url"' in request.canonical_json()  # part of the idempotency hash


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/dtmf", "absolute https URL"),
        ("https://evil.example.net/dtmf", "'evil.example.net' is not allowed on this stack"),
        ("https://hooks.example.com.evil.net/", "is not allowed on this stack"),
        ("https://127.0.0.1/dtmf", "not an IP address"),
        ("https://[::1]/dtmf", "not an IP address"),
        ("https://169.254.169.254/latest", "not an IP address"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com:port/", "absolute https URL"),
        ("hooks.example.com/dtmf", "absolute https URL"),
        ("https://hooks.example.com/" + "a" * 2048, "at most 2048 characters"),
    ],
)
def test_a_target_not_allowed_is_refused_naming_the_key(url: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_dtmf_call_request({**BODY, "webhook-url": url}, webhook_targets=TARGETS)

    [problem] = refused.value.problems
    assert problem.field == "webhook-url"
    assert message in problem.message


def test_without_allowed_hosts_the_key_is_refused_and_other_problems_are_listed_too() -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_dtmf_call_request(
            {**BODY, "min-digits": 0, "webhook-url": "https://hooks.example.com/"}
        )

    fields = {p.field: p.message for p in refused.value.problems}
    assert set(fields) == {"min-digits", "webhook-url"}
    assert "AllowedWebhookHosts is empty" in fields["webhook-url"]


def test_only_the_local_setting_allows_http_and_loopback() -> None:
    url = "http://127.0.0.1:8123/hook"

    assert LOCAL.problem(url) is None
    assert LOCAL.problem("http://10.1.2.3/hook") == "must name a host, not an IP address"
    assert WebhookTargets.from_settings("127.0.0.1", allow_loopback=False).problem(url) == (
        "must be an absolute https URL"
    )


def test_the_backoff_doubles_to_four_hours_and_the_defaults_span_a_day() -> None:
    assert [retry_delay(n, 60) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert retry_delay(20, 60) == 4 * 3600
    waited = sum(retry_delay(n, 60) for n in range(1, 14))  # between 14 attempts
    assert 23 * 3600 <= waited <= 25 * 3600


def test_the_webhook_id_is_stable_per_result_and_differs_between_results() -> None:
    again = {**EVENT, "id": "another-eventbridge-id"}  # the same result published again
    other = {**EVENT, "resources": ["urn:dtmf-gateway:result:order-1:call-2"]}

    assert webhook_id(EVENT) == webhook_id(again)
    assert webhook_id(EVENT) != webhook_id(other)
    assert webhook_id(EVENT).startswith("msg_")
    assert webhook_id({"id": "x"}) != webhook_id({"id": "y"})  # no resources: the event id


class Urls:
    def __init__(self, url: str | None) -> None:
        self.url = url

    def webhook_target(self, instruction_id: str) -> WebhookTarget | None:
        return None if self.url is None else WebhookTarget(self.url)


class Resolver:
    def __init__(self, *addresses: str) -> None:
        self.addresses: list[Address] = [ipaddress.ip_address(a) for a in addresses]
        self.asked: list[str] = []

    def resolve(self, host: str) -> list[Address]:
        self.asked.append(host)
        return self.addresses


class Sender:
    def __init__(self, answer: str | None = None) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, str]] = []

    def send(
        self, url: str, message_id: str, payload: str, address: Address | None = None
    ) -> str | None:
        self.sent.append((url, message_id, payload))
        return self.answer


def _deliver(
    url: str | None, resolver: Resolver, sender: Sender, targets: WebhookTargets = TARGETS
) -> DeliverWebhook:
    return DeliverWebhook(
        targets=targets,
        urls=Urls(url),
        resolver=resolver,
        sender=sender,
        base_delay_seconds=60,
        max_attempts=3,
    )


MESSAGE = WebhookMessage.from_event(EVENT)


def test_a_delivery_posts_type_and_data_with_the_stable_id() -> None:
    sender = Sender()

    outcome = _deliver("https://hooks.example.com/x", Resolver("93.184.216.34"), sender).attempt(
        MESSAGE, 1
    )

    assert outcome.verdict is Verdict.DELIVERED
    [(url, message_id, payload)] = sender.sent
    assert url == "https://hooks.example.com/x"
    assert message_id == webhook_id(EVENT)
    assert json.loads(payload) == {"type": "DTMF Result", "data": EVENT["detail"]}


@pytest.mark.parametrize(
    "addresses",
    [("127.0.0.1",), ("10.0.0.7",), ("93.184.216.34", "169.254.169.254"), ("::ffff:192.168.1.1",)],
)
def test_a_host_that_now_resolves_to_a_non_public_address_is_never_posted_to(
    addresses: tuple[str, ...],
) -> None:
    sender = Sender()

    outcome = _deliver("https://hooks.example.com/x", Resolver(*addresses), sender).attempt(
        MESSAGE, 1
    )

    assert outcome.verdict is Verdict.RETRY
    assert "non-public address" in outcome.reason
    assert sender.sent == []


def test_failures_back_off_then_give_up_on_the_last_attempt() -> None:
    deliver = _deliver(
        "https://hooks.example.com/x", Resolver("93.184.216.34"), Sender("status 503")
    )

    first, second, last = (deliver.attempt(MESSAGE, n) for n in (1, 2, 3))

    assert (first.verdict, first.delay_seconds, first.reason) == (Verdict.RETRY, 60, "status 503")
    assert (second.verdict, second.delay_seconds) == (Verdict.RETRY, 120)
    assert last.verdict is Verdict.GIVE_UP


def test_an_instruction_without_a_webhook_is_done_and_a_host_no_longer_allowed_is_not_posted() -> (
    None
):
    sender = Sender()

    assert _deliver(None, Resolver(), sender).attempt(MESSAGE, 1).verdict is Verdict.NO_WEBHOOK
    refused = _deliver("https://gone.example.com/x", Resolver("93.184.216.34"), sender)
    outcome = refused.attempt(MESSAGE, 1)
    assert outcome.verdict is Verdict.RETRY
    assert outcome.reason.startswith("target refused")
    unresolved = _deliver("https://hooks.example.com/x", Resolver(), sender).attempt(MESSAGE, 1)
    assert unresolved.reason == "host does not resolve"
    assert sender.sent == []


def test_a_message_that_is_not_a_result_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not a result event"):
        WebhookMessage.from_event({**EVENT, "detail-type": "Something Else"})
    with pytest.raises(ValueError, match="instruction-id"):
        WebhookMessage.from_event({**EVENT, "detail": {}})


class Provider:
    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str, max_age: int) -> str:
        return self.value


def _sender(secret: dict[str, str], handler: Any) -> HttpWebhookSender:
    signing = WebhookSigningSecret(Provider(json.dumps(secret)), secret="s", max_age=300)  # type: ignore[arg-type]
    return HttpWebhookSender(
        signing, connect_timeout=1, total_timeout=2, transport=httpx.MockTransport(handler)
    )


def test_the_post_is_signed_so_the_library_verifies_it_with_either_key_while_rotating() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender = _sender({"current": SECRET, "previous": OLD_SECRET}, handler)

    assert sender.send("https://hooks.example.com/x", "msg_1", '{"type":"DTMF Result"}') is None
    [request] = seen
    headers = dict(request.headers)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for key in (SECRET, OLD_SECRET):
        assert Webhook(key).verify(request.content, headers) == {"type": "DTMF Result"}
    assert headers["webhook-id"] == "msg_1"
    assert abs(int(headers["webhook-timestamp"]) - datetime.now().timestamp()) < 60


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(500), "status 500"),
        (httpx.Response(302, headers={"location": "http://169.254.169.254/"}), "status 302"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "ConnectError: refused"),
    ],
)
def test_anything_but_2xx_is_a_failed_attempt_and_redirects_are_not_followed(
    answer: httpx.Response | Exception, reason: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert _sender({"current": SECRET}, handler).send("https://h.example/x", "m", "{}") == reason


def test_a_malformed_signing_secret_fails_loudly() -> None:
    with pytest.raises(ConfigurationError, match="webhook signing secret"):
        _sender({"previous": SECRET}, lambda _: httpx.Response(204)).send("https://h/x", "m", "{}")


def test_each_host_has_its_lanes_and_a_delivery_keeps_its_lane() -> None:
    ids = [f"msg_{n:032x}" for n in range(200)]

    lanes = {lane_of("https://hooks.example.com/a", i, 3) for i in ids}
    other = {lane_of("https://other.example.org/b", i, 3) for i in ids}

    assert lanes == {
        "hooks.example.com#0",
        "hooks.example.com#1",
        "hooks.example.com#2",
    }
    assert other.isdisjoint(lanes)
    assert lane_of("https://HOOKS.example.com./x?q=1", ids[0], 3) == lane_of(
        "https://hooks.example.com/a", ids[0], 3
    )  # the same host, whatever the path: the same lanes
    assert lane_of("https://hooks.example.com:8443/a", ids[0], 3) == lane_of(
        "https://hooks.example.com/a", ids[0], 3
    )  # another port of the same host: the same lanes (hostile review, issue 18)
    long_host = "https://" + "a" * 60 + "." + "b" * 60 + ".example.com/x"
    assert len(lane_of(long_host, ids[0], 3)) <= 128  # SQS's limit for a message group id


def test_the_lane_of_a_message_follows_its_instructions_webhook() -> None:
    deliver = _deliver("https://hooks.example.com/x", Resolver(), Sender())

    assert deliver.lane(MESSAGE) == lane_of("https://hooks.example.com/x", MESSAGE.webhook_id, 1)
    assert _deliver(None, Resolver(), Sender()).lane(MESSAGE) is None
