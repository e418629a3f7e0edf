"""The keyed hash of expected digits, the body redaction and the rule across fields (issue 19)."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from dtmf_gateway.domain.calls import CallStatus, Outcome
from dtmf_gateway.domain.digits_protection import (
    REDACTED_KEY,
    DigitKeys,
    DigitsMode,
    digits_hash,
    digits_match,
    digits_mode_problems,
    is_redacted,
    protects,
    redacted_body,
)
from dtmf_gateway.domain.events import detail_from_call
from dtmf_gateway.domain.stored import StoredCall

KEYS = DigitKeys(current=b"c" * 32)


def test_the_hash_is_keyed_bound_to_the_instruction_and_never_the_bare_digest() -> None:
    stored = digits_hash(KEYS, "1234", "order-1")

    assert stored.startswith("v1:")
    assert "1234" not in stored
    assert hashlib.sha256(b"1234").hexdigest() not in stored
    assert stored != digits_hash(KEYS, "1234", "order-2")  # equal PINs, different instructions
    assert stored != digits_hash(DigitKeys(current=b"x" * 32), "1234", "order-1")


def test_match_accepts_the_current_and_the_previous_key_and_nothing_else() -> None:
    old = DigitKeys(current=b"o" * 32)
    rotated = DigitKeys(current=b"n" * 32, previous=b"o" * 32)
    stored = digits_hash(old, "1234", "i")

    assert digits_match(rotated, "1234", "i", stored)
    assert not digits_match(rotated, "1235", "i", stored)
    assert not digits_match(DigitKeys(current=b"n" * 32), "1234", "i", stored)
    assert not digits_match(rotated, None, "i", stored)
    assert not digits_match(rotated, "1234", "i", None)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DigitKeys(current=b"short")


def test_a_redacted_body_keeps_what_identifies_the_call_and_drops_every_other_value() -> None:
    body = json.dumps(
        {
            "type": "dtmf-finished",
            "call-id": "c-1",
            "digits": "1234",
            "dtmf": "1234",  # the digits under a key CM's page does not name
            "result": {"code": 10},
        }
    )

    redacted = redacted_body(body)

    assert redacted is not None
    assert "1234" not in redacted
    parsed = json.loads(redacted)
    assert parsed["call-id"] == "c-1"
    assert parsed["result"] == {"code": 10}
    assert parsed[REDACTED_KEY] == ["digits", "dtmf"]
    assert is_redacted(redacted) and not is_redacted(body)


@pytest.mark.parametrize("text", ["not json 1234", "[1234]", None])
def test_a_body_that_is_not_an_object_is_not_kept(text: str | None) -> None:
    assert redacted_body(text) is None


def test_omit_and_verify_protect_and_unknown_modes_protect_too() -> None:
    assert not protects(DigitsMode.PLAIN)
    assert not protects(None)
    assert protects(DigitsMode.OMIT) and protects(DigitsMode.VERIFY) and protects("later")


def test_the_rule_stays_silent_when_the_digit_rules_themselves_are_invalid() -> None:
    data = {"digits-mode": "verify", "expected-digits": "1234", "regex": "("}

    assert digits_mode_problems(data) == []  # the regex field rule reports it


@pytest.mark.parametrize(
    ("terminators", "expected", "refused"),
    [
        (None, "12#4", True),  # the default terminator `#` ends the input
        ("#", "12#4", True),
        ("*#", "1*34", True),
        ("*", "12#4", False),  # `#` is a key like any other when it ends nothing
        (None, "1234", False),
    ],
)
def test_expected_digits_with_a_terminator_key_could_never_be_typed(
    terminators: str | None, expected: str, refused: bool
) -> None:
    data = {"digits-mode": "verify", "expected-digits": expected, "regex": "[0-9#*]{4}"}
    if terminators is not None:
        data["terminators"] = terminators

    problems = digits_mode_problems(data)

    assert [p.field for p in problems] == (["expected-digits"] if refused else [])
    assert all(expected not in p.message for p in problems)  # never echoed


def _call(**overrides: object) -> StoredCall:
    values: dict[str, object] = {
        "instruction_id": "i",
        "call_id": "c",
        "caller": "+31201234567",
        "callee": "+31612345678",
        "status": CallStatus.EXPIRED,
        "outcome": Outcome.EXPIRED,
        "queued_at": "2026-11-30T00:00:00.000Z",
        "finished_at": "2026-11-30T00:05:00.000Z",
        **overrides,
    }
    return StoredCall(**values)  # type: ignore[arg-type]


def test_an_expired_verify_call_is_published_not_verified_and_plain_has_no_verified() -> None:
    verify = detail_from_call(_call(digits_mode="verify"))
    plain = detail_from_call(_call())

    assert verify.verified is False
    assert '"verified":false' in verify.to_json()
    assert plain.verified is None
    assert "verified" not in plain.to_json()


def test_digits_stored_under_a_protecting_mode_are_never_published() -> None:
    leaked = _call(
        status=CallStatus.FINISHED,
        outcome=Outcome.INPUT_RECEIVED,
        digits="1234",
        digits_mode="omit",
    )

    assert detail_from_call(leaked).digits is None


def test_numbers_may_be_null_only_once_erased() -> None:
    erased = detail_from_call(_call(caller=None, callee=None, erased_at="2026-11-30T01:00:00.000Z"))

    assert (erased.caller, erased.callee) == (None, None)
    with pytest.raises(ValidationError, match="callee"):
        detail_from_call(_call(callee=None))
