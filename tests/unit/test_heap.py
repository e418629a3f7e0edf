"""`dtmf_gateway.heap`: in Lambda, a function's init ends with its objects frozen out of the
garbage collector's later collections; elsewhere (tests, tools) nothing is frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.lambdas import load_function


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process collects what each test drops


@pytest.mark.parametrize("folder", ["place_call", "cm_callback", "publish_results"])
def test_in_lambda_init_ends_with_its_objects_frozen(
    folder: str, unfrozen: None, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")
    monkeypatch.setenv("EVENT_BUS_NAME", "results")  # the publisher's own settings
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/dlq")

    app = load_function(folder)

    assert gc.get_freeze_count() > 0
    tracked = {id(o) for o in gc.get_objects()}  # every generation a collection traverses
    assert id(app.__dict__) not in tracked  # the function's module: frozen with its init
    assert id(app.handler) not in tracked


def test_outside_lambda_nothing_is_frozen(
    unfrozen: None, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)

    app = load_function("place_call")

    assert gc.get_freeze_count() == 0
    assert id(app.__dict__) in {id(o) for o in gc.get_objects()}


API_AND_STREAM = [
    "place_call",
    "get_call",
    "list_calls",
    "cancel_call",
    "erase_personal_data",
    "cm_callback",
    "publish_results",
]  # and campaigns (its init needs the campaign fixtures; it ends like the other API functions)


@pytest.mark.parametrize("folder", API_AND_STREAM)
def test_in_lambda_init_runs_without_the_collector_and_ends_with_it_on(
    folder: str, unfrozen: None, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new execution environment (the pausing module not yet imported): every collection
    pass is skipped from the handler module's first import to its last init step, and the
    collector is on for the requests."""
    import sys

    from dtmf_gateway import heap

    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")
    monkeypatch.setenv("EVENT_BUS_NAME", "results")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/dlq")
    monkeypatch.delitem(sys.modules, "dtmf_gateway.init_begins", raising=False)
    seen: list[bool] = []
    freeze = heap.freeze_init_objects

    def last_init_step() -> bool:
        seen.append(gc.isenabled())
        return freeze()

    monkeypatch.setattr(heap, "freeze_init_objects", last_init_step)
    try:
        load_function(folder)
        assert seen and seen[-1] is False  # init ran to its end without the collector
        assert gc.isenabled()
    finally:
        gc.enable()


def test_outside_lambda_init_keeps_the_collector(
    unfrozen: None, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.delenv("AWS_EXECUTION_ENV", raising=False)
    monkeypatch.delitem(sys.modules, "dtmf_gateway.init_begins", raising=False)
    paused: list[bool] = []
    monkeypatch.setattr(gc, "disable", lambda: paused.append(True))

    load_function("place_call")

    assert paused == []
    assert gc.isenabled()
