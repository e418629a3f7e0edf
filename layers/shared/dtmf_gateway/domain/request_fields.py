"""Field-level rules of the ``POST /v1/dtmf-calls`` body, as pydantic annotated types.

Every validator raises :class:`~pydantic_core.PydanticCustomError` of type ``dtmf`` (one
message) or ``dtmf_multi`` (several, each with a sub-path), so the message the client reads
is ours; :mod:`dtmf_gateway.domain.request_messages` turns them into field problems.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, PydanticKnownError, core_schema

from dtmf_gateway.domain.digits import DTMF_KEYS, InputRegexError, compile_input_regex
from dtmf_gateway.domain.phone import (
    MAX_PHONE_INPUT_LENGTH,
    PhoneNumber,
    PhoneNumberError,
    parse_phone,
)
from dtmf_gateway.domain.request_limits import (
    DEFAULT_TERMINATORS,
    GENDER_CODES,
    GENDER_RULE,
    MAX_CALLEES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_PROMPT_LENGTH,
    METADATA_KEY_CHARACTERS,
    PROMPT_TYPE_CODES,
    PROMPT_TYPE_RULE,
    Gender,
    PromptType,
    enum_lookup,
)

_METADATA_KEY_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % MAX_METADATA_KEY_LENGTH)  # noqa: UP031
#: Control characters refused in prompts: C0 except tab, line feed and carriage return
#: (SSML is often indented over several lines), DEL and C1. Metadata values refuse all C0.
_PROMPT_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ANY_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def fail(reason: str) -> PydanticCustomError:
    """The error a validator raises: ``reason`` is the message the client reads."""
    return PydanticCustomError("dtmf", "{reason}", {"reason": reason})


def control_character_problem(text: str, pattern: re.Pattern[str] = _ANY_CONTROL) -> str | None:
    """Why ``text`` is refused for a control character (naming it as U+XXXX), or None."""
    found = pattern.search(text)
    if found is None:
        return None
    return (
        f"must not contain control characters (U+{ord(found.group()):04X} at position "
        f"{found.start() + 1})"
    )


def prompt_control_problem(text: str) -> str | None:
    """Why a prompt is refused for a control character, or None."""
    return control_character_problem(text, _PROMPT_CONTROLS)


def _enum_validator[E: StrEnum](
    enum: type[E], codes: Mapping[int, E], rule: str
) -> Callable[[object], E]:
    def parse(value: object) -> E:
        member = enum_lookup(enum, codes, value)
        if member is None:
            raise fail(rule)
        return member

    return parse


PromptTypeField = Annotated[
    PromptType,
    BeforeValidator(_enum_validator(PromptType, PROMPT_TYPE_CODES, PROMPT_TYPE_RULE)),
]
GenderField = Annotated[Gender, BeforeValidator(_enum_validator(Gender, GENDER_CODES, GENDER_RULE))]


def _phone(value: object) -> PhoneNumber:
    if isinstance(value, PhoneNumber):
        return value
    if not isinstance(value, str):
        raise PydanticKnownError("string_type")
    try:
        return parse_phone(value)
    except PhoneNumberError as error:
        raise fail(str(error)) from None


def _e164(number: PhoneNumber) -> str:
    return number.e164


#: What the OpenAPI document says a phone number field takes: E.164 (the canonical form,
#: the one every response uses), and in words what else is accepted and what is checked.
E164_JSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "format": "e164",
    "pattern": r"^\+[1-9][0-9]{6,14}$",
    "maxLength": MAX_PHONE_INPUT_LENGTH,
    "description": "A phone number in E.164: +, the country calling code, the national "
    "number, 7 to 15 digits in all (+31612345678). The separators people paste (spaces, "
    "no-break spaces, dashes, dots, slashes, brackets) and any Unicode decimal digits are "
    f"accepted too (at most {MAX_PHONE_INPUT_LENGTH} characters) and normalised to E.164. "
    "The number must be valid by libphonenumber (422 invalid-request otherwise) and allowed "
    "by this deployment's dialling policy (403 policy-refused otherwise).",
    "examples": ["+31612345678"],
}


def _phone_schema(_source: object, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """`PhoneField`'s whole core schema: `_phone` in (a string), `_e164` out (a string).

    Given whole for the cold start: pydantic's `PlainValidator` and `PlainSerializer` each
    first generate the schema of the annotated type itself, here the `PhoneNumber` dataclass
    (its fields, their types), only to replace it; that schema is never used, and building it
    was ~15% of `DtmfCallRequest`'s build, which every place-call cold start pays (issue 15)."""
    return core_schema.no_info_plain_validator_function(
        _phone,
        json_schema_input_schema=core_schema.str_schema(),
        serialization=core_schema.plain_serializer_function_ser_schema(
            _e164, return_schema=core_schema.str_schema()
        ),
    )


#: A phone number: a string in, the parsed :class:`PhoneNumber` (E.164, region, country
#: code, number type) kept, its E.164 string out (JSON, canonical form, OpenAPI).
PhoneField = Annotated[
    PhoneNumber,
    GetPydanticSchema(_phone_schema),
    WithJsonSchema(E164_JSON_SCHEMA, mode="validation"),
]


def _whole_number(value: object) -> object:
    """JSON Schema's integer: ``4`` and ``4.0`` (RFC 8259 has one number type); ``4.5``,
    strings and booleans stay refused by the strict int that follows."""
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        if math.isinf(value):
            # 1E400 (or an integer of thousands of digits) is a whole number too large for a
            # float: out of range, not "a number with a fractional part".
            return _FAR_OUT_OF_RANGE if value > 0 else -_FAR_OUT_OF_RANGE
        raise PydanticKnownError("int_from_float")
    return value


#: What an infinite float stands for in range checks: beyond every field's range.
_FAR_OUT_OF_RANGE: Final = 10**18


#: An integer field: a JSON number with no fractional part (``4`` or ``4.0``).
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


def _prompt_text(value: str) -> str:
    if not value.strip():
        raise fail("must not be blank")
    problem = prompt_control_problem(value)
    if problem:
        raise fail(problem)
    return value


PromptText = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_PROMPT_LENGTH),
    AfterValidator(_prompt_text),
]


def _terminators(value: str) -> str:
    if not value:
        raise fail(
            f"must contain at least one key; leave it out (or send null) for the default "
            f"{DEFAULT_TERMINATORS}"
        )
    for key in value:
        if key not in DTMF_KEYS:
            raise fail(f"may only contain DTMF keys (0-9 * # A-D); {key!r} is not one")
    repeated = sorted({key for key in value if value.count(key) > 1})
    if repeated:
        raise fail(f"lists {', '.join(repeated)} more than once")
    return value


Terminators = Annotated[StrictStr, AfterValidator(_terminators)]


#: The validation-context key saying the body is a request the gateway stored after it was
#: accepted (``dialling.request_for``), not a client's: its ``regex`` is not probed again.
STORED_REQUEST: Final = "stored-request"


def is_stored_request(info: ValidationInfo) -> bool:
    """Whether the body being validated is a stored, once accepted request (STORED_REQUEST)."""
    return isinstance(info.context, dict) and info.context.get(STORED_REQUEST) is True


def _regex(value: str, info: ValidationInfo) -> str:
    """A client's pattern gets every check, its timed probes included (their time limits
    depend on the machine's load); a stored one (vetted when it was accepted) only the
    checks that do not, so that a busy machine never refuses it at dial time."""
    try:
        compile_input_regex(value, timed=not is_stored_request(info))
    except InputRegexError as error:
        raise fail(str(error)) from None
    return value


InputRegex = Annotated[StrictStr, AfterValidator(_regex)]


def _shown_key(key: object) -> str:
    text = str(key)
    return text if len(text) <= 50 else f"{text[:50]}…"


def _metadata_value_problem(item: object) -> str | None:
    if isinstance(item, (dict, list)):
        return "must be a string; nested objects and arrays are not allowed"
    if not isinstance(item, str):
        return "must be a string"
    if len(item) > MAX_METADATA_VALUE_LENGTH:
        return f"must be at most {MAX_METADATA_VALUE_LENGTH} characters"
    return control_character_problem(item)


def _metadata(value: object) -> object:
    """Flat object of short strings; every problem reported (as one multi-error)."""
    if value is None or not isinstance(value, dict):
        return value  # the dict type check reports it
    problems: list[tuple[str, str]] = []
    if len(value) > MAX_METADATA_KEYS:
        problems.append(("", f"may have at most {MAX_METADATA_KEYS} keys ({len(value)} given)"))
    for key, item in value.items():
        if not isinstance(key, str) or not _METADATA_KEY_RE.fullmatch(key):
            problems.append(
                (
                    "",
                    f"key {_shown_key(key)!r} must be 1 to {MAX_METADATA_KEY_LENGTH} characters "
                    f"from {METADATA_KEY_CHARACTERS}",
                )
            )
            continue
        problem = _metadata_value_problem(item)
        if problem:
            problems.append((f".{key}", problem))
    if problems:
        raise PydanticCustomError(
            "dtmf_multi",
            "{summary}",
            {"summary": "; ".join(message for _, message in problems), "problems": problems},
        )
    return value


Metadata = Annotated[dict[str, str] | None, BeforeValidator(_metadata)]


def _callee_list(value: object) -> object:
    """Refuse an over-long or empty list before its numbers are parsed (bounded work)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise fail("must contain at least one number")
        if len(value) > MAX_CALLEES:
            raise fail(
                f"may contain at most {MAX_CALLEES} numbers per request ({len(value)} given)"
            )
    return value


CalleeList = Annotated[tuple[PhoneField, ...] | None, BeforeValidator(_callee_list)]


def drop_nulls(data: Any, keys: frozenset[str]) -> Any:
    """Explicit null = absent, for the keys we know (an unknown key stays, to be refused)."""
    if isinstance(data, dict) and any(data.get(key, 0) is None for key in keys):
        return {k: v for k, v in data.items() if not (v is None and k in keys)}
    return data
