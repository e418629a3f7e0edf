"""SnapStart hooks (`dtmf_gateway.snapstart`): what a snapshot of place-call would hold.

ministack does not emulate SnapStart: these tests drive the hooks the way the runtime does,
with a stand-in for the runtime's `snapshot_restore_py` module that records what is registered.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

import pytest

from devtools.lambdas import load_function
from dtmf_gateway import snapstart
from tests.conftest import PRODUCT_TOKEN, SIGNING_KEY


def test_outside_a_snapstart_init_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    monkeypatch.setattr(snapstart, "_installed", [])
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)

    assert snapstart.install() is False
    assert "snapshot_restore_py" not in sys.modules


def test_a_snapstart_init_registers_both_hooks_once(runtime: dict[str, list[Any]]) -> None:
    assert snapstart.install() is True
    assert snapstart.install() is True

    assert runtime == {"before": [snapstart.before_snapshot], "after": [snapstart.after_restore]}


def test_no_secret_or_connection_of_place_call_is_in_the_snapshot(
    runtime: dict[str, list[Callable[[], None]]], function_env: Any
) -> None:
    """Even if init (or a priming step) had read the secrets and called CM, the snapshot
    holds neither the secrets nor the connection; after a restore both are read afresh."""
    app = load_function("place_call")
    [before] = runtime["before"]
    secrets = app.wiring.managed_secrets()
    cm = app.placement._service._cm
    assert secrets.product_token() == PRODUCT_TOKEN  # primed: values cached in memory
    assert secrets.signing_keys().current == SIGNING_KEY.encode()
    cm._loop_and_client()

    before()

    assert secrets._provider.store == {}
    assert getattr(cm._local, "client", None) is None
    assert getattr(cm._local, "loop", None) is None
    assert secrets.product_token() == PRODUCT_TOKEN  # read again from Secrets Manager


def test_every_restored_environment_draws_its_own_random_numbers(
    runtime: dict[str, list[Callable[[], None]]], function_env: Any
) -> None:
    load_function("place_call")
    [after] = runtime["after"]
    random.seed(15)  # the state the snapshot froze
    frozen = random.getstate()

    draws = []
    for _ in range(2):  # two environments resumed from the same snapshot
        random.setstate(frozen)
        after()
        draws.append(random.random())

    random.setstate(frozen)
    assert random.random() not in draws
    assert draws[0] != draws[1]
