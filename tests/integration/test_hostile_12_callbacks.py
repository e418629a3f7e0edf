"""Hostile review of issue 12 (callbacks): any JSON CM sends is recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_callback_handler import (
    callback_body,
    deliver,
    placed,  # noqa: F401 - fixture
    read,
)

# ------------------------------------------------------------------ callbacks: any JSON


def _raw(call_id: str, **result: Any) -> str:
    return json.dumps(callback_body(call_id, result={"code": 10, **result}), ensure_ascii=False)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        # a SIP reason phrase CM decoded from bad bytes: U+FFFD is a character like any other
        ("replacement-character", lambda cid: _raw(cid, **{"sip-disconnect-reason": "verf\ufffd"})),
        ("duplicate-key", lambda cid: _raw(cid)[:-1] + ', "digits": "4821"}'),
        ("deep-nesting", lambda cid: _raw(cid, extra=json.loads("[" * 40 + "]" * 40))),
        ("lone-surrogate", lambda cid: _raw(cid, description="x").replace('"x"', '"\\ud800x"')),
    ],
)
def test_any_json_cm_sends_is_recorded_not_refused(
    placed: dict[str, str],  # noqa: F811 - the fixture
    cm_callback: Any,
    get_call: Any,
    name: str,
    make: Any,
) -> None:
    """README: "Any JSON a callback carries … is recorded, never refused for its values".
    These were 400 on every delivery (the strictness of the POST body), so the call later
    expired and the digits were lost."""
    answer = deliver(cm_callback, None, placed["token"], raw=make(placed["call_id"]))

    assert answer.status == 200, answer.body
    [call] = read(get_call).body["calls"]
    assert (call["status"], call["digits"]) == ("finished", "4821")
