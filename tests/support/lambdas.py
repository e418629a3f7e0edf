"""Load a function's `app.py` the way Lambda does (one module per function) and invoke it."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tests.support.template import ROOT


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/dtmf-gateway/test"
    log_stream_name: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_function(folder: str) -> ModuleType:
    """Import functions/<folder>/app.py fresh, under a unique module name."""
    name = f"fn_{folder}_app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / folder / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    """A copy of events/<name> (the same files `sam local invoke -e` uses)."""
    return copy.deepcopy(json.loads((ROOT / "events" / name).read_text()))


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
