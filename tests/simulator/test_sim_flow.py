"""Table-driven unit tests of the pure call-flow logic (no threads, no sockets, no clock)."""

from __future__ import annotations

import pytest

from cm_simulator.flow import (
    CANCELLED,
    FAILED,
    FINISHED,
    KEY_INTERVAL_MS,
    PROMPT_MS,
    RING_BEFORE_ANSWER_MS,
    CallSettings,
    DigitRules,
    EndedBy,
    Pickup,
    Script,
    collect,
    is_valid,
    simulate,
)
from cm_simulator.flow import REJECTED as REJECTED_RESULT
from cm_simulator.scripts import (
    MAGIC_NUMBERS,
    Behaviour,
    Entry,
    ScriptedCall,
    behaviour_script,
    invalid_answer,
    parse_number,
    resolve,
    valid_answer,
)

PIN = DigitRules(min_digits=4, max_digits=4, max_attempts=3, timeout_ms=5000, regex="[0-9]{4}")


@pytest.mark.parametrize(
    ("keys", "rules", "pressed", "digits", "ended_by", "discarded"),
    [
        ("1234#", DigitRules(), "1234#", "1234", EndedBy.TERMINATOR, ""),
        ("12#34#", DigitRules(), "12#", "12", EndedBy.TERMINATOR, "34#"),
        ("#", DigitRules(), "#", "", EndedBy.TERMINATOR, ""),
        ("", DigitRules(), "", "", EndedBy.TIMEOUT, ""),
        ("123", DigitRules(), "123", "123", EndedBy.TIMEOUT, ""),
        ("123456", DigitRules(max_digits=4), "1234", "1234", EndedBy.MAX_DIGITS, "56"),
        ("1234#", DigitRules(max_digits=4), "1234", "1234", EndedBy.MAX_DIGITS, "#"),
        ("12*4#", DigitRules(terminators="*#"), "12*", "12", EndedBy.TERMINATOR, "4#"),
        ("12#4*", DigitRules(terminators="*"), "12#4*", "12#4", EndedBy.TERMINATOR, ""),
        ("12#4", DigitRules(terminators=""), "12#4", "12#4", EndedBy.TIMEOUT, ""),
        ("A1B", DigitRules(), "A1B", "A1B", EndedBy.TIMEOUT, ""),
    ],
)
def test_collect(
    *, keys: str, rules: DigitRules, pressed: str, digits: str, ended_by: EndedBy, discarded: str
) -> None:
    got = collect(keys, rules)
    assert (got.pressed, got.digits, got.ended_by, got.discarded) == (
        pressed,
        digits,
        ended_by,
        discarded,
    )


@pytest.mark.parametrize(
    ("digits", "rules", "valid"),
    [
        ("1234", PIN, True),
        ("123", PIN, False),  # too short
        ("", PIN, False),
        ("1234", DigitRules(), True),  # defaults: 1-64 digits of [0-9]*
        ("", DigitRules(), False),  # min-digits is at least 1
        ("12*4", DigitRules(), False),  # default regex [0-9]* refuses * and #
        ("12A4", DigitRules(), False),
        ("12*4", DigitRules(regex="[0-9*]+"), True),
        ("12345", DigitRules(regex="[0-9]{4}"), False),  # full match, not search
        ("12345", DigitRules(regex=r"\d"), False),
        ("5", DigitRules(regex=r"\d"), True),
        ("0612", DigitRules(regex="^06[0-9]{2}$"), True),  # anchors are harmless
        ("1612", DigitRules(regex="06[0-9]{2}"), False),
        ("12", DigitRules(min_digits=2, max_digits=3, regex=".*"), True),
        ("1234", DigitRules(min_digits=2, max_digits=3, regex=".*"), False),
        ("999", DigitRules(regex="1|2|999"), True),  # alternation is wrapped, not 1|2|999$
    ],
)
def test_is_valid_uses_length_and_full_regex_match(
    digits: str, rules: DigitRules, valid: bool
) -> None:
    assert is_valid(digits, rules) is valid


def test_unevaluable_regex_counts_as_invalid() -> None:
    assert is_valid("1234", DigitRules(), matcher=lambda _p, _t: None) is False


SETTINGS = CallSettings(
    rules=PIN, max_ringing_timeout_s=30, has_valid_prompt=True, has_invalid_prompt=True
)


@pytest.mark.parametrize(
    ("name", "script", "result", "digits", "attempts", "hung_up_by"),
    [
        ("valid first", Script(Pickup.ANSWER, ("1234#",)), FINISHED, "1234", [True], "system"),
        (
            "valid on last",
            Script(Pickup.ANSWER, ("1#", "12#", "1234#")),
            FINISHED,
            "1234",
            [False, False, True],
            "system",
        ),
        (
            "all invalid",
            Script(Pickup.ANSWER, ("1#", "12#", "99#")),
            FINISHED,
            "99",
            [False, False, False],
            "system",
        ),
        ("nothing typed", Script(Pickup.ANSWER, ()), FINISHED, "", [False, False, False], "system"),
        (
            "empty strings typed",
            Script(Pickup.ANSWER, ("", "")),
            FINISHED,
            "",
            [False, False, False],
            "system",
        ),
        (
            "keys beyond the list type nothing",
            Script(Pickup.ANSWER, ("12#",)),
            FINISHED,
            "",
            [False, False, False],
            "system",
        ),
        (
            "max-digits stops",
            Script(Pickup.ANSWER, ("123456",)),
            FINISHED,
            "1234",
            [True],
            "system",
        ),
        (
            "terminator only",
            Script(Pickup.ANSWER, ("#", "#", "#")),
            FINISHED,
            "",
            [False] * 3,
            "system",
        ),
        ("no answer", Script(Pickup.NO_ANSWER, ("1234#",)), CANCELLED, "", [], None),
        ("reject", Script(Pickup.REJECT), REJECTED_RESULT, "", [], None),
        ("fail", Script(Pickup.FAIL), FAILED, "", [], None),
        (
            "hang up after attempt 2",
            Script(Pickup.ANSWER, ("1#", "12", "1234#"), hangup_after_attempt=2),
            FINISHED,
            "12",
            [False, False],
            "callee",
        ),
        (
            "hang up after a valid attempt 1",
            Script(Pickup.ANSWER, ("1234#",), hangup_after_attempt=1),
            FINISHED,
            "1234",
            [True],
            "callee",
        ),
        (
            "hang up during the prompt",
            Script(Pickup.ANSWER, ("1234#",), hangup_after_attempt=0),
            FINISHED,
            "",
            [],
            "callee",
        ),
        (
            "hang-up after the call already ended changes nothing",
            Script(Pickup.ANSWER, ("1234#",), hangup_after_attempt=3),
            FINISHED,
            "1234",
            [True],
            "system",
        ),
    ],
)
def test_simulate(
    *,
    name: str,
    script: Script,
    result: object,
    digits: str,
    attempts: list[bool],
    hung_up_by: str | None,
) -> None:
    outcome = simulate(script, SETTINGS)
    assert outcome.result == result, name
    assert outcome.digits == digits, name
    assert [a.valid for a in outcome.attempts] == attempts, name
    assert outcome.hung_up_by == hung_up_by, name


def test_result_objects_match_the_contract() -> None:
    assert FINISHED.to_json() == {
        "code": 10,
        "description": "Finished successfully",
        "sip-disconnect-code": "BYE",
        "sip-disconnect-reason": "",
    }
    assert (CANCELLED.code, CANCELLED.description) == (9, "Cancelled")
    assert (FAILED.code, FAILED.description) == (11, "Failed")
    assert (REJECTED_RESULT.code, REJECTED_RESULT.description) == (12, "Call rejected")
    for result in (CANCELLED, FAILED, REJECTED_RESULT):
        assert len(result.sip_disconnect_code) == 3
        assert result.sip_disconnect_code.isdigit()


def test_steps_of_a_call_with_one_invalid_attempt() -> None:
    outcome = simulate(Script(Pickup.ANSWER, ("12#", "1234#")), SETTINGS)
    assert [s.kind for s in outcome.steps] == [
        "ringing",
        "answered",
        "prompt",
        "attempt",
        "invalid-prompt",
        "prompt",
        "attempt",
        "valid-prompt",
        "hangup",
    ]
    assert [s.state for s in outcome.steps if s.state] == ["ringing", "in-progress"]
    attempt = outcome.steps[3].attempt
    assert attempt is not None
    assert attempt.to_json() == {
        "attempt": 1,
        "keys": "12#",
        "digits": "12",
        "ended-by": "terminator",
        "valid": False,
        "callee-hung-up": False,
    }


def test_prompts_are_skipped_when_not_given() -> None:
    settings = CallSettings(rules=PIN)
    kinds = [s.kind for s in simulate(Script(Pickup.ANSWER, ("1#", "1234#")), settings).steps]
    assert "valid-prompt" not in kinds
    assert "invalid-prompt" not in kinds
    assert kinds.count("prompt") == 2


def test_simulated_durations() -> None:
    settings = CallSettings(rules=PIN, max_ringing_timeout_s=25)
    assert simulate(Script(Pickup.NO_ANSWER), settings).duration_ms == 25_000
    # answered, one prompt, nothing typed for 3 attempts -> 3 key timeouts
    nothing = simulate(Script(Pickup.ANSWER), settings)
    assert nothing.duration_ms == RING_BEFORE_ANSWER_MS + 3 * (PROMPT_MS + PIN.timeout_ms)
    # input ended by max-digits (4 keys; the "#" is discarded) does not wait for the timeout
    quick = simulate(Script(Pickup.ANSWER, ("1234#",)), settings)
    assert quick.duration_ms == RING_BEFORE_ANSWER_MS + PROMPT_MS + 4 * KEY_INTERVAL_MS


def test_hangup_without_terminator_does_not_wait_for_the_timeout() -> None:
    outcome = simulate(Script(Pickup.ANSWER, ("12",), hangup_after_attempt=1), SETTINGS)
    assert outcome.attempts[0].ended_by is EndedBy.HANGUP
    assert outcome.attempts[0].callee_hung_up


# --- generated answers for magic numbers and unscripted callees -------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (DigitRules(), "1234#"),
        (PIN, "1234"),  # max-digits ends the input, no terminator needed
        (DigitRules(min_digits=6, max_digits=8), "123456#"),
        (DigitRules(min_digits=1, max_digits=2), "12"),
        (DigitRules(regex="0+"), "0000#"),
        (DigitRules(regex="[5-9]{3}"), "555#"),
        (DigitRules(terminators="*"), "1234*"),
        (DigitRules(terminators=""), "1234"),
        (DigitRules(regex="(?P<a>4)(?P=a)"), "44#"),
    ],
)
def test_valid_answer(rules: DigitRules, expected: str) -> None:
    keys = valid_answer(rules, lambda p, t: is_valid(t, DigitRules(regex=p)))
    assert keys == expected
    assert is_valid(collect(keys, rules).digits, rules)


@pytest.mark.parametrize(
    "rules",
    [
        DigitRules(),
        PIN,
        DigitRules(min_digits=1, max_digits=1),
        DigitRules(regex=".*", min_digits=2),
    ],
)
def test_invalid_answer_is_typed_and_invalid(rules: DigitRules) -> None:
    keys = invalid_answer(rules, lambda p, t: is_valid(t, DigitRules(regex=p)))
    digits = collect(keys, rules).digits
    assert digits
    assert not is_valid(digits, rules)


def test_invalid_answer_falls_back_to_nothing_when_everything_is_valid() -> None:
    rules = DigitRules(regex=".*", min_digits=1, terminators="")
    assert invalid_answer(rules, lambda _p, _t: True) == ""


@pytest.mark.parametrize(
    ("behaviour", "result", "digits", "valid"),
    [
        (Behaviour.VALID, FINISHED, "1234", [True]),
        (Behaviour.NO_ANSWER, CANCELLED, "", []),
        (Behaviour.REJECT, REJECTED_RESULT, "", []),
        (Behaviour.FAIL, FAILED, "", []),
        (Behaviour.NOTHING, FINISHED, "", [False, False, False]),
        (Behaviour.INVALID, FINISHED, "123", [False, False, False]),
        (Behaviour.LAST_VALID, FINISHED, "1234", [False, False, True]),
        (Behaviour.HANGUP, FINISHED, "", []),
    ],
)
def test_behaviours(behaviour: Behaviour, result: object, digits: str, valid: list[bool]) -> None:
    script = behaviour_script(behaviour, SETTINGS, lambda p, t: is_valid(t, DigitRules(regex=p)))
    outcome = simulate(script, SETTINGS)
    assert outcome.result == result
    assert outcome.digits == digits
    assert [a.valid for a in outcome.attempts] == valid


def test_resolve_prefers_scripts_then_magic_then_default() -> None:
    scripted = ScriptedCall(Entry(Script(Pickup.REJECT)), call_number=2)
    number = "+31612345001"
    match = lambda p, t: is_valid(t, DigitRules(regex=p))  # noqa: E731
    resolved = resolve(number, scripted, SETTINGS, match)
    assert (resolved.source, resolved.script.pickup) == ("script", Pickup.REJECT)
    assert resolved.to_json()["call-number"] == 2
    assert resolve(number, None, SETTINGS, match).script.pickup is Pickup.NO_ANSWER
    assert resolve("0031612345001", None, SETTINGS, match).source == "magic"
    default = resolve("+31612345678", None, SETTINGS, match)
    assert default.source == "default"
    assert default.script.keys == ("1234",)


@pytest.mark.parametrize("text", ["+31612345678", "0031612345678", "31612345678", " +31612345678 "])
def test_parse_number_normalizes(text: str) -> None:
    assert parse_number(text) == "+31612345678"


def test_magic_numbers_are_valid_dutch_mobile_numbers() -> None:
    phonenumbers = pytest.importorskip("phonenumbers")
    for number in MAGIC_NUMBERS:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.region_code_for_number(parsed) == "NL"
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
