"""What binds an ``Idempotency-Key`` to a placement before CM is called (issue 15): the hash of
the canonical body the key is bound to, and until when the attempt that reserves the
instruction may still be placing it. Every keyed placement uses these; answering a retry from
the instruction it meets is `domain.placement_replay` (loaded only when a retry meets one, so
not at place-call's cold start: tests/unit/test_cold_path_imports.py).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtmf_gateway.domain.digits_protection import DigitKeys, canonical_body

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import DigitKeySource
    from dtmf_gateway.domain.request import DtmfCallRequest

#: How long an invocation that reserved an instruction may still be placing it when Lambda
#: gave no deadline (outside Lambda): Lambda's maximum function timeout.
MAX_PLACING = timedelta(seconds=900)
_HASH_BYTES = 16  # 128 bits of sha256: tells the bodies sent with one key apart


class _FixedKeys:
    """A `DigitKeySource` that always gives ``keys`` (the previous key, as the current one)."""

    __slots__ = ("keys",)

    def __init__(self, keys: DigitKeys) -> None:
        self.keys = keys

    def digit_keys(self) -> DigitKeys:
        return self.keys


def body_hash(body: str) -> str:
    """The hash a keyed instruction keeps of the canonical body it was placed with: the first
    128 bits of its sha256, base64url without padding (22 characters)."""
    digest = hashlib.sha256(body.encode()).digest()[:_HASH_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def canonical_bodies(request: DtmfCallRequest, keys: DigitKeySource | None) -> tuple[str, ...]:
    """The request's canonical body under the current digits key, then (issue 19:
    expected-digits are hashed with a key, which rotates) under the previous one if any."""
    bodies = [canonical_body(request, keys)]
    if request.expected_digits is not None and keys is not None:
        previous = keys.digit_keys().previous
        if previous is not None:
            bodies.append(canonical_body(request, _FixedKeys(DigitKeys(previous))))
    return tuple(bodies)


def placing_until(created_at: datetime, seconds: float | None) -> int:
    """Until when (epoch seconds) the attempt that reserves now may still be placing: the
    invocation's remaining time (``seconds``), else :data:`MAX_PLACING`."""
    window = MAX_PLACING if seconds is None else timedelta(seconds=max(0.0, seconds))
    return int((created_at + window).timestamp()) + 1
