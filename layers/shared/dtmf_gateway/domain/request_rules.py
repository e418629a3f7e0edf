"""Rules of the ``POST /v1/dtmf-calls`` body that involve several fields.

:func:`cross_field_problems` runs once per validation, from the model's wrap validator:
on the validated values when every field is valid, else on the raw body, so that these
problems are reported next to the field errors (a rule whose fields are themselves invalid
stays silent: the field rule reports them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from dtmf_gateway.domain.audio_paths import file_path_problem
from dtmf_gateway.domain.errors import FieldProblem
from dtmf_gateway.domain.phone import PhoneNumber, PhoneNumberError, parse_phone
from dtmf_gateway.domain.request_fields import prompt_control_problem
from dtmf_gateway.domain.request_limits import (
    MAX_CALLEES,
    MAX_DIGITS_LIMIT,
    MAX_PROMPT_LENGTH,
    MIN_DIGITS_LIMIT,
    PromptType,
    parse_prompt_type,
)
from dtmf_gateway.domain.request_schedule import schedule_problems

PROMPT_FIELDS: Final = (
    ("prompt", "prompt-type"),
    ("valid-prompt", "valid-prompt-type"),
    ("invalid-prompt", "invalid-prompt-type"),
)


def _prompt_problem(text: object, kind: object) -> str | None:
    """Content rule for one prompt given its type; None when fine or not checkable yet."""
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_PROMPT_LENGTH:
        return None  # the field rule reports it
    if prompt_control_problem(text):
        return None  # the field rule reports it
    prompt_type = PromptType.TTS if kind is None else parse_prompt_type(kind)
    if prompt_type is PromptType.FILE:
        return file_path_problem(text)
    if prompt_type is PromptType.TTS_SSML:
        # loaded by the first SSML prompt (its XML parser with it), not at every cold start:
        # most instructions are plain TTS (issue 15, tests/unit/test_cold_path_imports.py)
        from dtmf_gateway.domain.ssml import SsmlError, check_ssml

        try:
            check_ssml(text)
        except SsmlError as error:
            return f"{error} (prompt type TTS_SSML)"
    return None


def _digit_count(value: object) -> int | None:
    """``value`` when it is a valid ``min-digits``/``max-digits`` value, else None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if MIN_DIGITS_LIMIT <= value <= MAX_DIGITS_LIMIT else None
    return None


def _e164(value: object) -> str | None:
    """The E.164 form of a validated number or of a raw string; None when it is invalid."""
    if isinstance(value, PhoneNumber):
        return value.e164
    if not isinstance(value, str):
        return None
    try:
        return parse_phone(value).e164
    except PhoneNumberError:
        return None  # reported by the field rule


def _duplicate_problems(callees: Iterable[object]) -> list[FieldProblem]:
    seen: dict[str, int] = {}
    problems: list[FieldProblem] = []
    for index, raw in enumerate(callees):
        number = _e164(raw)
        if number is None:
            continue
        if number in seen:
            problems.append(
                FieldProblem(f"callees[{index}]", f"is the same number as callees[{seen[number]}]")
            )
        else:
            seen[number] = index
    return problems


def cross_field_problems(data: Mapping[str, Any]) -> list[FieldProblem]:
    """Rules that involve several fields, on a kebab-keyed mapping (raw or validated)."""
    problems: list[FieldProblem] = []
    callee = data.get("callee")
    callees = data.get("callees")
    if callee is None and callees is None:
        problems.append(
            FieldProblem(
                "callee",
                "is required: give callee (one number) or callees (a list of numbers)",
            )
        )
    elif callee is not None and callees is not None:
        problems.append(FieldProblem("callees", "give either callee or callees, not both"))
    if isinstance(callees, (list, tuple)) and len(callees) <= MAX_CALLEES:
        problems.extend(_duplicate_problems(callees))
    min_digits = _digit_count(data.get("min-digits"))
    max_digits = _digit_count(data.get("max-digits"))
    if min_digits is not None and max_digits is not None and max_digits < min_digits:
        problems.append(FieldProblem("max-digits", f"must be at least min-digits ({min_digits})"))
    for text_key, type_key in PROMPT_FIELDS:
        problem = _prompt_problem(data.get(text_key), data.get(type_key))
        if problem:
            problems.append(FieldProblem(text_key, problem))
    problems.extend(schedule_problems(data))
    return problems
