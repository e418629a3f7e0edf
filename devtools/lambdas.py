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
