"""Helpers for the CM simulator tests: callback receiver, instruction builder, polling."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import httpx
import pytest

from cm_simulator import Simulator

TOKEN = "3f2c9a1e-5b7d-4e60-9c11-2a8d7f4b6e05"
CALLER = "+31201234567"
FAST = 0.0001  # time scale: a 60 s ring takes 6 ms
WAIT = 5.0  # generous real-time limit for anything asynchronous


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """A tiny HTTP server standing in for the product's callback endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._plans: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave in separate writes

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    plan = receiver._plans.get(self.path, [])
                    status = plan.pop(0) if plan else 200
                    receiver._received.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, raw, status
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def respond(self, path: str, statuses: list[int]) -> None:
        """Answer the next requests on ``path`` with ``statuses`` in order, then 200."""
        with self._lock:
            self._plans[path] = list(statuses)

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.path == path]

    def wait(self, path: str, count: int = 1) -> list[Received]:
        return cast(
            list[Received],
            wait_until(
                lambda: (got := self.received(path)) and len(got) >= count and got,
                what=f"{count} callback(s) on {path}",
            ),
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def instruction(**fields: Any) -> dict[str, Any]:
    """A complete, valid instruction; keyword names use ``_`` for ``-``; None removes a key."""
    body: dict[str, Any] = {
        "instruction-id": "order-7781-pin",
        "callee": "+31612345678",
        "caller": CALLER,
        "prompt": "Please type your four digit PIN and finish with the hash key.",
        "prompt-type": "TTS",
        "valid-prompt": "Thank you.",
        "valid-prompt-type": "TTS",
        "invalid-prompt": "That was not right.",
        "invalid-prompt-type": "TTS",
        "min-digits": 4,
        "max-digits": 4,
        "max-attempts": 3,
        "timeout": 5000,
        "terminators": "#",
        "regex": "[0-9]{4}",
    }
    for name, value in fields.items():
        key = name.replace("_", "-")
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def place(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST an instruction that must be accepted; return the call-queued array."""
    response = client.post("/voiceapi/v2/DTMF", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert isinstance(reply, list)
    return cast(list[dict[str, Any]], reply)


def wait_settled(client: httpx.Client, call_id: str) -> dict[str, Any]:
    """Wait until a call record reaches a terminal state; return it."""
    terminal = {"callback-delivered", "callback-failed", "no-callback", "not-dialled", "aborted"}

    def settled() -> dict[str, Any] | None:
        record = cast(dict[str, Any], client.get(f"/_simulator/calls/{call_id}").json())
        return record if record.get("state") in terminal else None

    return cast(dict[str, Any], wait_until(settled, what=f"call {call_id} to settle"))


@contextmanager
def started(token: str = TOKEN, **options: Any) -> Iterator[tuple[Simulator, httpx.Client]]:
    """A dedicated simulator (port 0) and a client sending ``token``."""
    with (
        Simulator(port=0, product_tokens=[token], **options) as sim,
        httpx.Client(base_url=sim.url, headers={"X-CM-PRODUCTTOKEN": token}, trust_env=False) as c,
    ):
        yield sim, c
