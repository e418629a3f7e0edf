"""The API's response bodies, once: what the handlers answer, what the idempotency layer
stores and replays, and what `scripts/generate_openapi.py` documents in schemas/openapi.json.
The read routes' views (GET and list) are in `api.read_models`: place-call, which never
answers with one, does not load them at its cold start (tests/unit/test_cold_path_imports.py).

Rendered with `render` (kebab-case keys; a field left unset is left out, an explicit None is
`null`), so what a handler answers is exactly what the OpenAPI description promises.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from dtmf_gateway.settings import settings

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
#: Every API answer names the version of the stack that gave it (DTMF_GATEWAY_VERSION, the
#: stack's `Version` output): `with_version` stamps it, the one way a response gets it.
VERSION_HEADER = "DTMF-Gateway-Version"


class _Kebab(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class _LaterKebab(_Kebab):
    """A model most functions never use on their first request (the GET view, the callback's
    answer, problems): its validator is built on first use, not at every function's cold
    start. A function that answers with one on its normal path builds it at load (`build`)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)


def build(*models: type[BaseModel]) -> None:
    """Build deferred models now (at a function's load): its first request must not pay."""
    for model in models:
        model.model_rebuild()


class QueuedCall(_Kebab):
    call_id: str | None = Field(alias="call-id")
    callee: str
    status: Literal["queued", "not-placed", "scheduled"]
    error: str | None = Field(default=None, description="why CM did not queue this callee")
    # round 2 (#16)
    scheduled_for: str | None = Field(
        default=None,
        alias="scheduled-for",
        description="a scheduled instruction: when the gateway intends to place this call",
    )


class PlacementAccepted(_Kebab):
    instruction_id: str = Field(alias="instruction-id")
    status: Literal["queued", "scheduled"]
    calls: list[QueuedCall]


class CallbackAcknowledged(_LaterKebab):
    """What CM's callback gets back: recorded now, recorded but held until the placement
    confirms the call, a duplicate of a recorded one, or a callback of another type than
    dtmf-finished, ignored."""

    status: Literal["recorded", "held", "duplicate", "ignored"]


class FieldError(_LaterKebab):
    field: str
    rule: str | None = None
    message: str


class Problem(_LaterKebab):
    """RFC 9457 problem details; `type` is urn:dtmf-gateway:problem:<slug>."""

    # built on the first problem a function answers (never the first request's normal path)
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    type: str
    title: str
    status: int
    detail: str
    rules: list[str] | None = None
    errors: list[FieldError] | None = None
    instruction_id: str | None = Field(default=None, alias="instruction-id")
    instruction_status: str | None = Field(default=None, alias="instruction-status")


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON value of a response body (unset fields left out)."""
    return model.model_dump(by_alias=True, mode="json", exclude_unset=True)


def render(model: BaseModel) -> str:
    return json.dumps(dump(model))


def json_response(body: BaseModel | dict[str, Any], status: int = 200) -> Response[str]:
    """An application/json answer of a response model (or a small fixed dict)."""
    text = render(body) if isinstance(body, BaseModel) else json.dumps(body)
    return Response(status_code=status, content_type=JSON, body=text)


def with_version(response: Response[Any]) -> Response[Any]:
    """`response` with the `DTMF-Gateway-Version` header: the stack's semantic version
    (environment DTMF_GATEWAY_VERSION, e.g. ``0.2.0``; ``unknown`` when it is not set)."""
    response.headers[VERSION_HEADER] = settings().version
    return response
