"""Signed webhooks: which `webhook-url` targets are allowed, and how one delivery goes.

The contract (README, "Webhooks"): an instruction's result events (`DTMF Result`, `DTMF Call
Not Placed`) are POSTed to its `webhook-url` as ``{"type": <detail-type>, "data": <detail>}``,
signed per the Standard Webhooks specification (https://www.standardwebhooks.com/), retried
with exponential backoff, then dead-lettered.

Targets are checked twice: when the request names them (:meth:`WebhookTargets.problem`: https,
a host of the stack's `AllowedWebhookHosts`, no IP literal) and before every delivery
(:meth:`DeliverWebhook.attempt`: the host's addresses, freshly resolved, must all be public —
DNS may have changed since). Loopback targets (and http) are allowed only where the stack says
so (`WebhookAllowLoopback`, the local stack's own setting, refused by the template elsewhere).

Knows nothing of httpx, SQS or DynamoDB: the use case talks to the ports below.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import SplitResult, urlsplit

#: The result detail-types a webhook receives (the README's "Result events").
WEBHOOK_DETAIL_TYPES: Final = ("DTMF Result", "DTMF Call Not Placed")
#: Longest `webhook-url` accepted (characters).
MAX_WEBHOOK_URL_LENGTH: Final = 2048
#: Longest delay between two attempts: SQS's maximum visibility timeout is 12 hours.
MAX_RETRY_DELAY_SECONDS: Final = 4 * 3600
_MAX_VISIBILITY_SECONDS: Final = 12 * 3600

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NOT_A_URL: Final = "must be an absolute https URL"
_MAX_GROUP_TARGET: Final = 100


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


_NUMERIC_LABEL: Final = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")


def _ends_in_number(host: str) -> bool:
    """The WHATWG URL standard's "ends in a number": such a host is an IPv4 address in some
    notation (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) to browsers, curl and
    getaddrinfo alike — never a DNS name."""
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels.pop()
    return bool(_NUMERIC_LABEL.fullmatch(labels[-1]))


def is_public(address: Address) -> bool:
    """True for a globally routable unicast address: not loopback, link-local, private
    (RFC 1918, ULA), shared (RFC 6598), multicast, reserved or unspecified (Python's
    `ipaddress.is_global`, which follows the IANA special-purpose registries). An
    IPv4-mapped IPv6 address, and one of the NAT64 well-known prefix (64:ff9b::/96, which a
    NAT64 gateway translates to the IPv4 address it embeds, private ones included), is judged
    by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False  # fec0::/10, deprecated but still routed inside some networks
    # is_global alone lets ::/8 through (IPv4-compatible ::7f00:1, SIIT ::ffff:0:a00:7):
    # IANA reserves it, and README promises never a reserved range
    return address.is_global and not address.is_multicast and not address.is_reserved


_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def _host_name(hostname: str | None) -> str:
    """The host of a URL as compared with `AllowedWebhookHosts`: lower case, one trailing dot
    (the root label) dropped — only one: `example.com..` is not a DNS name."""
    host = (hostname or "").lower()
    return host[:-1] if host.endswith(".") else host


@dataclass(frozen=True, slots=True)
class WebhookTargets:
    """The stack's webhook policy: `AllowedWebhookHosts` (exact host names, compared
    case-insensitively; empty = no webhooks) and whether loopback/http targets are allowed
    (`WebhookAllowLoopback`, the local stack only)."""

    allowed_hosts: frozenset[str]
    allow_loopback: bool = False

    @classmethod
    def from_settings(cls, allowed_hosts: str, *, allow_loopback: bool) -> WebhookTargets:
        """From the comma-separated `AllowedWebhookHosts` parameter."""
        hosts = frozenset(h.strip().lower().rstrip(".") for h in allowed_hosts.split(","))
        return cls(frozenset(h for h in hosts if h), allow_loopback)

    def _address_allowed(self, address: Address) -> bool:
        return is_public(address) or (self.allow_loopback and address.is_loopback)

    def problem(self, url: str) -> str | None:
        """Why `url` cannot be a `webhook-url` on this stack (the message the client reads,
        422), or None when it can."""
        if not self.allowed_hosts:
            return "webhooks are not enabled on this stack (its AllowedWebhookHosts is empty)"
        if len(url) > MAX_WEBHOOK_URL_LENGTH:
            return f"must be at most {MAX_WEBHOOK_URL_LENGTH} characters"
        try:
            parts = urlsplit(url)
            host = _host_name(parts.hostname)
            port = parts.port  # a port that is not a number raises here
        except ValueError:
            return _NOT_A_URL
        if port == 0:
            return _NOT_A_URL
        return self._shape_problem(url, parts.scheme, host) or self._host_problem(host, parts)

    def _shape_problem(self, url: str, scheme: str, host: str) -> str | None:
        schemes = ("https", "http") if self.allow_loopback else ("https",)
        # whitespace, control characters (C0, DEL, C1), line separators, lone surrogates: no
        # URL holds them, and httpx refuses them only when the delivery is attempted
        if (
            scheme not in schemes
            or not host
            or any(c.isspace() or not c.isprintable() for c in url)
        ):
            return _NOT_A_URL
        return None

    def _host_problem(self, host: str, parts: SplitResult) -> str | None:
        if parts.username is not None or parts.password is not None:
            return "must not carry a user name or password (the payload is signed instead)"
        if parts.fragment:
            return "must not have a fragment (#...)"
        literal = _literal(host)
        if literal is not None and not (self.allow_loopback and literal.is_loopback):
            return "must name a host, not an IP address"
        if literal is None and _ends_in_number(host):
            return "must name a host, not an IP address"
        if host not in self.allowed_hosts:
            allowed = ", ".join(sorted(self.allowed_hosts))
            return f"host {host!r} is not allowed on this stack (AllowedWebhookHosts: {allowed})"
        return None

    def unsafe_addresses(self, addresses: Sequence[Address]) -> list[Address]:
        """Those of a target host's resolved `addresses` a delivery must never go to
        (empty: all are safe)."""
        return [a for a in addresses if not self._address_allowed(a)]


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
