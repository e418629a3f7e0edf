"""The HTTP side: ``POST /voiceapi/v2/DTMF``, the ``/_simulator`` scripting API and the
:class:`Simulator` that ties validation, call flow, store and delivery together."""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self, cast
from urllib.parse import urlsplit

from cm_simulator.core import (
    DTMF_PATH,
    MAX_CALLBACK_RETRIES,
    Answer,
    callback_body,
    check_dtmf_request,
    is_simulator_path,
    new_record,
    queued_item,
    simulator_api,
)
from cm_simulator.core import (
    RunSettings as _Settings,
)
from cm_simulator.core import (
    check_settings as _check_settings,
)
from cm_simulator.delivery import DeliveryMode, DeliveryPolicy, deliver, new_client
from cm_simulator.flow import CallSettings, Pickup, Script, describe_attempt, simulate
from cm_simulator.regex_guard import RegexGuard
from cm_simulator.scripts import (
    DEFAULT_BEHAVIOUR,
    MAGIC_NUMBERS,
    CalleeScript,
    Entry,
    ReplyCalleeFormat,
    ScriptedCall,
    parse_number,
    parse_script,
    resolve,
)
from cm_simulator.state import Store, now_iso
from cm_simulator.validation import (
    DEFAULT_MAX_CALLEES,
    Instruction,
    normalize_number,
    problem_details,
)

logger = logging.getLogger("cm_simulator")

__version__ = "0.1.0"

#: Well-known sandbox product token, accepted when no token is configured.
DEFAULT_PRODUCT_TOKEN = "00000000-0000-4000-8000-000000000000"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790
DEFAULT_TIME_SCALE = 0.002
DEFAULT_CALLBACK_RETRIES = 3
MAX_BODY_BYTES = 1024 * 1024
#: Longest pause between two pieces of a dripped reply body (real seconds).
DRIP_INTERVAL_S = 0.1


def log_refusal(answer: Answer) -> None:
    """Log why ``POST /voiceapi/v2/DTMF`` was refused: field names only (the messages may
    quote numbers from the request), never the token."""
    if answer.status == HTTPStatus.UNAUTHORIZED:
        logger.info("request refused (401): missing or unknown X-CM-PRODUCTTOKEN")
    elif answer.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:
        logger.info("request refused (415): Content-Type is not JSON")
    elif isinstance(answer.body, dict) and isinstance(answer.body.get("errors"), dict):
        logger.info("request refused (%d): bad %s", answer.status, ", ".join(answer.body["errors"]))


def mask_number(number: str) -> str:
    """``+31612345678`` -> ``+31******678`` (numbers stay masked in logs)."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 6) + number[-3:]


class _Generation:
    """Cancellation of everything started before a reset or stop."""

    def __init__(self) -> None:
        self.calls = threading.Event()  # abort simulations (and held callbacks)
        self.deliveries = threading.Event()  # stop (re)trying callbacks


class _Group:
    """Callbacks of one multi-callee instruction held for out-of-order delivery."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._slots: list[Callable[[], None] | None] = [None] * size
        self._remaining = size

    def finish(self, position: int, send: Callable[[], None]) -> list[Callable[[], None]]:
        """Park a callback; the last call to finish gets them all, last callee first."""
        with self._lock:
            self._slots[position] = send
            self._remaining -= 1
            if self._remaining:
                return []
            return [s for s in reversed(self._slots) if s is not None]


@dataclass(frozen=True)
class Queued:
    """An accepted instruction: the ``call-queued`` reply, how slowly to send it, and a
    function that starts the calls (to run once the reply was sent, or failed to be)."""

    reply: list[dict[str, object]]
    launch: Callable[[], None]
    delay_seconds: float = 0.0  # real seconds before the reply (``reply-delay-seconds``)
    drip_seconds: float = 0.0  # real seconds the reply body takes (``reply-drip-seconds``)
    cancel: threading.Event = field(default_factory=threading.Event)  # set by reset/stop


@dataclass(frozen=True)
class _CallJob:
    """Everything a call's worker thread needs."""

    call_id: str
    callee: str
    instruction: Instruction
    call_settings: CallSettings
    scripted: ScriptedCall | None
    settings: _Settings
    generation: _Generation
    group: _Group | None
    position: int

    @property
    def label(self) -> str:
        return f"call {self.call_id[:8]} {mask_number(self.callee)}"


class Simulator:
    """A running stand-in for CM's ``POST /voiceapi/v2/DTMF``.

    >>> with Simulator(port=0) as sim:  # doctest: +SKIP
    ...     client_base_url = sim.url  # e.g. http://127.0.0.1:40123
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        product_tokens: Iterable[str] | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        callback_retries: int = DEFAULT_CALLBACK_RETRIES,
        delivery_mode: DeliveryMode | str = DeliveryMode.NORMAL,
        max_callees: int = DEFAULT_MAX_CALLEES,
        retry_backoff_ms: int = 1000,
        callback_timeout: float = 10.0,
        regex_timeout: float = 1.0,
        shutdown_grace: float = 2.0,
        log_keys: bool = True,
    ) -> None:
        tokens = tuple(t.strip() for t in (product_tokens or ()) if t.strip())
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        if not 0 <= callback_retries <= MAX_CALLBACK_RETRIES:
            raise ValueError(f"callback_retries must be 0-{MAX_CALLBACK_RETRIES}")
        if max_callees < 1:
            raise ValueError("max_callees must be >= 1")
        self.host = host
        self._requested_port = port
        self.product_tokens: tuple[str, ...] = tokens or (DEFAULT_PRODUCT_TOKEN,)
        self._token_keys = frozenset(t.lower() for t in self.product_tokens)
        self.max_callees = max_callees
        self.callback_timeout = callback_timeout
        self.shutdown_grace = shutdown_grace
        self.log_keys = log_keys
        self._initial = _Settings(
            time_scale, callback_retries, DeliveryMode(delivery_mode), retry_backoff_ms
        )
        self._settings = replace(self._initial)
        self.store = Store()
        self.regex = RegexGuard(regex_timeout)
        self._lock = threading.Lock()
        self._generation = _Generation()
        self._threads: set[threading.Thread] = set()
        self._http = new_client(callback_timeout)
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the real one once started with port 0)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._requested_port

    @property
    def url(self) -> str:
        """Base URL to configure as the CM API base, e.g. ``http://127.0.0.1:8790``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        """Listen and serve in a background thread; returns once the socket is bound."""
        if self._server is not None:
            return self
        server = _Server((self.host, self._requested_port), _Handler, self)
        if self._http.is_closed:
            self._http = new_client(self.callback_timeout)
        self._server = server
        self._generation = _Generation()
        self._serve_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="cm-simulator",
            daemon=True,
        )
        self._serve_thread.start()
        logger.info("listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, abort running calls, give in-flight callbacks a short grace period."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join()
        generation = self._generation
        generation.calls.set()
        deadline = time.monotonic() + self.shutdown_grace
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        generation.deliveries.set()
        for thread in threads:
            thread.join(0.1)
        self.regex.close()
        self._http.close()
        logger.info("stopped")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # scripting (also reachable over HTTP under /_simulator) ------------------------------

    def is_authorized(self, token: str | None) -> bool:
        return token is not None and token.strip().lower() in self._token_keys

    def script_callee(
        self,
        number: str,
        pickup: Pickup | str = Pickup.ANSWER,
        keys: Iterable[str] = (),
        hangup_after_attempt: int | None = None,
        *,
        reply_callee_format: ReplyCalleeFormat | str | None = None,
        reply_delay_seconds: float | None = None,
        reply_drip_seconds: float | None = None,
        callback_extra: Mapping[str, object] | None = None,
        callback_digits_key: str | None = None,
        per_call: Sequence[Mapping[str, object]] | None = None,
    ) -> str:
        """Script every later call to ``number``, as ``PUT /_simulator/callees/{e164}``
        does (see README "Scripting"); returns the normalized number.

        ``per_call`` entries are JSON-style dicts with kebab-case keys
        (``{"pickup": "no-answer"}``); the other arguments are their defaults. Raises
        :class:`ScriptError` for a bad value, ``ValueError`` for an unknown ``pickup``,
        ``TypeError`` when ``keys`` is a single string.
        """
        if isinstance(keys, str):
            raise TypeError("keys is a list of strings, one per attempt, e.g. ['1234#']")
        body: dict[str, object] = {
            "pickup": Pickup(pickup).value,
            "keys": list(keys),
            "hangup-after-attempt": hangup_after_attempt,
            "reply-callee-format": reply_callee_format,
            "reply-delay-seconds": reply_delay_seconds,
            "reply-drip-seconds": reply_drip_seconds,
            "callback-extra": dict(callback_extra) if callback_extra is not None else None,
            "callback-digits-key": callback_digits_key,
            "per-call": [dict(e) for e in per_call] if per_call is not None else None,
        }
        script = parse_script({k: v for k, v in body.items() if v is not None})
        normalized = parse_number(number)
        self.set_script(normalized, script)
        return normalized

    def describe_script(self, script: Script | Entry | CalleeScript) -> str:
        """A script for the log: keys shown only when ``log_keys`` is on; of
        ``callback-extra`` only the key names (its values may hold digits)."""
        return json.dumps(self._loggable(script.to_json()))

    def _loggable(self, data: dict[str, object]) -> dict[str, object]:
        shown = dict(data)
        keys = shown.get("keys")
        if not self.log_keys and isinstance(keys, list):
            shown["keys"] = [f"{len(str(k))} key(s)" for k in keys]
        extra = shown.get("callback-extra")
        if isinstance(extra, dict):
            shown["callback-extra"] = sorted(extra)
        entries = shown.get("per-call")
        if isinstance(entries, list):
            shown["per-call"] = [self._loggable(e) for e in entries if isinstance(e, dict)]
        return shown

    def forget_callee(self, number: str) -> bool:
        """Remove the script of ``number``; True if there was one."""
        return self.delete_script(parse_number(number))

    # the scripting API's backend (cm_simulator.core.Backend) -------------------------------

    def set_script(self, number: str, script: CalleeScript) -> None:
        """Script every later call to the normalized ``number``."""
        self.store.set_script(number, script)
        logger.info("callee %s scripted: %s", mask_number(number), self.describe_script(script))

    def delete_script(self, number: str) -> bool:
        removed = self.store.delete_script(number)
        if removed:
            logger.info("callee %s: script removed", mask_number(number))
        return removed

    def scripted_callees(self) -> dict[str, CalleeScript]:
        return self.store.scripts()

    def find_calls(self, filters: Mapping[str, str]) -> list[dict[str, object]]:
        return self.store.calls(filters)

    def describe_callee(self, number: str) -> dict[str, object]:
        """What a call to ``number`` would do: its script, magic behaviour or the default."""
        normalized = parse_number(number)
        script = self.store.scripts().get(normalized)
        if script is not None:
            return {
                "callee": normalized,
                "source": "script",
                **script.to_json(),
                "call-count": self.store.call_count(normalized),
            }
        if normalized in MAGIC_NUMBERS:
            return {
                "callee": normalized,
                "source": "magic",
                "behaviour": MAGIC_NUMBERS[normalized].value,
            }
        return {"callee": normalized, "source": "default", "behaviour": DEFAULT_BEHAVIOUR.value}

    def calls(self, **filters: str) -> list[dict[str, object]]:
        """Call records (deep copies), optionally filtered, e.g. ``calls(callee="+31...")``."""
        return self.store.calls({k.replace("_", "-"): v for k, v in filters.items()})

    def call(self, call_id: str) -> dict[str, object] | None:
        return self.store.call(call_id)

    def reset(self) -> None:
        """Forget scripts and history, abort running calls, restore start-up settings."""
        with self._lock:
            old, self._generation = self._generation, _Generation()
            self._settings = replace(self._initial)
        old.calls.set()
        old.deliveries.set()
        self.store.reset()
        logger.info("reset: scripts, history and settings cleared")

    def settings(self) -> dict[str, object]:
        with self._lock:
            return self._settings.to_json()

    def update_settings(self, changes: object) -> dict[str, object]:
        """Apply a ``{"time-scale", "callback-retries", "delivery", "retry-backoff-ms"}`` subset."""
        with self._lock:
            self._settings = _check_settings(changes, self._settings)
            data = self._settings.to_json()
        logger.info("settings: %s", json.dumps(data))
        return data

    def wait_until_settled(self, timeout: float = 5.0) -> bool:
        """Wait (real seconds) until every call is in a terminal state."""
        deadline = time.monotonic() + timeout
        while self.store.unsettled():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def info(self) -> dict[str, object]:
        return {
            "name": "cm-simulator",
            "version": __version__,
            "url": self.url,
            "endpoint": "POST /voiceapi/v2/DTMF",
            "settings": self.settings(),
            "max-callees": self.max_callees,
            "default-behaviour": DEFAULT_BEHAVIOUR.value,
            "magic-numbers": {number: b.value for number, b in MAGIC_NUMBERS.items()},
            "scripted-callees": {n: s.to_json() for n, s in self.store.scripts().items()},
            "calls": len(self.store.calls()),
        }

    # placing calls -----------------------------------------------------------------------

    def queue(self, instruction: Instruction) -> Queued:
        """Create call records; return the ``call-queued`` reply, its timing, and a function
        that starts the calls (the handler calls it after the reply has been sent).

        Each dialled callee with a script counts as one more call to it (``per-call``);
        the reply waits for the longest ``reply-delay-seconds`` / ``reply-drip-seconds``
        among them."""
        with self._lock:
            settings = replace(self._settings)
            generation = self._generation
        delay_seconds = drip_seconds = 0.0
        call_settings = instruction.call_settings()
        dialable = [entry for entry in instruction.callees if entry.dialable]
        group = (
            _Group(len(dialable))
            if settings.delivery is DeliveryMode.OUT_OF_ORDER and len(dialable) > 1
            else None
        )
        reply: list[dict[str, object]] = []
        runs: list[tuple[str, Callable[[], None]]] = []
        for entry in instruction.callees:
            call_id = str(uuid.uuid4())
            scripted = (
                self.store.next_call(normalize_number(entry.number)) if entry.dialable else None
            )
            if scripted is not None:
                wire = scripted.entry.wire
                delay_seconds = max(delay_seconds, wire.reply_delay_seconds or 0.0)
                drip_seconds = max(drip_seconds, wire.reply_drip_seconds or 0.0)
            reply.append(queued_item(call_id, instruction, entry, scripted))
            self.store.add_call(new_record(call_id, instruction, entry))
            if entry.dialable:
                position = len(runs)
                job = _CallJob(
                    call_id=call_id,
                    callee=entry.number,
                    instruction=instruction,
                    call_settings=call_settings,
                    scripted=scripted,
                    settings=settings,
                    generation=generation,
                    group=group,
                    position=position,
                )
                runs.append((call_id, functools.partial(self._run_call, job)))
            else:
                logger.info(
                    "call %s %s: not dialled (%s)",
                    call_id[:8],
                    mask_number(entry.number),
                    entry.error,
                )

        def launch() -> None:
            for call_id, run in runs:
                thread = threading.Thread(
                    target=self._tracked, args=(run,), name=f"call-{call_id[:8]}", daemon=True
                )
                with self._lock:
                    self._threads.add(thread)
                thread.start()

        return Queued(reply, launch, delay_seconds, drip_seconds, generation.calls)

    def _tracked(self, run: Callable[[], None]) -> None:
        try:
            run()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _run_call(self, job: _CallJob) -> None:
        call_id, callee, instruction = job.call_id, job.callee, job.instruction
        call_settings, settings, generation = job.call_settings, job.settings, job.generation
        label = job.label
        try:
            resolved = resolve(callee, job.scripted, call_settings, self.regex.fullmatch)
            self.store.update(call_id, {"script": resolved.to_json()})
            logger.info(
                "%s: %s callee: %s",
                label,
                f"scripted (call {resolved.call_number})"
                if resolved.source == "script"
                else resolved.source,
                self.describe_script(Entry(resolved.script, resolved.wire)),
            )
            outcome = simulate(resolved.script, call_settings, self.regex.fullmatch)
            simulated_ms = 0
            for step in outcome.steps:
                if generation.calls.wait(step.after_ms / 1000 * settings.time_scale):
                    self.store.update(call_id, {"state": "aborted", "finished-at": now_iso()})
                    logger.info("%s: aborted (simulator reset or stopped)", label)
                    return
                simulated_ms += step.after_ms
                changes: dict[str, object] = {"state": step.state} if step.state else {}
                self.store.update(call_id, changes)
                if step.attempt is not None:
                    self.store.append(call_id, "attempts", step.attempt.to_json())
                self.store.append(
                    call_id,
                    "events",
                    {
                        "at": now_iso(),
                        "simulated-ms": simulated_ms,
                        "event": step.kind,
                        "text": step.text,
                    },
                )
                text = step.text
                if step.attempt is not None and not self.log_keys:
                    text = describe_attempt(step.attempt, show_keys=False)
                logger.info("%s: %s", label, text)
            body = callback_body(call_id, instruction, callee, resolved, outcome)
            self.store.update(
                call_id,
                {
                    "state": "finished",
                    "digits": outcome.digits,
                    "result": outcome.result.to_json(),
                    "callback-body": body,
                    "finished-at": now_iso(),
                },
            )
            logger.info(
                "%s: result %d %s (%d simulated ms)",
                label,
                outcome.result.code,
                outcome.result.description,
                outcome.duration_ms,
            )
            url = instruction.callback_url
            if url is None:
                self.store.update(call_id, {"state": "no-callback"})
                logger.info("%s: no callback-url, nothing to deliver", label)
                return
            send = functools.partial(self._deliver, job, url, body)
            if job.group is None:
                send()
                return
            ready = job.group.finish(job.position, send)
            if not ready:
                logger.info("%s: callback held (out-of-order delivery)", label)
            for held in ready:
                if generation.calls.is_set():
                    return
                held()
        except Exception:
            logger.exception("%s: simulation crashed", label)
            self.store.update(call_id, {"state": "aborted", "finished-at": now_iso()})

    def _deliver(self, job: _CallJob, url: str, body: dict[str, object]) -> None:
        settings, generation = job.settings, job.generation
        policy = DeliveryPolicy(
            retries=settings.callback_retries,
            backoff_ms=settings.retry_backoff_ms,
            time_scale=settings.time_scale,
        )
        copies = 2 if settings.delivery is DeliveryMode.DUPLICATE else 1
        record = functools.partial(self.store.append, job.call_id, "callbacks")
        delivered = False
        for number in range(1, copies + 1):
            label = f"{job.label} (copy {number}/{copies})" if copies > 1 else job.label
            ok = deliver(
                self._http,
                url,
                body,
                policy=policy,
                cancel=generation.deliveries,
                on_attempt=record,
                label=label,
                copy=number,
            )
            delivered = delivered or ok
        if delivered:
            state = "callback-delivered"
        elif generation.deliveries.is_set():
            state = "aborted"
        else:
            state = "callback-failed"
        self.store.update(job.call_id, {"state": state})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], simulator: Simulator
    ) -> None:
        self.simulator = simulator
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "cm-simulator/" + __version__
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body leave in separate writes

    @property
    def sim(self) -> Simulator:
        return cast(_Server, self.server).simulator

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("http %s - %s", self.address_string(), format % args)

    # plumbing ----------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _json(
        self, status: int, data: object, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        self._send(status, json.dumps(data, indent=None).encode(), content_type)

    def _problem(
        self, status: int, errors: dict[str, list[str]] | None = None, title: str | None = None
    ) -> None:
        if errors is not None:
            data = problem_details(errors, status)
        else:
            phrase = HTTPStatus(status).phrase
            data = {"type": "about:blank", "title": title or phrase, "status": status}
        self._json(status, data, "application/problem+json; charset=utf-8")

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413 for a bad length."""
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self._problem(HTTPStatus.LENGTH_REQUIRED)
                return None
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            self._problem(HTTPStatus.BAD_REQUEST, title="Invalid Content-Length")
            return None
        if length > MAX_BODY_BYTES or length < 0:
            self.close_connection = True
            self._problem(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return None
        return self.rfile.read(length) if length else b""

    def _answer(self, answer: Answer) -> None:
        self._send(
            answer.status,
            answer.encoded(),
            answer.content_type if answer.body else None,
            dict(answer.headers),
        )

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        try:
            raw = self._read_body()  # always read, so a keep-alive connection stays in sync
            if raw is None:
                return
            if path.rstrip("/").lower() == DTMF_PATH:
                if method != "POST":
                    self._send(
                        HTTPStatus.METHOD_NOT_ALLOWED,
                        json.dumps({"title": "Method Not Allowed", "status": 405}).encode(),
                        "application/problem+json; charset=utf-8",
                        {"Allow": "POST"},
                    )
                    return
                self._post_dtmf(raw)
            elif is_simulator_path(path):
                self._answer(simulator_api(self.sim, method, path, parts.query, raw))
            else:
                self._problem(
                    HTTPStatus.NOT_FOUND,
                    title="Not Found (the simulator serves POST /voiceapi/v2/DTMF and /_simulator)",
                )
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client went away during %s %s", method, path)
        except Exception:
            logger.exception("%s %s failed", method, path)
            self._problem(HTTPStatus.INTERNAL_SERVER_ERROR)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    # POST /voiceapi/v2/DTMF --------------------------------------------------------------

    def _post_dtmf(self, raw: bytes) -> None:
        parsed = check_dtmf_request(
            authorized=self.sim.is_authorized(self.headers.get("X-CM-PRODUCTTOKEN")),
            content_type=self.headers.get("Content-Type"),
            raw=raw,
            max_callees=self.sim.max_callees,
        )
        if isinstance(parsed, Answer):
            log_refusal(parsed)
            self._answer(parsed)
            return
        instruction = parsed
        queued = self.sim.queue(instruction)
        reply = queued.reply
        if instruction.prompt_type is None:
            logger.info(
                "note: prompt-type not given; CM's docs default it to File (an audio file path)"
            )
        logger.info(
            "instruction %s: %d call(s) queued, %d not dialled, callback-url %s",
            instruction.instruction_id or "(no instruction-id)",
            sum(1 for item in reply if item["success"]),
            sum(1 for item in reply if not item["success"]),
            "set" if instruction.callback_url else "none",
        )
        try:
            self._reply_slowly(queued)
        finally:
            queued.launch()  # CM queued the calls even if the client stopped listening

    def _reply_slowly(self, queued: Queued) -> None:
        """Send the reply after ``delay_seconds``, its body spread over ``drip_seconds``
        (a piece at most every ``DRIP_INTERVAL_S``); a reset or stop cuts the waits short."""
        body = json.dumps(queued.reply).encode()
        content_type = "application/json; charset=utf-8"
        if queued.delay_seconds:
            logger.info("reply delayed by %g s (reply-delay-seconds)", queued.delay_seconds)
            queued.cancel.wait(queued.delay_seconds)
        if not queued.drip_seconds:
            self._send(HTTPStatus.OK, body, content_type)
            return
        logger.info("reply body dripped over %g s (reply-drip-seconds)", queued.drip_seconds)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        pieces = max(1, min(len(body), math.ceil(queued.drip_seconds / DRIP_INTERVAL_S)))
        size = math.ceil(len(body) / pieces)
        interval = queued.drip_seconds / math.ceil(len(body) / size)
        for start in range(0, len(body), size):
            queued.cancel.wait(interval)
            self.wfile.write(body[start : start + size])
            self.wfile.flush()


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PRODUCT_TOKEN",
    "DEFAULT_TIME_SCALE",
    "Simulator",
]
