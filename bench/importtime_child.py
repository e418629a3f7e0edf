# Child of bench.importtime --breakdown: what the handler module's own load-time work costs,
# by kind. Wraps the calls that build things at module load (pydantic models and adapters,
# httpx clients, AWS clients, Powertools resolvers, policies, compiled patterns from product
# code), then imports `app` once and reports the time spent inside each kind (outermost calls
# only) against the whole import.
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import botocore.session
import httpx
import pydantic
import regex
from aws_lambda_powertools.event_handler import api_gateway
from pydantic._internal import _model_construction

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_ACTIVE: set[str] = set()
FIRST_PARTY = ("/dtmf_gateway/", "/functions/")


def _timed(label: str, original: Callable[..., Any], *, own_code: bool = False) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_code.co_filename  # attribution only
        if label in _ACTIVE or (own_code and not any(p in caller for p in FIRST_PARTY)):
            return original(*args, **kwargs)
        _ACTIVE.add(label)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += (time.perf_counter() - start) * 1000
            CALLS[label] += 1
            _ACTIVE.discard(label)

    return wrapper


meta = _model_construction.ModelMetaclass
meta.__new__ = staticmethod(_timed("pydantic model classes", meta.__new__))  # type: ignore[method-assign]
pydantic.TypeAdapter.__init__ = _timed("pydantic TypeAdapter()", pydantic.TypeAdapter.__init__)  # type: ignore[method-assign]
httpx.Client.__init__ = _timed(
    "httpx.Client() (TLS context, certifi bundle)", httpx.Client.__init__
)  # type: ignore[method-assign]
botocore.session.Session.create_client = _timed(  # type: ignore[method-assign]
    "AWS clients (botocore create_client)", botocore.session.Session.create_client
)
api_gateway.ApiGatewayResolver.__init__ = _timed(  # type: ignore[method-assign]
    "Powertools resolver()", api_gateway.ApiGatewayResolver.__init__
)
re.compile = _timed("re.compile from product code", re.compile, own_code=True)
regex.compile = _timed("regex.compile from product code", regex.compile, own_code=True)

start = time.perf_counter()
__import__("app")
total = (time.perf_counter() - start) * 1000
sys.stdout.write(
    "BENCH-RESULT " + json.dumps({"total_ms": total, "spent_ms": SPENT, "calls": CALLS}) + "\n"
)
