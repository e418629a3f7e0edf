"""Hostile review of issue 18's installable event model: events the stack publishes today,
and ones a later minor version may, parsed by a consumer that has this version."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from dtmf_gateway_events import DtmfResult, OtherWebhook, WebhookPayload

DETAIL: dict[str, Any] = {
    "schema-version": "1",
    "instruction-id": "order-7781-pin",
    "call-id": "c-1",
    "caller": "+31201234567",
    "callee": "+31612345678",
    "outcome": "input-received",
    "digits": "4821",
    "result": {"code": 10, "description": "Finished successfully"},
    "metadata": {"order-id": "7781"},
    "queued-at": "2026-11-29T05:15:00.120Z",
    "finished-at": "2026-11-29T05:15:31.842Z",
}


def test_an_erased_result_carries_its_erased_at_as_a_typed_field() -> None:
    """README (Result events): `erased-at` is a key of `DTMF Result` since 0.2 (issue 19), and
    the shipped schema has it; the package modelled every key but this one (its own
    key-for-key test failed on main), so a consumer had to dig it out of `model_extra`."""
    erased = {
        **DETAIL,
        "caller": None,
        "callee": None,
        "digits": None,
        "metadata": {},
        "erased-at": "2026-11-29T06:00:00Z",
    }

    result = DtmfResult.model_validate(erased)

    assert result.erased_at == "2026-11-29T06:00:00Z"
    assert result.model_extra == {}


def test_a_webhook_of_a_detail_type_this_version_does_not_know_still_parses() -> None:
    """The events package promises a minor version may add detail-types, and the webhook body
    carries every result event of the instruction. A receiver on this version answered a new
    `type` with a ValidationError (tagged union), i.e. a 4xx/5xx: 24 hours of retries, then
    the DLQ, for an event it should merely ignore."""
    body = json.dumps({"type": "DTMF Something New", "data": {"instruction-id": "x"}})

    payload = TypeAdapter(WebhookPayload).validate_json(body)

    assert isinstance(payload, OtherWebhook)
    assert payload.type == "DTMF Something New"
    assert payload.data == {"instruction-id": "x"}


def test_known_webhook_types_still_parse_to_their_models() -> None:
    body = json.dumps({"type": "DTMF Result", "data": DETAIL})

    payload = TypeAdapter(WebhookPayload).validate_json(body)

    assert isinstance(payload.data, DtmfResult)
