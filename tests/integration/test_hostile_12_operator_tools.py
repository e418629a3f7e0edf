"""Hostile review of issue 12 (operator tools): republish and rederive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scripts import rederive
from tests.integration.test_place_call_handler import call_items
from tests.integration.test_republish import (
    _ended_call,
    _instruction,
    _put,
    _range,
    _run,
    republish,
)

# ------------------------------------------------------------------ re-publish, re-derive


def test_republishing_a_range_never_publishes_held_or_set_aside_calls(
    function_env: Any, bus: Any
) -> None:
    """README: a held call is "stored but not published", a set-aside one "never
    published". `republish.py range` published both: a second result for one callee."""
    _put(function_env, _instruction(1, ["+31612345678"]))
    _put(function_env, _ended_call(1, minutes_ago=30))
    aside = {"sk": "call#stray", "call-id": "stray", "hold": "set-aside", "digits": "9999"}
    held = {"sk": "call#early", "call-id": "early", "hold": "awaiting-placement"}
    _put(function_env, _ended_call(1, minutes_ago=30, **aside))
    _put(function_env, _ended_call(1, minutes_ago=30, **held))

    assert _run(function_env, bus, "--apply", *_range()) == 0

    assert [e["resources"][0] for e in bus.received()] == ["urn:dtmf-gateway:result:i-1:c-1"]


def _finished_with_body(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return _ended_call(1, minutes_ago=30, **{"callback-body": json.dumps(body), **changes})


def test_rederiving_with_another_digits_key_keeps_digits_sent_under_digits(
    function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rederive --digits-key dtmf` over a range turned every call whose body carried its
    digits under `digits` into `no-input` and published that as a correction: real PINs
    wiped by the tool meant to recover them."""
    instruction = {**_instruction(1, ["+31612345678"]), "request": {"min-digits": 4}}
    _put(function_env, instruction)
    body = {"type": "dtmf-finished", "call-id": "c-1", "digits": "4821", "result": {"code": 10}}
    _put(function_env, _finished_with_body(body))
    window = ["--table", function_env.table_name, "--from", "2000-01-01T00:00:00Z"]
    window += ["--to", "2100-01-01T00:00:00Z", "--digits-key", "dtmf", "--apply"]

    rederive.main(window)

    assert "0 to correct" in capsys.readouterr().out
    [call] = call_items(function_env)
    assert (call["outcome"], call["digits"], call.get("revision")) == (
        "input-received",
        "4821",
        None,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["range", "--since", "yesterday", "--until", "2026-11-29T06:00:00Z"],
        ["--table", "no-such-table", "range", "--since", "2026-11-29T05:00:00Z", "--until", "x"],
        ["--table", "no-such-table", *_range()],
    ],
)
def test_republish_bad_arguments_are_named_without_a_traceback(
    function_env: Any, bus: Any, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*args] if "--table" in args else ["--table", function_env.table_name, *args]
    with pytest.raises(SystemExit) as stopped:
        republish.main(["--bus", bus.name, *argv])

    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--table", "t", "--from", "yesterday", "--to", "2026-11-29T06:00:00Z"],
        ["--table", "no-such-table", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02"],
    ],
)
def test_rederive_bad_arguments_are_named_without_a_traceback(
    function_env: Any, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        rederive.main(args)

    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err
