"""CM.com's request rules for ``POST /voiceapi/v2/DTMF`` (contract §1).

Independent from the product's own model on purpose: the simulator accepts what CM
accepts (string *and* integer enums, explicit nulls, unknown keys, the SDK payload without
``valid-prompt``) and refuses what CM refuses. Where CM's behaviour is not known the
stricter reading is taken, so a request that passes here is likely to pass at CM.
Errors are collected for every bad field and reported ASP.NET-style (ValidationProblemDetails).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cm_simulator.flow import (
    DEFAULT_MAX_DIGITS,
    DEFAULT_MAX_RINGING_TIMEOUT_S,
    DEFAULT_MIN_DIGITS,
    DEFAULT_REGEX,
    DEFAULT_TERMINATORS,
    DTMF_KEYS,
    CallSettings,
    DigitRules,
)

DEFAULT_MAX_CALLEES = 100

PROMPT_TYPES = {"file": "File", "tts": "TTS", "tts_ssml": "TTS_SSML"}
PROMPT_TYPE_INTS = {0: "File", 1: "TTS", 2: "TTS_SSML"}
GENDERS = {"male": "Male", "female": "Female"}
GENDER_INTS = {0: "Male", 1: "Female"}
VOICEMAIL_RESPONSES = {"ignore": "Ignore", "restart": "Restart", "stop": "Stop"}
VOICEMAIL_RESPONSE_INTS = {0: "Ignore", 1: "Restart", 2: "Stop"}

#: International number as CM expects it: ``+`` (or the ``00`` international prefix CM
#: historically accepted too), a non-zero country-code digit, 7-15 digits in all.
_PHONE = re.compile(r"(?:\+|00)[1-9][0-9]{6,14}")
_LANGUAGE = re.compile(r"[A-Za-z]{2}-[A-Za-z]{2}")
_NET_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>")
_NET_NAMED_GROUP_QUOTED = re.compile(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'")
_NET_NAMED_BACKREF = re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>")

PROBLEM_TYPE = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
PROBLEM_TITLE = "One or more validation errors occurred."


def is_phone_number(value: str) -> bool:
    """Shape check for an international (E.164) number."""
    return _PHONE.fullmatch(value) is not None


def normalize_number(value: str) -> str:
    """``0031...`` -> ``+31...``; other forms unchanged."""
    return "+" + value[2:] if value.startswith("00") else value


def python_regex(pattern: str) -> str:
    """Translate the .NET-only named-group syntax to Python's (other syntax is shared)."""
    pattern = _NET_NAMED_GROUP.sub(r"(?P<\1>", pattern)
    pattern = _NET_NAMED_GROUP_QUOTED.sub(r"(?P<\1>", pattern)
    return _NET_NAMED_BACKREF.sub(r"(?P=\1)", pattern)


class ValidationFailed(Exception):
    """The instruction was refused; ``errors`` maps JSON field paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def problem_details(errors: dict[str, list[str]], status: int = 400) -> dict[str, object]:
    """ASP.NET Core ValidationProblemDetails body."""
    return {
        "type": PROBLEM_TYPE,
        "title": PROBLEM_TITLE,
        "status": status,
        "errors": errors,
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
    }


@dataclass(frozen=True)
class CalleeEntry:
    """One callee of the instruction; not dialable only with ``disable-callees-validation``."""

    number: str
    dialable: bool = True
    error: str | None = None


@dataclass(frozen=True)
class Voice:
    language: str = "en-GB"
    gender: str = "Female"
    number: int = 1
    volume: int = 0
    premium: bool = False


@dataclass(frozen=True)
class Instruction:
    """A validated instruction with CM's defaults applied."""

    body: dict[str, object]
    callees: tuple[CalleeEntry, ...]
    caller: str
    prompt: str
    instruction_id: str | None = None
    anonymous: bool = False
    callback_url: str | None = None
    max_ringing_timeout: int = DEFAULT_MAX_RINGING_TIMEOUT_S
    prompt_type: str | None = None
    valid_prompt: str | None = None
    valid_prompt_type: str | None = None
    invalid_prompt: str | None = None
    invalid_prompt_type: str | None = None
    rules: DigitRules = field(default_factory=DigitRules)
    regex_source: str = DEFAULT_REGEX
    voice: Voice = field(default_factory=Voice)
    disable_callees_validation: bool = False

    def call_settings(self) -> CallSettings:
        return CallSettings(
            rules=self.rules,
            max_ringing_timeout_s=self.max_ringing_timeout,
            has_valid_prompt=bool(self.valid_prompt),
            has_invalid_prompt=bool(self.invalid_prompt),
        )


class _Checker:
    """Reads typed fields from a JSON object, collecting an error per bad field."""

    def __init__(self, body: dict[str, object], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(self.prefix + key, []).append(message)

    def name(self, key: str) -> str:
        return self.prefix + key

    def string(
        self,
        key: str,
        *,
        required: bool = False,
        min_len: int | None = None,
        max_len: int | None = None,
    ) -> str | None:
        value = self.body.get(key)
        if value is None:
            if required:
                self.add(key, f"The {self.name(key)} field is required.")
            return None
        if not isinstance(value, str):
            self.add(
                key, f"The JSON value of '{self.name(key)}' could not be converted to a string."
            )
            return None
        if required and not value.strip():
            self.add(key, f"The {self.name(key)} field is required.")
            return None
        if max_len is not None and (len(value) > max_len or len(value) < (min_len or 0)):
            if min_len:
                self.add(
                    key,
                    f"The field {self.name(key)} must be a string with a minimum length of "
                    f"{min_len} and a maximum length of {max_len}.",
                )
            else:
                self.add(
                    key,
                    f"The field {self.name(key)} must be a string with a maximum length of "
                    f"{max_len}.",
                )
            return None
        return value

    def integer(self, key: str, low: int | None = None, high: int | None = None) -> int | None:
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(
                key, f"The JSON value of '{self.name(key)}' could not be converted to an integer."
            )
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                self.add(key, f"The field {self.name(key)} must be at least {low}.")
            else:
                self.add(key, f"The field {self.name(key)} must be between {low} and {high}.")
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.body.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.add(
                key, f"The JSON value of '{self.name(key)}' could not be converted to a boolean."
            )
            return None
        return value

    def enum(self, key: str, names: dict[str, str], numbers: dict[int, str]) -> str | None:
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.lower() in names:
            return names[value.lower()]
        if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
            return numbers[value]
        allowed = ", ".join(f"{text} ({num})" for num, text in numbers.items())
        self.add(key, f"The value {value!r} is not valid for {self.name(key)}. Allowed: {allowed}.")
        return None


def _check_callees(
    check: _Checker, max_callees: int, disable_validation: bool
) -> tuple[CalleeEntry, ...]:
    callee = check.body.get("callee")
    callees = check.body.get("callees")
    if callees == []:
        callees = None  # an empty list is as good as absent
    if callee is not None and callees is not None:
        check.add("callee", "Give either callee or callees, not both.")
        return ()
    if callee is None and callees is None:
        check.add("callee", "Either callee or callees is required.")
        return ()
    numbers: list[tuple[str, object]]
    if callee is not None:
        numbers = [("callee", callee)]
    elif isinstance(callees, list):
        if len(callees) > max_callees:
            check.add("callees", f"At most {max_callees} callees are allowed per request.")
            return ()
        numbers = [(f"callees[{index}]", item) for index, item in enumerate(callees)]
    else:
        check.add(
            "callees", "The JSON value of 'callees' could not be converted to a list of strings."
        )
        return ()
    entries: list[CalleeEntry] = []
    for key, value in numbers:
        if not isinstance(value, str):
            check.add(key, f"The JSON value of '{key}' could not be converted to a string.")
        elif is_phone_number(value):
            entries.append(CalleeEntry(value))
        elif disable_validation:
            entries.append(
                CalleeEntry(
                    value,
                    dialable=False,
                    error="Invalid number: not in international E.164 format.",
                )
            )
        else:
            check.add(key, f"The number '{value}' is not in valid international E.164 format.")
    return tuple(entries)


def _check_voice(check: _Checker) -> Voice:
    value = check.body.get("voice")
    if value is None:
        return Voice()
    if not isinstance(value, dict):
        check.add("voice", "The JSON value of 'voice' could not be converted to a voice object.")
        return Voice()
    sub = _Checker(value, prefix="voice.")
    language = sub.string("language")
    if language is not None and not _LANGUAGE.fullmatch(language):
        sub.add("language", "The field voice.language must be a language code like 'en-GB'.")
        language = None
    gender = sub.enum("gender", GENDERS, GENDER_INTS)
    number = sub.integer("number", 1)
    volume = sub.integer("volume", -4, 4)
    premium = sub.boolean("premium")
    for key, messages in sub.errors.items():
        check.errors.setdefault(key, []).extend(messages)
    default = Voice()
    return Voice(
        language=language or default.language,
        gender=gender or default.gender,
        number=number if number is not None else default.number,
        volume=volume if volume is not None else default.volume,
        premium=bool(premium),
    )


def _check_regex(check: _Checker) -> tuple[str, str]:
    """Return (regex as given, Python form), defaults when unset or empty."""
    source = check.string("regex")
    if not source:
        return DEFAULT_REGEX, DEFAULT_REGEX
    translated = python_regex(source)
    try:
        re.compile(translated)
    except re.error as exc:
        check.add("regex", f"The field regex is not a valid regular expression: {exc}.")
        return DEFAULT_REGEX, DEFAULT_REGEX
    return source, translated


def _check_terminators(check: _Checker) -> str:
    value = check.string("terminators")
    if value is None:
        return DEFAULT_TERMINATORS
    keys = value.upper()
    if any(key not in DTMF_KEYS for key in keys):
        check.add("terminators", "The field terminators may only contain the keys 0-9, *, #, A-D.")
        return DEFAULT_TERMINATORS
    return keys


def _check_callback_url(check: _Checker) -> str | None:
    url = check.string("callback-url")
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        valid = False
    if not valid:
        check.add("callback-url", "The field callback-url must be an absolute http or https URI.")
        return None
    return url


def validate_instruction(body: object, *, max_callees: int = DEFAULT_MAX_CALLEES) -> Instruction:
    """Validate a parsed JSON body; raise :class:`ValidationFailed` listing every bad field."""
    if not isinstance(body, dict):
        raise ValidationFailed({"$": ["The request body must be a JSON object."]})
    check = _Checker(body)

    disable_validation = bool(check.boolean("disable-callees-validation"))
    callees = _check_callees(check, max_callees, disable_validation)
    instruction_id = check.string("instruction-id", max_len=64)
    caller = check.string("caller", required=True, min_len=1, max_len=24)
    if caller is not None and not is_phone_number(caller):
        check.add("caller", "The field caller must be in valid international E.164 format.")
    anonymous = check.boolean("anonymous")
    callback_url = _check_callback_url(check)
    ringing = check.integer("max-ringing-timeout", 10, 60)
    prompt = check.string("prompt", required=True, min_len=1, max_len=1000)
    prompt_type = check.enum("prompt-type", PROMPT_TYPES, PROMPT_TYPE_INTS)
    valid_prompt = check.string("valid-prompt", min_len=1, max_len=1000)
    valid_prompt_type = check.enum("valid-prompt-type", PROMPT_TYPES, PROMPT_TYPE_INTS)
    invalid_prompt = check.string("invalid-prompt", max_len=1000)
    invalid_prompt_type = check.enum("invalid-prompt-type", PROMPT_TYPES, PROMPT_TYPE_INTS)
    min_digits = check.integer("min-digits", 1, 64)
    max_digits = check.integer("max-digits", 1, 64)
    if min_digits is not None and max_digits is not None and min_digits > max_digits:
        check.add("min-digits", "The field min-digits must not be greater than max-digits.")
    max_attempts = check.integer("max-attempts", 1, 10)
    timeout = check.integer("timeout", 1000, 10000)
    terminators = _check_terminators(check)
    regex_source, regex = _check_regex(check)
    voice = _check_voice(check)
    check.enum("voicemail-response", VOICEMAIL_RESPONSES, VOICEMAIL_RESPONSE_INTS)  # then ignored

    if check.errors or caller is None or prompt is None:
        raise ValidationFailed(check.errors)
    rules = DigitRules(
        min_digits=min_digits if min_digits is not None else DEFAULT_MIN_DIGITS,
        max_digits=max_digits if max_digits is not None else DEFAULT_MAX_DIGITS,
        max_attempts=max_attempts if max_attempts is not None else DigitRules().max_attempts,
        timeout_ms=timeout if timeout is not None else DigitRules().timeout_ms,
        terminators=terminators,
        regex=regex,
    )
    return Instruction(
        body=body,
        callees=callees,
        caller=caller,
        prompt=prompt,
        instruction_id=instruction_id,
        anonymous=bool(anonymous),
        callback_url=callback_url,
        max_ringing_timeout=ringing if ringing is not None else DEFAULT_MAX_RINGING_TIMEOUT_S,
        prompt_type=prompt_type,
        valid_prompt=valid_prompt,
        valid_prompt_type=valid_prompt_type,
        invalid_prompt=invalid_prompt,
        invalid_prompt_type=invalid_prompt_type,
        rules=rules,
        regex_source=regex_source,
        voice=voice,
        disable_callees_validation=disable_validation,
    )
