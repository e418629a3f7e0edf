"""A scriptable stand-in for CM's DTMF endpoint, as an httpx MockTransport.

Handler tests and the benchmarks use it to see exactly what reached "CM" and how often; the
full CM behaviour (ringing, keys, callbacks) lives in the CM simulator (local/cm_simulator).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Reply = Callable[[dict[str, Any]], httpx.Response]


def queued(body: dict[str, Any], *, as_object: bool = False) -> httpx.Response:
    """CM's success reply: one call-queued element per callee (an array, or a bare object)."""
    callees = body.get("callees") or [body["callee"]]
    items = [
        {
            "type": "call-queued",
            "call-id": str(uuid.uuid4()),
            "instruction-id": body.get("instruction-id"),
            "caller": body["caller"],
            "callee": callee,
            "success": True,
        }
        for callee in callees
    ]
    return httpx.Response(200, json=items[0] if as_object else items)


@dataclass
class FakeCm:
    """Answers each request with the next scripted reply (the last one repeats)."""

    replies: list[Reply | Exception] = field(default_factory=lambda: [queued])
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply(json.loads(request.content))

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]
