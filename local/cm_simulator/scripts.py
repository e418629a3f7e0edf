"""Callee scripts: what a dialled number does, and how CM writes about it.

Resolution order for a call: a script set with ``PUT /_simulator/callees/{e164}``, else a
built-in magic number, else the default behaviour (answer and type a valid answer).
Magic numbers and the default generate their keys from the instruction's digit rules, so
they behave sensibly whatever ``min-digits``/``max-digits``/``regex`` the product uses.

A script may also reproduce CM's undocumented corners (:class:`Wire`: the callee's
spelling in the synchronous reply, a slow reply, extra or renamed callback keys) and may
differ per call to the same number (``per-call``). The names are the public contract of
``docs/architecture.md`` ("Local stack").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

from cm_simulator.flow import DTMF_KEYS, CallSettings, DigitRules, Matcher, Pickup, Script, collect
from cm_simulator.validation import is_phone_number, normalize_number

MAX_KEYS_PER_ATTEMPT = 200
MAX_SCRIPTED_ATTEMPTS = 50
MAX_GENERATED_LENGTHS = 12
MAX_PER_CALL = 50
MAX_REPLY_SECONDS = 300
MAX_DIGITS_KEY_LENGTH = 64
#: Keys of one script entry, in the order error messages list them.
ENTRY_KEYS = (
    "pickup",
    "keys",
    "hangup-after-attempt",
    "reply-callee-format",
    "reply-delay-seconds",
    "reply-drip-seconds",
    "callback-extra",
    "callback-digits-key",
)
SCRIPT_KEYS = (*ENTRY_KEYS, "per-call")
#: Callback keys that ``callback-digits-key`` may not take over (``callback-extra`` may).
CALLBACK_KEYS = ("type", "call-id", "instruction-id", "caller", "callee", "result")


class ScriptError(Exception):
    """A scripting request was refused; ``errors`` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def parse_number(text: str) -> str:
    """Path segment -> normalized ``+E.164`` (accepts ``+``, ``00`` or bare digits)."""
    candidate = text.strip()
    if candidate.isdigit() and not candidate.startswith("00"):
        candidate = "+" + candidate
    if not is_phone_number(candidate):
        raise ScriptError(
            {"callee": [f"'{text}' is not an international E.164 number like +31612345678."]}
        )
    return normalize_number(candidate)


class ReplyCalleeFormat(StrEnum):
    """How CM writes the callee in its synchronous ``call-queued`` reply."""

    E164 = "e164"  # +31612345678
    NATIONAL_00 = "national-00"  # 0031612345678
    NO_PLUS = "no-plus"  # 31612345678
    OMITTED = "omitted"  # no "callee" key at all

    def write(self, number: str) -> str | None:
        """``number`` (``+…`` or ``00…``) in this format; None for ``omitted``."""
        plus = normalize_number(number)
        if self is ReplyCalleeFormat.NATIONAL_00:
            return "00" + plus[1:]
        if self is ReplyCalleeFormat.NO_PLUS:
            return plus[1:]
        if self is ReplyCalleeFormat.OMITTED:
            return None
        return plus


def _merge(base: dict[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    """``extra`` merged into a copy of ``base``: objects merge key by key (recursively),
    any other value replaces what was there."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class Wire:
    """How CM talks about one call: the synchronous reply and the callback body.

    ``None`` means "not set" (CM's usual behaviour). Seconds are real seconds, not scaled by
    the time scale.
    """

    reply_callee_format: ReplyCalleeFormat | None = None
    reply_delay_seconds: float | None = None
    reply_drip_seconds: float | None = None
    callback_extra: dict[str, object] | None = field(default=None, hash=False)
    callback_digits_key: str | None = None

    def reply_callee(self, number: str) -> str | None:
        """The callee as the reply writes it: as the request wrote it when no format is
        set, None when the key is to be omitted."""
        if self.reply_callee_format is None:
            return number
        return self.reply_callee_format.write(number)

    def callback_body(self, body: Mapping[str, object]) -> dict[str, object]:
        """The callback as CM would send it: ``digits`` moved to ``callback-digits-key``,
        then ``callback-extra`` deep-merged in (it may add or replace any key)."""
        out = dict(body)
        key = self.callback_digits_key
        if key is not None and key != "digits":
            out[key] = out.pop("digits", "")
        if self.callback_extra:
            out = _merge(out, self.callback_extra)
        return out

    def to_json(self) -> dict[str, object]:
        """Only the keys that are set."""
        data: dict[str, object] = {
            "reply-callee-format": (
                self.reply_callee_format.value if self.reply_callee_format else None
            ),
            "reply-delay-seconds": self.reply_delay_seconds,
            "reply-drip-seconds": self.reply_drip_seconds,
            "callback-extra": copy.deepcopy(self.callback_extra),
            "callback-digits-key": self.callback_digits_key,
        }
        return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class Entry:
    """One complete script: what the callee does and how CM writes about the call."""

    script: Script
    wire: Wire = Wire()

    def to_json(self) -> dict[str, object]:
        return {**self.script.to_json(), **self.wire.to_json()}


@dataclass(frozen=True)
class CalleeScript:
    """What ``PUT /_simulator/callees/{e164}`` set: the entry for each CM call to the number.

    ``entries[0]`` serves the 1st call, ``entries[1]`` the 2nd, …; the last one repeats.
    ``defaults`` holds the top-level keys as given (normalized), for display only.
    """

    entries: tuple[Entry, ...]
    defaults: dict[str, object] = field(default_factory=dict, hash=False)
    per_call: bool = False

    def entry_for(self, call_number: int) -> Entry:
        """The entry for the 1-based ``call_number``-th call (the last one repeats)."""
        return self.entries[min(max(call_number, 1), len(self.entries)) - 1]

    def to_json(self) -> dict[str, object]:
        """Without ``per-call``, the entry itself; with it, the top-level keys as given and
        ``per-call`` as the complete entries (defaults applied)."""
        if not self.per_call:
            return self.entries[0].to_json()
        return {**self.defaults, "per-call": [entry.to_json() for entry in self.entries]}


@dataclass(frozen=True)
class ScriptedCall:
    """The entry a scripted call follows and which call to its number it is (1-based)."""

    entry: Entry
    call_number: int


_Errors = dict[str, list[str]]


def _error(errors: _Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _parse_pickup(value: object, name: str, errors: _Errors) -> Pickup | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in {p.value for p in Pickup}:
        _error(errors, name, f"pickup must be one of {', '.join(p.value for p in Pickup)}.")
        return None
    return Pickup(value)


def _parse_keys(value: object, name: str, errors: _Errors) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_SCRIPTED_ATTEMPTS:
        _error(
            errors,
            name,
            f"keys must be a list of at most {MAX_SCRIPTED_ATTEMPTS} strings, one per attempt.",
        )
        return None
    keys: list[str] = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, str)
            or len(item) > MAX_KEYS_PER_ATTEMPT
            or any(key not in DTMF_KEYS for key in item.upper())
        ):
            _error(
                errors,
                f"{name}[{index}]",
                f"Each entry is a string of at most {MAX_KEYS_PER_ATTEMPT} keys among"
                " 0-9, *, #, A-D ('' = nothing typed).",
            )
        else:
            keys.append(item.upper())
    return tuple(keys)


def _parse_hangup(value: object, name: str, errors: _Errors) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _error(
            errors,
            name,
            "hangup-after-attempt must be an integer >= 0 (0 = hang up during the first prompt).",
        )
        return None
    return value


def _parse_format(value: object, name: str, errors: _Errors) -> ReplyCalleeFormat | None:
    if value is None:
        return None
    allowed = {f.value for f in ReplyCalleeFormat}
    if not isinstance(value, str) or value not in allowed:
        formats = ", ".join(f.value for f in ReplyCalleeFormat)
        _error(errors, name, f"reply-callee-format must be one of {formats}.")
        return None
    return ReplyCalleeFormat(value)


def _parse_seconds(value: object, name: str, errors: _Errors) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_REPLY_SECONDS
    ):
        key = name.rpartition(".")[2]
        _error(errors, name, f"{key} must be a number of seconds, 0-{MAX_REPLY_SECONDS}.")
        return None
    return value


def _parse_extra(value: object, name: str, errors: _Errors) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        _error(
            errors, name, "callback-extra must be a JSON object to merge into the callback body."
        )
        return None
    return copy.deepcopy(value)


def _parse_digits_key(value: object, name: str, errors: _Errors) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_DIGITS_KEY_LENGTH
        or value in CALLBACK_KEYS
    ):
        _error(
            errors,
            name,
            f"callback-digits-key must be a key name of 1-{MAX_DIGITS_KEY_LENGTH} characters"
            f" other than {', '.join(CALLBACK_KEYS)}.",
        )
        return None
    return value


_PARSERS: dict[str, Callable[[object, str, _Errors], object]] = {
    "pickup": _parse_pickup,
    "keys": _parse_keys,
    "hangup-after-attempt": _parse_hangup,
    "reply-callee-format": _parse_format,
    "reply-delay-seconds": _parse_seconds,
    "reply-drip-seconds": _parse_seconds,
    "callback-extra": _parse_extra,
    "callback-digits-key": _parse_digits_key,
}


def _parse_fields(body: Mapping[str, object], prefix: str, errors: _Errors) -> dict[str, object]:
    """The entry keys present in ``body``, parsed (``null`` parses to None = not set)."""
    return {
        key: _PARSERS[key](body[key], prefix + key, errors) for key in ENTRY_KEYS if key in body
    }


def _refuse_unknown(
    body: Mapping[str, object], allowed: tuple[str, ...], prefix: str, errors: _Errors
) -> None:
    for key in sorted(set(body) - set(allowed)):
        if key == "per-call":
            _error(errors, prefix + key, "A per-call entry cannot have its own per-call.")
        else:
            _error(errors, prefix + key, f"Unknown field; allowed are {', '.join(allowed)}.")


def _entry(fields: Mapping[str, object], pickup_name: str, errors: _Errors) -> Entry:
    """An entry from parsed fields; a missing ``pickup`` is reported as ``pickup_name``."""
    pickup = fields.get("pickup")
    if not isinstance(pickup, Pickup):
        if "pickup" not in errors and pickup_name not in errors:
            allowed = ", ".join(p.value for p in Pickup)
            _error(errors, pickup_name, f"The pickup field is required ({allowed}).")
        pickup = Pickup.ANSWER
    script = Script(
        pickup=pickup,
        keys=cast("tuple[str, ...] | None", fields.get("keys")) or (),
        hangup_after_attempt=cast("int | None", fields.get("hangup-after-attempt")),
    )
    wire = Wire(
        reply_callee_format=cast("ReplyCalleeFormat | None", fields.get("reply-callee-format")),
        reply_delay_seconds=cast("float | None", fields.get("reply-delay-seconds")),
        reply_drip_seconds=cast("float | None", fields.get("reply-drip-seconds")),
        callback_extra=cast("dict[str, object] | None", fields.get("callback-extra")),
        callback_digits_key=cast("str | None", fields.get("callback-digits-key")),
    )
    return Entry(script, wire)


def _as_json(value: object) -> object:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def parse_script(body: object) -> CalleeScript:
    """Validate the JSON body of ``PUT /_simulator/callees/{e164}``.

    Raises :class:`ScriptError` naming every bad field (``per-call[1].keys[0]`` for a key
    inside an entry). Without ``per-call`` the body is the one entry for every call and
    ``pickup`` is required; with it, the top-level keys are the defaults of each entry
    (a key an entry gives, even as ``null``, replaces the default) and ``pickup`` is
    required in each entry or at the top level.
    """
    if not isinstance(body, dict):
        raise ScriptError({"$": ["The body must be a JSON object."]})
    errors: _Errors = {}
    _refuse_unknown(body, SCRIPT_KEYS, "", errors)
    defaults = _parse_fields(body, "", errors)
    per_call = body.get("per-call")
    entries: list[Entry] = []
    if per_call is None:
        entries.append(_entry(defaults, "pickup", errors))
    elif not isinstance(per_call, list) or not 1 <= len(per_call) <= MAX_PER_CALL:
        _error(
            errors,
            "per-call",
            f"per-call must be a list of 1-{MAX_PER_CALL} script objects"
            " (the 1st, 2nd, ... call; the last one repeats).",
        )
    else:
        for index, item in enumerate(per_call):
            prefix = f"per-call[{index}]."
            if not isinstance(item, dict):
                _error(errors, prefix[:-1], "Each per-call entry must be a JSON object.")
                continue
            _refuse_unknown(item, ENTRY_KEYS, prefix, errors)
            own = _parse_fields(item, prefix, errors)
            entries.append(_entry({**defaults, **own}, prefix + "pickup", errors))
    if errors:
        raise ScriptError(errors)
    shown = {key: _as_json(value) for key, value in defaults.items() if value is not None}
    return CalleeScript(tuple(entries), shown, per_call=per_call is not None)


# --- answers generated from the instruction's rules -------------------------------------

_DIGIT_BASES = ("1234567890", *(str(d) for d in range(10)))


def _typed(digits: str, rules: DigitRules) -> str:
    """Keys to type so that ``digits`` are collected: add a terminator if one is needed."""
    if len(digits) < rules.max_digits and rules.terminators:
        return digits + rules.terminators[0]
    return digits


def _fits(keys: str, digits: str, rules: DigitRules) -> bool:
    return collect(keys, rules).digits == digits


class _Unknown(Exception):
    """The regex could not be evaluated (timed out): stop searching."""


def _valid(digits: str, rules: DigitRules, matcher: Matcher) -> bool:
    if not rules.min_digits <= len(digits) <= rules.max_digits:
        return False
    answer = matcher(rules.regex, digits)
    if answer is None:
        raise _Unknown
    return answer


def valid_answer(rules: DigitRules, matcher: Matcher) -> str:
    """Keys for a valid answer: 4 digits (or min-digits) of 1234567890..., else the first
    length/digit combination the rules accept; the preferred digits if none does."""
    preferred = min(max(4, rules.min_digits), rules.max_digits)
    lengths = [
        preferred,
        rules.min_digits,
        rules.max_digits,
        *range(rules.min_digits, rules.max_digits),
    ]
    fallback = _typed(("1234567890" * 7)[:preferred], rules)
    try:
        for length in list(dict.fromkeys(lengths))[:MAX_GENERATED_LENGTHS]:
            for base in _DIGIT_BASES:
                digits = (base * 7)[:length]
                keys = _typed(digits, rules)
                if _fits(keys, digits, rules) and _valid(digits, rules, matcher):
                    return keys
    except _Unknown:
        pass
    return fallback


def invalid_answer(rules: DigitRules, matcher: Matcher) -> str:
    """Keys for a non-empty invalid answer (too short, or failing the regex); nothing
    typed when the rules accept every non-empty input tried."""
    candidates: list[str] = []
    if rules.min_digits > 1:
        candidates.append(("1234567890" * 7)[: rules.min_digits - 1])
    candidates += ["*", "A", "*" * rules.min_digits, "A" * rules.min_digits]
    candidates += [(base * 7)[: rules.min_digits] for base in _DIGIT_BASES]
    try:
        for digits in candidates:
            keys = _typed(digits, rules)
            if digits and _fits(keys, digits, rules) and not _valid(digits, rules, matcher):
                return keys
    except _Unknown:
        pass
    return ""


class Behaviour(StrEnum):
    """Built-in behaviours of magic numbers and of unscripted callees."""

    VALID = "answers and types a valid answer on the first attempt"
    NO_ANSWER = "never answers (result 9 Cancelled after max-ringing-timeout)"
    REJECT = "rejects the call (result 12 Call rejected)"
    FAIL = "the call cannot be set up (result 11 Failed)"
    NOTHING = "answers and types nothing on every attempt (key timeouts)"
    INVALID = "answers and types an invalid answer on every attempt"
    LAST_VALID = "answers, invalid on every attempt but the last, valid on the last"
    HANGUP = "answers and hangs up during the first prompt"


DEFAULT_BEHAVIOUR = Behaviour.VALID

MAGIC_NUMBERS: dict[str, Behaviour] = {
    "+31612345001": Behaviour.NO_ANSWER,
    "+31612345002": Behaviour.REJECT,
    "+31612345003": Behaviour.FAIL,
    "+31612345004": Behaviour.NOTHING,
    "+31612345005": Behaviour.INVALID,
    "+31612345006": Behaviour.LAST_VALID,
    "+31612345007": Behaviour.HANGUP,
}


_FIXED_SCRIPTS = {
    Behaviour.NO_ANSWER: Script(Pickup.NO_ANSWER),
    Behaviour.REJECT: Script(Pickup.REJECT),
    Behaviour.FAIL: Script(Pickup.FAIL),
    Behaviour.NOTHING: Script(Pickup.ANSWER, ()),
    Behaviour.HANGUP: Script(Pickup.ANSWER, (), hangup_after_attempt=0),
}


def behaviour_script(behaviour: Behaviour, settings: CallSettings, matcher: Matcher) -> Script:
    """Turn a built-in behaviour into concrete keys for this instruction."""
    rules = settings.rules
    if behaviour in _FIXED_SCRIPTS:
        return _FIXED_SCRIPTS[behaviour]
    if behaviour is Behaviour.INVALID:
        return Script(Pickup.ANSWER, (invalid_answer(rules, matcher),) * rules.max_attempts)
    if behaviour is Behaviour.LAST_VALID:
        wrong = (invalid_answer(rules, matcher),) * (rules.max_attempts - 1)
        return Script(Pickup.ANSWER, (*wrong, valid_answer(rules, matcher)))
    return Script(Pickup.ANSWER, (valid_answer(rules, matcher),))


@dataclass(frozen=True)
class Resolved:
    """The script a call will follow, and where it came from."""

    script: Script
    source: str  # "script", "magic" or "default"
    behaviour: str | None = None
    wire: Wire = Wire()
    call_number: int | None = None  # which call to a scripted number this is (1-based)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "source": self.source,
            **self.script.to_json(),
            **self.wire.to_json(),
        }
        if self.call_number is not None:
            data["call-number"] = self.call_number
        if self.behaviour:
            data["behaviour"] = self.behaviour
        return data


def resolve(
    number: str, scripted: ScriptedCall | None, settings: CallSettings, matcher: Matcher
) -> Resolved:
    """Pick the script for a call to ``number``: ``scripted`` (what the number's script
    says for this call) if given, else its magic behaviour, else the default."""
    key = normalize_number(number)
    if scripted is not None:
        return Resolved(
            scripted.entry.script,
            "script",
            wire=scripted.entry.wire,
            call_number=scripted.call_number,
        )
    if key in MAGIC_NUMBERS:
        behaviour = MAGIC_NUMBERS[key]
        return Resolved(behaviour_script(behaviour, settings, matcher), "magic", behaviour.value)
    return Resolved(
        behaviour_script(DEFAULT_BEHAVIOUR, settings, matcher), "default", DEFAULT_BEHAVIOUR.value
    )
