"""Callee scripts: what a dialled number does.

Resolution order for a call: a script set with ``PUT /_simulator/callees/{e164}``, else a
built-in magic number, else the default behaviour (answer and type a valid answer).
Magic numbers and the default generate their keys from the instruction's digit rules, so
they behave sensibly whatever ``min-digits``/``max-digits``/``regex`` the product uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cm_simulator.flow import DTMF_KEYS, CallSettings, DigitRules, Matcher, Pickup, Script, collect
from cm_simulator.validation import is_phone_number, normalize_number

MAX_KEYS_PER_ATTEMPT = 200
MAX_SCRIPTED_ATTEMPTS = 50
MAX_GENERATED_LENGTHS = 12
SCRIPT_KEYS = frozenset({"pickup", "keys", "hangup-after-attempt"})


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


def _parse_pickup(value: object, errors: dict[str, list[str]]) -> Pickup:
    allowed = ", ".join(p.value for p in Pickup)
    if value is None:
        errors.setdefault("pickup", []).append(f"The pickup field is required ({allowed}).")
    elif not isinstance(value, str) or value not in {p.value for p in Pickup}:
        errors.setdefault("pickup", []).append(f"pickup must be one of {allowed}.")
    else:
        return Pickup(value)
    return Pickup.ANSWER


def _parse_keys(value: object, errors: dict[str, list[str]]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_SCRIPTED_ATTEMPTS:
        errors.setdefault("keys", []).append(
            f"keys must be a list of at most {MAX_SCRIPTED_ATTEMPTS} strings, one per attempt."
        )
        return ()
    keys: list[str] = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, str)
            or len(item) > MAX_KEYS_PER_ATTEMPT
            or any(key not in DTMF_KEYS for key in item.upper())
        ):
            errors.setdefault(f"keys[{index}]", []).append(
                f"Each entry is a string of at most {MAX_KEYS_PER_ATTEMPT} keys among"
                " 0-9, *, #, A-D ('' = nothing typed)."
            )
        else:
            keys.append(item.upper())
    return tuple(keys)


def _parse_hangup(value: object, errors: dict[str, list[str]]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        errors.setdefault("hangup-after-attempt", []).append(
            "hangup-after-attempt must be an integer >= 0 (0 = hang up during the first prompt)."
        )
        return None
    return value


def parse_script(body: object) -> Script:
    """Validate the JSON body of ``PUT /_simulator/callees/{e164}``."""
    if not isinstance(body, dict):
        raise ScriptError({"$": ["The body must be a JSON object."]})
    errors: dict[str, list[str]] = {
        key: ["Unknown field; allowed are pickup, keys and hangup-after-attempt."]
        for key in sorted(set(body) - SCRIPT_KEYS)
    }
    script = Script(
        pickup=_parse_pickup(body.get("pickup"), errors),
        keys=_parse_keys(body.get("keys"), errors),
        hangup_after_attempt=_parse_hangup(body.get("hangup-after-attempt"), errors),
    )
    if errors:
        raise ScriptError(errors)
    return script


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

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"source": self.source, **self.script.to_json()}
        if self.behaviour:
            data["behaviour"] = self.behaviour
        return data


def resolve(
    number: str, scripts: dict[str, Script], settings: CallSettings, matcher: Matcher
) -> Resolved:
    """Pick the script for a call to ``number``."""
    key = normalize_number(number)
    if key in scripts:
        return Resolved(scripts[key], "script")
    if key in MAGIC_NUMBERS:
        behaviour = MAGIC_NUMBERS[key]
        return Resolved(behaviour_script(behaviour, settings, matcher), "magic", behaviour.value)
    return Resolved(
        behaviour_script(DEFAULT_BEHAVIOUR, settings, matcher), "default", DEFAULT_BEHAVIOUR.value
    )
