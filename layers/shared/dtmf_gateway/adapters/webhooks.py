"""Webhook delivery's outside world: the signing secret, DNS, the signed POST, the retry queue.

- Signing secret (Secrets Manager, through Powertools' cached provider): JSON
  ``{"current": "whsec_...", "previous": "whsec_..."}`` (``previous`` optional; a value
  without the ``whsec_`` prefix is its base64 part). While ``previous`` is set every delivery
  carries both signatures, space-separated, so receivers can switch at their own pace
  (Standard Webhooks, "Signature scheme"). Signed with the `standardwebhooks` library.
- The POST: httpx with explicit connect and total timeouts, no redirects followed (a redirect
  could lead anywhere: it counts as a failed attempt), no proxy from the environment.
- The queues (`SqsWebhookQueue`, `SqsWebhookLanes`, `SqsWebhookDeadLetters`): a delivery
  waits in the webhook queue, is attempted from its host's lane in the FIFO lanes queue, and
  goes back to the webhook queue (delayed) to wait out its backoff, or to the DLQ after its
  last attempt.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import socket
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx
from standardwebhooks import Webhook

from dtmf_gateway.settings import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

    from dtmf_gateway.domain.webhook_targets import Address

USER_AGENT = "dtmf-gateway-webhooks"
_MAX_REASON = 200


def _key(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a webhook signing key must be a string")
    return value


@lru_cache(maxsize=4)
def _signers(raw: str) -> tuple[Webhook, ...]:
    """The current (then the previous) key of a secret value, parsed once per value."""
    try:
        data = json.loads(raw)
        current, previous = _key(data["current"]), _key(data.get("previous") or "")
        signers = tuple(Webhook(key) for key in (current, previous) if key.strip())
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(
            'the webhook signing secret must be JSON {"current": "whsec_...", "previous": ...}'
        ) from error
    # No current key is a broken rotation: signing with `previous` alone (or with the text
    # "None" of a JSON null, as before) would hide it until every receiver failed.
    if not current.strip():
        raise ConfigurationError("the webhook signing secret has no current key")
    return signers


class WebhookSigningSecret:
    """The webhook signing keys through one Powertools provider (cached `max_age` seconds,
    so a rotation reaches every function within that)."""

    def __init__(self, provider: SecretsProvider, *, secret: str, max_age: int) -> None:
        self._provider = provider
        self._secret = secret
        self._max_age = max_age

    def signature(self, message_id: str, at: datetime, payload: str) -> str:
        """The `webhook-signature` header: ``v1,<base64>`` per key, space-separated."""
        raw = str(self._provider.get(self._secret, max_age=self._max_age))
        return " ".join(s.sign(message_id, at, payload) for s in _signers(raw))


class HttpWebhookSender:
    """`WebhookSender`: one signed POST (Standard Webhooks headers) per call."""

    def __init__(
        self,
        secret: WebhookSigningSecret,
        *,
        connect_timeout: float,
        total_timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._total = total_timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT},
            transport=transport,
            # a new connection per attempt: the deadline below cuts the socket it saw opened
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def send(
        self, url: str, message_id: str, payload: str, address: Address | None = None
    ) -> str | None:
        at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self._secret.signature(message_id, at, payload),
        }
        deadline = _Deadline(self._total)
        try:
            target, extensions = _pinned(url, address, headers)
            # Streamed, and the body never read: only the status counts, and a receiver could
            # otherwise drip its body (each read inside the read timeout) or make it huge.
            with self._http.stream(
                "POST",
                target,
                content=payload.encode(),
                headers=headers,
                extensions={**extensions, "trace": deadline.trace},
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return "timeout"
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as error:
            if deadline.passed:
                return "timeout"
            # InvalidURL is no HTTPError: a URL stored before today's checks must fail this
            # attempt, not the whole batch
            return f"{type(error).__name__}: {str(error)[:_MAX_REASON]}"
        finally:
            deadline.cancel()
        if 200 <= status < 300:
            return None
        return f"status {status}"


class _Deadline:
    """The attempt's total timeout. httpx's timeouts are per operation (each read, each
    write), so a receiver sending its headers a byte at a time, each inside the read timeout,
    could hold an attempt indefinitely; at the deadline this shuts the attempt's socket down
    (seen through httpcore's `trace` extension), which fails the blocked read at once."""

    def __init__(self, seconds: float) -> None:
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.passed = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._lock:
                    self._sockets.append(sock)
                    if self.passed:
                        _shut(sock)

    def _cut(self) -> None:
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _pinned(
    url: str, address: Address | None, headers: dict[str, str]
) -> tuple[httpx.URL, dict[str, str]]:
    """The request for `url` connected to `address` (when given): the IP in the URL, the
    name in the Host header and, for https, in SNI — so the certificate is still checked
    against the name, and no second DNS lookup decides where the payload goes."""
    parsed = httpx.URL(url)
    if address is None:
        return parsed, {}
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    headers["host"] = parsed.netloc.decode("ascii")
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return parsed.copy_with(host=str(address)), extensions


class DnsResolver:
    """`HostResolver` through the system resolver (getaddrinfo), every address family."""

    def resolve(self, host: str) -> list[Address]:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return []
        addresses: list[Address] = []
        for *_, sockaddr in infos:
            try:
                address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            except ValueError:
                continue
            if address not in addresses:
                addresses.append(address)
        return addresses


class SqsWebhookQueue:
    """The webhook queue: result events from the bus, and retries waiting out their backoff
    (message attribute `attempt`: attempts made so far; `not-before`: epoch seconds before
    which it must not be attempted, for backoffs beyond SQS's 15-minute delay)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue = queue_url

    def defer(self, receipt_handle: str, seconds: int) -> None:
        """Make a message visible again in `seconds` (0-43200)."""
        self._sqs.change_message_visibility(
            QueueUrl=self._queue, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )

    def retry(self, body: str, *, attempts: int, delay_seconds: int, now: float) -> None:
        """The event again, to be attempted in `delay_seconds` (`now`: epoch seconds)."""
        delay = min(delay_seconds, _MAX_SQS_DELAY)
        attributes = _number_attributes(attempt=attempts)
        if delay_seconds > delay:
            attributes |= _number_attributes(**{"not-before": int(now + delay_seconds)})
        self._sqs.send_message(
            QueueUrl=self._queue,
            MessageBody=body,
            DelaySeconds=delay,
            MessageAttributes=attributes,
        )


class SqsWebhookLanes:
    """The delivery lanes: a FIFO queue, one message group per host lane (lane_of)."""

    def __init__(self, client: SQSClient, lanes_url: str) -> None:
        self._sqs = client
        self._lanes = lanes_url

    def to_lane(
        self, body: str, *, lane: str, message_id: str, attempt: int, source: str = ""
    ) -> None:
        """Queue a delivery attempt in its lane, deduplicated per webhook-id, attempt and
        `source` — the webhook-queue message it comes from, so SQS's redelivery of that
        message is deduplicated but a replay from the DLQ (a fresh set of attempts, from
        attempt 0 again) is not: SQS drops a FIFO message whose deduplication id it accepted
        in the last 5 minutes, even after that one was deleted."""
        tag = hashlib.sha256(source.encode()).hexdigest()[:16]
        self._sqs.send_message(
            QueueUrl=self._lanes,
            MessageBody=body,
            MessageGroupId=lane,
            MessageDeduplicationId=f"{message_id}-{attempt}-{tag}",
            MessageAttributes=_number_attributes(attempt=attempt),
        )


class SqsWebhookDeadLetters:
    """The webhook DLQ: the result event as it came, and why (attribute `reason`); a replay
    starts its attempts afresh."""

    def __init__(self, client: SQSClient, dlq_url: str) -> None:
        self._sqs = client
        self._dlq = dlq_url

    def dead_letter(self, body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._dlq,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:_MAX_REASON] or "-"}
            },
        )


_MAX_SQS_DELAY = 900  # SendMessage DelaySeconds: at most 15 minutes


def _number_attributes(**values: int) -> dict[str, MessageAttributeValueTypeDef]:
    return {k: {"DataType": "Number", "StringValue": str(v)} for k, v in values.items()}
