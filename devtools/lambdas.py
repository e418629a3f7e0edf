"""Load a function's `app.py` the way Lambda does (one module per function), its context
object, and the sample events of events/ (the ones `sam local invoke -e` uses)."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from devtools.template import ROOT


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


def load_function(folder: str, *, prefix: str = "fn") -> ModuleType:
    """Import functions/<folder>/app.py fresh, as module ``<prefix>_<folder>_app``.

    Raises whatever the module raises at load (ImportError, ConfigurationError, ...)."""
    name = f"{prefix}_{folder}_app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / folder / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"functions/{folder}/app.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    """A copy of events/<name> (the same files `sam local invoke -e` uses)."""
    return copy.deepcopy(json.loads((ROOT / "events" / name).read_text()))


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
