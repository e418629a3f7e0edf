"""The standalone program: ``python -m cm_simulator``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import cm_simulator
from cm_simulator.cli import build_parser, main

from .helpers import Receiver, instruction

LOCAL = str(Path(cm_simulator.__file__).resolve().parent.parent)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CM_SIMULATOR_PRODUCT_TOKENS"}
    env["PYTHONPATH"] = LOCAL
    env.update(extra)
    return env


@contextmanager
def running(*args: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start the program on a free port; yield (process, first stdout line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cm_simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        yield process, line
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _url(line: str) -> str:
    return line.split(" listening on ")[1].split(maxsplit=1)[0]


def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cm_simulator", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    for text in (
        "--port",
        "--product-token",
        "--time-scale",
        "--callback-retries",
        "--delivery",
        "+31612345001",
    ):
        assert text in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_logs_and_shuts_down_cleanly(receiver: Receiver, cb_path: str, signum: int) -> None:
    with running("--product-token", "tok-1", "--product-token", "tok-2") as (process, line):
        assert line.startswith("cm-simulator listening on http://127.0.0.1:")
        assert "tok-1" in line
        assert "tok-2" in line
        url = _url(line)
        with httpx.Client(
            base_url=url, headers={"X-CM-PRODUCTTOKEN": "tok-2"}, trust_env=False
        ) as c:
            call_id = c.post(
                "/voiceapi/v2/DTMF", json=instruction(callback_url=receiver.base + cb_path)
            ).json()[0]["call-id"]
        [received] = receiver.wait(cb_path)
        assert received.body["call-id"] == call_id
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
    assert f"call {call_id[:8]} +31******678: ringing" in stderr
    assert 'attempt 1: keys "1234" -> digits "1234" (max-digits) valid' in stderr
    assert "callback -> 200" in stderr
    assert "+31612345678" not in stderr  # numbers stay masked
    assert "stopped" in stderr


def test_default_token_and_env_tokens() -> None:
    with running() as (process, line):
        assert cm_simulator.DEFAULT_PRODUCT_TOKEN in line
        process.terminate()
        process.wait(timeout=10)
    with running(CM_SIMULATOR_PRODUCT_TOKENS="env-a, env-b") as (process, line):
        assert "env-a, env-b" in line
        with httpx.Client(base_url=_url(line), trust_env=False) as c:
            ok = c.post(
                "/voiceapi/v2/DTMF", json=instruction(), headers={"X-CM-PRODUCTTOKEN": "env-b"}
            )
            assert ok.status_code == 200
            default = c.post(
                "/voiceapi/v2/DTMF",
                json=instruction(),
                headers={"X-CM-PRODUCTTOKEN": cm_simulator.DEFAULT_PRODUCT_TOKEN},
            )
            assert default.status_code == 401
        process.terminate()
        process.wait(timeout=10)
        assert process.returncode == 0


def test_port_in_use_exits_with_an_error() -> None:
    with running() as (_, line):
        port = _url(line).rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "cm_simulator", "--port", port],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--time-scale", "-1"],
        ["--callback-retries", "-1"],
        ["--delivery", "sometimes"],
        ["--max-callees", "0"],
        ["--log-level", "loud"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2


def test_parser_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.time_scale) == ("127.0.0.1", 8790, 0.002)
    assert (args.callback_retries, args.delivery, args.log_level) == (3, "normal", "INFO")
    assert args.product_tokens is None
