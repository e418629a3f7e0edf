"""The ``POST /v1/dtmf-calls`` body: CM's "Request DTMF" instruction, validated.

The body is CM's own instruction with CM's kebab-case keys (so a CM user can paste a
payload, including the exact payload of CM's .NET SDK), minus ``callback-url`` (the service
sets it) and plus an optional flat ``metadata`` object. Field rules follow
``docs/cm-dtmf-contract.md`` §1 and the seed's ranges; the gateway's own limits are the
constants below.

Entry point: :func:`parse_dtmf_call_request`, which raises
:class:`~dtmf_gateway.domain.errors.InvalidRequest` listing *every* offending field by its
JSON name, with a human message, cross-field rules included.

Wire conventions:

* an explicit ``null`` is the same as leaving the key out (the SDK sends nulls), so a key
  with a default takes its default;
* enums accept the canonical names (case-insensitive) and the SDK's integers
  (``File``=0, ``TTS``=1, ``TTS_SSML``=2; ``Male``=0, ``Female``=1); output uses the names;
* numbers must be JSON numbers (``"4"`` is refused), booleans JSON booleans;
* phone numbers are stored in E.164 (``+31 6 1234 5678`` becomes ``+31612345678``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dtmf_gateway.domain.digits import (
    DEFAULT_MAX_DIGITS,
    DEFAULT_MIN_DIGITS,
    DEFAULT_REGEX,
    DTMF_KEYS,
    MAX_DIGITS_LIMIT,
    MIN_DIGITS_LIMIT,
    InputRegexError,
    InputRules,
    compile_input_regex,
)
from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest
from dtmf_gateway.domain.phone import MAX_PHONE_INPUT_LENGTH, PhoneNumberError, to_e164
from dtmf_gateway.domain.ssml import SsmlError, check_ssml

# ---------------------------------------------------------------------------------------
# Limits and defaults (the gateway's own choices are marked)
# ---------------------------------------------------------------------------------------

#: ``instruction-id``: 1-64 characters (CM) from this safe set (gateway: the id goes into
#: URLs and table keys).
INSTRUCTION_ID_MAX_LENGTH: Final = 64
INSTRUCTION_ID_CHARACTERS: Final = "A-Z a-z 0-9 . _ : -"
INSTRUCTION_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]+$"
#: Most numbers in ``callees`` (gateway; CM documents no limit).
MAX_CALLEES: Final = 20
#: ``max-ringing-timeout`` in seconds (CM).
MIN_RINGING_TIMEOUT: Final = 10
MAX_RINGING_TIMEOUT: Final = 60
DEFAULT_RINGING_TIMEOUT: Final = 60
#: Prompt texts (CM: 1-1000 characters).
MAX_PROMPT_LENGTH: Final = 1000
#: ``max-attempts`` (CM: 1-10; default is the gateway's, CM documents none).
MIN_ATTEMPTS: Final = 1
MAX_ATTEMPTS: Final = 10
DEFAULT_MAX_ATTEMPTS: Final = 1
#: ``timeout`` in milliseconds (CM).
MIN_KEY_TIMEOUT_MS: Final = 1000
MAX_KEY_TIMEOUT_MS: Final = 10000
DEFAULT_KEY_TIMEOUT_MS: Final = 5000
#: ``terminators`` default (CM).
DEFAULT_TERMINATORS: Final = "#"
#: ``voice`` (SDK defaults; the cap on ``number`` is the gateway's).
DEFAULT_LANGUAGE: Final = "en-GB"
MIN_VOICE_NUMBER: Final = 1
MAX_VOICE_NUMBER: Final = 99
MIN_VOLUME: Final = -4
MAX_VOLUME: Final = 4
#: ``metadata`` (gateway).
MAX_METADATA_KEYS: Final = 10
MAX_METADATA_KEY_LENGTH: Final = 40
MAX_METADATA_VALUE_LENGTH: Final = 256
METADATA_KEY_CHARACTERS: Final = "A-Z a-z 0-9 _ . -"
_METADATA_KEY_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,%d}" % MAX_METADATA_KEY_LENGTH)  # noqa: UP031
_LANGUAGE_PATTERN: Final = r"^[a-z]{2}-[A-Z]{2}$"

#: Most problems listed in one error report (a body with thousands of bad keys must not
#: cost thousands of suggestions, nor echo them all back); the rest are counted.
MAX_REPORTED_PROBLEMS: Final = 100
#: Longest unknown key echoed back in a problem's ``field``.
MAX_ECHOED_KEY_LENGTH: Final = 64

#: Keys of CM's instruction the gateway refuses, and why.
REFUSED_KEYS: Final[Mapping[str, str]] = {
    "callback-url": (
        "is set by the service itself (every call gets its own authenticated callback "
        "URL); remove it and read results from GET /v1/dtmf-calls/{id} or the result events"
    ),
    "voicemail-response": (
        "voicemail detection is not available for DTMF calls (CM does not support it); remove it"
    ),
}

# ---------------------------------------------------------------------------------------
# Enums
# ---------------------------------------------------------------------------------------


class PromptType(StrEnum):
    """How CM interprets a prompt: an audio file path, text to speak, or SSML."""

    FILE = "File"
    TTS = "TTS"
    TTS_SSML = "TTS_SSML"


class Gender(StrEnum):
    MALE = "Male"
    FEMALE = "Female"


_PROMPT_TYPE_CODES: Final[Mapping[int, PromptType]] = {
    0: PromptType.FILE,
    1: PromptType.TTS,
    2: PromptType.TTS_SSML,
}
_GENDER_CODES: Final[Mapping[int, Gender]] = {0: Gender.MALE, 1: Gender.FEMALE}

_PROMPT_TYPE_RULE: Final = "must be one of File, TTS, TTS_SSML (or the SDK's numbers 0, 1, 2)"
_GENDER_RULE: Final = "must be Male or Female (or the SDK's numbers 0 and 1)"


def _enum_lookup[E: StrEnum](enum: type[E], codes: Mapping[int, E], value: object) -> E | None:
    """The member for a name (any case) or SDK integer; None when ``value`` is neither."""
    if isinstance(value, enum):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return codes.get(value)
    if isinstance(value, str):
        folded = value.casefold()
        for member in enum:
            if member.value.casefold() == folded:
                return member
    return None


def _enum_validator[E: StrEnum](
    enum: type[E], codes: Mapping[int, E], rule: str
) -> Callable[[object], E]:
    def parse(value: object) -> E:
        member = _enum_lookup(enum, codes, value)
        if member is None:
            raise PydanticCustomError("dtmf", "{reason}", {"reason": rule})
        return member

    return parse


def parse_prompt_type(value: object) -> PromptType | None:
    """``File``/``TTS``/``TTS_SSML`` (any case) or 0/1/2 → :class:`PromptType`, else None."""
    return _enum_lookup(PromptType, _PROMPT_TYPE_CODES, value)


PromptTypeField = Annotated[
    PromptType,
    BeforeValidator(_enum_validator(PromptType, _PROMPT_TYPE_CODES, _PROMPT_TYPE_RULE)),
]
GenderField = Annotated[
    Gender, BeforeValidator(_enum_validator(Gender, _GENDER_CODES, _GENDER_RULE))
]

# ---------------------------------------------------------------------------------------
# Field-level validators (raise PydanticCustomError so the message is ours)
# ---------------------------------------------------------------------------------------


def _fail(reason: str) -> PydanticCustomError:
    return PydanticCustomError("dtmf", "{reason}", {"reason": reason})


def _phone(value: str) -> str:
    try:
        return to_e164(value)
    except PhoneNumberError as error:
        raise _fail(str(error)) from None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _fail("must not be blank")
    return value


def _terminators(value: str) -> str:
    if not value:
        raise _fail(
            f"must contain at least one key; leave it out (or send null) for the default "
            f"{DEFAULT_TERMINATORS}"
        )
    for key in value:
        if key not in DTMF_KEYS:
            raise _fail(f"may only contain DTMF keys (0-9 * # A-D); {key!r} is not one")
    repeated = sorted({key for key in value if value.count(key) > 1})
    if repeated:
        raise _fail(f"lists {', '.join(repeated)} more than once")
    return value


def _regex(value: str) -> str:
    try:
        compile_input_regex(value)
    except InputRegexError as error:
        raise _fail(str(error)) from None
    return value


def _metadata(value: object) -> object:
    """Flat object of short strings; every problem reported (as one multi-error)."""
    if value is None or not isinstance(value, dict):
        return value  # the dict type check reports it
    problems: list[tuple[str, str]] = []
    if len(value) > MAX_METADATA_KEYS:
        problems.append(("", f"may have at most {MAX_METADATA_KEYS} keys ({len(value)} given)"))
    for key, item in value.items():
        if not isinstance(key, str) or not _METADATA_KEY_RE.fullmatch(key):
            shown = str(key) if len(str(key)) <= 50 else f"{str(key)[:50]}…"
            problems.append(
                (
                    "",
                    f"key {shown!r} must be 1 to {MAX_METADATA_KEY_LENGTH} characters from "
                    f"{METADATA_KEY_CHARACTERS}",
                )
            )
            continue
        if isinstance(item, (dict, list)):
            problems.append(
                (f".{key}", "must be a string; nested objects and arrays are not allowed")
            )
        elif not isinstance(item, str):
            problems.append((f".{key}", "must be a string"))
        elif len(item) > MAX_METADATA_VALUE_LENGTH:
            problems.append((f".{key}", f"must be at most {MAX_METADATA_VALUE_LENGTH} characters"))
    if problems:
        raise PydanticCustomError(
            "dtmf_multi",
            "{summary}",
            {"summary": "; ".join(message for _, message in problems), "problems": problems},
        )
    return value


def _callee_list(value: object) -> object:
    """Refuse an over-long or empty list before its numbers are parsed (bounded work)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise _fail("must contain at least one number")
        if len(value) > MAX_CALLEES:
            raise _fail(
                f"may contain at most {MAX_CALLEES} numbers per request ({len(value)} given)"
            )
    return value


def _drop_nulls(data: Any, keys: frozenset[str]) -> Any:
    """Explicit null = absent, for the keys we know (an unknown key stays, to be refused)."""
    if isinstance(data, dict) and any(data.get(key, 0) is None for key in keys):
        return {k: v for k, v in data.items() if not (v is None and k in keys)}
    return data


PhoneNumber = Annotated[StrictStr, AfterValidator(_phone)]
PromptText = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_PROMPT_LENGTH),
    AfterValidator(_not_blank),
]
Metadata = Annotated[dict[str, str] | None, BeforeValidator(_metadata)]

# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------


class Voice(BaseModel):
    """The TTS voice (``voice`` object); unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    language: StrictStr = Field(DEFAULT_LANGUAGE, pattern=_LANGUAGE_PATTERN)
    gender: GenderField = Gender.FEMALE
    number: StrictInt = Field(MIN_VOICE_NUMBER, ge=MIN_VOICE_NUMBER, le=MAX_VOICE_NUMBER)
    volume: StrictInt = Field(0, ge=MIN_VOLUME, le=MAX_VOLUME)
    premium: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _drop_nulls(data, _VOICE_KEYS)

    def to_cm(self) -> dict[str, object]:
        return {
            "language": self.language,
            "gender": self.gender.value,
            "number": self.number,
            "volume": self.volume,
            "premium": self.premium,
        }


_VOICE_KEYS: Final = frozenset(Voice.model_fields)


class DtmfCallRequest(BaseModel):
    """A validated DTMF call request. Build it with :func:`parse_dtmf_call_request`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    instruction_id: StrictStr | None = Field(
        None,
        alias="instruction-id",
        min_length=1,
        max_length=INSTRUCTION_ID_MAX_LENGTH,
        pattern=INSTRUCTION_ID_PATTERN,
    )
    callee: PhoneNumber | None = None
    callees: Annotated[tuple[PhoneNumber, ...] | None, BeforeValidator(_callee_list)] = None
    caller: PhoneNumber
    anonymous: StrictBool = False
    disable_callees_validation: StrictBool = Field(False, alias="disable-callees-validation")
    max_ringing_timeout: StrictInt = Field(
        DEFAULT_RINGING_TIMEOUT,
        alias="max-ringing-timeout",
        ge=MIN_RINGING_TIMEOUT,
        le=MAX_RINGING_TIMEOUT,
    )
    prompt: PromptText
    prompt_type: PromptTypeField = Field(PromptType.TTS, alias="prompt-type")
    valid_prompt: PromptText | None = Field(None, alias="valid-prompt")
    valid_prompt_type: PromptTypeField = Field(PromptType.TTS, alias="valid-prompt-type")
    invalid_prompt: PromptText | None = Field(None, alias="invalid-prompt")
    invalid_prompt_type: PromptTypeField = Field(PromptType.TTS, alias="invalid-prompt-type")
    min_digits: StrictInt = Field(
        DEFAULT_MIN_DIGITS, alias="min-digits", ge=MIN_DIGITS_LIMIT, le=MAX_DIGITS_LIMIT
    )
    max_digits: StrictInt = Field(
        DEFAULT_MAX_DIGITS, alias="max-digits", ge=MIN_DIGITS_LIMIT, le=MAX_DIGITS_LIMIT
    )
    max_attempts: StrictInt = Field(
        DEFAULT_MAX_ATTEMPTS, alias="max-attempts", ge=MIN_ATTEMPTS, le=MAX_ATTEMPTS
    )
    timeout: StrictInt = Field(DEFAULT_KEY_TIMEOUT_MS, ge=MIN_KEY_TIMEOUT_MS, le=MAX_KEY_TIMEOUT_MS)
    terminators: Annotated[StrictStr, AfterValidator(_terminators)] = DEFAULT_TERMINATORS
    regex: Annotated[StrictStr, AfterValidator(_regex)] = DEFAULT_REGEX
    voice: Voice = Field(default_factory=Voice)
    metadata: Metadata = None

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        return _drop_nulls(data, _NULLABLE_KEYS)

    @field_validator("disable_callees_validation")
    @classmethod
    def _validation_stays_on(cls, value: bool) -> bool:
        if value:
            raise _fail(_NO_DISABLE_VALIDATION)
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self, info: ValidationInfo) -> DtmfCallRequest:
        if isinstance(info.context, dict) and info.context.get(_CROSS_CHECKED):
            return self  # parse_dtmf_call_request already checked them on the raw body
        problems = _cross_field_problems(self.model_dump(by_alias=True))
        if problems:
            raise PydanticCustomError(
                "dtmf_multi",
                "{summary}",
                {
                    "summary": "; ".join(f"{p.field}: {p.message}" for p in problems),
                    "problems": [(p.field, p.message) for p in problems],
                    "absolute": True,
                },
            )
        return self

    # -- what the rest of the service needs -------------------------------------------

    def destinations(self) -> list[str]:
        """The numbers to call, E.164, in the order given."""
        if self.callee is not None:
            return [self.callee]
        return list(self.callees or ())

    def destination_fields(self) -> list[tuple[str, str]]:
        """``(JSON path, E.164)`` per destination: ``("callee", …)`` or ``("callees[i]", …)``."""
        if self.callee is not None:
            return [("callee", self.callee)]
        return [(f"callees[{i}]", number) for i, number in enumerate(self.callees or ())]

    def input_rules(self) -> InputRules:
        """The digit rules of this request, to re-check what a callee typed."""
        return InputRules(
            min_digits=self.min_digits,
            max_digits=self.max_digits,
            regex=compile_input_regex(self.regex, probe=False),
        )

    def to_cm_payload(self, instruction_id: str, callback_url: str) -> dict[str, Any]:
        """CM's wire body: kebab-case keys, enum names, every default explicit,
        ``callee`` for one number else ``callees``, no ``metadata``."""
        numbers = self.destinations()
        payload: dict[str, Any] = {"instruction-id": instruction_id}
        if len(numbers) == 1:
            payload["callee"] = numbers[0]
        else:
            payload["callees"] = numbers
        payload.update(
            {
                "caller": self.caller,
                "anonymous": self.anonymous,
                "disable-callees-validation": False,
                "callback-url": callback_url,
                "max-ringing-timeout": self.max_ringing_timeout,
                "prompt": self.prompt,
                "prompt-type": self.prompt_type.value,
            }
        )
        if self.valid_prompt is not None:
            payload["valid-prompt"] = self.valid_prompt
        payload["valid-prompt-type"] = self.valid_prompt_type.value
        if self.invalid_prompt is not None:
            payload["invalid-prompt"] = self.invalid_prompt
        payload.update(
            {
                "invalid-prompt-type": self.invalid_prompt_type.value,
                "min-digits": self.min_digits,
                "max-digits": self.max_digits,
                "max-attempts": self.max_attempts,
                "timeout": self.timeout,
                "terminators": self.terminators,
                "regex": self.regex,
                "voice": self.voice.to_cm(),
            }
        )
        return payload

    def canonical_json(self) -> str:
        """Stable JSON of the normalised request (sorted keys, E.164 numbers, defaults
        filled in, enum names): equal requests give equal text, for idempotency hashing."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )


_CROSS_CHECKED: Final = "dtmf_gateway.cross_checked"
_NO_DISABLE_VALIDATION: Final = (
    "must be false: the gateway validates every callee; remove invalid numbers instead"
)
_FIELD_ALIASES: Final[tuple[str, ...]] = tuple(
    field.alias or name for name, field in DtmfCallRequest.model_fields.items()
)
_NULLABLE_KEYS: Final = (
    frozenset(_FIELD_ALIASES) | frozenset(DtmfCallRequest.model_fields) | frozenset(REFUSED_KEYS)
)

# ---------------------------------------------------------------------------------------
# Cross-field rules (run on the raw body so they are reported next to field errors)
# ---------------------------------------------------------------------------------------

_FILE_PATH_RULES: Final = (
    "a path relative to the root of your CM Voice Audio Manager storage, e.g. prompts/pin.wav"
)


def _file_path_problem(path: str) -> str | None:  # noqa: PLR0911 - one reason per rule
    """Why ``path`` is not an acceptable audio file path, or None."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return f"must not contain control characters; give {_FILE_PATH_RULES}"
    if "://" in path:
        return f"must be a file path, not a URL; give {_FILE_PATH_RULES}"
    if "\\" in path:
        return f"must use / between folders, not backslashes; give {_FILE_PATH_RULES}"
    if path.startswith("/"):
        return f"must not start with /; give {_FILE_PATH_RULES}"
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return f"must not contain . or .. segments; give {_FILE_PATH_RULES}"
    if path.endswith("/") or not segments[-1].strip():
        return f"must end with a file name; give {_FILE_PATH_RULES}"
    if any(not segment for segment in segments):
        return f"must not contain empty folder names (//); give {_FILE_PATH_RULES}"
    return None


def _prompt_problem(text: object, kind: object) -> str | None:
    """Content rule for one prompt given its type; None when fine or not checkable yet."""
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_PROMPT_LENGTH:
        return None  # the field rule reports it
    prompt_type = PromptType.TTS if kind is None else parse_prompt_type(kind)
    if prompt_type is PromptType.FILE:
        return _file_path_problem(text)
    if prompt_type is PromptType.TTS_SSML:
        try:
            check_ssml(text)
        except SsmlError as error:
            return f"{error} (prompt type TTS_SSML)"
    return None


def _digit_count(value: object) -> int | None:
    """``value`` when it is a valid ``min-digits``/``max-digits`` value, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if MIN_DIGITS_LIMIT <= value <= MAX_DIGITS_LIMIT else None
    return None


def _cross_field_problems(data: Mapping[str, Any]) -> list[FieldProblem]:
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
    for text_key, type_key in (
        ("prompt", "prompt-type"),
        ("valid-prompt", "valid-prompt-type"),
        ("invalid-prompt", "invalid-prompt-type"),
    ):
        problem = _prompt_problem(data.get(text_key), data.get(type_key))
        if problem:
            problems.append(FieldProblem(text_key, problem))
    return problems


def _duplicate_problems(callees: Iterable[object]) -> list[FieldProblem]:
    seen: dict[str, int] = {}
    problems: list[FieldProblem] = []
    for index, raw in enumerate(callees):
        if not isinstance(raw, str):
            continue
        try:
            number = to_e164(raw)
        except PhoneNumberError:
            continue  # reported by the field rule
        if number in seen:
            problems.append(
                FieldProblem(f"callees[{index}]", f"is the same number as callees[{seen[number]}]")
            )
        else:
            seen[number] = index
    return problems


# ---------------------------------------------------------------------------------------
# Turning pydantic errors into human messages
# ---------------------------------------------------------------------------------------

_PHONE_RULE: Final = (
    f"must be a phone number in international format, e.g. +31612345678 "
    f"(at most {MAX_PHONE_INPUT_LENGTH} characters)"
)
_PROMPT_RULE: Final = f"must be text of 1 to {MAX_PROMPT_LENGTH} characters"

#: What each field must be, used for type and range errors.
FIELD_RULES: Final[Mapping[str, str]] = {
    "instruction-id": (
        f"must be 1 to {INSTRUCTION_ID_MAX_LENGTH} characters from {INSTRUCTION_ID_CHARACTERS}"
    ),
    "callee": _PHONE_RULE,
    "callees": f"must be a list of 1 to {MAX_CALLEES} phone numbers",
    "callees[]": _PHONE_RULE,
    "caller": _PHONE_RULE,
    "anonymous": "must be true or false",
    "disable-callees-validation": _NO_DISABLE_VALIDATION,
    "max-ringing-timeout": (
        f"must be a whole number of seconds between {MIN_RINGING_TIMEOUT} and {MAX_RINGING_TIMEOUT}"
    ),
    "prompt": _PROMPT_RULE,
    "prompt-type": _PROMPT_TYPE_RULE,
    "valid-prompt": _PROMPT_RULE,
    "valid-prompt-type": _PROMPT_TYPE_RULE,
    "invalid-prompt": _PROMPT_RULE,
    "invalid-prompt-type": _PROMPT_TYPE_RULE,
    "min-digits": (f"must be a whole number between {MIN_DIGITS_LIMIT} and {MAX_DIGITS_LIMIT}"),
    "max-digits": (f"must be a whole number between {MIN_DIGITS_LIMIT} and {MAX_DIGITS_LIMIT}"),
    "max-attempts": f"must be a whole number between {MIN_ATTEMPTS} and {MAX_ATTEMPTS}",
    "timeout": (
        f"must be a whole number of milliseconds between {MIN_KEY_TIMEOUT_MS} and "
        f"{MAX_KEY_TIMEOUT_MS}"
    ),
    "terminators": "must be a string of DTMF keys (0-9 * # A-D), e.g. #",
    "regex": "must be a regular expression (a string)",
    "voice": "must be an object with language, gender, number, volume and premium",
    "voice.language": (
        "must be a language code like en-GB (two lower-case letters, a dash, two upper-case "
        "letters)"
    ),
    "voice.gender": _GENDER_RULE,
    "voice.number": (f"must be a whole number between {MIN_VOICE_NUMBER} and {MAX_VOICE_NUMBER}"),
    "voice.volume": f"must be a whole number between {MIN_VOLUME} and {MAX_VOLUME}",
    "voice.premium": "must be true or false",
    "metadata": (
        f"must be an object of at most {MAX_METADATA_KEYS} string values (keys 1 to "
        f"{MAX_METADATA_KEY_LENGTH} characters from {METADATA_KEY_CHARACTERS}, values at most "
        f"{MAX_METADATA_VALUE_LENGTH} characters)"
    ),
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


def _path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _rule_key(loc: tuple[int | str, ...]) -> str:
    """The FIELD_RULES key of a location: ``callees[3]`` → ``callees[]``."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        return f"{loc[0]}[]"
    return ".".join(str(part) for part in loc if not isinstance(part, int))


def _unknown_key_message(key: str, known: Iterable[str]) -> str:
    import difflib  # only needed on the error path: kept out of the cold start

    refused = REFUSED_KEYS.get(key)
    if refused:
        return refused
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


def _describe_input(value: object) -> str:
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


def _problems_from(error: ValidationError, limit: int) -> list[FieldProblem]:
    """Human problems for (at least) the first ``limit`` pydantic errors."""
    problems: list[FieldProblem] = []
    for item in error.errors(include_url=False):
        if len(problems) >= limit:
            break
        loc = tuple(_shorten(part) for part in item["loc"])
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind == "dtmf_multi":
            base = "" if ctx.get("absolute") else _path(loc)
            problems.extend(FieldProblem(base + sub, message) for sub, message in ctx["problems"])
            continue
        path = _path(loc)
        if kind == "dtmf":
            problems.append(FieldProblem(path, str(ctx["reason"])))
        elif kind == "missing":
            problems.append(FieldProblem(path, "is required"))
        elif kind == "extra_forbidden":
            known = _VOICE_KEYS if len(loc) > 1 and loc[0] == "voice" else _FIELD_ALIASES
            key = str(item["loc"][-1])
            problems.append(FieldProblem(path, _unknown_key_message(key, known)))
        else:
            rule = FIELD_RULES.get(_rule_key(loc), "is not valid")
            if kind in _TYPE_ERRORS:
                given = _describe_input(item.get("input"))
                rule = f"{rule} (got {given}, expected {_NAMES_BY_TYPE[kind]})"
            problems.append(FieldProblem(path, rule))
    return problems


_FIELD_ORDER: Final[Mapping[str, int]] = {alias: i for i, alias in enumerate(_FIELD_ALIASES)}


def _order(problem: FieldProblem) -> int:
    top = re.split(r"[.\[]", problem.field, maxsplit=1)[0]
    if not top:
        return -1
    return _FIELD_ORDER.get(top, len(_FIELD_ORDER))


def parse_dtmf_call_request(raw: object) -> DtmfCallRequest:
    """Validate a decoded JSON body; raise :class:`InvalidRequest` listing every problem.

    Only CM's kebab-case keys are accepted here (``min_digits`` is an unknown field
    pointing at ``min-digits``); cross-field rules are reported together with field
    errors.
    """
    if not isinstance(raw, dict):
        raise InvalidRequest(
            [FieldProblem("", f"the body must be a JSON object, not {_describe_input(raw)}")]
        )
    problems = _cross_field_problems(raw)
    total = len(problems)
    try:
        request = DtmfCallRequest.model_validate(
            raw, by_alias=True, by_name=False, context={_CROSS_CHECKED: True}
        )
    except ValidationError as error:
        total += error.error_count()
        problems = _problems_from(error, MAX_REPORTED_PROBLEMS) + problems
    else:
        if not problems:
            return request
    unique = list(dict.fromkeys(problems))
    unique.sort(key=_order)
    hidden = max(total, len(unique)) - MAX_REPORTED_PROBLEMS
    if hidden > 0:
        unique = [
            *unique[:MAX_REPORTED_PROBLEMS],
            FieldProblem("", f"and about {hidden} more problems that are not listed"),
        ]
    raise InvalidRequest(unique)
