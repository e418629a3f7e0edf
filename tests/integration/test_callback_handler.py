"""POST /v1/callbacks/cm/{instruction-id}?token=… and GET /v1/dtmf-calls/{id}, in-process."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.cm import queued
from devtools.lambdas import http_event
from dtmf_gateway.domain.signing import SigningKeys, callback_token
from tests.conftest import PREVIOUS_SIGNING_KEY
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import invoke_http

INSTRUCTION = "order-7781-pin"


def token_of(cm: Any, index: int = 0) -> str:
    url = urlsplit(cm.bodies()[index]["callback-url"])
    return parse_qs(url.query)["token"][0]


def callback_body(
    call_id: str, code: int = 10, digits: str | None = "4821", **extra: Any
) -> dict[str, Any]:
    descriptions = {9: "Cancelled", 10: "Finished successfully", 11: "Failed", 12: "Call rejected"}
    body: dict[str, Any] = {
        "type": "dtmf-finished",
        "call-id": call_id,
        "instruction-id": INSTRUCTION,
        "caller": "+31201234567",
        "callee": "+31612345678",
        "result": {"code": code, "description": descriptions.get(code, "Other")},
        **extra,
    }
    if digits is not None:
        body["digits"] = digits
    return body


def deliver(
    module: Any,
    body: Any,
    token: str | None,
    instruction_id: str = INSTRUCTION,
    raw: str | None = None,
) -> Any:
    event = http_event(
        "cm_callback.json",
        body=body,
        raw_body=raw,
        path_parameters={"instruction-id": instruction_id},
        query={"token": token} if token is not None else {},
        path=f"/callbacks/cm/{instruction_id}",
    )
    return invoke_http(module, event)


def read(module: Any, instruction_id: str = INSTRUCTION, user_arn: str | None = None) -> Any:
    event = http_event(
        "get_call.json",
        path_parameters={"instruction-id": instruction_id},
        user_arn=user_arn,
        path=f"/dtmf-calls/{instruction_id}",
    )
    return invoke_http(module, event)


@pytest.fixture
def placed(place_call: Any, cm: Any) -> dict[str, str]:
    result = post(place_call, sample_body())
    assert result.status == 202
    return {"call_id": result.body["calls"][0]["call-id"], "token": token_of(cm)}


# ------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    ("code", "digits", "outcome"),
    [
        (10, "4821", "input-received"),
        (10, "12", "invalid-input"),
        (10, "48a1", "invalid-input"),
        (10, "", "no-input"),
        (10, None, "no-input"),
        (9, None, "unanswered"),
        (11, None, "failed"),
        (12, "", "rejected"),
        (13, None, "failed"),
    ],
)
def test_each_result_code_records_its_outcome(
    placed: dict[str, str],
    cm_callback: Any,
    get_call: Any,
    code: int,
    digits: str | None,
    outcome: str,
) -> None:
    body = callback_body(placed["call_id"], code, digits)

    response = deliver(cm_callback, body, placed["token"])

    assert response.status == 200
    assert response.body == {"status": "recorded"}
    [call] = read(get_call).body["calls"]
    assert call["status"] == "finished"
    assert call["outcome"] == outcome
    assert call["digits"] == (digits or None)
    assert call["result"] == body["result"]
    assert call["finished-at"] and call["queued-at"]


def test_finished_call_keeps_its_pending_index_entry(
    placed: dict[str, str], cm_callback: Any, function_env: Any
) -> None:
    """Issue 15: ending a call writes no index entry (the expirer skips it as ended)."""
    [before] = [i for i in function_env.items() if i["sk"].startswith("call#")]

    deliver(cm_callback, callback_body(placed["call_id"]), placed["token"])

    [call] = [i for i in function_env.items() if i["sk"].startswith("call#")]
    assert call["status"] == "finished"
    assert (call["pending-shard"], call["stale-at"]) == (
        before["pending-shard"],
        before["stale-at"],
    )


# ------------------------------------------------------------------ exactly once


def test_duplicate_storm_records_one_result(
    placed: dict[str, str], cm_callback: Any, function_env: Any
) -> None:
    body = callback_body(placed["call_id"])
    first = deliver(cm_callback, body, placed["token"])
    after_first = function_env.items()

    repeats = [deliver(cm_callback, body, placed["token"]) for _ in range(10)]

    assert first.body == {"status": "recorded"}
    assert {(r.status, r.body["status"]) for r in repeats} == {(200, "duplicate")}
    assert function_env.items() == after_first


# Threads share the module's Metrics (Lambda never does): one flush empties the other's set.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_concurrent_duplicates_record_one_result(
    placed: dict[str, str], cm_callback: Any, get_call: Any
) -> None:
    body = callback_body(placed["call_id"])
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(deliver(cm_callback, body, placed["token"])))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(r.body["status"] for r in results)
    assert statuses == ["duplicate"] * 7 + ["recorded"]
    assert read(get_call).body["calls"][0]["outcome"] == "input-received"


def test_a_later_different_callback_does_not_overwrite_the_first(
    placed: dict[str, str], cm_callback: Any, get_call: Any
) -> None:
    deliver(cm_callback, callback_body(placed["call_id"], 10, "4821"), placed["token"])

    late = deliver(cm_callback, callback_body(placed["call_id"], 9, None), placed["token"])

    assert late.body == {"status": "duplicate"}
    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", "4821")


def test_callbacks_in_reverse_order_are_all_recorded(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    body = sample_body()
    del body["callee"]
    body["callees"] = ["+31612345678", "+447400123456"]
    placed = post(place_call, body).body["calls"]
    token = token_of(cm)

    for call in reversed(placed):
        answer = callback_body(call["call-id"], 10, "1234", callee=call["callee"])
        assert deliver(cm_callback, answer, token).body == {"status": "recorded"}

    view = read(get_call).body
    assert view["status"] == "finished"
    assert [c["outcome"] for c in view["calls"]] == ["input-received", "input-received"]
    assert [c["callee"] for c in view["calls"]] == body["callees"]


def test_callback_that_overtakes_the_placement_is_kept(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, function_env: Any
) -> None:
    early: list[Any] = []

    def reply_after_calling_back(sent: dict[str, Any]) -> httpx.Response:
        reply = queued(sent)
        call_id = reply.json()[0]["call-id"]
        token = parse_qs(urlsplit(sent["callback-url"]).query)["token"][0]
        early.append(deliver(cm_callback, callback_body(call_id, 10, "4821"), token))
        return reply

    cm.replies = [reply_after_calling_back]

    placed = post(place_call, sample_body())

    assert placed.status == 202
    assert early[0].body == {"status": "held"}  # until the placement confirms the call
    view = read(get_call).body
    assert view["status"] == "finished"
    [call] = view["calls"]
    assert (call["status"], call["outcome"], call["digits"]) == (
        "finished",
        "input-received",
        "4821",
    )
    [item] = [i for i in function_env.items() if i["sk"].startswith("call#")]
    assert item["metadata"] == {"order-id": "7781", "purpose": "pin-check"}
    assert "hold" not in item  # confirmed by the placement: released, published


# ------------------------------------------------------------------ refusals write nothing


@pytest.mark.parametrize("token", [None, "", "x" * 43, "not-a-token"])
def test_missing_or_wrong_token_is_403(
    placed: dict[str, str], cm_callback: Any, function_env: Any, token: str | None
) -> None:
    before = function_env.items()

    response = deliver(cm_callback, callback_body(placed["call_id"]), token)

    assert response.status == 403
    assert response.problem["detail"] == "The callback token is missing or not valid."
    assert function_env.items() == before


def test_token_of_another_instruction_is_403(
    placed: dict[str, str], place_call: Any, cm: Any, cm_callback: Any, function_env: Any
) -> None:
    other = {**sample_body(), "instruction-id": "another-one"}
    assert post(place_call, other).status == 202
    before = function_env.items()

    response = deliver(cm_callback, callback_body(placed["call_id"]), token_of(cm, 1))

    assert response.status == 403
    assert function_env.items() == before


def test_token_signed_with_the_previous_key_is_accepted(
    placed: dict[str, str], cm_callback: Any
) -> None:
    keys = SigningKeys(PREVIOUS_SIGNING_KEY.encode())
    token = callback_token(keys, INSTRUCTION)

    response = deliver(cm_callback, callback_body(placed["call_id"]), token)

    assert response.body == {"status": "recorded"}


@pytest.mark.parametrize(
    ("raw", "detail_mentions"),
    [
        ("not json", "JSON"),
        ("[]", "body"),
        (json.dumps({"call-id": "c", "result": {"code": 10}}), "type"),
        (json.dumps({"type": "dtmf-finished", "result": {"code": 10}}), "call-id"),
        (json.dumps({"type": "dtmf-finished", "call-id": "c", "result": {}}), "result.code"),
        (json.dumps({"type": "dtmf-finished", "call-id": "c"}), "result"),
    ],
)
def test_malformed_body_is_400_and_writes_nothing(
    placed: dict[str, str],
    cm_callback: Any,
    function_env: Any,
    raw: str,
    detail_mentions: str,
) -> None:
    before = function_env.items()

    response = deliver(cm_callback, None, placed["token"], raw=raw)

    assert response.status == 400
    assert detail_mentions in response.problem["detail"]
    assert function_env.items() == before


def test_unknown_keys_and_missing_optional_keys_are_fine(
    placed: dict[str, str], cm_callback: Any
) -> None:
    body = {
        "type": "dtmf-finished",
        "call-id": placed["call_id"].upper(),
        "result": {"code": 10, "brand-new": True},
        "digits": "4821",
        "something-new": {"x": 1},
    }

    assert deliver(cm_callback, body, placed["token"]).body == {"status": "recorded"}


def test_call_the_instruction_never_had_is_refused(
    placed: dict[str, str], cm_callback: Any, function_env: Any
) -> None:
    before = function_env.items()
    stranger = callback_body("0b9e7d55-31c2-4f0a-a7de-93c4b5e61a20", callee="+447911123456")

    response = deliver(cm_callback, stranger, placed["token"])

    assert response.status == 404
    assert response.problem["type"].endswith("unknown-call")
    assert function_env.items() == before


def test_instruction_that_does_not_exist_is_404(function_env: Any, cm_callback: Any) -> None:
    from dtmf_gateway.domain.signing import SigningKeys as Keys
    from tests.conftest import SIGNING_KEY

    token = callback_token(Keys(SIGNING_KEY.encode()), "never-placed")
    body = {**callback_body("0b9e7d55-31c2-4f0a-a7de-93c4b5e61a20"), "instruction-id": None}

    response = deliver(cm_callback, body, token, instruction_id="never-placed")

    assert response.status == 404
    assert function_env.items() == []


def test_body_for_another_instruction_is_400(placed: dict[str, str], cm_callback: Any) -> None:
    body = {**callback_body(placed["call_id"]), "instruction-id": "someone-else"}

    assert deliver(cm_callback, body, placed["token"]).status == 400


# ------------------------------------------------------------------ GET in every state


def test_get_unknown_instruction_is_404(get_call: Any) -> None:
    response = read(get_call, "no-such-thing")

    assert response.status == 404
    assert response.problem["type"] == "urn:dtmf-gateway:problem:not-found"


def test_get_queued_then_finished(placed: dict[str, str], cm_callback: Any, get_call: Any) -> None:
    queued_view = read(get_call).body
    assert queued_view["status"] == "queued"
    assert queued_view["metadata"] == {"order-id": "7781", "purpose": "pin-check"}
    [call] = queued_view["calls"]
    assert call == {
        "call-id": placed["call_id"],
        "callee": "+31612345678",
        "status": "queued",
        "outcome": None,
        "digits": None,
        "result": None,
        "queued-at": call["queued-at"],
        "finished-at": None,
        # round 2 (#16): every entry shows its attempts (one CM call here) and scheduled-for
        "scheduled-for": None,
        "attempts": [
            {
                "call-id": placed["call_id"],
                "outcome": None,
                "result": None,
                "queued-at": call["queued-at"],
                "finished-at": None,
            }
        ],
    }

    deliver(cm_callback, callback_body(placed["call_id"]), placed["token"])

    finished = read(get_call).body
    assert finished["status"] == "finished"
    assert finished["calls"][0]["outcome"] == "input-received"


def test_get_while_placing(place_call: Any, cm: Any, get_call: Any) -> None:
    during: list[Any] = []

    def look_first(sent: dict[str, Any]) -> httpx.Response:
        during.append(read(get_call))
        return queued(sent)

    cm.replies = [look_first]
    post(place_call, sample_body())

    assert during[0].body["status"] == "placing"
    assert during[0].body["calls"] == []


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (lambda _: httpx.Response(400, json={"message": "Invalid caller"}), "not-placed"),
        (httpx.ReadTimeout("slow"), "unknown"),
    ],
)
def test_get_after_cm_failures(
    place_call: Any, cm: Any, get_call: Any, reply: Any, status: str
) -> None:
    cm.replies = [reply]
    post(place_call, sample_body())

    view = read(get_call).body

    assert view["status"] == status
    assert view["calls"] == []
    assert view["status-reason"]


def test_sample_callback_event_shape_is_accepted(placed: dict[str, str], cm_callback: Any) -> None:
    event = http_event("cm_callback.json")
    body = json.loads(event["body"])
    body["call-id"] = placed["call_id"]
    event = copy.deepcopy(event)
    event["body"] = json.dumps(body)
    event["queryStringParameters"] = {"token": placed["token"]}

    assert invoke_http(cm_callback, event).status == 200


def test_only_the_principal_that_placed_an_instruction_can_read_it(
    placed: dict[str, str], get_call: Any
) -> None:
    stranger = read(get_call, user_arn="arn:aws:iam::123456789012:user/someone-else")

    assert stranger.status == 404
    assert read(get_call).status == 200


def test_a_role_reads_what_another_session_of_it_placed(
    place_call: Any, cm: Any, get_call: Any
) -> None:
    role_session = "arn:aws:sts::123456789012:assumed-role/orders-api/{}"
    body = sample_body()
    del body["instruction-id"]

    first = post(place_call, body, key="k-role", user_arn=role_session.format("i-0aaa"))
    retried = post(place_call, body, key="k-role", user_arn=role_session.format("i-0bbb"))
    view = read(get_call, first.body["instruction-id"], user_arn=role_session.format("task-9"))

    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert len(cm.requests) == 1
    assert view.status == 200


def test_an_integer_of_thousands_of_digits_is_recorded(
    placed: dict[str, str], cm_callback: Any, aws: Any
) -> None:
    """README: "integers of any size" are recorded; 5000 digits was a 400 quoting Python's
    sys.set_int_max_str_digits() (break-13)."""
    text = json.dumps(callback_body(placed["call_id"])).replace(
        '"code": 10', '"code": 10, "cm-counter": ' + "7" * 5000, 1
    )
    result = deliver(cm_callback, None, placed["token"], raw=text)
    assert result.status == 200, result.body
    [call] = [i for i in aws.items() if i["sk"].startswith("call#")]
    assert call["outcome"] == "input-received"
