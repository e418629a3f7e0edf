"""Problems (RFC 9457 `application/problem+json`) the API answers, as typed exceptions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

PROBLEM_PREFIX = "urn:dtmf-gateway:problem:"


@dataclass(frozen=True)
class FieldError:
    """One offending field: its JSON name (`min-digits`, `callees[2]`) and why."""

    field: str
    message: str


class DtmfGatewayError(Exception):
    """Any answer that is not a success. `type` is the problem type's slug (`invalid-request`,
    `instruction-id-in-use`, ...; `None` when the answer was not a problem, e.g. API Gateway's
    own 403), `errors` the offending fields (422), `retry_after` seconds to wait (429, 409
    in flight, 503) or None, `problem` the whole body."""

    def __init__(
        self,
        status: int,
        type: str | None,
        title: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        retry_after: float | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after
        self.problem = problem or {}
        super().__init__(f"{status} {type or title}: {detail}")


class InvalidRequest(DtmfGatewayError):
    """400, 415 or 422: the request itself is wrong; nothing was stored or placed."""


class Forbidden(DtmfGatewayError):
    """403: refused by a dialling rule (`type` names it) or by IAM (`type` None)."""


class NotFound(DtmfGatewayError):
    """404: unknown, another principal's, or past its retention."""


class Conflict(DtmfGatewayError):
    """409: the instruction-id is in use, or this Idempotency-Key is still in flight."""


class RateLimited(DtmfGatewayError):
    """429: a rate or per-callee limit; wait `retry_after` seconds when given."""


class CmFailure(DtmfGatewayError):
    """502/504: CM refused, or its answer is unknown (the instruction is then `unknown`:
    never placed again by a retry)."""


class ServerError(DtmfGatewayError):
    """500 or 503: the gateway failed; a placement retried with its Idempotency-Key never
    rings twice."""


_BY_STATUS: dict[int, type[DtmfGatewayError]] = {
    400: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    502: CmFailure,
    504: CmFailure,
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return max(0.0, seconds)  # `inf` stays: longer than any wait the client sleeps out


def error_of(response: httpx.Response) -> DtmfGatewayError:
    """The exception of a non-2xx answer."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    raw_type = problem.get("type")
    slug = raw_type.removeprefix(PROBLEM_PREFIX) if isinstance(raw_type, str) else None
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in problem.get("errors") or []
        if isinstance(e, dict)
    ]
    kind = _BY_STATUS.get(response.status_code, ServerError)
    detail = str(problem.get("detail") or problem.get("message") or response.text[:500])
    if response.status_code == 404 and slug is None:
        # API Gateway's own 404: no route matched — not an unknown instruction (that one is
        # a `not-found` problem). E.g. `cancel`/`list` on a stack without the round-2 routes.
        route = f"{response.request.method} {response.url.path}"
        detail = f"this stack serves no such route ({route}): {detail}"
    return kind(
        response.status_code,
        slug,
        str(problem.get("title") or response.reason_phrase),
        detail,
        errors=errors,
        retry_after=_retry_after(response),
        problem=problem,
    )
