"""Issue 12, capacity: CM's callbacks are never throttled at rates the stack accepts. The
callback route's throttle and the callback function's reserved concurrency are derived from
the placement limits (template.yaml, above CallbackThrottlingRateLimit; README "Capacity")."""

from __future__ import annotations

import math
from typing import Any

from devtools.template import template
from dtmf_gateway.domain.request_limits import MAX_CALLEES

SECONDS_PER_CALLBACK = 0.1  # the callback's budget the derivation assumes (documented)


def _defaults() -> dict[str, int]:
    parameters: dict[str, Any] = template()["Parameters"]
    return {name: int(p["Default"]) for name, p in parameters.items() if p["Type"] == "Number"}


def test_the_callback_route_takes_every_callback_the_placement_limits_allow() -> None:
    p = _defaults()

    assert p["CallbackThrottlingRateLimit"] >= p["ApiThrottlingRateLimit"] * MAX_CALLEES
    assert p["CallbackThrottlingBurstLimit"] >= p["ApiThrottlingBurstLimit"] * MAX_CALLEES


def test_the_callback_function_can_run_as_many_callbacks_as_its_route_lets_through() -> None:
    p = _defaults()

    needed = math.ceil(p["CallbackThrottlingRateLimit"] * SECONDS_PER_CALLBACK)
    assert p["CallbackReservedConcurrency"] >= needed


def test_the_route_and_the_function_use_those_parameters() -> None:
    resources = template()["Resources"]
    stage = resources["ApiStage"]["Properties"]
    callback = stage["RouteSettings"][resources["CallbackRoute"]["Properties"]["RouteKey"]]
    default = stage["DefaultRouteSettings"]
    function = resources["CmCallbackFunction"]["Properties"]

    assert callback["ThrottlingRateLimit"] == {"Ref": "CallbackThrottlingRateLimit"}
    assert callback["ThrottlingBurstLimit"] == {"Ref": "CallbackThrottlingBurstLimit"}
    assert function["ReservedConcurrentExecutions"] == {"Ref": "CallbackReservedConcurrency"}
    assert default["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert default["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
