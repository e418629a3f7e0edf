"""RFC 9457 problem+json responses: one shape for every error the API returns."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:dtmf-gateway:problem:"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response[str]:
    body = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **(extensions or {}),
    }
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(body),
        headers=headers,
    )


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=(headers or {}).get("Content-Type", "application/json"),
        body=json.dumps(body),
        headers={k: v for k, v in (headers or {}).items() if k != "Content-Type"} or None,
    )
