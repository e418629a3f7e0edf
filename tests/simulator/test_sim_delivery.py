"""Callback delivery: retries with backoff, failures, duplicate and out-of-order modes."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from cm_simulator import Simulator
from cm_simulator.delivery import DeliveryPolicy, deliver, new_client

from .helpers import Receiver, instruction, place, wait_settled


def callback_url(receiver: Receiver, cb_path: str) -> str:
    return receiver.base + cb_path


def test_retries_on_5xx_until_delivered(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    receiver.respond(cb_path, [500, 503])
    call_id = place(client, instruction(callback_url=callback_url(receiver, cb_path)))[0]["call-id"]
    received = receiver.wait(cb_path, 3)
    assert [r.status for r in received] == [500, 503, 200]
    assert len({r.raw for r in received}) == 1  # the same body every time
    assert received[0].body["call-id"] == call_id
    record = wait_settled(client, call_id)
    assert record["state"] == "callback-delivered"
    assert [(c["attempt"], c["status"], c["error"]) for c in record["callbacks"]] == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 200, None),
    ]


def test_gives_up_after_the_configured_retries(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    assert client.put("/_simulator/settings", json={"callback-retries": 2}).status_code == 200
    receiver.respond(cb_path, [502] * 10)
    call_id = place(client, instruction(callback_url=callback_url(receiver, cb_path)))[0]["call-id"]
    record = wait_settled(client, call_id)
    assert record["state"] == "callback-failed"
    assert [c["status"] for c in record["callbacks"]] == [502, 502, 502]
    assert len(receiver.received(cb_path)) == 3


def test_zero_retries_means_one_attempt(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    client.put("/_simulator/settings", json={"callback-retries": 0})
    receiver.respond(cb_path, [500])
    call_id = place(client, instruction(callback_url=callback_url(receiver, cb_path)))[0]["call-id"]
    assert wait_settled(client, call_id)["state"] == "callback-failed"
    assert len(receiver.received(cb_path)) == 1


def test_4xx_is_retried_too(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    receiver.respond(cb_path, [404])
    call_id = place(client, instruction(callback_url=callback_url(receiver, cb_path)))[0]["call-id"]
    record = wait_settled(client, call_id)
    assert [c["status"] for c in record["callbacks"]] == [404, 200]
    assert record["state"] == "callback-delivered"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_errors_are_retried_and_recorded(client: httpx.Client) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/cb"
    call_id = place(client, instruction(callback_url=url))[0]["call-id"]
    record = wait_settled(client, call_id)
    assert record["state"] == "callback-failed"
    assert len(record["callbacks"]) == 4  # 1 + 3 retries (default)
    for entry in record["callbacks"]:
        assert entry["status"] is None
        assert "ConnectError" in entry["error"]


def test_callback_request_shape(client: httpx.Client, receiver: Receiver, cb_path: str) -> None:
    url = callback_url(receiver, cb_path) + "?k=Zq81xTr2"
    place(client, instruction(callback_url=url))
    [received] = receiver.wait(cb_path + "?k=Zq81xTr2")
    assert received.headers["content-type"].startswith("application/json")
    assert "x-cm-producttoken" not in received.headers  # callbacks are not signed
    assert received.body["type"] == "dtmf-finished"


def test_duplicate_mode_delivers_every_callback_twice(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    client.put("/_simulator/settings", json={"delivery": "duplicate"})
    receiver.respond(cb_path, [500])  # the first copy needs a retry
    call_id = place(client, instruction(callback_url=callback_url(receiver, cb_path)))[0]["call-id"]
    received = receiver.wait(cb_path, 3)
    record = wait_settled(client, call_id)
    assert [r.status for r in received] == [500, 200, 200]
    assert received[1].raw == received[2].raw
    assert [(c["copy"], c["attempt"], c["status"]) for c in record["callbacks"]] == [
        (1, 1, 500),
        (1, 2, 200),
        (2, 1, 200),
    ]
    assert record["state"] == "callback-delivered"


def test_out_of_order_mode_delivers_last_callee_first(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    client.put("/_simulator/settings", json={"delivery": "out-of-order"})
    numbers = ["+31612345671", "+31612345672", "+31612345673"]
    # make the first callee finish first: the others let it ring until the timeout
    client.put(f"/_simulator/callees/{numbers[1]}", json={"pickup": "no-answer"})
    client.put(f"/_simulator/callees/{numbers[2]}", json={"pickup": "no-answer"})
    reply = place(
        client,
        instruction(callee=None, callees=numbers, callback_url=callback_url(receiver, cb_path)),
    )
    received = receiver.wait(cb_path, 3)
    assert [r.body["callee"] for r in received] == list(reversed(numbers))
    assert [r.body["call-id"] for r in received] == [item["call-id"] for item in reversed(reply)]


def test_out_of_order_mode_single_callee_is_delivered_normally(
    client: httpx.Client, receiver: Receiver, cb_path: str
) -> None:
    client.put("/_simulator/settings", json={"delivery": "out-of-order"})
    place(client, instruction(callback_url=callback_url(receiver, cb_path)))
    assert len(receiver.wait(cb_path)) == 1


def test_constructor_settings(receiver: Receiver, cb_path: str) -> None:
    with Simulator(
        port=0, product_tokens=["t"], time_scale=0, callback_retries=1, delivery_mode="duplicate"
    ) as custom:
        assert custom.settings() == {
            "time-scale": 0.0,
            "callback-retries": 1,
            "delivery": "duplicate",
            "retry-backoff-ms": 1000,
        }
        receiver.respond(cb_path, [500, 500, 500, 500])
        with httpx.Client(
            base_url=custom.url, headers={"X-CM-PRODUCTTOKEN": "t"}, trust_env=False
        ) as c:
            call_id = place(c, instruction(callback_url=callback_url(receiver, cb_path)))[0][
                "call-id"
            ]
            record = wait_settled(c, call_id)
        assert [c["status"] for c in record["callbacks"]] == [500, 500, 500, 500]  # 2 copies x 2
        assert record["state"] == "callback-failed"


def test_deliver_stops_when_cancelled(receiver: Receiver, cb_path: str) -> None:
    cancel = threading.Event()
    cancel.set()
    seen: list[dict[str, object]] = []
    with new_client(5.0) as http:
        ok = deliver(
            http,
            receiver.base + cb_path,
            {"type": "dtmf-finished"},
            policy=DeliveryPolicy(retries=3, backoff_ms=0, time_scale=0),
            cancel=cancel,
            on_attempt=seen.append,
            label="test",
        )
    assert ok is False
    assert seen == []


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 0.002), (2, 0.004), (3, 0.008)])
def test_backoff_doubles_and_is_scaled(attempt: int, seconds: float) -> None:
    policy = DeliveryPolicy(retries=3, backoff_ms=1000, time_scale=0.002)
    assert policy.backoff_seconds(attempt) == pytest.approx(seconds)
