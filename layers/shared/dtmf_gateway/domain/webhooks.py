"""Signed webhooks: which `webhook-url` targets are allowed, and how one delivery goes.

The contract (README, "Webhooks"): an instruction's result events (`DTMF Result`, `DTMF Call
Not Placed`) are POSTed to its `webhook-url` as ``{"type": <detail-type>, "data": <detail>}``,
signed per the Standard Webhooks specification (https://www.standardwebhooks.com/), retried
with exponential backoff, then dead-lettered.

Targets are checked twice (the rules: `domain.webhook_targets`): when the request names them
(:meth:`WebhookTargets.problem`: https, a host of the stack's `AllowedWebhookHosts`, no IP
literal) and before every delivery
(:meth:`DeliverWebhook.attempt`: the host's addresses, freshly resolved, must all be public —
DNS may have changed since). Loopback targets (and http) are allowed only where the stack says
so (`WebhookAllowLoopback`, the local stack's own setting, refused by the template elsewhere).

Knows nothing of httpx, SQS or DynamoDB: the use case talks to the ports below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from dtmf_gateway.domain.webhook_targets import (
    Address,
    WebhookTargets,
    _host_name,
    _literal,
)

#: The result detail-types a webhook receives (the README's "Result events").
WEBHOOK_DETAIL_TYPES: Final = ("DTMF Result", "DTMF Call Not Placed")
#: Longest delay between two attempts: SQS's maximum visibility timeout is 12 hours.
MAX_RETRY_DELAY_SECONDS: Final = 4 * 3600
_MAX_VISIBILITY_SECONDS: Final = 12 * 3600
_MAX_GROUP_TARGET: Final = 100


def webhook_id(event: Mapping[str, Any]) -> str:
    """The `webhook-id` of a result event: ``msg_`` + 32 hex of SHA-256 over the event's
    deterministic `resources[0]` (one per result, the same on every re-publication of it;
    README, "Result events"), or over its EventBridge `id` when it has none. The same on
    every retry, so receivers deduplicate on it (Standard Webhooks, "webhook-id")."""
    resources = event.get("resources") or []
    anchor = str(resources[0]) if resources else f"event:{event.get('id', '')}"
    return "msg_" + hashlib.sha256(anchor.encode()).hexdigest()[:32]


def lane_of(url: str, message_id: str, lanes: int) -> str:
    """The delivery lane (the FIFO message group) of a delivery: the target's host and one of
    `lanes` lanes per host, chosen by the `webhook-id` (so all attempts of one delivery share
    a lane). A FIFO queue hands each group to one consumer at a time: at most `lanes`
    deliveries to one host run at once, whatever its backlog. The port is not part of it: a
    client may name any port, and one host on many ports is still one slow receiver."""
    target = _host_name(urlsplit(url).hostname)
    if len(target) > _MAX_GROUP_TARGET:  # a message group id has at most 128 characters
        target = hashlib.sha256(target.encode()).hexdigest()
    lane = int(hashlib.sha256(message_id.encode()).hexdigest()[:8], 16) % max(1, lanes)
    return f"{target}#{lane}"


def webhook_payload(detail_type: str, detail: Mapping[str, Any]) -> str:
    """The body POSTed: compact JSON ``{"type": <detail-type>, "data": <detail>}``."""
    return json.dumps(
        {"type": detail_type, "data": detail}, ensure_ascii=False, separators=(",", ":")
    )


def retry_delay(attempt: int, base_seconds: int) -> int:
    """Seconds to wait after failed attempt number `attempt` (1 = the first): `base_seconds`
    doubled per attempt, at most MAX_RETRY_DELAY_SECONDS (4 h). With the template's defaults
    (base 60 s, 14 attempts) the last attempt comes about 24 h after the first."""
    return int(min(base_seconds * 2 ** max(0, attempt - 1), MAX_RETRY_DELAY_SECONDS))


class Verdict(StrEnum):
    """What came of one delivery attempt."""

    DELIVERED = "delivered"
    NO_WEBHOOK = "no-webhook"  # the instruction has no webhook-url (or is gone)
    RETRY = "retry"  # failed; try again after `delay_seconds`
    GIVE_UP = "give-up"  # failed on the last attempt: the queue dead-letters it now


@dataclass(frozen=True, slots=True)
class Attempt:
    verdict: Verdict
    reason: str = ""
    delay_seconds: int = 0


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """One result event to deliver: its ids, type and detail (as published)."""

    webhook_id: str
    instruction_id: str
    detail_type: str
    detail: Mapping[str, Any]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebhookMessage:
        """From an EventBridge event (the queue message's body, decoded); ValueError when
        it is not a result event of this stack."""
        detail = event.get("detail")
        detail_type = event.get("detail-type")
        if detail_type not in WEBHOOK_DETAIL_TYPES or not isinstance(detail, dict):
            raise ValueError(f"not a result event (detail-type {detail_type!r})")
        instruction_id = detail.get("instruction-id")
        if not isinstance(instruction_id, str) or not instruction_id:
            raise ValueError("the event's detail has no instruction-id")
        return cls(webhook_id(event), instruction_id, str(detail_type), detail)


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where an instruction's events go, and whether its personal data was erased since."""

    url: str
    erased_at: str | None = None


class WebhookUrls(Protocol):
    def webhook_target(self, instruction_id: str) -> WebhookTarget | None:
        """The instruction's `webhook-url` and `erased-at`, or None (no webhook given, or
        the instruction is gone)."""


#: What an erasure (issue 19) removes from a result event's detail: null numbers and
#: digits, empty metadata.
_ERASED_NULLS: Final = ("caller", "callee", "digits")


def erased_detail(detail: Mapping[str, Any], erased_at: str) -> dict[str, Any]:
    """`detail` as the publisher would build it after the erasure: `caller`, `callee`,
    `digits` null (`callees` all null), `metadata` empty, `erased-at` set (an earlier mark
    stays). A delivery still waiting in the gateway's own queues when the instruction is
    erased is posted like this, never with the numbers and digits it was queued with."""
    out = dict(detail)
    for key in _ERASED_NULLS:
        if key in out:
            out[key] = None
    if isinstance(out.get("callees"), list):
        out["callees"] = [None] * len(out["callees"])
    if "metadata" in out:
        out["metadata"] = {}
    out["erased-at"] = out.get("erased-at") or erased_at
    return out


class HostResolver(Protocol):
    def resolve(self, host: str) -> list[Address]:
        """Every address `host` resolves to now (empty when it does not resolve)."""


class WebhookSender(Protocol):
    def send(
        self, url: str, message_id: str, payload: str, address: Address | None = None
    ) -> str | None:
        """POST the signed payload; None when the receiver answered 2xx, else why not
        (``"status 503"``, ``"timeout"``, ...). `address`: connect there (one the target was
        checked to resolve to), not wherever a second DNS lookup points."""


class DeliverWebhook:
    """One attempt to deliver one result event to its instruction's webhook."""

    def __init__(
        self,
        *,
        targets: WebhookTargets,
        urls: WebhookUrls,
        resolver: HostResolver,
        sender: WebhookSender,
        base_delay_seconds: int,
        max_attempts: int,
        lanes_per_host: int = 1,
    ) -> None:
        self._lanes = lanes_per_host
        self._targets = targets
        self._urls = urls
        self._resolver = resolver
        self._sender = sender
        self._base = base_delay_seconds
        self._max_attempts = max_attempts

    def _failed(self, attempt: int, reason: str) -> Attempt:
        if attempt >= self._max_attempts:
            return Attempt(Verdict.GIVE_UP, reason)
        delay = min(retry_delay(attempt, self._base), _MAX_VISIBILITY_SECONDS)
        return Attempt(Verdict.RETRY, reason, delay)

    def lane(self, message: WebhookMessage) -> str | None:
        """The delivery lane of `message` (see lane_of), or None when its instruction has no
        webhook (nothing to deliver)."""
        target = self._urls.webhook_target(message.instruction_id)
        return None if target is None else lane_of(target.url, message.webhook_id, self._lanes)

    def attempt(self, message: WebhookMessage, attempt: int) -> Attempt:
        """Attempt number `attempt` (1 = the first) for `message`: the target re-checked
        (allowlist, then every address of a fresh DNS resolution), signed and POSTed."""
        target = self._urls.webhook_target(message.instruction_id)
        if target is None:
            return Attempt(Verdict.NO_WEBHOOK)
        url = target.url
        refused = self._targets.problem(url)
        if refused is not None:
            return self._failed(attempt, f"target refused: {refused}")
        host = (urlsplit(url).hostname or "").rstrip(".")
        literal = _literal(host)
        resolved = [literal] if literal is not None else self._resolver.resolve(host)
        if not resolved:
            return self._failed(attempt, "host does not resolve")
        unsafe = self._targets.unsafe_addresses(resolved)
        if unsafe:
            return self._failed(attempt, f"host resolves to a non-public address ({unsafe[0]})")
        detail = message.detail
        if target.erased_at is not None:  # issue 19: erased while this delivery waited
            detail = erased_detail(detail, target.erased_at)
        problem = self._sender.send(
            url,
            message.webhook_id,
            webhook_payload(message.detail_type, detail),
            address=resolved[0],  # pinned: no second lookup can rebind it
        )
        if problem is not None:
            return self._failed(attempt, problem)
        return Attempt(Verdict.DELIVERED)
