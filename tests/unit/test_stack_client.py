"""The local stack's Python client (local/stack_client.py) as the README uses it."""

from __future__ import annotations

import json

import httpx

from local.stack_client import LocalStack


def test_script_callee_takes_python_keyword_names_as_the_simulator_does() -> None:
    """A newcomer writes `reply_delay_seconds=2` as for `Simulator.script_callee`: it reaches
    the simulator as `reply-delay-seconds` (it used to be a 400 `Unknown field`)."""
    sent: list[dict[str, object]] = []

    def simulator(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={})

    stack = LocalStack(
        api_url="http://127.0.0.1:1/api",
        cm_simulator_url="http://127.0.0.1:2",
        aws_endpoint_url="http://127.0.0.1:3",
        region="eu-west-1",
        stack_name="s",
        event_bus_name="b",
        table_name="t",
        http=httpx.Client(transport=httpx.MockTransport(simulator)),
    )

    stack.script_callee(
        "+31612345678",
        pickup="answer",
        reply_delay_seconds=2,
        **{"callback-extra": {"a_b": 1}},
    )

    assert sent == [{"pickup": "answer", "reply-delay-seconds": 2, "callback-extra": {"a_b": 1}}]
