"""Callback tokens: an HMAC of the instruction id under a server secret (nothing stored).

The secret has a current and an optional previous key so it can be rotated without breaking
calls already in flight: new URLs are signed with the current key, tokens made with either
key are accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

TOKEN_LENGTH = 43  # base64url of a SHA-256 MAC without padding


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The callback signing key (``current``, at least 32 bytes: ValueError otherwise) and the
    one it replaced (``previous``), still accepted while a rotation settles.

    (A dataclass without a docstring computes one from its signature at class creation:
    ``inspect.signature``, CPU on every cold start.)"""

    current: bytes
    previous: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.current) < 32:
            raise ValueError("the callback signing key must be at least 32 bytes")


def _mac(key: bytes, instruction_id: str) -> str:
    digest = hmac.new(key, b"dtmf-callback:" + instruction_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def callback_token(keys: SigningKeys, instruction_id: str) -> str:
    return _mac(keys.current, instruction_id)


def token_is_valid(keys: SigningKeys, instruction_id: str, token: str | None) -> bool:
    """Constant-time check against the current and the previous key."""
    if not token or len(token) != TOKEN_LENGTH:
        return False
    presented = token.encode()
    ok = hmac.compare_digest(presented, _mac(keys.current, instruction_id).encode())
    if keys.previous is not None:
        ok |= hmac.compare_digest(presented, _mac(keys.previous, instruction_id).encode())
    return ok
