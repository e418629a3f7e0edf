"""Hostile review of issue 15 (HTTP API, payload 2.0): what a client can send the handlers.

Each test is a finding of the review; an expected failure names why it is not fixed yet.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from devtools.lambdas import http_event
from tests.integration.test_paths import ODD_ID, get_event
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import invoke_http


def test_an_empty_idempotency_key_is_refused_not_ignored(place_call: Any, aws: Any) -> None:
    """README: the key is 1-255 printable ASCII characters. An empty `Idempotency-Key`
    header (a client's key variable left unset) was read as *no key*: the request was placed
    without retry protection, so each retry of it rang the callee again."""
    body = {k: v for k, v in sample_body().items() if k != "instruction-id"}

    first = post(place_call, body, key="")

    assert first.status == 422, first.body
    assert first.body["type"].endswith(":invalid-request")
    assert "Idempotency-Key" in first.body["title"]


def _without_identity(event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"].pop("authorizer", None)
    return event


def test_a_request_without_an_iam_identity_is_refused(place_call: Any, get_call: Any) -> None:
    body = {**sample_body(), "instruction-id": "no-identity-1"}
    event = _without_identity(
        http_event("place_call.json", body=body, headers={"Content-Type": "application/json"})
    )
    placed = invoke_http(place_call, event)
    read = invoke_http(get_call, _without_identity(get_event("no-identity-1")))

    assert placed.status == 403, placed.body
    assert read.status in (403, 404), read.body


def test_a_double_encoded_id_is_not_decoded_twice_on_the_http_api_shape(
    place_call: Any, get_call: Any
) -> None:
    assert post(place_call, {**sample_body(), "instruction-id": ODD_ID}).status == 202
    # what AWS's HTTP API hands the function for the client path .../order%253A7781:
    # decoded once, by API Gateway
    once_decoded = quote(ODD_ID, safe="")  # order%3A7781

    read = invoke_http(get_call, get_event(once_decoded))

    assert read.status == 404, read.body
