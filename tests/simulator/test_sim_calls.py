"""Every call-flow branch of contract §4, end to end: POST the instruction, receive the
``dtmf-finished`` callback, assert its exact body."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from cm_simulator import MAGIC_NUMBERS

from .helpers import CALLER, Receiver, instruction, place, started, wait_settled, wait_until

CALLEE = "+31612345678"
FINISHED = {
    "code": 10,
    "description": "Finished successfully",
    "sip-disconnect-code": "BYE",
    "sip-disconnect-reason": "",
}
CANCELLED = {
    "code": 9,
    "description": "Cancelled",
    "sip-disconnect-code": "487",
    "sip-disconnect-reason": "Request Terminated",
}
FAILED = {
    "code": 11,
    "description": "Failed",
    "sip-disconnect-code": "503",
    "sip-disconnect-reason": "Service Unavailable",
}
REJECTED = {
    "code": 12,
    "description": "Call rejected",
    "sip-disconnect-code": "486",
    "sip-disconnect-reason": "Busy Here",
}


def script(client: httpx.Client, number: str, **body: Any) -> None:
    response = client.put(f"/_simulator/callees/{number}", json=body)
    assert response.status_code == 200, response.text


def run_call(
    client: httpx.Client,
    receiver: Receiver,
    cb_path: str,
    callee: str = CALLEE,
    **fields: Any,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Place one call; return (call-id, the callback body, the settled call record)."""
    body = instruction(callee=callee, callback_url=receiver.base + cb_path, **fields)
    reply = place(client, body)
    assert len(reply) == 1
    call_id = reply[0]["call-id"]
    [received] = receiver.wait(cb_path)
    record = wait_settled(client, call_id)
    return call_id, received.body, record


def expected(
    call_id: str, digits: str, result: dict[str, Any], callee: str = CALLEE
) -> dict[str, Any]:
    return {
        "type": "dtmf-finished",
        "call-id": call_id,
        "instruction-id": "order-7781-pin",
        "caller": CALLER,
        "callee": callee,
        "digits": digits,
        "result": result,
    }


def attempts(record: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(a["digits"], a["ended-by"], a["valid"]) for a in record["attempts"]]


def test_valid_on_first_attempt(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="answer", keys=["1234#"])
    call_id, body, record = run_call(client, receiver, cb_path, max_digits=6)
    assert body == expected(call_id, "1234", FINISHED)
    assert attempts(record) == [("1234", "terminator", True)]
    assert record["state"] == "callback-delivered"
    assert [e["event"] for e in record["events"]] == [
        "ringing",
        "answered",
        "prompt",
        "attempt",
        "valid-prompt",
        "hangup",
    ]


def test_valid_on_last_attempt(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="answer", keys=["1#", "12#", "1234#"])
    call_id, body, record = run_call(client, receiver, cb_path, max_attempts=3)
    assert body == expected(call_id, "1234", FINISHED)
    assert attempts(record) == [
        ("1", "terminator", False),
        ("12", "terminator", False),
        ("1234", "max-digits", True),
    ]


def test_all_attempts_invalid_reports_the_last_attempt(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="answer", keys=["1#", "12345#", "98#", "1234#"])
    call_id, body, record = run_call(
        client, receiver, cb_path, max_attempts=3, max_digits=6, regex="[0-9]{4}"
    )
    assert body == expected(call_id, "98", FINISHED)
    assert [a[2] for a in attempts(record)] == [False, False, False]
    assert len(record["attempts"]) == 3  # the 4th scripted entry is never used


def test_regex_must_match_fully(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="answer", keys=["12345#", "0612#"])
    call_id, body, record = run_call(
        client, receiver, cb_path, min_digits=1, max_digits=8, max_attempts=2, regex="06[0-9]{2}"
    )
    assert body == expected(call_id, "0612", FINISHED)
    assert [a[2] for a in attempts(record)] == [False, True]


def test_timeout_with_no_keys(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="answer", keys=[""])
    call_id, body, record = run_call(client, receiver, cb_path, max_attempts=2)
    assert body == expected(call_id, "", FINISHED)
    assert attempts(record) == [("", "timeout", False), ("", "timeout", False)]


def test_scripted_callee_without_keys_types_nothing(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="answer")
    call_id, body, _ = run_call(client, receiver, cb_path, max_attempts=1)
    assert body == expected(call_id, "", FINISHED)


def test_keys_without_terminator_end_by_timeout(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="answer", keys=["1234"])
    call_id, body, record = run_call(client, receiver, cb_path, max_digits=8, min_digits=4)
    assert body == expected(call_id, "1234", FINISHED)
    assert attempts(record) == [("1234", "timeout", True)]


@pytest.mark.parametrize(
    ("terminators", "keys", "digits", "regex"),
    [
        ("#", "12#34#", "12", "[0-9]+"),  # keys after the terminator are discarded
        ("*#", "12*", "12", "[0-9]+"),
        ("*", "12#4*", "12#4", "[0-9#]+"),  # '#' is an ordinary key when not a terminator
        ("", "12#4", "12#4", "[0-9#]+"),  # no terminators: input ends by timeout
        ("#", "#", "", None),  # terminator alone: empty input
    ],
)
def test_terminator_handling(
    client: httpx.Client,
    receiver: Receiver,
    cb_path: str,
    *,
    terminators: str,
    keys: str,
    digits: str,
    regex: str | None,
) -> None:
    script(client, CALLEE, pickup="answer", keys=[keys])
    call_id, body, _ = run_call(
        client,
        receiver,
        cb_path,
        terminators=terminators,
        min_digits=1,
        max_digits=10,
        max_attempts=1,
        regex=regex,
    )
    assert body == expected(call_id, digits, FINISHED)


def test_max_digits_reached_without_terminator(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="answer", keys=["123456#"])
    call_id, body, record = run_call(client, receiver, cb_path, max_digits=4, min_digits=4)
    assert body == expected(call_id, "1234", FINISHED)
    assert attempts(record) == [("1234", "max-digits", True)]


def test_no_answer(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="no-answer", keys=["1234#"])
    call_id, body, record = run_call(client, receiver, cb_path, max_ringing_timeout=10)
    assert body == expected(call_id, "", CANCELLED)
    assert record["attempts"] == []
    assert [e["event"] for e in record["events"]] == ["ringing", "no-answer"]
    assert record["events"][-1]["simulated-ms"] == 10_000


def test_reject(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="reject")
    call_id, body, record = run_call(client, receiver, cb_path)
    assert body == expected(call_id, "", REJECTED)
    assert record["attempts"] == []


def test_fail(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    script(client, CALLEE, pickup="fail")
    call_id, body, _ = run_call(client, receiver, cb_path)
    assert body == expected(call_id, "", FAILED)


def test_early_hangup_after_an_attempt(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(
        client, CALLEE, pickup="answer", keys=["1#", "12", "1234#"], **{"hangup-after-attempt": 2}
    )
    call_id, body, record = run_call(client, receiver, cb_path, max_attempts=3)
    assert body == expected(call_id, "12", FINISHED)
    assert attempts(record) == [("1", "terminator", False), ("12", "hangup", False)]
    assert record["attempts"][-1]["callee-hung-up"] is True
    assert record["events"][-1]["text"] == "callee hung up"


def test_early_hangup_during_the_prompt(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="answer", keys=["1234#"], **{"hangup-after-attempt": 0})
    call_id, body, record = run_call(client, receiver, cb_path)
    assert body == expected(call_id, "", FINISHED)
    assert record["attempts"] == []


def test_unscripted_callee_types_a_valid_answer(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    call_id, body, record = run_call(
        client, receiver, cb_path, min_digits=6, max_digits=6, regex=None
    )
    assert body == expected(call_id, "123456", FINISHED)
    assert record["script"]["source"] == "default"


def test_null_instruction_id_is_echoed_as_null(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    body = instruction(callback_url=receiver.base + cb_path, instruction_id=None)
    call_id = place(client, body)[0]["call-id"]
    [received] = receiver.wait(cb_path)
    assert received.body["instruction-id"] is None
    assert received.body["call-id"] == call_id


def test_00_prefix_callee_is_echoed_as_given_and_scripted_as_plus(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, "+31612345678", pickup="reject")
    call_id, body, _ = run_call(client, receiver, cb_path, callee="0031612345678")
    assert body == expected(call_id, "", REJECTED, callee="0031612345678")


@pytest.mark.parametrize(
    ("number", "result", "digits"),
    [
        ("+31612345001", CANCELLED, ""),
        ("+31612345002", REJECTED, ""),
        ("+31612345003", FAILED, ""),
        ("+31612345004", FINISHED, ""),
        ("+31612345005", FINISHED, "123"),
        ("+31612345006", FINISHED, "1234"),
        ("+31612345007", FINISHED, ""),
    ],
)
def test_magic_numbers(
    client: httpx.Client,
    receiver: Receiver,
    cb_path: str,
    *,
    number: str,
    result: dict[str, Any],
    digits: str,
) -> None:
    assert number in MAGIC_NUMBERS
    call_id, body, record = run_call(client, receiver, cb_path, callee=number)
    assert body == expected(call_id, digits, result, callee=number)
    assert record["script"]["source"] == "magic"


def test_magic_number_005_is_invalid_every_time(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    _, _, record = run_call(client, receiver, cb_path, callee="+31612345005", max_attempts=3)
    assert [a[2] for a in attempts(record)] == [False, False, False]
    _, _, record = run_call(client, receiver, cb_path + "x", callee="+31612345006", max_attempts=3)
    assert [a[2] for a in attempts(record)] == [False, False, True]


def test_a_script_overrides_a_magic_number(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, "+31612345001", pickup="answer", keys=["4321#"])
    call_id, body, _ = run_call(client, receiver, cb_path, callee="+31612345001")
    assert body == expected(call_id, "4321", FINISHED, callee="+31612345001")


def test_a_script_applies_to_every_later_call_until_changed(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    script(client, CALLEE, pickup="reject")
    _, first, _ = run_call(client, receiver, cb_path + "1")
    _, second, _ = run_call(client, receiver, cb_path + "2")
    script(client, CALLEE, pickup="answer", keys=["5555#"])
    _, third, _ = run_call(client, receiver, cb_path + "3")
    assert [b["result"]["code"] for b in (first, second, third)] == [12, 12, 10]
    assert third["digits"] == "5555"


def test_multiple_callees_get_one_callback_each(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    numbers = ["+31612345678", "+31612345002", "+31612345001"]
    reply = place(
        client, instruction(callee=None, callees=numbers, callback_url=receiver.base + cb_path)
    )
    received = receiver.wait(cb_path, 3)
    by_id = {r.body["call-id"]: r.body for r in received}
    assert len(received) == 3
    for item in reply:
        body = by_id[item["call-id"]]
        assert body["callee"] == item["callee"]
    codes = {
        by_id[item["call-id"]]["callee"]: by_id[item["call-id"]]["result"]["code"] for item in reply
    }
    assert codes == {"+31612345678": 10, "+31612345002": 12, "+31612345001": 9}


def test_invalid_callee_skipped_gets_no_callback(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    body = instruction(
        callee=None,
        callees=["+31612345678", "12345"],
        disable_callees_validation=True,
        callback_url=receiver.base + cb_path,
    )
    reply = place(client, body)
    receiver.wait(cb_path)
    wait_settled(client, reply[0]["call-id"])
    assert [r.body["call-id"] for r in receiver.received(cb_path)] == [reply[0]["call-id"]]


def test_no_callback_url_means_no_delivery(client: httpx.Client) -> None:
    call_id = place(client, instruction())[0]["call-id"]
    record = wait_settled(client, call_id)
    assert record["state"] == "no-callback"
    assert record["callbacks"] == []
    assert record["callback-body"]["digits"] == "1234"


def test_call_record_fields(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    sent = instruction(callback_url=receiver.base + cb_path, some_unknown_key=[1, 2])
    call_id = place(client, sent)[0]["call-id"]
    receiver.wait(cb_path)
    record = wait_settled(client, call_id)
    assert record["call-id"] == call_id
    assert record["instruction-id"] == "order-7781-pin"
    assert record["callee"] == CALLEE
    assert record["caller"] == CALLER
    assert record["callback-url"] == receiver.base + cb_path
    assert record["instruction"] == sent
    assert record["state"] == "callback-delivered"
    assert record["digits"] == "1234"
    assert record["result"] == FINISHED
    assert record["callback-body"] == expected(call_id, "1234", FINISHED)
    [delivery] = record["callbacks"]
    assert delivery["attempt"] == 1
    assert delivery["status"] == 200
    assert delivery["error"] is None
    assert delivery["at"].endswith("Z")


def test_the_reply_comes_before_the_call_progresses() -> None:
    """At real time (scale 1) a call is still queued or ringing when the reply arrives;
    stopping the simulator aborts it."""
    with started(time_scale=1.0, shutdown_grace=0.5) as (slow, c):
        slow.script_callee(CALLEE, "no-answer")
        call_id = place(c, instruction())[0]["call-id"]
        record = slow.call(call_id)
        assert record is not None
        assert record["state"] in {"queued", "ringing"}
        wait_until(lambda: (r := slow.call(call_id)) and r["state"] == "ringing")
    record = slow.call(call_id)
    assert record is not None
    assert record["state"] == "aborted"


def test_pathological_regex_does_not_hang_the_simulator(receiver: Receiver, cb_path: str) -> None:
    with started(time_scale=0, regex_timeout=0.3) as (guarded, c):
        guarded.script_callee(CALLEE, keys=["0" * 40 + "#"])
        body = instruction(
            callback_url=receiver.base + cb_path,
            regex="(0+)+1",
            min_digits=1,
            max_digits=64,
            max_attempts=1,
        )
        call_id = place(c, body)[0]["call-id"]
        began = time.monotonic()
        # the server keeps answering while the pattern is being evaluated
        assert c.get("/_simulator/calls").status_code == 200
        assert time.monotonic() - began < 5
        [received] = receiver.wait(cb_path)
        assert received.body == expected(call_id, "0" * 40, FINISHED)
        record = guarded.call(call_id)
        assert record is not None
        assert record["attempts"][0]["valid"] is False


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("log_keys", [True, False])
def test_logs_mask_numbers_and_optionally_keys(
    receiver: Receiver, cb_path: str, *, log_keys: bool
) -> None:
    sim_logger = logging.getLogger("cm_simulator")
    handler = _Collect()
    sim_logger.addHandler(handler)
    level = sim_logger.level
    sim_logger.setLevel(logging.INFO)
    try:
        with started(time_scale=0, log_keys=log_keys) as (sim, c):
            sim.script_callee(CALLEE, keys=["987654#"])  # 6 digits: no port number contains them
            body = instruction(callback_url=receiver.base + cb_path, max_digits=8, regex="[0-9]{6}")
            call_id = place(c, body)[0]["call-id"]
            receiver.wait(cb_path)
            assert sim.wait_until_settled()
            c.post("/voiceapi/v2/DTMF", json=instruction(callee="0612345678"))
    finally:
        sim_logger.removeHandler(handler)
        sim_logger.setLevel(level)
    text = "\n".join(handler.lines)
    assert f"call {call_id[:8]} +31******678: answered" in text
    assert "request refused (400): bad callee" in text
    assert "612345678" not in text
    assert ("987654" in text) is log_keys
    if not log_keys:
        assert "attempt 1: 7 key(s) -> 6 digit(s) (terminator) valid" in text
