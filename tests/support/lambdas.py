"""Test-only helpers for invoking HTTP handlers; the shared loading, context and events
(`http_event`, payload 2.0) live in devtools/lambdas.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from devtools.lambdas import LambdaContext


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def problem(self) -> dict[str, Any]:
        assert self.headers.get("Content-Type") == "application/problem+json", self.headers
        assert isinstance(self.body, dict)
        return self.body


def invoke_http(module: ModuleType, event: dict[str, Any]) -> HttpResult:
    response = module.handler(event, LambdaContext())
    raw = response.get("body")
    headers = {**response.get("headers", {})}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(key, values[-1])
    return HttpResult(
        status=response["statusCode"], headers=headers, body=json.loads(raw) if raw else None
    )
