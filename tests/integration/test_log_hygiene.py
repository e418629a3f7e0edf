"""No digits, no full phone numbers, no tokens or secrets in anything the product logs.

Runs last (marker `log_audit`): it audits every log line of the whole session — every
placement, refusal, CM failure and callback the other tests drove — plus a battery of its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from devtools.cm import queued
from tests.conftest import PRODUCT_TOKEN, SESSION_LOG, SIGNING_KEY
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_place_call_handler import post, sample_body

# 9-15 digits, not inside an ARN or an id (masked numbers look like +31******678)
FULL_NUMBER = re.compile(r"(?<![\w*:.-])(\+|00)?[1-9]\d{8,14}(?![\w:.-])")
CALLBACK_TOKEN = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{43}(?![\w-])")
TYPED = ("4821", "1234", "12", "333", "48a1")


#: Fields that hold an instruction id, which the product logs by design: a client's id may be
#: 43 characters of the base64url alphabet, like a callback token (test_paths generates such
#: ids at random), and is no secret.
ID_FIELDS = ("correlation_id", "instruction_id")


def _values(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            v
            for key, value in node.items()
            if key not in ID_FIELDS
            for v in [str(key), *_values(value)]
        ]
    if isinstance(node, list):
        return [v for item in node for v in _values(item)]
    return [str(node)]


@pytest.mark.log_audit
def test_logs_never_contain_digits_numbers_or_secrets(
    place_call: Any, cm: Any, cm_callback: Any
) -> None:
    # a battery of its own, so the audit is never vacuous
    cm.replies = [queued, lambda _: httpx.Response(400, json={"message": "bad"})]
    placed = post(place_call, sample_body())
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))
    post(place_call, {**sample_body(), "instruction-id": "other"})
    post(place_call, {**sample_body(), "callee": "+31900123456"})
    post(place_call, {**sample_body(), "min-digits": 99})

    lines = [line for line in SESSION_LOG if line.strip()]
    assert len(lines) > 50, "the audit needs the session's logs"
    offending = []
    for line in lines:
        try:
            values = _values(json.loads(line))
        except ValueError:
            values = [line]
        for value in values:
            if (
                FULL_NUMBER.search(value)
                or CALLBACK_TOKEN.search(value)
                or PRODUCT_TOKEN in value
                or SIGNING_KEY in value
                or value in TYPED
                or ("digits" in value.lower() and any(t in value for t in TYPED))
            ):
                offending.append(f"{value!r} in {line[:300]}")
                break
    assert offending == []
