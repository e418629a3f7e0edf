"""Protecting the typed digits (issue 19): `digits-mode`, `expected-digits` and their keyed hash.

A DTMF answer is often a PIN or a one-time code. ``digits-mode`` (a gateway key of ``POST
/v1/dtmf-calls``, never sent to CM) says what the gateway keeps of it:

* ``plain`` (default): the digits are stored, returned and published as in round 1;
* ``omit``: the digits classify the outcome (``input-received``/``invalid-input``/...), then
  are discarded: ``digits`` is null in the table, GET and every event, and the stored
  callback body is redacted;
* ``verify``: the client gives ``expected-digits``; the gateway keeps only their keyed hash
  (HMAC-SHA256 under a key in Secrets Manager, :class:`DigitKeys`), compares what the callee
  typed with it, and the call carries ``verified: true|false`` instead of digits.

``expected-digits`` must satisfy the instruction's own digit rules (``min-digits``,
``max-digits``, DTMF keys, ``regex``: :class:`~dtmf_gateway.domain.digits.InputRules`),
checked by :func:`digits_mode_problems`. ``verified`` is true only when the outcome is
``input-received`` (the typed digits pass the same rules) and they equal the expected ones.

A bare hash of a 4-digit PIN is reversed by trying 10,000 values; a keyed hash is not without
the key. The key is rotated like the callback signing key: ``{"current": …, "previous": …}``;
hashes made with either are recognised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, StrictStr

from dtmf_gateway.domain.digits import InputRegexError, InputRules
from dtmf_gateway.domain.errors import FieldProblem
from dtmf_gateway.domain.keypad import MAX_DIGITS_LIMIT, is_dtmf
from dtmf_gateway.domain.request_fields import fail
from dtmf_gateway.domain.request_limits import DEFAULT_TERMINATORS

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import DigitKeySource
    from dtmf_gateway.domain.request import DtmfCallRequest

DIGITS_MODE_KEY: Final = "digits-mode"
EXPECTED_DIGITS_KEY: Final = "expected-digits"


class DigitsMode(StrEnum):
    """What the gateway keeps of the digits a callee types."""

    PLAIN = "plain"
    OMIT = "omit"
    VERIFY = "verify"


DIGITS_MODE_RULE: Final = "must be one of plain, omit, verify"
EXPECTED_DIGITS_RULE: Final = (
    f"must be a string of 1 to {MAX_DIGITS_LIMIT} DTMF keys (0-9 * # A-D) that the "
    "instruction's own digit rules accept (min-digits, max-digits, regex)"
)


def parse_digits_mode(value: object) -> DigitsMode | None:
    """``plain``/``omit``/``verify`` (any case) → :class:`DigitsMode`; None otherwise."""
    if isinstance(value, DigitsMode):
        return value
    if isinstance(value, str):
        try:
            return DigitsMode(value.casefold())
        except ValueError:
            return None
    return None


def protects(mode: DigitsMode | str | None) -> bool:
    """True when the digits must not be kept (``omit`` and ``verify``); unknown values are
    treated as protecting: when in doubt, keep less."""
    return mode is not None and mode != DigitsMode.PLAIN


# ---------------------------------------------------------------- the request rule


def digits_mode_problems(data: Mapping[str, Any]) -> list[FieldProblem]:
    """Rules across ``digits-mode``, ``expected-digits`` and the digit rules, on a kebab-keyed
    mapping (raw or validated). Messages never echo the expected digits."""
    mode = parse_digits_mode(data.get(DIGITS_MODE_KEY) or DigitsMode.PLAIN)
    expected = data.get(EXPECTED_DIGITS_KEY)
    problem: str | None = None
    if mode is None:
        pass  # the field rule reports it
    elif mode is not DigitsMode.VERIFY:
        if expected is not None:
            problem = "is only allowed with digits-mode verify"
    elif expected is None:
        problem = "is required with digits-mode verify"
    elif _is_expected_shape(expected):
        problem = _rules_problem(data, expected)
    return [] if problem is None else [FieldProblem(EXPECTED_DIGITS_KEY, problem)]


def _is_expected_shape(value: object) -> bool:
    """Whether the field rule accepts ``value`` (otherwise it reports it, not this rule)."""
    return isinstance(value, str) and 1 <= len(value) <= MAX_DIGITS_LIMIT and is_dtmf(value)


def _rules_problem(data: Mapping[str, Any], expected: str) -> str | None:
    terminators = data.get("terminators")
    if terminators is None:
        terminators = DEFAULT_TERMINATORS
    if isinstance(terminators, str) and any(key in terminators for key in expected):
        # a terminator key ends the input (CM): the callee can never type it as a digit
        return (
            "must not contain a terminator key (terminators "
            f"{terminators}): the callee could never type it as a digit"
        )
    rules = _rules_of(data)
    if rules is None or rules.check(expected):
        return None  # invalid digit rules are reported by their own field rules
    return (
        "must satisfy the instruction's own digit rules: "
        f"{rules.min_digits} to {rules.max_digits} DTMF keys matching regex "
        f"{rules.regex.pattern} (the callee could never type them otherwise)"
    )


def _rules_of(data: Mapping[str, Any]) -> InputRules | None:
    min_digits, max_digits, regex = (
        data.get("min-digits"),
        data.get("max-digits"),
        data.get("regex"),
    )
    if any(isinstance(v, bool) for v in (min_digits, max_digits)):
        return None
    if not all(v is None or isinstance(v, int) for v in (min_digits, max_digits)):
        return None
    if regex is not None and not isinstance(regex, str):
        return None
    try:
        return InputRules.from_values(min_digits, max_digits, regex)
    except (ValueError, InputRegexError):
        return None


def _digits_mode(value: object) -> DigitsMode:
    mode = parse_digits_mode(value)
    if mode is None:
        raise fail(DIGITS_MODE_RULE)
    return mode


def _expected_digits(value: str) -> str:
    """Type and keypad only; the instruction's digit rules are checked across fields."""
    if not _is_expected_shape(value):
        raise fail(EXPECTED_DIGITS_RULE)
    return value


#: The ``digits-mode`` field: a mode name (any case), output as the canonical name.
DigitsModeField = Annotated[DigitsMode, BeforeValidator(_digits_mode)]
#: The ``expected-digits`` field (never shown in a repr or a message).
ExpectedDigits = Annotated[StrictStr, AfterValidator(_expected_digits)]


# ---------------------------------------------------------------- the keyed hash


@dataclass(frozen=True, slots=True)
class DigitKeys:
    """The keys of the expected-digits hash: ``current`` makes new hashes, ``previous`` (kept
    for one rotation) still recognises old ones. Each at least 32 bytes."""

    current: bytes
    previous: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.current) < 32:
            raise ValueError("the digits hash key must be at least 32 bytes")


_HASH_PREFIX: Final = "v1:"  # the format of a stored hash: v1:<base64url HMAC-SHA256>


def _mac(key: bytes, digits: str, context: str) -> str:
    message = b"dtmf-expected-digits\n" + context.encode() + b"\n" + digits.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return _HASH_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def digits_hash(keys: DigitKeys, digits: str, context: str) -> str:
    """The stored form of ``digits``: ``v1:`` + base64url HMAC-SHA256 under the current key,
    bound to ``context`` (the instruction id, so equal PINs of two instructions differ)."""
    return _mac(keys.current, digits, context)


def digits_match(keys: DigitKeys, digits: str | None, context: str, stored: str | None) -> bool:
    """Whether ``digits`` hash to ``stored`` under the current or the previous key, compared
    in constant time. False when either is missing."""
    if not digits or not stored:
        return False
    presented = stored.encode()
    ok = hmac.compare_digest(presented, _mac(keys.current, digits, context).encode())
    if keys.previous is not None:
        ok |= hmac.compare_digest(presented, _mac(keys.previous, digits, context).encode())
    return ok


#: The context of the hash that stands in for ``expected-digits`` in the idempotency payload
#: (``DtmfCallRequest.canonical_json``): the instruction id may not be known yet there.
PAYLOAD_CONTEXT: Final = "idempotency-payload"


def canonical_body(request: DtmfCallRequest, keys: DigitKeySource | None) -> str:
    """The request's canonical JSON for idempotency hashing, ``expected-digits`` replaced by
    its keyed hash (never hashed bare). ``keys`` is needed only when the request has them."""
    if request.expected_digits is None or keys is None:
        return request.canonical_json()
    stand_in = digits_hash(keys.digit_keys(), request.expected_digits, PAYLOAD_CONTEXT)
    return request.canonical_json(stand_in)


# ---------------------------------------------------------------- the stored callback body

#: The keys of a callback body kept with their values when the digits are protected: what
#: identifies the call and CM's result. Every other key's value is removed (CM documents the
#: digits key only by description; an unknown key may carry them).
_KEPT_KEYS: Final = frozenset({"type", "call-id", "instruction-id", "caller", "callee", "result"})
#: Present in a redacted body: the keys whose values the gateway removed (sorted).
REDACTED_KEY: Final = "redacted-by-gateway"


def redacted_body(text: str | None) -> str | None:
    """A callback body as stored when the digits are protected: JSON with ``digits`` and every
    key CM's reference page does not name set to null, listed under :data:`REDACTED_KEY`.
    A body that is not a JSON object is not kept at all (None)."""
    if text is None:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    removed = sorted(k for k in raw if k not in _KEPT_KEYS)
    kept: dict[str, Any] = {k: (v if k in _KEPT_KEYS else None) for k, v in raw.items()}
    kept[REDACTED_KEY] = removed
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def is_redacted(body: str | None) -> bool:
    """Whether a stored callback body was redacted (:func:`redacted_body`)."""
    if not body:
        return False
    try:
        raw = json.loads(body)
    except ValueError:
        return False
    return isinstance(raw, dict) and REDACTED_KEY in raw
