"""Strict body reading (issue 13): one meaning per body, or a clear 400/415, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtmf_gateway.api.body import MAX_DEPTH, BadRequest, UnsupportedMediaType, json_body
from dtmf_gateway.domain.errors import FieldProblem, InvalidRequest
from dtmf_gateway.domain.request import parse_dtmf_call_request

VALID = (
    '{"callee": "+31612345678", "caller": "+31201234567", "prompt": "Type your PIN",'
    ' "valid-prompt": "Thanks", "min-digits": 4.0, "max-digits": 4}'
)


def test_a_valid_body_reads() -> None:
    assert json_body(VALID, content_type="application/json; charset=utf-8")["min-digits"] == 4.0


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"callee": "+31612345678", "callee": "+31687654321"}', "'callee' appears more than once"),
        ('{"voice": {"gender": 0, "gender": 1}}', "'gender' appears more than once"),
        ('{"callback-url": "http://x", "callback-url": null}', "'callback-url' appears"),
        ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested too deeply"),
        ('{"min-digits": NaN}', "NaN is not a JSON number"),
        ('{"timeout": Infinity}', "Infinity is not a JSON number"),
        ('{"prompt": "caf\ufffd"}', "not valid UTF-8"),
        ('{"prompt": "\\ud800"}', "lone surrogate"),
        ("", "has no body"),
        ("{", "not valid JSON"),
    ],
)
def test_ambiguous_or_broken_bodies_are_400(raw: str, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        json_body(raw, content_type="application/json")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("%%%not base64%%%", "not valid base64"),
        (base64.b64encode(b'{"prompt": "caf\xe9"}').decode(), "not valid UTF-8"),
    ],
)
def test_broken_base64_bodies_are_400(raw: str, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        json_body(raw, is_base64=True)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="application/json"):
        json_body(VALID, content_type=content_type)


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "Application/JSON", "application/problem+json"]
)
def test_json_content_types_and_a_missing_one_are_read(content_type: str | None) -> None:
    assert isinstance(json_body(VALID, content_type=content_type), dict)


# --------------------------------------------------------------------------------------
# Properties: anything in ends in a result or a 4xx-class error, never another exception
# --------------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["callee", "callees", "caller", "prompt", "min-digits", "voice", "x"])
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


def _read(raw: str, *, is_base64: bool = False) -> None:
    """Read and parse; a client error must say what is wrong, naming every field."""
    problems: list[FieldProblem] = []
    message = "read"
    try:
        parse_dtmf_call_request(json_body(raw, is_base64=is_base64))
    except InvalidRequest as error:
        problems = error.problems or [FieldProblem("", "")]
    except (BadRequest, UnsupportedMediaType) as error:
        message = str(error)
    assert message
    assert all(p.field and p.message for p in problems)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_any_json_value_ends_in_a_result_or_a_client_error(value: Any) -> None:
    _read(json.dumps(value))


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {"callee": _json, "caller": _json, "prompt": _json},
        optional={
            "callees": _json,
            "min-digits": _json,
            "max-digits": _json,
            "voice": _json,
            "metadata": _json,
            "regex": _json,
            "prompt-type": _json,
        },
    )
)
def test_any_values_under_the_real_keys_end_in_a_result_or_a_client_error(value: Any) -> None:
    _read(json.dumps(value))


@settings(max_examples=400)
@given(st.binary(max_size=200), st.booleans())
def test_any_bytes_end_in_a_result_or_a_client_error(data: bytes, as_base64: bool) -> None:
    if as_base64:
        _read(base64.b64encode(data).decode(), is_base64=True)
    else:
        _read(data.decode("utf-8", errors="replace"))
        _read(data.decode("latin-1"))


# ------------------------------------------------------------------ break-13 findings


@pytest.mark.parametrize("number", ["1E400", "-1E400", "9" * 5000, "-" + "9" * 5000])
def test_numbers_beyond_a_float_name_the_field_and_its_range(number: str) -> None:
    """1E400 said "got a number with a fractional part" (it is a whole number), and an integer
    of 5000 digits was a 400 "not valid JSON" that quoted Python's sys.set_int_max_str_digits()."""
    raw = VALID.replace('"max-digits": 4', f'"max-digits": {number}')
    with pytest.raises(InvalidRequest) as caught:
        parse_dtmf_call_request(json_body(raw))
    assert caught.value.problems == [
        FieldProblem("max-digits", "must be a whole number between 1 and 64")
    ]


def test_an_integer_of_any_size_is_json() -> None:
    """A callback stores "integers of any size" (README): reading one never fails."""
    assert json_body('{"x": ' + "1" * 5000 + "}") == {"x": float("inf")}
