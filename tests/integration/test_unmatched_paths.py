"""A path the resolver's routes do not match is 404 on GET and 403 on the callback route
(issue 12: no token can be valid for it), never 500. API Gateway hands
`{instruction-id}` on with any character but `/` (decoded: `%22` → `"`, `%00` → NUL);
Powertools' routes accept fewer, and answer the rest with `NotFoundError` — which the
catalogue's catch-all `Exception` turned into a 500 logged as "unexpected error" (with no
exception, `NoneType: None`): anyone could raise the functions' error count and alarms, the
callback route without any credentials."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SESSION_LOG
from tests.integration.test_callback_handler import callback_body, deliver, read

ODD_IDS = ['say"hi', "nul\x00", "back\\slash", "a`b", "a/b"]


@pytest.mark.parametrize("instruction_id", ODD_IDS)
def test_get_of_an_id_no_route_matches_is_404(get_call: Any, instruction_id: str) -> None:
    logged = len(SESSION_LOG)

    response = read(get_call, instruction_id)

    assert response.status == 404, response.body
    assert response.problem["type"] == "urn:dtmf-gateway:problem:not-found"
    assert not [line for line in SESSION_LOG[logged:] if '"level":"ERROR"' in line]


@pytest.mark.parametrize("instruction_id", ODD_IDS)
def test_callback_to_an_id_no_route_matches_is_403(cm_callback: Any, instruction_id: str) -> None:
    logged = len(SESSION_LOG)

    response = deliver(cm_callback, callback_body("c-1"), "forged", instruction_id=instruction_id)

    assert response.status == 403, response.body
    assert response.problem["type"] == "urn:dtmf-gateway:problem:forbidden"
    assert not [line for line in SESSION_LOG[logged:] if '"level":"ERROR"' in line]
