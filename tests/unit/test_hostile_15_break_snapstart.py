"""Hostile review of issue 15 (r5-break): SnapStart's hooks as Lambda drives them, then real
requests — the priming's canned answers must not answer a real request, and a restore whose
secret reads fail still serves (held)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from devtools.lambdas import http_event, sample_event
from dtmf_gateway import wiring
from tests.support.lambdas import invoke_http

Hooks = dict[str, list[Callable[[], None]]]


def _place(place_call: Any, key: str) -> Any:
    body = json.loads(sample_event("place_call.json")["body"])
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    return invoke_http(place_call, http_event("place_call.json", body=body, headers=headers))


def test_after_a_restore_placements_reach_the_real_table_and_replay(
    runtime: Hooks, place_call: Any, function_env: Any
) -> None:
    """Held: the before-snapshot priming's in-process answers stay inert for real requests:
    the restored environment's placement is in the table, and its keyed retry is replayed
    from it (a canned answer would have made the write vanish)."""
    [before], [after] = runtime["before"], runtime["after"]
    before()
    after()

    first = _place(place_call, "snap-1")
    again = _place(place_call, "snap-1")

    assert first.status == 202
    pk = f"instruction#{first.body['instruction-id']}"
    assert any(i["pk"] == pk and i["sk"] == "instruction" for i in function_env.items())
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"


def test_a_restore_whose_every_secret_read_fails_still_places_once_secrets_answer(
    runtime: Hooks, place_call: Any, function_env: Any
) -> None:
    """Held: every GetSecretValue in the after-restore hook throttled: the hook returns (the
    restore goes on), and the first request reads both secrets itself."""
    [before], [after] = runtime["before"], runtime["after"]
    before()
    events = wiring.managed_secrets().aws_client.meta.events

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "Get")

    events.register("before-call.secrets-manager.GetSecretValue", refuse, unique_id="t")
    try:
        after()
    finally:
        events.unregister("before-call.secrets-manager.GetSecretValue", unique_id="t")

    answer = _place(place_call, "snap-2")

    assert answer.status == 202
