"""What POST /voiceapi/v2/DTMF accepts and refuses (contract §1, §2; research §2.3, §6)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from cm_simulator import Simulator
from cm_simulator.validation import ValidationFailed, python_regex, validate_instruction

from .helpers import CALLER, TOKEN, instruction, place, started

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Contract §6 / research §6: exactly what CM's official .NET SDK puts on the wire.
SDK_PAYLOAD = (
    '{"instruction-id":null,"callee":"+31611111111","callees":null,"caller":"+31202222222",'
    '"anonymous":false,"disable-callees-validation":false,"prompt":"Enter your code",'
    '"prompt-type":1,"valid-prompt-type":1,"invalid-prompt-type":1,'
    '"voice":{"language":"en-GB","gender":1,"number":1,"volume":0,"premium":false}}'
)

#: Research §8.1 worked example.
DOC_EXAMPLE: dict[str, Any] = {
    "instruction-id": "order-7781-pin",
    "callee": "+31612345678",
    "caller": "+31201234567",
    "anonymous": False,
    "callback-url": "https://hooks.example.org/cm/dtmf?k=Zq81xTr2",
    "max-ringing-timeout": 30,
    "prompt": "Please type your four digit PIN and finish with the hash key.",
    "prompt-type": "TTS",
    "valid-prompt": "Thank you. Your PIN was received.",
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
}


def post_raw(client: httpx.Client, content: bytes | str, **headers: str) -> httpx.Response:
    return client.post(
        "/voiceapi/v2/DTMF",
        content=content,
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )


def errors_of(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["status"] == 400
    assert problem["type"].startswith("https://")
    errors = problem["errors"]
    assert isinstance(errors, dict)
    assert all(
        isinstance(m, list) and m and all(isinstance(x, str) for x in m) for m in errors.values()
    )
    return errors


# --- accepted ---------------------------------------------------------------------------


def test_sdk_payload_is_accepted_byte_for_byte(client: httpx.Client) -> None:
    response = post_raw(client, SDK_PAYLOAD)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert len(reply) == 1
    call_id = reply[0].pop("call-id")
    assert GUID.fullmatch(call_id)
    assert reply[0] == {
        "type": "call-queued",
        "instruction-id": None,
        "caller": "+31202222222",
        "callee": "+31611111111",
        "success": True,
    }


def test_sdk_payload_call_is_recorded_as_received(client: httpx.Client, sim: Simulator) -> None:
    call_id = post_raw(client, SDK_PAYLOAD).json()[0]["call-id"]
    record = client.get(f"/_simulator/calls/{call_id}").json()
    assert record["instruction"] == json.loads(SDK_PAYLOAD)
    assert record["callback-url"] is None
    assert sim.wait_until_settled()
    assert client.get(f"/_simulator/calls/{call_id}").json()["state"] == "no-callback"


def test_documented_example_is_accepted(client: httpx.Client) -> None:
    reply = place(client, DOC_EXAMPLE)
    assert [item["instruction-id"] for item in reply] == ["order-7781-pin"]


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt-type": "TTS", "valid-prompt-type": "TTS_SSML", "invalid-prompt-type": "File"},
        {"prompt-type": 0, "valid-prompt-type": 1, "invalid-prompt-type": 2},
        {"prompt-type": "tts", "valid-prompt-type": "tts_ssml", "invalid-prompt-type": "file"},
        {
            "voice": {
                "language": "nl-NL",
                "gender": "Male",
                "number": 2,
                "volume": -4,
                "premium": True,
            }
        },
        {"voice": {"language": "en-US", "gender": 0}},
        {"voice": {}},
        {"voice": None},
        {"instruction-id": None, "callback-url": None, "max-ringing-timeout": None, "voice": None},
        {
            "valid-prompt": None,
            "invalid-prompt": None,
            "min-digits": None,
            "max-digits": None,
            "max-attempts": None,
            "timeout": None,
            "terminators": None,
            "regex": None,
            "anonymous": None,
            "prompt-type": None,
        },
        {"callees": None},
        {"callees": []},  # an empty list counts as absent
        {"callee": None, "callees": ["+31612345678", "+4915123456789"]},
        {"callee": "0031612345678"},  # the 00 international prefix CM historically accepted
        {"some-future-field": {"x": 1}, "ringing-timeout": 5},  # unknown keys are ignored
        {"voicemail-response": "Ignore"},
        {"voicemail-response": 2},
        {"anonymous": True},
        {"disable-callees-validation": True},
        {"max-ringing-timeout": 10},
        {"max-ringing-timeout": 60},
        {"min-digits": 1, "max-digits": 1},
        {"min-digits": 64, "max-digits": 64, "regex": None},
        {"max-attempts": 1},
        {"max-attempts": 10},
        {"timeout": 1000},
        {"timeout": 10000},
        {"terminators": "*#"},
        {"terminators": ""},
        {"regex": ""},
        {"regex": r"(?<pin>\d{4})"},  # .NET named group syntax
        {"prompt": "x"},
        {"prompt": "p" * 1000, "valid-prompt": "v" * 1000, "invalid-prompt": "i" * 1000},
        {"prompt-type": "TTS_SSML", "prompt": "<speak>Type your PIN</speak>"},
        {"prompt-type": "File", "prompt": "prompts/pin.wav"},
        {"instruction-id": "i" * 64},
        {"instruction-id": ""},
        {"caller": "+441234567890"},
        {"callback-url": "https://example.org:8443/cb?token=a%20b"},
        {"invalid-prompt": ""},
    ],
)
def test_accepted_variants(client: httpx.Client, changes: dict[str, Any]) -> None:
    body = instruction()
    body.update(changes)
    if changes.get("callees"):
        body.pop("callee", None)
    reply = place(client, body)
    assert all(item["success"] for item in reply)


def test_header_name_and_token_case_do_not_matter(client: httpx.Client) -> None:
    response = client.post(
        "/voiceapi/v2/DTMF",
        json=instruction(),
        headers={"x-cm-productToken": TOKEN.upper()},
    )
    assert response.status_code == 200


def test_path_is_case_insensitive(client: httpx.Client) -> None:
    assert client.post("/voiceapi/v2/dtmf", json=instruction()).status_code == 200
    assert client.post("/VoiceApi/V2/DTMF/", json=instruction()).status_code == 200


def test_reply_has_one_call_queued_per_callee_with_fresh_ids(client: httpx.Client) -> None:
    callees = ["+31612345678", "+31612345679", "+31612345678"]
    reply = place(client, instruction(callee=None, callees=callees))
    assert [item["callee"] for item in reply] == callees
    ids = [item["call-id"] for item in reply]
    assert len(set(ids)) == 3
    assert all(GUID.fullmatch(i) for i in ids)
    for item in reply:
        assert set(item) == {"type", "call-id", "instruction-id", "caller", "callee", "success"}
        assert item["type"] == "call-queued"
        assert item["caller"] == CALLER
        assert item["success"] is True
    again = place(client, instruction())
    assert again[0]["call-id"] not in ids


def test_disable_callees_validation_skips_invalid_callees(client: httpx.Client) -> None:
    body = instruction(
        callee=None,
        callees=["+31612345678", "0612345678", "+31612345679"],
        disable_callees_validation=True,
    )
    reply = place(client, body)
    assert [item["success"] for item in reply] == [True, False, True]
    bad = reply[1]
    assert bad["callee"] == "0612345678"
    assert "E.164" in bad["error"]
    assert GUID.fullmatch(bad["call-id"])
    assert client.get(f"/_simulator/calls/{bad['call-id']}").json()["state"] == "not-dialled"


def test_disable_callees_validation_with_only_invalid_callees(client: httpx.Client) -> None:
    reply = place(client, instruction(callee="123", disable_callees_validation=True))
    assert [item["success"] for item in reply] == [False]


def test_max_callees_is_configurable() -> None:
    with started(max_callees=2, time_scale=0) as (_, c):
        two = instruction(callee=None, callees=["+31612345678", "+31612345679"])
        assert c.post("/voiceapi/v2/DTMF", json=two).status_code == 200
        three = instruction(callee=None, callees=["+31612345678"] * 3)
        assert "callees" in errors_of(c.post("/voiceapi/v2/DTMF", json=three))


def test_default_max_callees_is_100(client: httpx.Client) -> None:
    many = instruction(callee=None, callees=["+31612345678"] * 101, callback_url=None)
    assert errors_of(client.post("/voiceapi/v2/DTMF", json=many))["callees"] == [
        "At most 100 callees are allowed per request."
    ]


# --- refused: authentication and transport ----------------------------------------------


@pytest.mark.parametrize("token", [None, "", "00000000-0000-4000-8000-000000000000", "not-a-token"])
def test_missing_or_unknown_token_gets_401_with_empty_body(
    sim: Simulator, token: str | None
) -> None:
    headers = {} if token is None else {"X-CM-PRODUCTTOKEN": token}
    with httpx.Client(base_url=sim.url, trust_env=False) as c:
        response = c.post("/voiceapi/v2/DTMF", json=instruction(), headers=headers)
    assert response.status_code == 401
    assert response.content == b""
    assert sim.calls() == []


def test_401_comes_before_validation(sim: Simulator, anonymous_client: httpx.Client) -> None:
    assert anonymous_client.post("/voiceapi/v2/DTMF", content=b"nonsense").status_code == 401


def test_non_json_content_type_gets_415(client: httpx.Client) -> None:
    response = client.post(
        "/voiceapi/v2/DTMF",
        content=json.dumps(instruction()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "non-empty"),
        (b"{not json", "not valid JSON"),
        (b'{"timeout": NaN}', "not valid JSON"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_unreadable_bodies_get_400(client: httpx.Client, content: bytes, message: str) -> None:
    errors = errors_of(post_raw(client, content))
    assert list(errors) == ["$"]
    assert message in errors["$"][0]


def test_other_methods_and_paths(client: httpx.Client) -> None:
    assert client.get("/voiceapi/v2/DTMF").status_code == 405
    assert client.post("/voiceapi/v2/Notification", json=instruction()).status_code == 404
    assert client.get("/").status_code == 404


# --- refused: the field matrix ----------------------------------------------------------

LONG = "x" * 1001

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"callee": "0612345678"}, "callee"),
    ({"callee": "+0612345678"}, "callee"),
    ({"callee": "+31 6 1234 5678"}, "callee"),
    ({"callee": "+3161"}, "callee"),
    ({"callee": "+3161234567890123"}, "callee"),
    ({"callee": 31612345678}, "callee"),
    ({"callee": None}, "callee"),  # neither callee nor callees
    ({"callees": ["+31612345678"]}, "callee"),  # both callee and callees
    ({"callee": None, "callees": ["+31612345678", "nope"]}, "callees[1]"),
    ({"callee": None, "callees": ["+31612345678", None]}, "callees[1]"),
    ({"callee": None, "callees": "+31612345678"}, "callees"),
    ({"caller": None}, "caller"),
    ({"caller": ""}, "caller"),
    ({"caller": "+3120123456789012345678901"}, "caller"),  # 25 chars
    ({"caller": "CM.com"}, "caller"),
    ({"caller": 31201234567}, "caller"),
    ({"instruction-id": "i" * 65}, "instruction-id"),
    ({"instruction-id": 42}, "instruction-id"),
    ({"anonymous": "false"}, "anonymous"),
    ({"disable-callees-validation": 1}, "disable-callees-validation"),
    ({"callback-url": "/relative/path"}, "callback-url"),
    ({"callback-url": "ftp://example.org/cb"}, "callback-url"),
    ({"callback-url": "http://"}, "callback-url"),
    ({"callback-url": "http://example.org:99999/"}, "callback-url"),
    ({"max-ringing-timeout": 9}, "max-ringing-timeout"),
    ({"max-ringing-timeout": 61}, "max-ringing-timeout"),
    ({"max-ringing-timeout": "30"}, "max-ringing-timeout"),
    ({"prompt": None}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": LONG}, "prompt"),
    ({"prompt": ["a"]}, "prompt"),
    ({"valid-prompt": ""}, "valid-prompt"),
    ({"valid-prompt": LONG}, "valid-prompt"),
    ({"invalid-prompt": LONG}, "invalid-prompt"),
    ({"prompt-type": "MP3"}, "prompt-type"),
    ({"prompt-type": 3}, "prompt-type"),
    ({"prompt-type": True}, "prompt-type"),
    ({"prompt-type": "1"}, "prompt-type"),
    ({"valid-prompt-type": -1}, "valid-prompt-type"),
    ({"invalid-prompt-type": "SSML"}, "invalid-prompt-type"),
    ({"min-digits": 0}, "min-digits"),
    ({"min-digits": 65}, "min-digits"),
    ({"max-digits": 0}, "max-digits"),
    ({"max-digits": 65}, "max-digits"),
    ({"min-digits": 5, "max-digits": 4}, "min-digits"),
    ({"min-digits": 4.0}, "min-digits"),
    ({"max-attempts": 0}, "max-attempts"),
    ({"max-attempts": 11}, "max-attempts"),
    ({"max-attempts": True}, "max-attempts"),
    ({"timeout": 999}, "timeout"),
    ({"timeout": 10001}, "timeout"),
    ({"timeout": 5000.5}, "timeout"),
    ({"terminators": "x"}, "terminators"),
    ({"terminators": 5}, "terminators"),
    ({"regex": "("}, "regex"),
    ({"regex": "[0-9"}, "regex"),
    ({"voice": "en-GB"}, "voice"),
    ({"voice": {"language": "english"}}, "voice.language"),
    ({"voice": {"gender": 2}}, "voice.gender"),
    ({"voice": {"gender": "Robot"}}, "voice.gender"),
    ({"voice": {"number": 0}}, "voice.number"),
    ({"voice": {"volume": 5}}, "voice.volume"),
    ({"voice": {"volume": -5}}, "voice.volume"),
    ({"voice": {"premium": "yes"}}, "voice.premium"),
    ({"voicemail-response": "Maybe"}, "voicemail-response"),
]


@pytest.mark.parametrize(("changes", "field"), REFUSED, ids=[f"{f}={c}"[:60] for c, f in REFUSED])
def test_refused_fields_are_named(
    client: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    body = instruction()
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    response = client.post("/voiceapi/v2/DTMF", json=body)
    errors = errors_of(response)
    assert list(errors) == [field], errors
    assert client.get("/_simulator/calls").json() == []


def test_every_bad_field_is_listed(client: httpx.Client) -> None:
    body = {
        "callee": "06",
        "caller": "x",
        "prompt": "",
        "max-ringing-timeout": 5,
        "min-digits": 0,
        "max-attempts": 20,
        "timeout": 1,
        "regex": "(",
        "voice": {"volume": 9},
    }
    errors = errors_of(client.post("/voiceapi/v2/DTMF", json=body))
    assert set(errors) == {
        "callee",
        "caller",
        "prompt",
        "max-ringing-timeout",
        "min-digits",
        "max-attempts",
        "timeout",
        "regex",
        "voice.volume",
    }
    assert errors["timeout"] == ["The field timeout must be between 1000 and 10000."]
    assert errors["prompt"] == ["The prompt field is required."]


def test_messages_say_what_is_wrong(client: httpx.Client) -> None:
    errors = errors_of(client.post("/voiceapi/v2/DTMF", json=instruction(prompt=LONG)))
    assert errors["prompt"] == [
        "The field prompt must be a string with a minimum length of 1 and a maximum length of 1000."
    ]
    errors = errors_of(client.post("/voiceapi/v2/DTMF", json=instruction(min_digits=6)))
    assert errors["min-digits"] == ["The field min-digits must not be greater than max-digits."]


# --- unit: defaults and regex translation -----------------------------------------------


def test_defaults_for_unset_settings() -> None:
    parsed = validate_instruction(json.loads(SDK_PAYLOAD))
    rules = parsed.rules
    assert (rules.min_digits, rules.max_digits, rules.max_attempts) == (1, 64, 1)
    assert (rules.timeout_ms, rules.terminators, rules.regex) == (5000, "#", "[0-9]*")
    assert parsed.max_ringing_timeout == 60
    assert parsed.valid_prompt is None
    assert parsed.prompt_type == "TTS"
    assert parsed.voice.gender == "Female"


def test_lower_case_terminators_are_keys_a_to_d() -> None:
    assert validate_instruction(instruction(terminators="d#")).rules.terminators == "D#"


def test_validation_failed_carries_errors() -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_instruction(instruction(caller=None))
    assert failed.value.errors == {"caller": ["The caller field is required."]}


@pytest.mark.parametrize(
    ("dotnet", "python"),
    [
        (r"(?<pin>\d{4})", r"(?P<pin>\d{4})"),
        (r"(?'pin'\d)\k<pin>", r"(?P<pin>\d)(?P=pin)"),
        (r"(?<=1)2(?<!3)", r"(?<=1)2(?<!3)"),  # look-behinds are left alone
        ("[0-9]*", "[0-9]*"),
    ],
)
def test_dotnet_named_groups_are_translated(dotnet: str, python: str) -> None:
    assert python_regex(dotnet) == python
