"""The POST /v1/dtmf-calls body: every field's bounds, wire quirks, and the error report."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import Any

import pytest

from dtmf_gateway.adapters.cm_client import to_cm_payload
from dtmf_gateway.domain.digits import InputRules
from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest
from dtmf_gateway.domain.request import (
    DtmfCallRequest,
    Gender,
    PromptType,
    parse_dtmf_call_request,
)
from dtmf_gateway.domain.request_limits import (
    MAX_CALLEES,
    MAX_ECHOED_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_REPORTED_PROBLEMS,
)

NL_MOBILE = "+31612345678"
NL_MOBILE_2 = "+31687654321"
NL_FIXED = "+31201234567"
UK_MOBILE = "+447400123456"

SDK_PAYLOAD = (
    '{"instruction-id":null,"callee":"+31611111111","callees":null,"caller":"+31202222222",'
    '"anonymous":false,"disable-callees-validation":false,"prompt":"Enter your code",'
    '"valid-prompt":"Thanks","prompt-type":1,"valid-prompt-type":1,"invalid-prompt-type":1,'
    '"voice":{"language":"en-GB","gender":1,"number":1,"volume":0,"premium":false}}'
)

FULL_BODY: dict[str, Any] = {
    "instruction-id": "order-7781-pin",
    "callee": NL_MOBILE,
    "caller": NL_FIXED,
    "anonymous": False,
    "max-ringing-timeout": 30,
    "prompt": "Please type your four digit PIN and finish with the hash key.",
    "prompt-type": "TTS",
    "valid-prompt": "Thank you.",
    "valid-prompt-type": "TTS",
    "invalid-prompt": "prompts/pin-not-valid.wav",
    "invalid-prompt-type": "File",
    "min-digits": 4,
    "max-digits": 4,
    "max-attempts": 3,
    "timeout": 8000,
    "terminators": "#",
    "regex": "^[0-9]{4}$",
    "voice": {"language": "en-GB", "gender": "Female", "number": 1, "volume": 0},
    "metadata": {"order-id": "7781", "tenant": "acme"},
}


def body(**changes: Any) -> dict[str, Any]:
    """A minimal valid body with ``changes`` applied (``min_digits`` → ``min-digits``)."""
    result: dict[str, Any] = {
        "callee": NL_MOBILE,
        "caller": NL_FIXED,
        "prompt": "Your code?",
        "valid-prompt": "Thanks.",
    }
    for key, value in changes.items():
        result[key.replace("_", "-")] = value
    return result


def problems_of(raw: object) -> list[FieldProblem]:
    with pytest.raises(InvalidRequest) as caught:
        parse_dtmf_call_request(raw)
    problems = caught.value.problems
    for problem in problems:
        assert "Input should" not in problem.message, problem  # never pydantic's raw text
        assert problem.message
    return problems


def fields_of(raw: object) -> list[str]:
    return [p.field for p in problems_of(raw)]


def the_problem(raw: object) -> FieldProblem:
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    return problems[0]


# ---------------------------------------------------------------------------------------
# Accepted as-is
# ---------------------------------------------------------------------------------------


def test_sdk_payload_is_accepted_as_is() -> None:
    request = parse_dtmf_call_request(json.loads(SDK_PAYLOAD))
    assert request.callee is not None
    assert request.callee.e164 == "+31611111111"
    assert request.caller.e164 == "+31202222222"
    assert request.prompt_type is PromptType.TTS
    assert request.voice.gender is Gender.FEMALE
    assert request.valid_prompt == "Thanks"
    assert request.instruction_id is None


def test_valid_prompt_is_required() -> None:
    """CM's reference page marks `valid-prompt` required (issue 12)."""
    raw = body()
    del raw["valid-prompt"]
    for sent in (raw, {**raw, "valid-prompt": None}):
        with pytest.raises(InvalidRequest) as caught:
            parse_dtmf_call_request(sent)
        assert [p.field for p in caught.value.problems] == ["valid-prompt"]


@pytest.mark.parametrize("instruction_id", [".", "..", "...", "." * 64])
def test_ids_made_only_of_dots_are_refused(instruction_id: str) -> None:
    """A URL path segment of dots is a dot segment: it would never reach the callback."""
    with pytest.raises(InvalidRequest) as caught:
        parse_dtmf_call_request(body(instruction_id=instruction_id))
    [problem] = caught.value.problems
    assert problem.field == "instruction-id"
    assert "not only dots" in problem.message


@pytest.mark.parametrize("instruction_id", ["a.", ".a", "..a..", "order:7781", "A-z_0.9:"])
def test_ids_with_dots_and_something_else_are_accepted(instruction_id: str) -> None:
    assert parse_dtmf_call_request(body(instruction_id=instruction_id)).instruction_id == (
        instruction_id
    )


@pytest.mark.parametrize("regex", ["[0-9]{4}", "1|2", "12|34#?", "(?i:a)b", "[0-9]*"])
def test_the_regex_goes_to_cm_anchored_and_means_the_same_as_our_full_match(regex: str) -> None:
    """CM does not say whether it matches in full or anywhere: anchored, both readings are
    our full match (issue 12). `1|2` unanchored would let CM accept `123` as a find."""
    request = parse_dtmf_call_request(body(regex=regex))
    sent = to_cm_payload(request, instruction_id="i", callback_url="https://cb")["regex"]

    assert sent == f"^(?:{regex})$"
    for text in ("1", "12", "123", "1234", "12345", "34#", "ab", "Ab", ""):
        assert (re.search(sent, text) is not None) == (re.fullmatch(regex, text) is not None)


def test_a_global_inline_flag_that_cannot_be_anchored_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_dtmf_call_request(body(regex="(?i)1"))
    [problem] = caught.value.problems
    assert problem.field == "regex"
    assert "(?i:" in problem.message


def test_full_body_is_accepted() -> None:
    request = parse_dtmf_call_request(FULL_BODY)
    assert request.instruction_id == "order-7781-pin"
    assert request.invalid_prompt_type is PromptType.FILE
    assert request.metadata == {"order-id": "7781", "tenant": "acme"}
    assert request.max_ringing_timeout == 30


def test_defaults() -> None:
    request = parse_dtmf_call_request(body())
    assert request.anonymous is False
    assert request.max_ringing_timeout == 60
    assert request.prompt_type is PromptType.TTS
    assert request.valid_prompt_type is PromptType.TTS
    assert request.invalid_prompt_type is PromptType.TTS
    assert (request.min_digits, request.max_digits, request.max_attempts) == (1, 64, 1)
    assert request.timeout == 5000
    assert request.terminators == "#"
    assert request.regex == "[0-9]*"
    assert request.voice.model_dump(mode="json") == {
        "language": "en-GB",
        "gender": "Female",
        "number": 1,
        "volume": 0,
        "premium": False,
    }
    assert request.metadata is None


OPTIONAL_KEYS = [
    "instruction-id",
    "callees",
    "anonymous",
    "disable-callees-validation",
    "max-ringing-timeout",
    "prompt-type",
    "valid-prompt-type",
    "invalid-prompt",
    "invalid-prompt-type",
    "min-digits",
    "max-digits",
    "max-attempts",
    "timeout",
    "terminators",
    "regex",
    "voice",
    "metadata",
    "callback-url",
    "voicemail-response",
]


@pytest.mark.parametrize("key", OPTIONAL_KEYS)
def test_explicit_null_is_the_same_as_absent(key: str) -> None:
    with_null = parse_dtmf_call_request({**body(), key: None})
    assert with_null.canonical_json() == parse_dtmf_call_request(body()).canonical_json()


@pytest.mark.parametrize("key", ["language", "gender", "number", "volume", "premium"])
def test_explicit_null_in_voice_takes_the_default(key: str) -> None:
    request = parse_dtmf_call_request(body(voice={key: None}))
    assert request.voice == parse_dtmf_call_request(body()).voice


@pytest.mark.parametrize("key", ["caller", "prompt"])
def test_null_for_a_required_key_is_missing(key: str) -> None:
    problem = the_problem({**body(), key: None})
    assert problem == FieldProblem(key, "is required")


# ---------------------------------------------------------------------------------------
# Every field's bounds: just inside and just outside
# ---------------------------------------------------------------------------------------


def _caller_of_length(length: int) -> str:
    return "+31" + " " * (length - len("+31201234567")) + "201234567"


def _metadata(keys: int = 1, key_length: int = 3, value_length: int = 3) -> dict[str, str]:
    return {f"k{i:0{key_length - 1}d}": "v" * value_length for i in range(keys)}


BOUNDS: list[tuple[str, dict[str, Any], str | None, str]] = [
    # (case id, changes, field with a problem or None when valid, message fragment)
    ("ringing 9", {"max-ringing-timeout": 9}, "max-ringing-timeout", "between 10 and 60"),
    ("ringing 10", {"max-ringing-timeout": 10}, None, ""),
    ("ringing 60", {"max-ringing-timeout": 60}, None, ""),
    ("ringing 61", {"max-ringing-timeout": 61}, "max-ringing-timeout", "seconds between 10"),
    ("min-digits 0", {"min-digits": 0}, "min-digits", "between 1 and 64"),
    ("min-digits 1", {"min-digits": 1}, None, ""),
    ("min-digits 64", {"min-digits": 64}, None, ""),
    ("min-digits 65", {"min-digits": 65}, "min-digits", "between 1 and 64"),
    ("max-digits 0", {"max-digits": 0}, "max-digits", "between 1 and 64"),
    ("max-digits 1", {"max-digits": 1}, None, ""),
    ("max-digits 64", {"max-digits": 64}, None, ""),
    ("max-digits 65", {"max-digits": 65}, "max-digits", "between 1 and 64"),
    ("min = max", {"min-digits": 4, "max-digits": 4}, None, ""),
    ("max < min", {"min-digits": 5, "max-digits": 4}, "max-digits", "at least min-digits (5)"),
    ("attempts 0", {"max-attempts": 0}, "max-attempts", "between 1 and 10"),
    ("attempts 1", {"max-attempts": 1}, None, ""),
    ("attempts 10", {"max-attempts": 10}, None, ""),
    ("attempts 11", {"max-attempts": 11}, "max-attempts", "between 1 and 10"),
    ("timeout 999", {"timeout": 999}, "timeout", "milliseconds between 1000 and 10000"),
    ("timeout 1000", {"timeout": 1000}, None, ""),
    ("timeout 10000", {"timeout": 10000}, None, ""),
    ("timeout 10001", {"timeout": 10001}, "timeout", "between 1000 and 10000"),
    ("prompt 0", {"prompt": ""}, "prompt", "1 to 1000 characters"),
    ("prompt 1", {"prompt": "x"}, None, ""),
    ("prompt 1000", {"prompt": "x" * 1000}, None, ""),
    ("prompt 1001", {"prompt": "x" * 1001}, "prompt", "1 to 1000 characters"),
    ("prompt blank", {"prompt": "   "}, "prompt", "must not be blank"),
    ("valid-prompt 0", {"valid-prompt": ""}, "valid-prompt", "1 to 1000"),
    ("valid-prompt 1", {"valid-prompt": "x"}, None, ""),
    ("valid-prompt 1000", {"valid-prompt": "x" * 1000}, None, ""),
    ("valid-prompt 1001", {"valid-prompt": "x" * 1001}, "valid-prompt", "1 to 1000"),
    ("invalid-prompt 0", {"invalid-prompt": ""}, "invalid-prompt", "1 to 1000"),
    ("invalid-prompt 1", {"invalid-prompt": "x"}, None, ""),
    ("invalid-prompt 1000", {"invalid-prompt": "x" * 1000}, None, ""),
    ("invalid-prompt 1001", {"invalid-prompt": "x" * 1001}, "invalid-prompt", "1 to 1000"),
    ("id 0", {"instruction-id": ""}, "instruction-id", "1 to 64 characters"),
    ("id 1", {"instruction-id": "a"}, None, ""),
    ("id 64", {"instruction-id": "a" * 64}, None, ""),
    ("id 65", {"instruction-id": "a" * 65}, "instruction-id", "1 to 64 characters"),
    ("id charset ok", {"instruction-id": "Order_7781.pin:1-a"}, None, ""),
    ("id space", {"instruction-id": "a b"}, "instruction-id", "A-Z a-z 0-9 . _ : -"),
    ("id slash", {"instruction-id": "a/b"}, "instruction-id", "A-Z a-z 0-9"),
    ("id unicode", {"instruction-id": "bestelling-é"}, "instruction-id", "A-Z a-z"),
    ("id number", {"instruction-id": 12}, "instruction-id", "got a number"),
    ("caller 24", {"caller": _caller_of_length(24)}, None, ""),
    ("caller 25", {"caller": _caller_of_length(25)}, "caller", "at most 24 characters"),
    ("caller empty", {"caller": ""}, "caller", "is empty"),
    ("caller invalid", {"caller": "+3120123"}, "caller", "too short"),
    ("callee 24", {"callee": "+31" + " " * 12 + "612345678"}, None, ""),
    ("callee 25", {"callee": "+31" + " " * 13 + "612345678"}, "callee", "at most 24"),
    ("callee 0031", {"callee": "0031612345678"}, "callee", "use +31… instead of 0031…"),
    ("callee number", {"callee": 31612345678}, "callee", "got a number, expected a string"),
    ("anonymous true", {"anonymous": True}, None, ""),
    ("anonymous 1", {"anonymous": 1}, "anonymous", "true or false"),
    ("anonymous str", {"anonymous": "false"}, "anonymous", "true or false"),
    ("terminators #", {"terminators": "#"}, None, ""),
    ("terminators #*", {"terminators": "#*"}, None, ""),
    ("terminators all", {"terminators": "0123456789*#ABCD"}, None, ""),
    ("terminators empty", {"terminators": ""}, "terminators", "at least one key"),
    ("terminators dup", {"terminators": "#*#"}, "terminators", "lists # more than once"),
    ("terminators x", {"terminators": "#x"}, "terminators", "'x' is not one"),
    ("terminators a", {"terminators": "a"}, "terminators", "DTMF keys"),
    ("terminators list", {"terminators": ["#"]}, "terminators", "got a list"),
    ("regex ok", {"regex": r"\d{4}"}, None, ""),
    ("regex 200", {"regex": "1" * 200}, None, ""),
    ("regex 201", {"regex": "1" * 201}, "regex", "at most 200 characters"),
    ("regex bad", {"regex": "("}, "regex", "not a valid regular expression"),
    ("regex redos", {"regex": r"(1+)+$"}, "regex", "backtrack catastrophically"),
    ("regex empty", {"regex": ""}, "regex", "must not be empty"),
    ("volume -5", {"voice": {"volume": -5}}, "voice.volume", "between -4 and 4"),
    ("volume -4", {"voice": {"volume": -4}}, None, ""),
    ("volume 4", {"voice": {"volume": 4}}, None, ""),
    ("volume 5", {"voice": {"volume": 5}}, "voice.volume", "between -4 and 4"),
    ("number 0", {"voice": {"number": 0}}, "voice.number", "between 1 and 99"),
    ("number 1", {"voice": {"number": 1}}, None, ""),
    ("number 99", {"voice": {"number": 99}}, None, ""),
    ("number 100", {"voice": {"number": 100}}, "voice.number", "between 1 and 99"),
    ("language nl-NL", {"voice": {"language": "nl-NL"}}, None, ""),
    ("language en", {"voice": {"language": "en"}}, "voice.language", "like en-GB"),
    ("language EN-gb", {"voice": {"language": "EN-gb"}}, "voice.language", "like en-GB"),
    ("language en_GB", {"voice": {"language": "en_GB"}}, "voice.language", "like en-GB"),
    ("gender Male", {"voice": {"gender": "Male"}}, None, ""),
    ("gender male", {"voice": {"gender": "male"}}, None, ""),
    ("gender 0", {"voice": {"gender": 0}}, None, ""),
    ("gender 1", {"voice": {"gender": 1}}, None, ""),
    ("gender 2", {"voice": {"gender": 2}}, "voice.gender", "Male or Female"),
    ("gender true", {"voice": {"gender": True}}, "voice.gender", "Male or Female"),
    ("gender x", {"voice": {"gender": "Robot"}}, "voice.gender", "Male or Female"),
    ("premium true", {"voice": {"premium": True}}, None, ""),
    ("premium str", {"voice": {"premium": "true"}}, "voice.premium", "true or false"),
    ("voice unknown", {"voice": {"speed": 2}}, "voice.speed", "unknown field"),
    ("voice typo", {"voice": {"volumne": 2}}, "voice.volumne", "did you mean volume?"),
    ("voice list", {"voice": []}, "voice", "must be an object"),
    ("metadata 10", {"metadata": _metadata(keys=MAX_METADATA_KEYS)}, None, ""),
    ("metadata 11", {"metadata": _metadata(keys=11)}, "metadata", "at most 10 keys (11 given)"),
    ("metadata key 40", {"metadata": _metadata(key_length=40)}, None, ""),
    ("metadata key 41", {"metadata": _metadata(key_length=41)}, "metadata", "1 to 40 characters"),
    ("metadata key empty", {"metadata": {"": "x"}}, "metadata", "1 to 40 characters"),
    ("metadata key space", {"metadata": {"a b": "x"}}, "metadata", "A-Z a-z 0-9 _ . -"),
    ("metadata value 256", {"metadata": _metadata(value_length=256)}, None, ""),
    ("metadata value 257", {"metadata": _metadata(value_length=257)}, "metadata.k00", "256"),
    ("metadata value empty", {"metadata": {"a": ""}}, None, ""),
    ("metadata nested", {"metadata": {"a": {"b": "c"}}}, "metadata.a", "nested"),
    ("metadata array", {"metadata": {"a": ["b"]}}, "metadata.a", "nested"),
    ("metadata number", {"metadata": {"a": 1}}, "metadata.a", "must be a string"),
    ("metadata null value", {"metadata": {"a": None}}, "metadata.a", "must be a string"),
    ("metadata string", {"metadata": "a=b"}, "metadata", "must be an object"),
    ("metadata empty", {"metadata": {}}, None, ""),
    ("prompt-type File", {"prompt-type": "File", "prompt": "a.wav"}, None, ""),
    ("prompt-type 0", {"prompt-type": 0, "prompt": "a.wav"}, None, ""),
    ("prompt-type 1", {"prompt-type": 1}, None, ""),
    ("prompt-type 2", {"prompt-type": 2, "prompt": "<speak>x</speak>"}, None, ""),
    ("prompt-type tts", {"prompt-type": "tts"}, None, ""),
    ("prompt-type 3", {"prompt-type": 3}, "prompt-type", "File, TTS, TTS_SSML"),
    ("prompt-type -1", {"prompt-type": -1}, "prompt-type", "0, 1, 2"),
    ("prompt-type SSML", {"prompt-type": "SSML"}, "prompt-type", "File, TTS, TTS_SSML"),
    ("prompt-type bool", {"prompt-type": True}, "prompt-type", "File, TTS, TTS_SSML"),
    ("valid-prompt-type 9", {"valid-prompt-type": 9}, "valid-prompt-type", "File, TTS"),
    ("invalid-prompt-type x", {"invalid-prompt-type": "x"}, "invalid-prompt-type", "File"),
    ("disable false", {"disable-callees-validation": False}, None, ""),
    (
        "disable true",
        {"disable-callees-validation": True},
        "disable-callees-validation",
        "the gateway validates every callee; remove invalid numbers instead",
    ),
    ("disable str", {"disable-callees-validation": "false"}, "disable-callees-validation", ""),
]


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [pytest.param(c, f, m, id=i) for i, c, f, m in BOUNDS],
)
def test_field_bounds(changes: dict[str, Any], field: str | None, fragment: str) -> None:
    raw = {**body(), **changes}
    if field is None:
        parse_dtmf_call_request(raw)
        return
    problem = the_problem(raw)
    assert problem.field == field
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("count", "ok"), [(1, True), (MAX_CALLEES, True), (MAX_CALLEES + 1, False)]
)
def test_callees_count(count: int, ok: bool) -> None:
    numbers = [f"+316{i:08d}" for i in range(10_000_000, 10_000_000 + count)]
    raw = {**body(), "callee": None, "callees": numbers}
    if ok:
        assert parse_dtmf_call_request(raw).all_callees() == numbers
    else:
        problem = the_problem(raw)
        assert problem == FieldProblem(
            "callees", "may contain at most 20 numbers per request (21 given)"
        )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"callee": None}, [("callee", "is required: give callee")]),
        ({"callee": None, "callees": None}, [("callee", "is required")]),
        ({"callees": [UK_MOBILE]}, [("callees", "either callee or callees, not both")]),
        ({"callee": None, "callees": []}, [("callees", "at least one number")]),
        ({"callee": None, "callees": NL_MOBILE}, [("callees", "a list of 1 to 20")]),
        (
            {"callee": None, "callees": [NL_MOBILE, UK_MOBILE, "+31 6 1234 5678"]},
            [("callees[2]", "is the same number as callees[0]")],
        ),
        (
            {"callee": None, "callees": [NL_MOBILE, "hello", 7, "+3161234"]},
            [
                ("callees[1]", "contains letters"),
                ("callees[2]", "expected a string"),
                ("callees[3]", "too short"),
            ],
        ),
    ],
)
def test_callee_and_callees(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    problems = problems_of({**body(), **changes})
    assert [p.field for p in problems] == [field for field, _ in expected]
    for problem, (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in problem.message


# ---------------------------------------------------------------------------------------
# Types, unknown and refused keys
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "got"),
    [
        ("min-digits", "4", "got a string, expected a JSON number"),
        ("min-digits", True, "got a boolean, expected a JSON number"),
        ("timeout", "5000", "got a string"),
        ("max-ringing-timeout", [30], "got a list"),
        ("prompt", 12, "got a number, expected a string"),
        ("caller", {"number": NL_FIXED}, "got an object, expected a string"),
    ],
)
def test_wrong_types_are_refused(key: str, value: object, got: str) -> None:
    problem = the_problem({**body(), key: value})
    assert problem.field == key
    assert got in problem.message


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("min-digit", "unknown field; did you mean min-digits?"),
        ("min_digits", "unknown field; did you mean min-digits?"),
        ("maxDigits", "unknown field; did you mean max-digits?"),
        ("max-ringing-time-out", "unknown field; did you mean max-ringing-timeout?"),
        ("ringing-timeout", "unknown field; did you mean max-ringing-timeout?"),
        ("callback", "unknown field"),
        ("zzz", "unknown field"),
    ],
)
def test_unknown_keys_are_refused_naming_the_key(key: str, message: str) -> None:
    assert the_problem({**body(), key: 4}) == FieldProblem(key, message)


def test_callback_url_is_refused() -> None:
    problem = the_problem(body(callback_url="https://hooks.example.org/cm"))
    assert problem.field == "callback-url"
    assert "set by the service itself" in problem.message


def test_voicemail_response_is_refused() -> None:
    problem = the_problem(body(voicemail_response="Ignore"))
    assert problem.field == "voicemail-response"
    assert "voicemail detection is not available for DTMF calls" in problem.message


@pytest.mark.parametrize("raw", [[], "text", 12, None, True])
def test_body_must_be_an_object(raw: object) -> None:
    problem = the_problem(raw)
    assert problem.field == "(body)"
    assert "must be a JSON object" in problem.message


# ---------------------------------------------------------------------------------------
# Every problem at once
# ---------------------------------------------------------------------------------------


def test_six_mistakes_give_six_problems() -> None:
    raw = {
        "callee": NL_MOBILE,
        "callees": [UK_MOBILE],  # 1: both callee and callees
        "caller": "0201234567",  # 2: national format
        "prompt": "Enter your code",
        "valid-prompt": "Thank you.",
        "min-digits": 6,
        "max-digits": 4,  # 3: below min-digits
        "timeout": 500,  # 4: out of range
        "voice": {"volume": 9},  # 5: out of range
        "min-digit": 3,  # 6: typo
    }
    assert fields_of(raw) == [
        "callees",
        "caller",
        "max-digits",
        "timeout",
        "voice.volume",
        "min-digit",
    ]


def test_many_mistakes_are_all_reported() -> None:
    raw = {
        "instruction-id": "has space",
        "callee": "0031612345678",
        "caller": "hello",
        "anonymous": "no",
        "disable-callees-validation": True,
        "max-ringing-timeout": 5,
        "prompt": "/etc/passwd",
        "prompt-type": "File",
        "valid-prompt": "<speak>x</spea>",
        "valid-prompt-type": 2,
        "invalid-prompt-type": 7,
        "min-digits": 0,
        "max-digits": "4",
        "max-attempts": 11,
        "timeout": 10001,
        "terminators": "##",
        "regex": "(1|11)*2",
        "voice": {"language": "english", "gender": 3, "number": 0, "volume": 5, "x": 1},
        "metadata": {"a": {"b": 1}},
        "callback-url": "https://example.org",
        "voicemail-response": 1,
        "min-digit": 1,
    }
    assert fields_of(raw) == [
        "instruction-id",
        "callee",
        "caller",
        "anonymous",
        "disable-callees-validation",
        "max-ringing-timeout",
        "prompt",
        "valid-prompt",
        "invalid-prompt-type",
        "min-digits",
        "max-digits",
        "max-attempts",
        "timeout",
        "terminators",
        "regex",
        "voice.language",
        "voice.gender",
        "voice.number",
        "voice.volume",
        "voice.x",
        "metadata.a",
        "callback-url",
        "voicemail-response",
        "min-digit",
    ]


def test_cross_field_rules_are_reported_alongside_field_errors() -> None:
    raw = {**body(), "callees": [UK_MOBILE], "min-digits": 9, "max-digits": 3, "timeout": 1}
    assert set(fields_of(raw)) == {"callees", "max-digits", "timeout"}


def test_report_is_capped_for_absurd_bodies() -> None:
    raw = {**body(), **{f"unknown-{i}": 1 for i in range(MAX_REPORTED_PROBLEMS + 50)}}
    problems = problems_of(raw)
    assert len(problems) == MAX_REPORTED_PROBLEMS + 1
    assert problems[-1] == FieldProblem("(body)", "and about 50 more problems that are not listed")


def test_long_unknown_keys_are_not_echoed_in_full() -> None:
    problem = the_problem({**body(), "x" * 10_000: 1})
    assert problem.field == "x" * MAX_ECHOED_KEY_LENGTH + "…"
    assert problem.message == "unknown field"


def test_huge_callee_lists_are_refused_before_parsing_numbers() -> None:
    problem = the_problem({**body(), "callee": None, "callees": ["junk"] * 10_000})
    assert problem == FieldProblem(
        "callees", "may contain at most 20 numbers per request (10000 given)"
    )


def test_invalid_request_carries_a_summary() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_dtmf_call_request(body(timeout=1))
    assert "timeout" in str(caught.value)
    assert asdict(caught.value.problems[0]) == {
        "field": "timeout",
        "message": "must be a whole number of milliseconds between 1000 and 10000",
    }


# ---------------------------------------------------------------------------------------
# Prompt content
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["pin.wav", "prompts/pin.wav", "a/b/c-d_e.WAV", "pin"])
def test_file_prompt_paths_accepted(path: str) -> None:
    parse_dtmf_call_request(body(prompt=path, prompt_type="File"))


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/prompts/pin.wav", "must not start with /"),
        ("../pin.wav", "must not contain . or .. segments"),
        ("prompts/../../pin.wav", ".. segments"),
        ("./pin.wav", ". or .. segments"),
        ("https://example.org/pin.wav", "not a URL"),
        ("s3://bucket/pin.wav", "not a URL"),
        ("prompts\\pin.wav", "not backslashes"),
        ("prompts/", "must end with a file name"),
        ("prompts//pin.wav", "empty folder names"),
        ("pin\t.wav", "control characters"),
        ("pin\n.wav", "control characters"),
    ],
)
def test_file_prompt_paths_refused(path: str, fragment: str) -> None:
    for text_key, type_key in [
        ("prompt", "prompt-type"),
        ("valid-prompt", "valid-prompt-type"),
        ("invalid-prompt", "invalid-prompt-type"),
    ]:
        problem = the_problem({**body(), text_key: path, type_key: 0})
        assert problem.field == text_key
        assert fragment in problem.message
        assert "relative to the root" in problem.message


def test_ssml_prompts_are_checked() -> None:
    parse_dtmf_call_request(
        body(prompt="<speak>Your <emphasis>code</emphasis></speak>", prompt_type=2)
    )
    laughs = '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><speak>&b;&b;</speak>'
    problem = the_problem(body(prompt=laughs, prompt_type="TTS_SSML"))
    assert problem.field == "prompt"
    assert "DOCTYPE and entity declarations are not allowed" in problem.message
    problem = the_problem(body(valid_prompt="<voice>x</voice>", valid_prompt_type="tts_ssml"))
    assert problem.field == "valid-prompt"
    assert "single <speak> element" in problem.message


def test_tts_prompts_are_not_read_as_xml() -> None:
    parse_dtmf_call_request(body(prompt="Press 1 if 2 < 3 & you agree"))
    parse_dtmf_call_request(body(prompt="../../etc/passwd"))  # it is only read aloud


# ---------------------------------------------------------------------------------------
# Enums, normalisation, serialisation
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "member"),
    [
        (0, PromptType.FILE),
        (1, PromptType.TTS),
        (2, PromptType.TTS_SSML),
        ("tts_SSML", PromptType.TTS_SSML),
    ],
)
def test_integer_and_name_enums(wire: object, member: PromptType) -> None:
    prompt = {PromptType.FILE: "a.wav", PromptType.TTS_SSML: "<speak>x</speak>"}.get(member, "x")
    request = parse_dtmf_call_request(
        body(
            prompt=prompt,
            valid_prompt=prompt,
            prompt_type=wire,
            valid_prompt_type=wire,
            invalid_prompt_type=wire,
        )
    )
    assert request.prompt_type is member
    payload = to_cm_payload(request, instruction_id="id-1", callback_url="https://cb.example/x")
    assert payload["prompt-type"] == member.value
    assert payload["valid-prompt-type"] == member.value
    assert request.model_dump(mode="json", by_alias=True)["invalid-prompt-type"] == member.value


def test_gender_integers_serialise_as_names() -> None:
    request = parse_dtmf_call_request(body(voice={"gender": 0}))
    assert request.voice.gender is Gender.MALE
    assert (
        to_cm_payload(request, instruction_id="i", callback_url="https://x")["voice"]["gender"]
        == "Male"
    )


def test_to_cm_payload_single_callee() -> None:
    request = parse_dtmf_call_request(json.loads(SDK_PAYLOAD))
    payload = to_cm_payload(
        request,
        instruction_id="inst-1",
        callback_url="https://api.example/v1/callbacks/cm/inst-1?token=t",
    )
    assert payload == {
        "instruction-id": "inst-1",
        "callee": "+31611111111",
        "caller": "+31202222222",
        "anonymous": False,
        "disable-callees-validation": False,
        "callback-url": "https://api.example/v1/callbacks/cm/inst-1?token=t",
        "max-ringing-timeout": 60,
        "prompt": "Enter your code",
        "prompt-type": "TTS",
        "valid-prompt": "Thanks",
        "valid-prompt-type": "TTS",
        "invalid-prompt-type": "TTS",
        "min-digits": 1,
        "max-digits": 64,
        "max-attempts": 1,
        "timeout": 5000,
        "terminators": "#",
        "regex": "^(?:[0-9]*)$",  # anchored: CM's reading and our full match agree
        "voice": {
            "language": "en-GB",
            "gender": "Female",
            "number": 1,
            "volume": 0,
            "premium": False,
        },
    }
    json.dumps(payload)  # plain JSON types only


def test_to_cm_payload_several_callees_and_prompts() -> None:
    raw = {**FULL_BODY, "callee": None, "callees": ["+31 6 1234 5678", UK_MOBILE]}
    payload = to_cm_payload(
        parse_dtmf_call_request(raw), instruction_id="x", callback_url="https://cb"
    )
    assert payload["callees"] == [NL_MOBILE, UK_MOBILE]
    assert "callee" not in payload
    assert "metadata" not in payload
    assert payload["valid-prompt"] == "Thank you."
    assert payload["invalid-prompt"] == "prompts/pin-not-valid.wav"
    assert payload["invalid-prompt-type"] == "File"
    assert payload["instruction-id"] == "x"


def test_numbers_are_normalised_to_e164() -> None:
    request = parse_dtmf_call_request(
        {
            **body(),
            "callee": None,
            "callees": ["+31 6 1234 5678", "+44 7400 123456"],
            "caller": "+31 20 123 4567",
        }
    )
    assert request.all_callees() == [NL_MOBILE, UK_MOBILE]
    assert request.callee_fields() == [("callees[0]", NL_MOBILE), ("callees[1]", UK_MOBILE)]
    assert request.caller.e164 == NL_FIXED
    assert [(n.region, n.number_type) for _, n in request.callee_numbers()] == [
        ("NL", "MOBILE"),
        ("GB", "MOBILE"),
    ]


def test_canonical_json_is_stable() -> None:
    plain = parse_dtmf_call_request(body())
    spaced = parse_dtmf_call_request(body(callee="+31 6 1234 5678", caller="+31-20-123-4567"))
    explicit = parse_dtmf_call_request(
        body(timeout=5000, terminators="#", prompt_type=1, voice={"gender": "female"})
    )
    reordered = parse_dtmf_call_request(dict(reversed(list(body().items()))))
    assert plain.canonical_json() == spaced.canonical_json()
    assert plain.canonical_json() == explicit.canonical_json()
    assert plain.canonical_json() == reordered.canonical_json()
    assert plain.canonical_json() != parse_dtmf_call_request(body(timeout=6000)).canonical_json()
    text = plain.canonical_json()
    assert json.loads(text) == json.loads(text, object_pairs_hook=lambda kv: dict(sorted(kv)))
    assert " " not in text.replace("Your code?", "")


def test_the_idempotency_hash_ignores_fields_at_their_default() -> None:
    """A release that adds an optional field must not change the hash of requests that do
    not use it (else a retry across the deployment is refused as a reused key)."""
    text = json.loads(parse_dtmf_call_request(body()).canonical_json())
    assert "max-attempts" not in text and "voice" not in text and "metadata" not in text
    assert "callee" in text and "prompt" in text


@pytest.mark.parametrize("raw", [FULL_BODY, json.loads(SDK_PAYLOAD), body()])
def test_model_dump_round_trips(raw: dict[str, Any]) -> None:
    request = parse_dtmf_call_request(raw)
    assert DtmfCallRequest.model_validate(request.model_dump(by_alias=True)) == request
    as_json = request.model_dump(by_alias=True, mode="json")
    assert parse_dtmf_call_request(as_json) == request
    assert DtmfCallRequest.model_validate_json(request.model_dump_json(by_alias=True)) == request


def test_model_can_be_built_by_name_in_code() -> None:
    request = DtmfCallRequest(
        callee=NL_MOBILE, caller=NL_FIXED, prompt="x", valid_prompt="y", min_digits=4
    )
    assert request.min_digits == 4


def test_direct_model_validation_still_checks_cross_field_rules() -> None:
    with pytest.raises(ValueError, match="either callee or callees"):
        DtmfCallRequest.model_validate({**body(), "callees": [UK_MOBILE]})


def test_the_digit_rules_a_callback_rebuilds_from_the_request_are_the_requests() -> None:
    request = parse_dtmf_call_request(body(min_digits=4, max_digits=6, regex=r"1\d+"))
    rules = InputRules.from_values(request.min_digits, request.max_digits, request.regex)
    assert rules.check("1234")
    assert not rules.check("2234")
    assert not rules.check("123")
    assert not rules.check("1234567")


def test_request_is_immutable() -> None:
    request = parse_dtmf_call_request(body())
    with pytest.raises(ValueError, match="frozen"):
        request.prompt = "changed"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------
# Issue 13: hostile input refused, legitimate input accepted
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85"])
@pytest.mark.parametrize("key", ["prompt", "valid-prompt", "invalid-prompt"])
def test_control_characters_in_prompts_are_refused(key: str, char: str) -> None:
    problem = the_problem({**body(), key: f"Type{char} your PIN"})
    assert problem.field == key
    assert f"U+{ord(char):04X}" in problem.message


def test_prompts_may_span_lines() -> None:
    text = "<speak>\n\t<p>Type your PIN</p>\r\n</speak>"
    assert parse_dtmf_call_request(body(prompt=text, prompt_type="TTS_SSML")).prompt == text


@pytest.mark.parametrize("char", ["\x00", "\n", "\x1f", "\x7f"])
def test_control_characters_in_metadata_values_are_refused(char: str) -> None:
    problem = the_problem(body(metadata={"order-id": f"77{char}81"}))
    assert problem.field == "metadata.order-id"
    assert "control characters" in problem.message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min-digits", 4.0),
        ("max-digits", 8.0),
        ("max-attempts", 3.0),
        ("timeout", 5000.0),
        ("max-ringing-timeout", 30.0),
        ("voice", {"number": 2.0, "volume": -1.0}),
    ],
)
def test_integers_written_with_a_zero_fraction_are_integers(key: str, value: object) -> None:
    request = parse_dtmf_call_request({**body(), key: value})
    dumped = request.model_dump(mode="json", by_alias=True)[key]
    if isinstance(value, dict):
        dumped = {name: dumped[name] for name in value}
    assert dumped == value
    assert "." not in json.dumps(dumped)


@pytest.mark.parametrize(
    "key", ["min-digits", "max-digits", "max-attempts", "timeout", "max-ringing-timeout"]
)
def test_fractions_are_refused_without_contradiction(key: str) -> None:
    problem = the_problem({**body(), key: 4.5})
    assert problem.field == key
    assert "whole number" in problem.message
    assert "fractional part" in problem.message
    assert "expected a JSON number" not in problem.message


@pytest.mark.parametrize("value", [1e308, 10**400, -(10**400)])
def test_huge_numbers_say_the_range(value: object) -> None:
    problem = the_problem({**body(), "min-digits": value})
    assert problem == FieldProblem("min-digits", "must be a whole number between 1 and 64")


@pytest.mark.parametrize(
    ("ssml", "words"),
    [
        ('<speak><audio src="http://169.254.169.254/latest/meta-data/"/></speak>', "not a URL"),
        ('<speak><audio src="https://example.com/a.wav"/></speak>', "not a URL"),
        ('<speak><audio src="/etc/passwd"/></speak>', "must not start with /"),
        ('<speak><audio src="//10.0.0.1/a.wav"/></speak>', "not a URL"),
        ('<speak><audio src="data:audio/wav;base64,AAAA"/></speak>', "not a URL"),
        (
            '<speak><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="x"/></speak>',
            "XInclude}include> is not allowed",
        ),
        ('<?xml-stylesheet href="http://x/s.xsl"?><speak>x</speak>', "processing instructions"),
        ('<speak><lexicon uri="http://x/l.pls"/></speak>', "<lexicon> is not allowed"),
        ("<speak><script>x</script></speak>", "<script> is not allowed"),
        ('<speak><p onclick="x">x</p></speak>', "attribute onclick is not allowed on <p>"),
    ],
)
def test_ssml_that_reaches_outside_is_refused(ssml: str, words: str) -> None:
    problem = the_problem(body(prompt=ssml, prompt_type="TTS_SSML"))
    assert problem.field == "prompt"
    assert words in problem.message


def test_ssml_with_voice_audio_manager_audio_is_accepted() -> None:
    ssml = (
        '<?xml version="1.0"?><speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" '
        'xml:lang="en-GB"><p><s>Type your <emphasis level="strong">PIN</emphasis></s></p>'
        '<break time="500ms"/><audio src="prompts/beep.wav"/>'
        '<say-as interpret-as="digits">1234</say-as><prosody rate="slow">#</prosody></speak>'
    )
    assert parse_dtmf_call_request(body(prompt=ssml, prompt_type=2)).prompt == ssml


@pytest.mark.parametrize(
    "raw",
    [
        {"": 1},
        {**{f"k{i}": i for i in range(500)}},
        {"metadata": {"": "x"}},
        {"callee": None, "callees": [None, 1, "x"]},
    ],
)
def test_no_problem_has_an_empty_field_name(raw: dict[str, Any]) -> None:
    problems = problems_of({**body(), **raw})
    assert problems
    assert all(p.field and p.message for p in problems)


def test_rules_across_fields_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from dtmf_gateway.domain import request as module

    calls: list[object] = []
    real = module.cross_field_problems

    def counting(data: Any) -> Any:
        calls.append(data)
        return real(data)

    monkeypatch.setattr(module, "cross_field_problems", counting)
    parse_dtmf_call_request(body())
    with pytest.raises(InvalidRequest):
        parse_dtmf_call_request(body(timeout=1, **{"max-digits": 0}))
    assert len(calls) == 2
