"""Test-only helpers for invoking handlers with REST events (the shared loading, context and
sample events live in devtools/lambdas.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from devtools.lambdas import LambdaContext, sample_event


def rest_event(
    sample: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    user_arn: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = sample_event(sample)
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    if headers is not None:
        kept = {k: v for k, v in event["headers"].items() if k.lower() != "idempotency-key"}
        event["headers"] = {**kept, **headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if user_arn is not None:
        event["requestContext"]["identity"]["userArn"] = user_arn
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


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
