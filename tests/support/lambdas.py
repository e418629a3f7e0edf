"""Test-only helpers for invoking handlers with HTTP API events (payload 2.0); the shared
loading, context and sample events live in devtools/lambdas.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from devtools.lambdas import LambdaContext, sample_event


def http_event(
    sample: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    user_arn: str | None = None,
    path: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event from events/<sample>, as API Gateway builds it.

    ``path``: the public path after `/v1` (`/dtmf-calls/x`) for `rawPath` and
    `requestContext.http.path`, as given (an HTTP API hands them percent-decoded: pass the
    decoded form to model AWS, an encoded one to model a client of a REST API's shape).
    """
    event = sample_event(sample)
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    if headers is not None:
        kept = {k: v for k, v in event["headers"].items() if k.lower() != "idempotency-key"}
        event["headers"] = {**kept, **{k.lower(): v for k, v in headers.items()}}
    if user_arn is not None:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = user_arn
    if path is not None:
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1{path}"
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    if query is not None:
        if query:
            event["queryStringParameters"] = query
        else:
            event.pop("queryStringParameters", None)
        event["rawQueryString"] = urlencode(query)
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
