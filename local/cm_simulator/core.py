"""What every way of running the simulator shares: the answer to ``POST /voiceapi/v2/DTMF``
before any call starts, the records and bodies a call produces, and the ``/_simulator``
scripting API as a function of a :class:`Backend`.

The HTTP server (:mod:`cm_simulator.server`, state in memory, calls in threads) and the AWS
Lambda sandbox (``local/cm_sandbox``, state in DynamoDB, callbacks through SQS) both answer
with these functions, so they validate, script and describe calls the same way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Protocol, cast
from urllib.parse import parse_qsl, unquote

from cm_simulator.delivery import DeliveryMode
from cm_simulator.flow import Outcome
from cm_simulator.scripts import (
    CalleeScript,
    Resolved,
    ScriptedCall,
    ScriptError,
    parse_number,
    parse_script,
)
from cm_simulator.state import now_iso
from cm_simulator.validation import (
    CalleeEntry,
    Instruction,
    ValidationFailed,
    problem_details,
    validate_instruction,
)

DTMF_PATH = "/voiceapi/v2/dtmf"
CALL_FILTERS = ("callee", "caller", "instruction-id", "state")
JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON body (None: empty), content type and extra headers."""

    status: int
    body: object = None
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


def problem(
    status: int, errors: dict[str, list[str]] | None = None, title: str | None = None
) -> Answer:
    """A ValidationProblemDetails (with ``errors``) or a plain problem answer."""
    if errors is not None:
        return Answer(status, problem_details(errors, status), PROBLEM_TYPE)
    phrase = HTTPStatus(status).phrase
    return Answer(
        status, {"type": "about:blank", "title": title or phrase, "status": status}, PROBLEM_TYPE
    )


def not_allowed(allowed: set[str] | frozenset[str]) -> Answer:
    return Answer(
        HTTPStatus.METHOD_NOT_ALLOWED,
        {"title": "Method Not Allowed", "status": 405},
        PROBLEM_TYPE,
        {"Allow": ", ".join(sorted(allowed))},
    )


def parse_json(raw: bytes) -> object:
    """Parse JSON strictly (no NaN/Infinity, a UTF-8 BOM allowed); raises ValueError."""

    def reject(constant: str) -> object:
        raise ValueError(f"invalid JSON constant {constant}")

    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=reject)
    except RecursionError as exc:  # a RuntimeError, not a ValueError
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from exc
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


#: Deepest nesting of a request body: scripts are copied recursively (``callback-extra``), so
#: deeper JSON was a RecursionError (a 500) — still deep enough to test a consumer's limits.
MAX_JSON_DEPTH = 200


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit``, iteratively."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


MAX_CALLBACK_RETRIES = 20
#: Upper bounds of the run-time settings: past them a call's timeline or a retry's delay no
#: longer fits a float or a timestamp (``1e400`` parses as infinity), and every POST or
#: delivery fails instead of being refused here.
MAX_TIME_SCALE = 1000.0
MAX_RETRY_BACKOFF_MS = 3_600_000


@dataclass
class RunSettings:
    """Settings that ``PUT /_simulator/settings`` may change at run time."""

    time_scale: float
    callback_retries: int
    delivery: DeliveryMode
    retry_backoff_ms: int

    def to_json(self) -> dict[str, object]:
        return {
            "time-scale": self.time_scale,
            "callback-retries": self.callback_retries,
            "delivery": self.delivery.value,
            "retry-backoff-ms": self.retry_backoff_ms,
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SETTING_RULES: dict[str, tuple[str, Callable[[object], bool], str]] = {
    "time-scale": (
        "time_scale",
        lambda v: (
            (_is_int(v) or isinstance(v, float)) and 0 <= cast(float, v) <= MAX_TIME_SCALE
        ),  # no float(): a huge int overflows it
        f"time-scale must be a number 0-{MAX_TIME_SCALE:g}.",
    ),
    "callback-retries": (
        "callback_retries",
        lambda v: _is_int(v) and 0 <= cast(int, v) <= MAX_CALLBACK_RETRIES,
        f"callback-retries must be an integer 0-{MAX_CALLBACK_RETRIES}.",
    ),
    "delivery": (
        "delivery",
        lambda v: v in {m.value for m in DeliveryMode},
        "delivery must be one of " + ", ".join(m.value for m in DeliveryMode) + ".",
    ),
    "retry-backoff-ms": (
        "retry_backoff_ms",
        lambda v: _is_int(v) and 0 <= cast(int, v) <= MAX_RETRY_BACKOFF_MS,
        f"retry-backoff-ms must be an integer 0-{MAX_RETRY_BACKOFF_MS}.",
    ),
}


def check_settings(body: object, current: RunSettings) -> RunSettings:
    """``current`` with a ``PUT /_simulator/settings`` body applied; ScriptError naming
    every bad or unknown key."""
    if not isinstance(body, dict):
        raise ScriptError({"$": ["The body must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    changes: dict[str, object] = {}
    for key, value in body.items():
        rule = _SETTING_RULES.get(key)
        if rule is None:
            errors[key] = ["Unknown setting; allowed are " + ", ".join(_SETTING_RULES) + "."]
        elif not rule[1](value):
            errors[key] = [rule[2]]
        else:
            changes[rule[0]] = value
    if errors:
        raise ScriptError(errors)
    updated = replace(current)
    if "time_scale" in changes:
        updated.time_scale = float(cast(float, changes["time_scale"]))
    if "callback_retries" in changes:
        updated.callback_retries = cast(int, changes["callback_retries"])
    if "delivery" in changes:
        updated.delivery = DeliveryMode(cast(str, changes["delivery"]))
    if "retry_backoff_ms" in changes:
        updated.retry_backoff_ms = cast(int, changes["retry_backoff_ms"])
    return updated


# ---------------------------------------------------------------- POST /voiceapi/v2/DTMF
def check_dtmf_request(
    *,
    authorized: bool,
    content_type: str | None,
    raw: bytes,
    max_callees: int,
) -> Instruction | Answer:
    """The validated instruction, or the answer refusing it: 401 (token checked first, empty
    body), 415 (not JSON), 400 (ValidationProblemDetails naming every bad field)."""
    if not authorized:
        return Answer(HTTPStatus.UNAUTHORIZED)
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return problem(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    if not raw.strip():
        return problem(HTTPStatus.BAD_REQUEST, {"$": ["A non-empty request body is required."]})
    try:
        body = parse_json(raw)
    except ValueError as exc:
        return problem(
            HTTPStatus.BAD_REQUEST, {"$": [f"The request body is not valid JSON: {exc}"]}
        )
    try:
        return validate_instruction(body, max_callees=max_callees)
    except ValidationFailed as failed:
        return problem(HTTPStatus.BAD_REQUEST, failed.errors)


def queued_item(
    call_id: str, instruction: Instruction, entry: CalleeEntry, scripted: ScriptedCall | None
) -> dict[str, object]:
    """One callee's entry of the ``call-queued`` reply (``reply-callee-format`` applied)."""
    item: dict[str, object] = {
        "type": "call-queued",
        "call-id": call_id,
        "instruction-id": instruction.instruction_id,
        "caller": instruction.caller,
        "callee": entry.number,
        "success": entry.dialable,
    }
    if scripted is not None:
        callee = scripted.entry.wire.reply_callee(entry.number)
        if callee is None:
            del item["callee"]
        else:
            item["callee"] = callee
    if not entry.dialable:
        item["error"] = entry.error
    return item


def new_record(call_id: str, instruction: Instruction, entry: CalleeEntry) -> dict[str, object]:
    """A call record as ``GET /_simulator/calls`` shows it, before the call starts."""
    return {
        "call-id": call_id,
        "instruction-id": instruction.instruction_id,
        "caller": instruction.caller,
        "callee": entry.number,
        "callback-url": instruction.callback_url,
        "instruction": copy.deepcopy(instruction.body),
        "state": "queued" if entry.dialable else "not-dialled",
        "error": entry.error,
        "script": None,
        "attempts": [],
        "digits": None,
        "result": None,
        "callback-body": None,
        "callbacks": [],
        "events": [],
        "created-at": now_iso(),
        "finished-at": None,
    }


def callback_body(
    call_id: str, instruction: Instruction, callee: str, resolved: Resolved, outcome: Outcome
) -> dict[str, object]:
    """The ``dtmf-finished`` body of a call (``callback-digits-key``/``-extra`` applied)."""
    return resolved.wire.callback_body(
        {
            "type": "dtmf-finished",
            "call-id": call_id,
            "instruction-id": instruction.instruction_id,
            "caller": instruction.caller,
            "callee": callee,
            "digits": outcome.digits,
            "result": outcome.result.to_json(),
        }
    )


# ---------------------------------------------------------------- /_simulator
class Backend(Protocol):
    """Where the scripting API reads and writes: the in-process Simulator or the sandbox."""

    def info(self) -> dict[str, object]: ...
    def find_calls(self, filters: Mapping[str, str]) -> list[dict[str, object]]: ...
    def call(self, call_id: str) -> dict[str, object] | None: ...
    def scripted_callees(self) -> dict[str, CalleeScript]: ...
    def describe_callee(self, number: str) -> dict[str, object]: ...
    def set_script(self, number: str, script: CalleeScript) -> None: ...
    def delete_script(self, number: str) -> bool: ...
    def reset(self) -> None: ...
    def settings(self) -> dict[str, object]: ...
    def update_settings(self, changes: object) -> dict[str, object]: ...


def allowed_methods(segments: list[str]) -> set[str] | None:
    """Methods of a ``/_simulator/...`` path (segments after ``_simulator``); None: no route."""
    match segments:
        case []:
            return {"GET", "DELETE"}
        case ["calls"] | ["callees"]:
            return {"GET"}
        case ["calls", _]:
            return {"GET"}
        case ["callees", _]:
            return {"GET", "PUT", "DELETE"}
        case ["settings"]:
            return {"GET", "PUT"}
    return None


def is_simulator_path(path: str) -> bool:
    return path == "/_simulator" or path.startswith("/_simulator/")


def simulator_api(backend: Backend, method: str, path: str, query: str, raw: bytes) -> Answer:
    """Answer one ``/_simulator`` request (see README "Scripting"); a bad script or setting
    is a 400 naming every bad field and changes nothing."""
    segments = [unquote(s) for s in path.split("/")[2:] if s]
    allowed = allowed_methods(segments)
    if allowed is None:
        return problem(HTTPStatus.NOT_FOUND)
    if method not in allowed:
        return not_allowed(allowed)
    body: object = None
    if method == "PUT":
        try:
            body = parse_json(raw) if raw.strip() else None
        except ValueError as exc:
            return problem(HTTPStatus.BAD_REQUEST, {"$": [f"The body is not valid JSON: {exc}"]})
    try:
        actions: dict[str, Callable[[], Answer]] = {
            "GET": lambda: _get(backend, segments, query),
            "PUT": lambda: _put(backend, segments, body),
            "DELETE": lambda: _delete(backend, segments),
        }
        return actions[method]()
    except ScriptError as failed:
        return problem(HTTPStatus.BAD_REQUEST, failed.errors)


def _get(backend: Backend, segments: list[str], query: str) -> Answer:  # noqa: PLR0911 - one per route
    match segments:
        case []:
            return Answer(HTTPStatus.OK, backend.info())
        case ["calls"]:
            # a literal '+' in the query means plus (numbers), not a space
            filters = dict(parse_qsl(query.replace("+", "%2B"), keep_blank_values=True))
            unknown = sorted(set(filters) - set(CALL_FILTERS))
            if unknown:
                message = f"Unknown filter; allowed: {', '.join(CALL_FILTERS)}."
                raise ScriptError({key: [message] for key in unknown})
            return Answer(HTTPStatus.OK, backend.find_calls(filters))
        case ["calls", call_id]:
            record = backend.call(call_id.lower())
            if record is None:
                return problem(HTTPStatus.NOT_FOUND, title=f"No call {call_id}")
            return Answer(HTTPStatus.OK, record)
        case ["callees"]:
            scripts = backend.scripted_callees()
            return Answer(HTTPStatus.OK, [{"callee": n, **s.to_json()} for n, s in scripts.items()])
        case ["callees", number]:
            return Answer(HTTPStatus.OK, backend.describe_callee(number))
        case _:  # ["settings"]
            return Answer(HTTPStatus.OK, backend.settings())


def _put(backend: Backend, segments: list[str], body: object) -> Answer:
    match segments:
        case ["callees", number]:
            normalized = parse_number(number)
            script = parse_script(body)
            backend.set_script(normalized, script)
            return Answer(HTTPStatus.OK, {"callee": normalized, **script.to_json()})
        case _:  # ["settings"]
            return Answer(HTTPStatus.OK, backend.update_settings(body))


def _delete(backend: Backend, segments: list[str]) -> Answer:
    match segments:
        case ["callees", number]:
            normalized = parse_number(number)
            if backend.delete_script(normalized):
                return Answer(HTTPStatus.NO_CONTENT)
            return problem(HTTPStatus.NOT_FOUND, title=f"No script for {normalized}")
        case _:  # []
            backend.reset()
            return Answer(HTTPStatus.NO_CONTENT)
