"""Scripts that reproduce CM's undocumented corners (docs/architecture.md, "Local stack"):
``reply-callee-format``, ``reply-delay-seconds``, ``reply-drip-seconds``, ``callback-extra``,
``callback-digits-key`` and ``per-call``."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from cm_simulator import Simulator
from cm_simulator.scripts import ScriptError

from .helpers import (
    TOKEN,
    WAIT,
    Receiver,
    instruction,
    place,
    started,
    wait_settled,
    wait_until,
)

CALLEE = "+31612345678"
PATH = f"/_simulator/callees/{CALLEE}"


def put(client: httpx.Client, body: Any, number: str = CALLEE) -> dict[str, Any]:
    response = client.put(f"/_simulator/callees/{number}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def call(
    client: httpx.Client, receiver: Receiver, cb_path: str, **fields: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Place one call to CALLEE; return (reply entry, callback body, settled record)."""
    before = len(receiver.received(cb_path))
    [entry] = place(client, instruction(callback_url=receiver.base + cb_path, **fields))
    received = receiver.wait(cb_path, before + 1)[before]
    return entry, received.body, wait_settled(client, entry["call-id"])


# --- reply-callee-format ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "requested", "replied"),
    [
        (None, "+31612345678", "+31612345678"),
        (None, "0031612345678", "0031612345678"),  # unset: as the request wrote it
        ("e164", "+31612345678", "+31612345678"),
        ("e164", "0031612345678", "+31612345678"),
        ("national-00", "+31612345678", "0031612345678"),
        ("national-00", "0031612345678", "0031612345678"),
        ("no-plus", "+31612345678", "31612345678"),
        ("no-plus", "0031612345678", "31612345678"),
        ("omitted", "+31612345678", None),
    ],
)
def test_reply_callee_format(
    client: httpx.Client,
    receiver: Receiver,
    cb_path: str,
    fmt: str | None,
    requested: str,
    replied: str | None,
) -> None:
    script: dict[str, Any] = {"pickup": "answer", "keys": ["4821#"]}
    if fmt is not None:
        script["reply-callee-format"] = fmt
    put(client, script)
    entry, callback, _ = call(client, receiver, cb_path, callee=requested)
    if replied is None:
        assert "callee" not in entry
    else:
        assert entry["callee"] == replied
    assert entry["success"] is True
    # only the synchronous reply changes: the callback still names the callee as requested
    assert callback["callee"] == requested
    assert callback["call-id"] == entry["call-id"]


def test_reply_callee_format_applies_per_callee(client: httpx.Client) -> None:
    put(client, {"pickup": "answer", "reply-callee-format": "no-plus"})
    reply = place(client, instruction(callee=None, callees=[CALLEE, "+31612345679"]))
    assert [entry["callee"] for entry in reply] == ["31612345678", "+31612345679"]


# --- reply-delay-seconds and reply-drip-seconds -----------------------------------------


def test_reply_delay_times_out_a_client_but_the_call_goes_ahead(
    receiver: Receiver, cb_path: str
) -> None:
    with started(time_scale=0) as (sim, c):
        sim.script_callee(CALLEE, keys=["4821#"], reply_delay_seconds=1.5)
        body = instruction(callback_url=receiver.base + cb_path)
        with pytest.raises(httpx.ReadTimeout):
            c.post("/voiceapi/v2/DTMF", json=body, timeout=httpx.Timeout(5.0, read=0.3))
        # CM queued the call although the client gave up: the callback still comes
        [received] = receiver.wait(cb_path)
        assert received.body["digits"] == "4821"
        assert sim.wait_until_settled()
        [record] = sim.calls(callee=CALLEE)
        assert record["state"] == "callback-delivered"
        assert record["script"]["reply-delay-seconds"] == 1.5


def test_reply_delay_is_waited_out_by_a_patient_client(client: httpx.Client) -> None:
    put(client, {"pickup": "answer", "reply-delay-seconds": 0.2})
    [entry] = place(client, instruction())
    assert entry["callee"] == CALLEE
    assert wait_settled(client, entry["call-id"])["state"] == "no-callback"


def test_reply_drip_passes_a_per_read_timeout_and_arrives_in_pieces(
    client: httpx.Client, session_sim: Simulator
) -> None:
    # every read gets a piece within 0.1 s, so a 0.5 s per-read timeout never fires even
    # though the whole body takes 1.5 s: only a total deadline catches a dripping reply
    put(client, {"pickup": "answer", "reply-drip-seconds": 1.5})
    with (
        httpx.Client(
            base_url=session_sim.url,
            headers={"X-CM-PRODUCTTOKEN": TOKEN},
            timeout=httpx.Timeout(5.0, read=0.5),
            trust_env=False,
        ) as patient,
        patient.stream("POST", "/voiceapi/v2/DTMF", json=instruction()) as response,
    ):
        assert response.status_code == 200
        pieces = list(response.iter_raw())
    assert len(pieces) > 1
    [entry] = json.loads(b"".join(pieces))
    assert entry["type"] == "call-queued"
    assert entry["callee"] == CALLEE
    wait_settled(client, entry["call-id"])


def test_reset_cuts_a_reply_delay_short(receiver: Receiver, cb_path: str) -> None:
    with started(time_scale=0) as (sim, c):
        sim.script_callee(CALLEE, reply_delay_seconds=300)
        body = instruction(callback_url=receiver.base + cb_path)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.post, "/voiceapi/v2/DTMF", json=body)
            wait_until(sim.calls, what="the call record")
            sim.reset()
            response = pending.result(timeout=WAIT)
        assert response.status_code == 200
        assert response.json()[0]["callee"] == CALLEE
        assert c.get("/_simulator/calls").json() == []  # the reset forgot the call
    assert receiver.received(cb_path) == []


# --- callback-digits-key and callback-extra ---------------------------------------------


def test_callback_digits_key_renames_digits(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    put(client, {"pickup": "answer", "keys": ["4821#"], "callback-digits-key": "dtmf-input"})
    _, callback, record = call(client, receiver, cb_path)
    assert callback["dtmf-input"] == "4821"
    assert "digits" not in callback
    assert record["digits"] == "4821"  # the record keeps what was typed
    assert record["callback-body"] == callback


def test_callback_digits_key_digits_is_the_default(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    put(client, {"pickup": "no-answer", "callback-digits-key": "digits"})
    _, callback, _ = call(client, receiver, cb_path)
    assert callback["digits"] == ""


def test_callback_extra_is_deep_merged_into_result(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    extra = {
        "result": {"code": 10.0, "duration": 12.5},
        "billing": {"units": 2},
        "instruction-id": None,
    }
    put(client, {"pickup": "answer", "keys": ["4821#"], "callback-extra": extra})
    entry, _, record = call(client, receiver, cb_path)
    [received] = receiver.received(cb_path)
    assert received.body == {
        "type": "dtmf-finished",
        "call-id": entry["call-id"],
        "instruction-id": None,
        "caller": "+31201234567",
        "callee": CALLEE,
        "digits": "4821",
        "result": {
            "code": 10.0,
            "description": "Finished successfully",
            "sip-disconnect-code": "BYE",
            "sip-disconnect-reason": "",
            "duration": 12.5,
        },
        "billing": {"units": 2},
    }
    assert b'"code":10.0' in received.raw  # a float on the wire, as the script said
    assert record["result"]["code"] == 10  # the record keeps the simulated result
    assert record["callback-body"] == received.body


def test_callback_extra_replaces_non_objects_and_follows_the_digits_key(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    put(
        client,
        {
            "pickup": "answer",
            "keys": ["4821#"],
            "callback-digits-key": "input",
            "callback-extra": {"result": "odd", "input": 4821},
        },
    )
    _, callback, _ = call(client, receiver, cb_path)
    assert callback["result"] == "odd"
    assert callback["input"] == 4821
    assert "digits" not in callback


# --- per-call ---------------------------------------------------------------------------


def test_per_call_counts_calls_and_repeats_the_last(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    put(
        client,
        {
            "callback-digits-key": "input",
            "per-call": [{"pickup": "no-answer"}, {"pickup": "answer", "keys": ["4821#"]}],
        },
    )
    seen = []
    for _ in range(3):
        _, callback, record = call(client, receiver, cb_path)
        seen.append(
            (record["script"]["call-number"], callback["result"]["code"], callback["input"])
        )
    assert seen == [(1, 9, ""), (2, 10, "4821"), (3, 10, "4821")]
    assert client.get(PATH).json()["call-count"] == 3


def test_a_new_put_replaces_the_script_and_restarts_the_count(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script = {"per-call": [{"pickup": "reject"}, {"pickup": "answer", "keys": ["4821#"]}]}
    put(client, script)
    first = [call(client, receiver, cb_path)[1]["result"]["code"] for _ in range(2)]
    assert first == [12, 10]
    put(client, script)
    assert client.get(PATH).json()["call-count"] == 0
    again = [call(client, receiver, cb_path)[1]["result"]["code"] for _ in range(2)]
    assert again == [12, 10]
    put(client, {"pickup": "fail"})  # a script without per-call replaces it too
    assert call(client, receiver, cb_path)[1]["result"]["code"] == 11


def test_delete_and_reset_forget_the_count(client: httpx.Client) -> None:
    script = {"per-call": [{"pickup": "reject"}, {"pickup": "fail"}]}
    put(client, script)
    [entry] = place(client, instruction())
    wait_settled(client, entry["call-id"])
    assert client.get(PATH).json()["call-count"] == 1
    assert client.delete(PATH).status_code == 204
    put(client, script)
    assert client.get(PATH).json()["call-count"] == 0
    [entry] = place(client, instruction())
    assert wait_settled(client, entry["call-id"])["script"]["call-number"] == 1


def test_calls_to_unscripted_numbers_do_not_count(client: httpx.Client) -> None:
    put(client, {"per-call": [{"pickup": "reject"}, {"pickup": "fail"}]})
    [other] = place(client, instruction(callee="+31612345679"))
    wait_settled(client, other["call-id"])
    assert client.get(PATH).json()["call-count"] == 0


def test_top_level_keys_are_defaults_of_every_entry(client: httpx.Client) -> None:
    body = {
        "pickup": "answer",
        "keys": ["11#"],
        "hangup-after-attempt": 1,
        "reply-callee-format": "omitted",
        "per-call": [
            {},
            {"keys": ["2222#"], "reply-callee-format": "no-plus"},
            {"hangup-after-attempt": None, "callback-extra": {"x": 1}},
        ],
    }
    shown = put(client, body)
    assert shown == {
        "callee": CALLEE,
        "pickup": "answer",
        "keys": ["11#"],
        "hangup-after-attempt": 1,
        "reply-callee-format": "omitted",
        "per-call": [
            {
                "pickup": "answer",
                "keys": ["11#"],
                "hangup-after-attempt": 1,
                "reply-callee-format": "omitted",
            },
            {
                "pickup": "answer",
                "keys": ["2222#"],
                "hangup-after-attempt": 1,
                "reply-callee-format": "no-plus",
            },
            {
                "pickup": "answer",
                "keys": ["11#"],
                "hangup-after-attempt": None,
                "reply-callee-format": "omitted",
                "callback-extra": {"x": 1},
            },
        ],
    }
    assert client.get("/_simulator/callees").json() == [shown]
    replies = [place(client, instruction())[0] for _ in range(3)]
    assert ["callee" in r for r in replies] == [False, True, False]
    records = [wait_settled(client, r["call-id"]) for r in replies]
    assert [r["digits"] for r in records] == ["11", "2222", ""]  # attempt 3 typed nothing
    # hangup-after-attempt 1 ends the call after one (invalid) attempt; cleared, 3 are made
    assert [len(r["attempts"]) for r in records] == [1, 1, 3]


def test_one_instruction_naming_a_callee_twice_makes_two_calls(client: httpx.Client) -> None:
    put(client, {"per-call": [{"pickup": "reject"}, {"pickup": "answer", "keys": ["4821#"]}]})
    reply = place(client, instruction(callee=None, callees=[CALLEE, CALLEE]))
    records = [wait_settled(client, entry["call-id"]) for entry in reply]
    assert [(r["script"]["call-number"], r["result"]["code"]) for r in records] == [
        (1, 12),
        (2, 10),
    ]


def test_programmatic_per_call(receiver: Receiver, cb_path: str) -> None:
    with started(time_scale=0) as (sim, c):
        sim.script_callee(
            "0031612345678",
            keys=["4821#"],
            reply_callee_format="national-00",
            callback_digits_key="dtmf",
            callback_extra={"result": {"duration": 1.5}},
            per_call=[{"pickup": "no-answer"}, {}],
        )
        replies = [place(c, instruction(callback_url=receiver.base + cb_path)) for _ in range(2)]
        assert [r[0]["callee"] for r in replies] == ["0031612345678"] * 2
        bodies = [r.body for r in receiver.wait(cb_path, 2)]
    by_call = {b["call-id"]: b for b in bodies}
    first, second = (by_call[r[0]["call-id"]] for r in replies)
    assert (first["result"]["code"], first["dtmf"], first["result"]["duration"]) == (9, "", 1.5)
    assert (second["result"]["code"], second["dtmf"]) == (10, "4821")


def test_programmatic_bad_values_raise() -> None:
    sim = Simulator(port=0)
    with pytest.raises(ScriptError) as raised:
        sim.script_callee(CALLEE, reply_delay_seconds=float("inf"), per_call=[{"pickup": 1}])
    assert set(raised.value.errors) == {"reply-delay-seconds", "per-call[0].pickup"}
    assert sim.store.scripts() == {}


# --- validation -------------------------------------------------------------------------

ANSWER: dict[str, Any] = {"pickup": "answer"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**ANSWER, "reply-callee-format": "E164"}, ["reply-callee-format"]),
        ({**ANSWER, "reply-callee-format": 0}, ["reply-callee-format"]),
        ({**ANSWER, "reply-delay-seconds": -1}, ["reply-delay-seconds"]),
        ({**ANSWER, "reply-delay-seconds": 301}, ["reply-delay-seconds"]),
        ({**ANSWER, "reply-delay-seconds": "2"}, ["reply-delay-seconds"]),
        ({**ANSWER, "reply-delay-seconds": True}, ["reply-delay-seconds"]),
        ({**ANSWER, "reply-drip-seconds": -0.5}, ["reply-drip-seconds"]),
        ({**ANSWER, "callback-extra": ["result"]}, ["callback-extra"]),
        ({**ANSWER, "callback-extra": "x"}, ["callback-extra"]),
        ({**ANSWER, "callback-digits-key": ""}, ["callback-digits-key"]),
        ({**ANSWER, "callback-digits-key": "call-id"}, ["callback-digits-key"]),
        ({**ANSWER, "callback-digits-key": 5}, ["callback-digits-key"]),
        ({**ANSWER, "callback-digits-key": "k" * 65}, ["callback-digits-key"]),
        ({"per-call": []}, ["per-call"]),
        ({"per-call": {"pickup": "answer"}}, ["per-call"]),
        ({"per-call": [ANSWER] * 51}, ["per-call"]),
        ({"per-call": [ANSWER, 1]}, ["per-call[1]"]),
        ({"per-call": [{"keys": ["1"]}]}, ["per-call[0].pickup"]),
        ({"per-call": [ANSWER, {"pickup": "maybe"}]}, ["per-call[1].pickup"]),
        ({"per-call": [{**ANSWER, "keys": ["12x"]}]}, ["per-call[0].keys[0]"]),
        ({"per-call": [{**ANSWER, "per-call": [ANSWER]}]}, ["per-call[0].per-call"]),
        ({"per-call": [{**ANSWER, "colour": "red"}]}, ["per-call[0].colour"]),
        (
            {"per-call": [{**ANSWER, "reply-delay-seconds": -1}]},
            ["per-call[0].reply-delay-seconds"],
        ),
        ({"pickup": "maybe", "per-call": [{}, {}]}, ["pickup"]),  # reported once, at the top
        ({**ANSWER, "reply_callee_format": "omitted"}, ["reply_callee_format"]),
    ],
)
def test_bad_values_are_refused_and_change_nothing(
    client: httpx.Client, body: dict[str, Any], fields: list[str]
) -> None:
    put(client, {"per-call": [{"pickup": "reject"}, {"pickup": "fail"}]})
    [entry] = place(client, instruction())
    wait_settled(client, entry["call-id"])
    before = client.get(PATH).json()
    response = client.put(PATH, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert sorted(response.json()["errors"]) == fields
    after = client.get(PATH).json()
    assert after == before
    assert after["call-count"] == 1


def test_per_call_null_means_no_per_call(client: httpx.Client) -> None:
    assert put(client, {"pickup": "reject", "per-call": None}) == {
        "callee": CALLEE,
        "pickup": "reject",
        "keys": [],
        "hangup-after-attempt": None,
    }


# --- logs -------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_logs_hide_callback_extra_values_and_keys_when_asked(
    receiver: Receiver, cb_path: str
) -> None:
    sim_logger = logging.getLogger("cm_simulator")
    handler = _Collect()
    sim_logger.addHandler(handler)
    level = sim_logger.level
    sim_logger.setLevel(logging.INFO)
    try:
        with started(time_scale=0, log_keys=False) as (sim, c):
            sim.script_callee(
                CALLEE,
                callback_extra={"digits": "987654"},
                per_call=[{"keys": ["987654#"]}],
            )
            place(c, instruction(callback_url=receiver.base + cb_path))
            receiver.wait(cb_path)
            assert sim.wait_until_settled()
    finally:
        sim_logger.removeHandler(handler)
        sim_logger.setLevel(level)
    text = "\n".join(handler.lines)
    assert "987654" not in text
    assert '"callback-extra": ["digits"]' in text
    assert "scripted (call 1) callee" in text
