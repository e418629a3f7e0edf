"""The /_simulator scripting API and the programmatic Simulator API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cm_simulator import DEFAULT_PRODUCT_TOKEN, MAGIC_NUMBERS, Pickup, Simulator
from cm_simulator.scripts import ScriptError

from .helpers import Receiver, instruction, place, started, wait_settled


def test_put_script_returns_the_normalized_script(client: httpx.Client) -> None:
    response = client.put(
        "/_simulator/callees/+31612345678",
        json={"pickup": "answer", "keys": ["12#", "1234#"], "hangup-after-attempt": 2},
    )
    assert response.status_code == 200
    assert response.json() == {
        "callee": "+31612345678",
        "pickup": "answer",
        "keys": ["12#", "1234#"],
        "hangup-after-attempt": 2,
    }


def test_only_pickup_is_required(client: httpx.Client) -> None:
    response = client.put("/_simulator/callees/+31612345678", json={"pickup": "no-answer"})
    assert response.json() == {
        "callee": "+31612345678",
        "pickup": "no-answer",
        "keys": [],
        "hangup-after-attempt": None,
    }


@pytest.mark.parametrize(
    "path_number", ["+31612345678", "%2B31612345678", "31612345678", "0031612345678"]
)
def test_number_forms_in_the_path(client: httpx.Client, path_number: str) -> None:
    response = client.put(f"/_simulator/callees/{path_number}", json={"pickup": "reject"})
    assert response.status_code == 200
    assert response.json()["callee"] == "+31612345678"


def test_lower_case_keys_a_to_d_are_accepted(client: httpx.Client) -> None:
    response = client.put(
        "/_simulator/callees/+31612345678", json={"pickup": "answer", "keys": ["1a*#"]}
    )
    assert response.json()["keys"] == ["1A*#"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "pickup"),
        ({"pickup": "maybe"}, "pickup"),
        ({"pickup": 1}, "pickup"),
        ({"pickup": "answer", "keys": "1234#"}, "keys"),
        ({"pickup": "answer", "keys": ["12x"]}, "keys[0]"),
        ({"pickup": "answer", "keys": ["1", 2]}, "keys[1]"),
        ({"pickup": "answer", "keys": ["1" * 201]}, "keys[0]"),
        ({"pickup": "answer", "hangup-after-attempt": -1}, "hangup-after-attempt"),
        ({"pickup": "answer", "hangup-after-attempt": "2"}, "hangup-after-attempt"),
        ({"pickup": "answer", "hangup_after_attempt": 2}, "hangup_after_attempt"),
        ([], "$"),
    ],
)
def test_bad_scripts_are_refused(client: httpx.Client, body: Any, field: str) -> None:
    response = client.put("/_simulator/callees/+31612345678", json=body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert client.get("/_simulator/callees").json() == []


def test_bad_number_or_json_is_refused(client: httpx.Client) -> None:
    assert (
        client.put("/_simulator/callees/0612345678", json={"pickup": "answer"}).status_code == 400
    )
    response = client.put(
        "/_simulator/callees/+31612345678",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert client.put("/_simulator/callees/+31612345678").status_code == 400  # no body


def test_list_describe_and_delete_scripts(client: httpx.Client) -> None:
    client.put("/_simulator/callees/+31612345678", json={"pickup": "fail"})
    assert client.get("/_simulator/callees").json() == [
        {"callee": "+31612345678", "pickup": "fail", "keys": [], "hangup-after-attempt": None}
    ]
    assert client.get("/_simulator/callees/+31612345678").json()["source"] == "script"
    magic = client.get("/_simulator/callees/+31612345001").json()
    assert magic == {
        "callee": "+31612345001",
        "source": "magic",
        "behaviour": MAGIC_NUMBERS["+31612345001"].value,
    }
    assert client.get("/_simulator/callees/+31699999999").json()["source"] == "default"
    assert client.delete("/_simulator/callees/+31612345678").status_code == 204
    assert client.delete("/_simulator/callees/+31612345678").status_code == 404
    assert client.get("/_simulator/callees").json() == []


def test_calls_list_and_filters(client: httpx.Client) -> None:
    a = place(client, instruction(callee="+31612345671", instruction_id="a"))[0]["call-id"]
    b = place(client, instruction(callee="+31612345672", instruction_id="b"))[0]["call-id"]
    wait_settled(client, a)
    wait_settled(client, b)
    calls = client.get("/_simulator/calls").json()
    assert [c["call-id"] for c in calls] == [a, b]
    for record in calls:
        for key in (
            "call-id",
            "instruction-id",
            "callee",
            "callback-url",
            "instruction",
            "state",
            "callbacks",
        ):
            assert key in record
    # a literal '+' in the query is a plus, and %2B works too
    assert [c["call-id"] for c in client.get("/_simulator/calls?callee=+31612345672").json()] == [b]
    assert [c["call-id"] for c in client.get("/_simulator/calls?callee=%2B31612345671").json()] == [
        a
    ]
    assert [
        c["call-id"] for c in client.get("/_simulator/calls", params={"instruction-id": "b"}).json()
    ] == [b]
    assert len(client.get("/_simulator/calls", params={"state": "no-callback"}).json()) == 2
    assert client.get("/_simulator/calls", params={"colour": "red"}).status_code == 400


def test_single_call_lookup(client: httpx.Client) -> None:
    call_id = place(client, instruction())[0]["call-id"]
    assert client.get(f"/_simulator/calls/{call_id}").json()["call-id"] == call_id
    assert client.get(f"/_simulator/calls/{call_id.upper()}").status_code == 200
    assert client.get("/_simulator/calls/00000000-0000-0000-0000-000000000000").status_code == 404


def test_delete_resets_scripts_history_and_settings(client: httpx.Client) -> None:
    client.put("/_simulator/callees/+31612345678", json={"pickup": "reject"})
    client.put("/_simulator/settings", json={"delivery": "duplicate", "callback-retries": 7})
    call_id = place(client, instruction())[0]["call-id"]
    wait_settled(client, call_id)
    assert client.delete("/_simulator").status_code == 204
    assert client.get("/_simulator/calls").json() == []
    assert client.get("/_simulator/callees").json() == []
    assert client.get("/_simulator/settings").json()["delivery"] == "normal"
    assert client.get("/_simulator/settings").json()["callback-retries"] == 3


def test_reset_aborts_running_calls_without_callbacks(receiver: Receiver, cb_path: str) -> None:
    with started(time_scale=1.0) as (slow, c):
        place(c, instruction(callback_url=receiver.base + cb_path))
        c.delete("/_simulator")
        assert slow.wait_until_settled(timeout=2.0)
    assert receiver.received(cb_path) == []


def test_settings_api(client: httpx.Client) -> None:
    assert client.get("/_simulator/settings").json() == {
        "time-scale": 0.0001,
        "callback-retries": 3,
        "delivery": "normal",
        "retry-backoff-ms": 1000,
    }
    changed = client.put(
        "/_simulator/settings",
        json={
            "time-scale": 0,
            "callback-retries": 5,
            "delivery": "out-of-order",
            "retry-backoff-ms": 10,
        },
    )
    assert changed.json() == {
        "time-scale": 0.0,
        "callback-retries": 5,
        "delivery": "out-of-order",
        "retry-backoff-ms": 10,
    }
    bad = client.put(
        "/_simulator/settings",
        json={"time-scale": -1, "callback-retries": 21, "delivery": "carrier-pigeon", "speed": 1},
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"time-scale", "callback-retries", "delivery", "speed"}


def test_info(client: httpx.Client, sim: Simulator) -> None:
    info = client.get("/_simulator").json()
    assert info["url"] == sim.url
    assert info["endpoint"] == "POST /voiceapi/v2/DTMF"
    assert set(info["magic-numbers"]) == set(MAGIC_NUMBERS)
    assert "valid answer" in info["default-behaviour"]


def test_wrong_methods_and_unknown_paths(client: httpx.Client) -> None:
    response = client.post("/_simulator/calls", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert client.put("/_simulator", json={}).status_code == 405
    assert client.get("/_simulator/nothing-here").status_code == 404
    assert client.get("/_simulator/callees/+31612345678/extra").status_code == 404


def test_scripting_needs_no_product_token(sim: Simulator, anonymous_client: httpx.Client) -> None:
    assert (
        anonymous_client.put(
            "/_simulator/callees/+31612345678", json={"pickup": "fail"}
        ).status_code
        == 200
    )


# --- programmatic API -------------------------------------------------------------------


def test_programmatic_api(receiver: Receiver, cb_path: str) -> None:
    sim = Simulator(host="127.0.0.1", port=0, product_tokens=["tok"], time_scale=0)
    assert not sim.running
    with sim:
        assert sim.running
        assert sim.port > 0
        assert sim.url == f"http://127.0.0.1:{sim.port}"
        assert sim.product_tokens == ("tok",)
        number = sim.script_callee("0031612345678", Pickup.ANSWER, keys=["9999#"])
        assert number == "+31612345678"
        with httpx.Client(
            base_url=sim.url, headers={"X-CM-PRODUCTTOKEN": "tok"}, trust_env=False
        ) as c:
            call_id = place(c, instruction(callback_url=receiver.base + cb_path))[0]["call-id"]
        [received] = receiver.wait(cb_path)
        assert received.body["digits"] == "9999"
        assert sim.wait_until_settled()
        assert [r["call-id"] for r in sim.calls(callee="+31612345678")] == [call_id]
        assert [r["call-id"] for r in sim.calls(instruction_id="order-7781-pin")] == [call_id]
        record = sim.call(call_id)
        assert record is not None
        assert record["state"] == "callback-delivered"
        assert sim.forget_callee("+31612345678") is True
        assert sim.forget_callee("+31612345678") is False
        sim.reset()
        assert sim.calls() == []
    assert not sim.running
    sim.stop()  # stopping twice is harmless


def test_default_token_and_restart() -> None:
    sim = Simulator(port=0, time_scale=0)
    assert sim.product_tokens == (DEFAULT_PRODUCT_TOKEN,)
    for _ in range(2):  # start/stop/start works
        with sim, httpx.Client(base_url=sim.url, trust_env=False) as c:
            response = c.post(
                "/voiceapi/v2/DTMF",
                json=instruction(),
                headers={"X-CM-PRODUCTTOKEN": DEFAULT_PRODUCT_TOKEN},
            )
            assert response.status_code == 200


def test_script_callee_rejects_bad_input() -> None:
    sim = Simulator(port=0)
    with pytest.raises(TypeError):
        sim.script_callee("+31612345678", keys="1234#")
    with pytest.raises(ScriptError):
        sim.script_callee("+31612345678", keys=["12x"])
    with pytest.raises(ScriptError):
        sim.script_callee("not a number")
    with pytest.raises(ValueError, match="sometimes"):
        sim.script_callee("+31612345678", "sometimes")


@pytest.mark.parametrize(
    "kwargs",
    [{"time_scale": -1}, {"callback_retries": -1}, {"callback_retries": 21}, {"max_callees": 0}],
)
def test_constructor_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Simulator(port=0, **kwargs)


def test_port_in_use_raises_oserror() -> None:
    with Simulator(port=0) as first, pytest.raises(OSError, match="in use"):
        Simulator(port=first.port).start()
