"""Which `webhook-url` targets the stack accepts: the check a request's `webhook-url` passes when
the request names it (`WebhookTargets.problem`: https, a host of the stack's
`AllowedWebhookHosts`, no IP literal), and the address rule every delivery applies again
(`WebhookTargets.unsafe_addresses`, README "Webhooks").

Its own module so that place-call, which checks targets but never delivers, does not load the
delivery's use case, records and ports (`domain.webhooks`) at its cold start.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit

#: Longest `webhook-url` accepted (characters).
MAX_WEBHOOK_URL_LENGTH: Final = 2048

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NOT_A_URL: Final = "must be an absolute https URL"


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
