"""POSTing ``dtmf-finished`` callbacks with retries and backoff.

CM does not document retries; the sandbox retries every non-2xx answer and connection
error ``retries`` times, waiting ``backoff_ms * 2**(n-1)`` simulated milliseconds before
retry n, so a product can be tested against a flaky receiver.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx

from cm_simulator.state import now_iso

logger = logging.getLogger("cm_simulator")

USER_AGENT = "cm-simulator"


class DeliveryMode(StrEnum):
    """How callbacks reach the receiver."""

    NORMAL = "normal"  # one callback per call, as soon as the call ends
    DUPLICATE = "duplicate"  # every callback is delivered twice
    OUT_OF_ORDER = "out-of-order"  # multi-callee instructions: held, then last callee first


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry settings of one delivery."""

    retries: int = 3
    backoff_ms: int = 1000
    time_scale: float = 0.002

    def backoff_seconds(self, attempt: int) -> float:
        """Real seconds to wait after failed attempt ``attempt`` (1-based)."""
        return self.backoff_ms * (1 << (attempt - 1)) / 1000 * self.time_scale


def new_client(timeout: float) -> httpx.Client:
    """HTTP client for callbacks: no proxies from the environment, no redirects."""
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)


def deliver(
    client: httpx.Client,
    url: str,
    body: Mapping[str, object],
    *,
    policy: DeliveryPolicy,
    cancel: threading.Event,
    on_attempt: Callable[[dict[str, object]], None],
    label: str,
    copy: int = 1,
) -> bool:
    """POST ``body`` to ``url`` until a 2xx answer or the retries are used up.

    ``on_attempt`` receives one record per attempt. Stops early (returns False) when
    ``cancel`` is set before an attempt. Returns True once a 2xx was received.
    """
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    attempts = policy.retries + 1
    for attempt in range(1, attempts + 1):
        if cancel.is_set():
            return False
        status: int | None = None
        error: str | None = None
        try:
            status = client.post(url, content=data, headers=headers).status_code
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: client closed at stop
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ok = status is not None and 200 <= status < 300
        if status is not None and not ok:
            error = f"HTTP {status}"
        on_attempt(
            {"attempt": attempt, "copy": copy, "status": status, "error": error, "at": now_iso()}
        )
        outcome = str(status) if status is not None else error
        if ok:
            logger.info("%s: callback -> %s", label, outcome)
            return True
        if attempt == attempts:
            logger.warning(
                "%s: callback -> %s, giving up after %d attempt(s)", label, outcome, attempts
            )
            return False
        wait = policy.backoff_seconds(attempt)
        logger.info(
            "%s: callback -> %s, retry %d/%d in %.3f s (%d simulated ms)",
            label,
            outcome,
            attempt,
            policy.retries,
            wait,
            policy.backoff_ms * (1 << (attempt - 1)),
        )
        if cancel.wait(wait):
            return False
    return False
