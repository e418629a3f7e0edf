"""Each function refuses to start without the settings it needs, naming the variable."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.lambdas import load_function
from dtmf_gateway.settings import ConfigurationError
from tests.conftest import _reset_caches


@pytest.mark.parametrize(
    ("function", "variable"),
    [
        ("place_call", "TABLE_NAME"),
        ("place_call", "CM_PRODUCT_TOKEN_SECRET"),
        ("place_call", "CALLBACK_BASE_URL"),
        ("place_call", "PLACEMENT_RECORDINGS_QUEUE_URL"),  # issue 15: needed before a deferral
        ("record_placements", "TABLE_NAME"),
        ("cm_callback", "CALLBACK_SIGNING_SECRET"),
        ("cm_callback", "TABLE_NAME"),
        ("get_call", "TABLE_NAME"),
        ("expire_calls", "TABLE_NAME"),
        ("publish_results", "EVENT_BUS_NAME"),
    ],
)
def test_a_missing_setting_fails_the_cold_start_by_name(
    function_env: Any, monkeypatch: pytest.MonkeyPatch, function: str, variable: str
) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "results")
    monkeypatch.delenv(variable)
    _reset_caches()

    with pytest.raises(ConfigurationError, match=f"environment variable {variable} must be set"):
        load_function(function)

    _reset_caches()


def test_the_publisher_fails_its_cold_start_without_its_table(
    function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 (stop 7): the publisher reads its results' instructions (erased or not)
    before publishing; without the table it would publish what an erasure removed."""
    monkeypatch.setenv("EVENT_BUS_NAME", "results")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/dlq")
    monkeypatch.delenv("TABLE_NAME")
    _reset_caches()

    with pytest.raises(ConfigurationError, match="TABLE_NAME"):
        load_function("publish_results")

    _reset_caches()


def test_the_publisher_fails_its_cold_start_without_its_dead_letter_queue(
    function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "results")
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    _reset_caches()

    with pytest.raises(ConfigurationError, match="DEAD_LETTER_QUEUE_URL"):
        load_function("publish_results")

    _reset_caches()
