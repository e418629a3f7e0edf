"""SnapStart: the secrets are read afresh in the after-restore hook, not frozen in the snapshot
and not left to the first request; a read that fails there does not fail the restore.

The runtime's hooks are driven as Lambda drives them (the `runtime` fixture's stand-in for
`snapshot_restore_py`); Secrets Manager is moto, and every GetSecretValue the function's own
client makes is counted at its botocore events, where a throttled read is also injected.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devtools.lambdas import http_event, sample_event
from dtmf_gateway import wiring
from tests.conftest import PRODUCT_TOKEN, SIGNING_KEY
from tests.support.lambdas import invoke_http

Hooks = dict[str, list[Callable[[], None]]]
_READ = "provide-client-params.secrets-manager.GetSecretValue"
_SEND = "before-call.secrets-manager.GetSecretValue"


def _first_request(place_call: Any) -> Any:
    body = json.loads(sample_event("place_call.json")["body"])
    event = http_event("place_call.json", body=body, headers={"Content-Type": "application/json"})
    return invoke_http(place_call, event)


@pytest.fixture
def reads() -> Iterator[list[str]]:
    """The SecretId of every GetSecretValue the function's secrets client makes from now on."""
    seen: list[str] = []
    events = wiring.managed_secrets().aws_client.meta.events

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["SecretId"])

    events.register(_READ, record, unique_id="test-reads")
    yield seen
    events.unregister(_READ, unique_id="test-reads")


@contextlib.contextmanager
def throttled() -> Iterator[None]:
    """Every GetSecretValue of the function's secrets client fails as Secrets Manager's
    throttling does, until the block ends."""

    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
            "GetSecretValue",
        )

    events = wiring.managed_secrets().aws_client.meta.events
    events.register(_SEND, refuse, unique_id="test-throttled")
    try:
        yield
    finally:
        events.unregister(_SEND, unique_id="test-throttled")


def test_place_call_reads_its_secrets_after_restore_and_none_on_its_first_request(
    runtime: Hooks, place_call: Any, function_env: Any, reads: list[str]
) -> None:
    [before], [after] = runtime["before"], runtime["after"]
    secrets = wiring.managed_secrets()
    before()  # priming runs here: it reads no secret (tests/unit/test_priming.py)
    assert secrets._provider.store == {}  # nothing secret in the snapshot
    reads.clear()  # priming's GetSecretValue, answered in-process

    after()  # an environment resumed from the snapshot

    assert sorted(reads) == sorted([function_env.product_token_secret, function_env.signing_secret])
    assert secrets.product_token() == PRODUCT_TOKEN
    assert secrets.signing_keys().current == SIGNING_KEY.encode()
    reads.clear()

    answer = _first_request(place_call)

    assert answer.status == 202
    assert reads == []  # the first request found both secrets cached


def test_cm_callback_reads_only_the_signing_secret_after_restore(
    runtime: Hooks, cm_callback: Any, function_env: Any, reads: list[str]
) -> None:
    [before], [after] = runtime["before"], runtime["after"]
    before()
    reads.clear()  # priming's GetSecretValue, answered in-process
    after()

    assert reads == [function_env.signing_secret]  # it never uses CM's product token


def test_a_throttled_read_after_restore_leaves_it_to_the_first_request(
    runtime: Hooks, place_call: Any, function_env: Any, reads: list[str]
) -> None:
    [before], [after] = runtime["before"], runtime["after"]
    before()
    reads.clear()  # priming's GetSecretValue, answered in-process
    with throttled():
        after()  # does not raise: the restore goes on without the secrets

    assert wiring.managed_secrets()._provider.store == {}
    assert len(reads) == 2  # both were tried
    reads.clear()

    answer = _first_request(place_call)

    assert answer.status == 202
    assert sorted(reads) == sorted([function_env.product_token_secret, function_env.signing_secret])


def test_no_refresher_starts_once_the_restore_budget_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lambda times a restore out after 10 s of after-restore hooks: a refresher that would
    start after REFRESH_BUDGET_SECONDS is left to the first request (hostile review, #15)."""
    from dtmf_gateway import snapstart

    clock = iter([0.0, 0.5, snapstart.REFRESH_BUDGET_SECONDS + 0.1])
    monkeypatch.setattr(snapstart.time, "monotonic", lambda: next(clock))
    ran: list[str] = []
    monkeypatch.setattr(snapstart, "_forget", [])
    monkeypatch.setattr(
        snapstart, "_refresh", [lambda: ran.append("token"), lambda: ran.append("keys")]
    )

    snapstart.after_restore()

    assert ran == ["token"]
