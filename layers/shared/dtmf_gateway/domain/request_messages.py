"""Pydantic's validation errors → the field problems a client reads.

Each problem names the field by its JSON path in the request's own kebab-case names
(``callees[1]``, ``voice.gender``, ``metadata.order-id``; ``(body)`` for the body as a
whole) and says what the field must be, never pydantic's own wording. Problems come out in
the order of the fields in the model, duplicates removed, at most
:data:`~dtmf_gateway.domain.request_limits.MAX_REPORTED_PROBLEMS` of them (then one more
says how many were left out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from pydantic import ValidationError

from dtmf_gateway.domain.digits_protection import DIGITS_MODE_RULE, EXPECTED_DIGITS_RULE
from dtmf_gateway.domain.errors import FieldProblem
from dtmf_gateway.domain.request_limits import (
    GENDER_RULE,
    INSTRUCTION_ID_CHARACTERS,
    INSTRUCTION_ID_MAX_LENGTH,
    MAX_ATTEMPTS,
    MAX_CALLEES,
    MAX_DIGITS_LIMIT,
    MAX_ECHOED_KEY_LENGTH,
    MAX_KEY_TIMEOUT_MS,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_PHONE_INPUT_LENGTH,
    MAX_PROMPT_LENGTH,
    MAX_REPORTED_PROBLEMS,
    MAX_RINGING_TIMEOUT,
    MAX_VOICE_NUMBER,
    MAX_VOLUME,
    METADATA_KEY_CHARACTERS,
    MIN_ATTEMPTS,
    MIN_DIGITS_LIMIT,
    MIN_KEY_TIMEOUT_MS,
    MIN_RINGING_TIMEOUT,
    MIN_VOICE_NUMBER,
    MIN_VOLUME,
    NO_DISABLE_VALIDATION,
    PROMPT_TYPE_RULE,
    REFUSED_KEYS,
)
from dtmf_gateway.domain.request_schedule import FIELD_RULES as SCHEDULE_FIELD_RULES

#: The field name of a problem with the body as a whole (never an empty name).
BODY: Final = "(body)"

_PHONE_RULE: Final = (
    f"must be a phone number in international format, e.g. +31612345678 "
    f"(at most {MAX_PHONE_INPUT_LENGTH} characters)"
)
_PROMPT_RULE: Final = f"must be text of 1 to {MAX_PROMPT_LENGTH} characters"


def _whole(low: int, high: int, unit: str = "") -> str:
    return f"must be a whole number{unit} between {low} and {high}"


#: What each field must be, used for type and range errors.
FIELD_RULES: Final[Mapping[str, str]] = {
    "instruction-id": (
        f"must be 1 to {INSTRUCTION_ID_MAX_LENGTH} characters from {INSTRUCTION_ID_CHARACTERS}, "
        "not only dots"
    ),
    "callee": _PHONE_RULE,
    "callees": f"must be a list of 1 to {MAX_CALLEES} phone numbers",
    "callees[]": _PHONE_RULE,
    "caller": _PHONE_RULE,
    "anonymous": "must be true or false",
    "disable-callees-validation": NO_DISABLE_VALIDATION,
    "max-ringing-timeout": _whole(MIN_RINGING_TIMEOUT, MAX_RINGING_TIMEOUT, " of seconds"),
    "prompt": _PROMPT_RULE,
    "prompt-type": PROMPT_TYPE_RULE,
    "valid-prompt": _PROMPT_RULE,
    "valid-prompt-type": PROMPT_TYPE_RULE,
    "invalid-prompt": _PROMPT_RULE,
    "invalid-prompt-type": PROMPT_TYPE_RULE,
    "min-digits": _whole(MIN_DIGITS_LIMIT, MAX_DIGITS_LIMIT),
    "max-digits": _whole(MIN_DIGITS_LIMIT, MAX_DIGITS_LIMIT),
    "max-attempts": _whole(MIN_ATTEMPTS, MAX_ATTEMPTS),
    "timeout": _whole(MIN_KEY_TIMEOUT_MS, MAX_KEY_TIMEOUT_MS, " of milliseconds"),
    "terminators": "must be a string of DTMF keys (0-9 * # A-D), e.g. #",
    "regex": "must be a regular expression (a string)",
    "voice": "must be an object with language, gender, number, volume and premium",
    "voice.language": (
        "must be a language code like en-GB (two lower-case letters, a dash, two upper-case "
        "letters)"
    ),
    "voice.gender": GENDER_RULE,
    "voice.number": _whole(MIN_VOICE_NUMBER, MAX_VOICE_NUMBER),
    "voice.volume": _whole(MIN_VOLUME, MAX_VOLUME),
    "voice.premium": "must be true or false",
    "metadata": (
        f"must be an object of at most {MAX_METADATA_KEYS} string values (keys 1 to "
        f"{MAX_METADATA_KEY_LENGTH} characters from {METADATA_KEY_CHARACTERS}, values at most "
        f"{MAX_METADATA_VALUE_LENGTH} characters)"
    ),
    # issue 19: protecting the typed digits
    "digits-mode": DIGITS_MODE_RULE,
    "expected-digits": EXPECTED_DIGITS_RULE,
    **SCHEDULE_FIELD_RULES,  # round 2 (#16)
}

_TYPE_ERRORS: Final = frozenset(
    {"int_type", "bool_type", "string_type", "tuple_type", "dict_type", "model_type"}
)
_NAMES_BY_TYPE: Final[Mapping[str, str]] = {
    "int_type": "a JSON number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
}


def describe_input(value: object) -> str:
    """What a JSON value is, in a client's words (``a list``, ``a string``, ``null``)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else "something else"


def _shorten(part: int | str) -> int | str:
    if isinstance(part, str) and len(part) > MAX_ECHOED_KEY_LENGTH:
        return f"{part[:MAX_ECHOED_KEY_LENGTH]}…"
    return part


def _path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            shown = part if part else '""'  # an empty key is still named
            path += f".{shown}" if path else shown
    return path or BODY


def _rule_key(loc: Sequence[int | str]) -> str:
    """The FIELD_RULES key of a location: ``callees[3]`` → ``callees[]``."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        return f"{loc[0]}[]"
    return ".".join(str(part) for part in loc if not isinstance(part, int))


def _unknown_key_message(key: str, known: Iterable[str]) -> str:
    import difflib  # only needed on the error path: kept out of the cold start

    refused = REFUSED_KEYS.get(key)
    if refused:
        return refused
    if not key:
        return "unknown field (an empty key)"
    if len(key) > MAX_ECHOED_KEY_LENGTH:
        return "unknown field"
    candidates = list(known)
    spelled = key.replace("_", "-").lower()
    if spelled in candidates:
        return f"unknown field; did you mean {spelled}?"
    close = difflib.get_close_matches(spelled, candidates, n=1, cutoff=0.6)
    if close:
        return f"unknown field; did you mean {close[0]}?"
    return "unknown field"


def problems_from(
    error: ValidationError, known_keys: Mapping[str, Iterable[str]], limit: int
) -> list[FieldProblem]:
    """Field problems for (at least) the first ``limit`` pydantic errors.

    ``known_keys`` maps an object's path (``""`` for the body, ``"voice"``) to its keys,
    for the "did you mean" hint of an unknown key.
    """
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False):
        if len(problems) >= limit:
            break
        loc = tuple(_shorten(part) for part in item["loc"])
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind == "dtmf_multi":
            base = "" if ctx.get("absolute") else _path(loc)
            problems.extend(
                FieldProblem((base + sub) or BODY, message) for sub, message in ctx["problems"]
            )
            continue
        path = _path(loc)
        if kind == "dtmf":
            problems.append(FieldProblem(path, str(ctx["reason"])))
        elif kind == "missing":
            problems.append(FieldProblem(path, "is required"))
        elif kind == "extra_forbidden":
            parent = ".".join(str(part) for part in item["loc"][:-1])
            key = str(item["loc"][-1])
            problems.append(
                FieldProblem(path, _unknown_key_message(key, known_keys.get(parent, ())))
            )
        else:
            rule = FIELD_RULES.get(_rule_key(loc), "is not valid")
            if kind in _TYPE_ERRORS:
                given = describe_input(item.get("input"))
                rule = f"{rule} (got {given}, expected {_NAMES_BY_TYPE[kind]})"
            elif kind == "int_from_float":
                rule = f"{rule} (got a number with a fractional part)"
            problems.append(FieldProblem(path, rule))
    return problems


def report(
    problems: list[FieldProblem], total: int, field_order: Sequence[str]
) -> list[FieldProblem]:
    """``problems`` without repeats, in the order of ``field_order`` (body-level first), at
    most MAX_REPORTED_PROBLEMS of them plus one saying how many more there are (``total``
    counts every problem found, listed or not)."""
    order = {name: index for index, name in enumerate(field_order)}

    def position(problem: FieldProblem) -> int:
        top = re.split(r"[.\[]", problem.field, maxsplit=1)[0]
        if top == BODY:
            return -1
        return order.get(top, len(order))

    unique = sorted(dict.fromkeys(problems), key=position)
    hidden = max(total, len(unique)) - MAX_REPORTED_PROBLEMS
    if hidden > 0:
        unique = [
            *unique[:MAX_REPORTED_PROBLEMS],
            FieldProblem(BODY, f"and about {hidden} more problems that are not listed"),
        ]
    return unique
