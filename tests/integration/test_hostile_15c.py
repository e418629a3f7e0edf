"""Hostile review of issue 15 (c): the Idempotency-Key whose record is the instruction, the
event shapes without an identity, and the README's cost and capacity figures.

Every test drives the real place-call handler in-process (moto for AWS, FakeCm for CM) as a
client would: concurrent identical requests, bodies that differ only in spelling, keys reused
across owners and bodies, the stack's 429 and CM's refusals before a retry, erasure and
digits-key rotation before a replay. What held is kept as a regression test; what did not is
fixed (and named) or a strict xfail naming the gap.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest

from devtools.cm import FakeCm, queued
from devtools.lambdas import http_event, load_function
from devtools.template import ROOT, template
from tests.conftest import DIGITS_HASH_KEY, REGION
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_erasure import erase
from tests.integration.test_place_call_handler import post, sample_body
from tests.integration.test_placement_faults import Faults, LambdaKilled, age_in_progress_records
from tests.integration.test_scheduling import delete
from tests.integration.test_stack_pacing import _fill_the_stack, _free_the_stack
from tests.support.lambdas import invoke_http
from tests.support.rest_events import rest_event

KEY = "order-7781-hostile-c"
OTHER = "arn:aws:iam::123456789012:user/another-service"
ROLE = "arn:aws:sts::123456789012:assumed-role/orders-api"
README = (ROOT / "README.md").read_text()


def without_id() -> dict[str, Any]:
    body = sample_body()
    del body["instruction-id"]
    return body


def first_body(explicit: bool) -> dict[str, Any]:
    return sample_body() if explicit else without_id()


def is_replay(answer: Any, status: int = 202) -> bool:
    return bool(answer.status == status and answer.headers.get("Idempotent-Replayed") == "true")


def is_key_reused(answer: Any) -> bool:
    return bool(answer.status == 422 and answer.problem["type"].endswith(":idempotency-key-reused"))


def slow_cm(sent: dict[str, Any]) -> httpx.Response:
    time.sleep(0.3)  # the other requests arrive while the first waits on CM
    return queued(sent)


EXPLICIT = pytest.mark.parametrize("explicit", [True, False], ids=["explicit-id", "derived-id"])


# ------------------------------------------------------------------ same body, other spelling

#: Spellings of the sample body's own values: the same instruction. Each is either replayed
#: or (held: never placed twice) refused 422 — never a second CM instruction.
SAME_MEANING = [
    {"anonymous": False},
    {"prompt-type": 1},
    {"invalid-prompt-type": None},
    {"webhook-url": None},
    {"metadata": {"purpose": "pin-check", "order-id": "7781"}},
    {"digits-mode": "PLAIN"},
    {"callee": "+31 6 1234 5678"},
    {"min-digits": 4.0},
    {"voice": {"number": 1, "volume": 0, "gender": "Female", "language": "en-GB"}},
    {"not-after": None, "redial": None, "quiet-hours": None},
    {"disable-callees-validation": False},
]


@EXPLICIT
@pytest.mark.parametrize("change", SAME_MEANING, ids=lambda c: json.dumps(c)[:40])
def test_a_body_that_means_the_same_is_replayed_and_places_once(
    place_call: Any, cm: FakeCm, change: dict[str, Any], explicit: bool
) -> None:
    body = first_body(explicit)
    first = post(place_call, body, key=KEY)

    again = post(place_call, {**body, **change}, key=KEY)

    assert first.status == 202
    assert is_replay(again), again.body
    assert again.body == first.body
    assert len(cm.requests) == 1


@EXPLICIT
def test_key_order_and_whitespace_do_not_make_another_body(
    place_call: Any, cm: FakeCm, explicit: bool
) -> None:
    body = first_body(explicit)
    first = post(place_call, body, key=KEY)
    raw = json.dumps(dict(reversed(list(body.items()))), indent=3)
    headers = {"Content-Type": "application/json", "Idempotency-Key": KEY}

    again = invoke_http(place_call, http_event("place_call.json", raw_body=raw, headers=headers))

    assert is_replay(again) and again.body == first.body
    assert len(cm.requests) == 1


#: What another body is: any value CM or the gateway acts on.
OTHER_MEANING = [
    {"metadata": {"order-id": "7782", "purpose": "pin-check"}},
    {"anonymous": True},
    {"caller": "+31201234568"},
    {"digits-mode": "omit"},
    {"max-attempts": 1},
    {"prompt": "Caf\u0065\u0301: type your PIN"},  # NFD of the next one's "é"
    {"voice": {"language": "en-GB", "gender": "Female", "number": 2, "volume": 0}},
    {"quiet-hours": False},
    {"terminators": "#*"},
    {"invalid-prompt": None},
    {"redial": {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 600}},
    {"digits-mode": "verify", "expected-digits": "1111"},
]


@EXPLICIT
@pytest.mark.parametrize("change", OTHER_MEANING, ids=lambda c: json.dumps(c)[:40])
def test_another_body_under_the_key_is_422_and_places_nothing(
    place_call: Any, cm: FakeCm, change: dict[str, Any], explicit: bool
) -> None:
    body = {**first_body(explicit), "prompt": "Caf\u00e9: type your PIN"}
    if "expected-digits" in change:
        body |= {"digits-mode": "verify", "expected-digits": "4821"}
    first = post(place_call, body, key=KEY)

    again = post(place_call, {**body, **change}, key=KEY)

    assert first.status == 202
    assert is_key_reused(again), again.body
    assert len(cm.requests) == 1


@pytest.mark.parametrize("first_explicit", [True, False], ids=["explicit-first", "derived-first"])
def test_switching_between_an_explicit_and_a_derived_id_is_422(
    place_call: Any, cm: FakeCm, first_explicit: bool
) -> None:
    first = post(place_call, first_body(first_explicit), key=KEY)
    again = post(place_call, first_body(not first_explicit), key=KEY)

    assert first.status == 202
    assert is_key_reused(again), again.body
    assert len(cm.requests) == 1


# ------------------------------------------------------------------ concurrency and owners


@pytest.mark.parametrize("mixed", [False, True], ids=["identical", "mixed-bodies"])
def test_concurrent_requests_with_one_key_ring_once(
    place_call: Any, cm: FakeCm, mixed: bool
) -> None:
    cm.replies = [slow_cm]
    bodies = [without_id()] * 6
    if mixed:
        bodies = [
            without_id(),
            sample_body(),
            {**sample_body(), "instruction-id": "order-7781-pin-2"},
            {**without_id(), "prompt": "another prompt"},
            without_id(),
            sample_body(),
        ]
    gate = threading.Barrier(len(bodies))
    answers: list[Any] = []

    def run(body: dict[str, Any]) -> None:
        gate.wait()
        answers.append(post(place_call, body, key=KEY))

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cm.requests) == 1
    assert sum(a.status == 202 for a in answers) >= 1
    for answer in answers:
        assert answer.status in (202, 409, 422), answer.body
        if answer.status == 409:
            assert answer.problem["type"].endswith(":request-in-progress")
            assert answer.headers["Retry-After"]


def test_one_key_of_two_owners_is_two_instructions(place_call: Any, cm: FakeCm) -> None:
    mine = post(place_call, without_id(), key=KEY)
    theirs = post(place_call, without_id(), key=KEY, user_arn=OTHER)

    assert mine.status == theirs.status == 202
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.body["instruction-id"] != mine.body["instruction-id"]
    assert len(cm.requests) == 2


def test_another_owner_with_my_key_and_explicit_id_never_gets_my_answer(
    place_call: Any, cm: FakeCm
) -> None:
    post(place_call, sample_body(), key=KEY)

    theirs = post(place_call, sample_body(), key=KEY, user_arn=OTHER)

    assert theirs.status == 409
    assert theirs.problem["type"].endswith(":instruction-id-in-use")
    assert "Idempotent-Replayed" not in theirs.headers
    assert "calls" not in theirs.body and "+316" not in json.dumps(theirs.body)
    assert len(cm.requests) == 1


@pytest.mark.parametrize("key", [None, KEY], ids=["no-key", "key"])
def test_an_id_another_owner_holds_is_409_without_a_location_they_cannot_read(
    place_call: Any, cm: FakeCm, key: str | None
) -> None:
    """Newcomer finding: Alice's POST with Bob's id was 409 with `Location` pointing to Bob's
    instruction, which Alice's GET answers 404 (README: "for anyone else it does not
    exist"). Ids are unique across the stack, so the 409 stays, without the pointer."""
    post(place_call, sample_body())

    theirs = post(place_call, sample_body(), key=key, user_arn=OTHER)
    mine = post(place_call, sample_body(), key=key)

    assert theirs.status == 409 and theirs.problem["type"].endswith(":instruction-id-in-use")
    assert "Location" not in theirs.headers
    assert (
        "Location" not in theirs.problem["detail"]
        and "new instruction-id" in (theirs.problem["detail"])
    )
    assert mine.status == 409 and mine.headers["Location"].endswith("/order-7781-pin")
    assert len(cm.requests) == 1


def test_one_roles_sessions_share_their_keys(place_call: Any, cm: FakeCm) -> None:
    first = post(place_call, without_id(), key=KEY, user_arn=f"{ROLE}/i-0abc")

    again = post(place_call, without_id(), key=KEY, user_arn=f"{ROLE}/i-0def")

    assert first.status == 202
    assert is_replay(again) and again.body == first.body
    assert len(cm.requests) == 1


@pytest.mark.parametrize("erased", [False, True], ids=["taken", "taken-and-erased"])
def test_a_key_refused_for_a_taken_id_is_free_for_a_new_id(
    place_call: Any, cm: FakeCm, erase_personal_data: Any, erased: bool
) -> None:
    """Fixed: an explicit `instruction-id` another request holds is 409 (its detail says:
    send a new instruction-id) — but the key claim written before the reservation stayed
    bound to that refused body for 24 hours, so the new id under the same key was 422
    `idempotency-key-reused`, though nothing was ever placed under the key (README: a claim
    is "released only when CM placed nothing")."""
    post(place_call, sample_body())  # no key: the id is taken by another request
    if erased:
        erase(erase_personal_data, "order-7781-pin")
    taken = post(place_call, sample_body(), key=KEY)
    renamed = {**sample_body(), "instruction-id": "order-7781-pin-2"}

    placed = post(place_call, renamed, key=KEY)
    again = post(place_call, renamed, key=KEY)

    assert taken.status == 409 and taken.problem["type"].endswith(":instruction-id-in-use")
    assert placed.status == 202, placed.body
    assert placed.body["instruction-id"] == "order-7781-pin-2"
    assert is_replay(again)
    assert len(cm.requests) == 2  # the first request's, and the renamed one's


def test_a_key_whose_id_another_owner_holds_is_free_for_a_new_id(
    place_call: Any, cm: FakeCm
) -> None:
    post(place_call, sample_body(), key=KEY, user_arn=OTHER)
    taken = post(place_call, sample_body(), key=KEY)

    placed = post(place_call, {**sample_body(), "instruction-id": "order-7781-pin-2"}, key=KEY)

    assert taken.status == 409
    assert placed.status == 202, placed.body
    assert len(cm.requests) == 2


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("k" * 255, True), ("k" * 256, False), ("", False), ("k\u00e9", False), ("a\tb", False)],
    ids=["255", "256", "empty", "non-ascii", "tab"],
)
def test_key_length_and_characters(place_call: Any, cm: FakeCm, key: str, accepted: bool) -> None:
    first = post(place_call, without_id(), key=key)
    again = post(place_call, without_id(), key=key)

    if accepted:
        assert first.status == 202 and is_replay(again)
        assert len(cm.requests) == 1
    else:
        assert first.status == again.status == 422
        assert first.problem["errors"][0]["field"] == "Idempotency-Key"
        assert cm.requests == []


def test_the_readme_names_the_key_rule_the_api_applies(place_call: Any, cm: FakeCm) -> None:
    """Fixed: the README said "1-255 printable ASCII characters"; a space is printable ASCII,
    yet `order 7781` is refused ("without spaces"): a client following the README got 422."""
    answer = post(place_call, without_id(), key="order 7781")

    assert answer.status == 422
    assert "without spaces" in answer.problem["detail"]
    assert "1\u2013255 printable ASCII characters without spaces" in README


# ------------------------------------------------------------------ what came before a retry


@EXPLICIT
@pytest.mark.parametrize("retry_other", [False, True], ids=["same-body", "other-body"])
def test_after_the_stacks_429_the_key_is_free(
    place_call: Any, cm: FakeCm, function_env: Any, explicit: bool, retry_other: bool
) -> None:
    body = first_body(explicit)
    _fill_the_stack()
    refused = post(place_call, body, key=KEY)
    _free_the_stack()
    retry_body = {**body, "prompt": "Another prompt"} if retry_other else body

    placed = post(place_call, retry_body, key=KEY)
    again = post(place_call, retry_body, key=KEY)

    assert refused.status == 429 and refused.problem["type"].endswith(":rate-limited")
    assert placed.status == 202 and "Idempotent-Replayed" not in placed.headers
    assert is_replay(again) and again.body == placed.body
    assert len(cm.requests) == 1


def _cm_refuses(_sent: dict[str, Any]) -> httpx.Response:
    return httpx.Response(400, json={"message": "invalid caller"})


def _cm_unreachable(_sent: dict[str, Any]) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@EXPLICIT
@pytest.mark.parametrize("retry_other", [False, True], ids=["same-body", "other-body"])
@pytest.mark.parametrize("failure", [_cm_refuses, _cm_unreachable], ids=["refused", "unreachable"])
def test_after_not_placed_the_key_places_again_once(
    place_call: Any, cm: FakeCm, explicit: bool, retry_other: bool, failure: Any
) -> None:
    body = first_body(explicit)
    cm.replies = [failure] * 5
    failed = post(place_call, body, key=KEY)
    cm.replies = [queued]
    tries = len(cm.requests)
    retry_body = {**body, "prompt": "Another prompt"} if retry_other else body

    placed = post(place_call, retry_body, key=KEY)
    again = post(place_call, retry_body, key=KEY)

    assert failed.status == 502
    assert failed.problem["instruction-status"] == "not-placed"
    assert placed.status == 202 and "Idempotent-Replayed" not in placed.headers
    assert is_replay(again) and again.body == placed.body
    assert len(cm.requests) == tries + 1


def test_a_replay_after_the_result_arrived_is_still_the_202(
    place_call: Any, cm: FakeCm, cm_callback: Any
) -> None:
    first = post(place_call, sample_body(), key=KEY)
    [call] = first.body["calls"]
    deliver(cm_callback, callback_body(call["call-id"]), token_of(cm))

    again = post(place_call, sample_body(), key=KEY)

    assert is_replay(again)
    assert again.body == first.body  # "queued", no digits: the POST's answer, not a GET
    assert len(cm.requests) == 1


def test_a_replay_after_the_digits_key_rotated_is_still_recognised(
    place_call: Any, cm: FakeCm, function_env: Any
) -> None:
    from aws_lambda_powertools.utilities import parameters

    body = {**without_id(), "digits-mode": "verify", "expected-digits": "4821"}
    first = post(place_call, body, key=KEY)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=function_env.digits_hash_secret,
        SecretString=json.dumps({"current": "n" * 48, "previous": DIGITS_HASH_KEY}),
    )
    parameters.clear_caches()

    again = post(place_call, body, key=KEY)
    other = post(place_call, {**body, "expected-digits": "1111"}, key=KEY)

    assert first.status == 202
    assert is_replay(again) and again.body == first.body
    assert is_key_reused(other)
    assert len(cm.requests) == 1


@EXPLICIT
def test_a_replay_after_erasure_names_no_one_and_places_nothing(
    place_call: Any, cm: FakeCm, erase_personal_data: Any, explicit: bool
) -> None:
    body = first_body(explicit)
    first = post(place_call, body, key=KEY)
    erase(erase_personal_data, first.body["instruction-id"])

    again = post(place_call, body, key=KEY)
    other = post(place_call, {**body, "prompt": "Another prompt"}, key=KEY)

    assert is_replay(again)
    assert [c["callee"] for c in again.body["calls"]] == [None]
    assert is_key_reused(other)
    assert len(cm.requests) == 1


def test_an_erased_outcome_unknown_replays_without_cms_numbers(
    place_call: Any, cm: FakeCm, erase_personal_data: Any
) -> None:
    cm.replies = [lambda _sent: httpx.Response(500, text="callee +31612345678 failed")]
    first = post(place_call, sample_body(), key=KEY)
    erase(erase_personal_data, "order-7781-pin")

    again = post(place_call, sample_body(), key=KEY)

    assert first.problem["type"].endswith(":cm-outcome-unknown")
    assert is_replay(again, 502)
    assert again.problem["type"].endswith(":cm-outcome-unknown")
    assert "612345678" not in json.dumps(again.body)
    assert len(cm.requests) == 1


def test_a_replay_of_a_cancelled_schedule_is_the_first_answer(place_call: Any, cm: FakeCm) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {**without_id(), "not-before": later, "quiet-hours": False}
    first = post(place_call, body, key=KEY)
    cancelled = delete(load_function("cancel_call"), first.body["instruction-id"])

    again = post(place_call, body, key=KEY)

    assert cancelled.status == 200
    assert is_replay(again) and again.body == first.body
    assert cm.requests == []


#: What a retry with the same key and body meets after the first attempt (explicit
#: `instruction-id`, so a key claim precedes the reservation) died at each point: right
#: away, then after the dead attempt's window (README, the retry table). CM: at most once.
EXPLICIT_CRASHES = {
    "before-key-claim": (202, "replay", 1),
    "after-key-claim": (202, "replay", 1),
    "before-reservation": (202, "replay", 1),
    "after-reservation": (409, "instruction-id-in-use", 0),
    "during-cm-call": (409, "instruction-id-in-use", 1),
    "after-cm-accepted": (409, "instruction-id-in-use", 1),
    "after-calls-recorded": (202, "replay", 1),
    "before-response-sent": (202, "replay", 1),
}


@pytest.mark.parametrize("point", EXPLICIT_CRASHES)
def test_a_crash_with_an_explicit_id_then_the_same_body_rings_at_most_once(
    point: str, place_call: Any, cm: FakeCm, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(monkeypatch, cm)
    faults.arm(point)
    with pytest.raises(LambdaKilled):
        post(place_call, sample_body(), key=KEY)
    early = post(place_call, sample_body(), key=KEY)
    age_in_progress_records(function_env)

    late = [post(place_call, sample_body(), key=KEY) for _ in range(2)]

    early_status, late_kind, instructions = EXPLICIT_CRASHES[point]
    assert early.status == early_status
    if early_status == 409:
        assert early.problem["type"].endswith(":request-in-progress")
    for answer in late:
        if late_kind == "replay":
            assert is_replay(answer)
        else:
            assert answer.problem["type"].endswith(":instruction-id-in-use")
            assert answer.headers["Location"] == "/v1/dtmf-calls/order-7781-pin"
    assert len(cm.requests) == instructions


def _partly_refused(sent: dict[str, Any]) -> httpx.Response:
    items = queued(sent).json()
    items[1].update(success=False, error="Callee +447400123456 is not reachable")
    items[1]["call-id"] = None
    return httpx.Response(200, json=items)


def test_a_partly_refused_202_is_replayed_whole_and_erased_whole(
    place_call: Any, cm: FakeCm, erase_personal_data: Any
) -> None:
    cm.replies = [_partly_refused]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = ["+31612345678", "+447400123456"]
    first = post(place_call, body, key=KEY)
    again = post(place_call, body, key=KEY)
    erase(erase_personal_data, "order-7781-pin")

    erased = post(place_call, body, key=KEY)

    assert [c["status"] for c in first.body["calls"]] == ["queued", "not-placed"]
    assert is_replay(again) and again.body == first.body
    assert is_replay(erased)
    assert [c["callee"] for c in erased.body["calls"]] == [None, None]
    assert "7400123456" not in json.dumps(erased.body)
    assert len(cm.requests) == 1


def test_a_504_is_replayed_as_the_504(place_call: Any, cm: FakeCm) -> None:
    def drips(_sent: dict[str, Any]) -> httpx.Response:
        raise httpx.ReadTimeout("CM took too long")

    cm.replies = [drips]
    first = post(place_call, without_id(), key=KEY)

    again = post(place_call, without_id(), key=KEY)

    assert first.status == 504 and first.problem["type"].endswith(":cm-outcome-unknown")
    assert is_replay(again, 504) and again.body == first.body
    assert len(cm.requests) == 1


def test_a_202_whose_bookkeeping_failed_is_replayed(
    place_call: Any, cm: FakeCm, function_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fixed: when recording CM's answer failed after CM queued the calls (a DynamoDB error
    in record_queued_calls), the client got the 202 but the instruction kept placing-until
    and no replies, so a retry with the same key and body got 409 request-in-progress, then
    409 instruction-id-in-use for ever — never the 202 the README's retry table promises for
    an attempt that "answered 202". The recording now waits in the placement-recordings
    queue; once record-placements has applied it, the retry is the 202 replay."""
    from tests.integration.test_placement_recordings import Flaky, run_record_placements

    Flaky(monkeypatch)
    first = post(place_call, without_id(), key=KEY)
    recorded = run_record_placements(function_env)

    again = post(place_call, without_id(), key=KEY)

    assert first.status == 202
    assert recorded == {"batchItemFailures": []}
    assert len(cm.requests) == 1  # held: never a second CM instruction
    assert is_replay(again), again.body
    assert again.body == first.body


# ------------------------------------------------------------------ identity in either shape

ROUTES = {
    "place_call": ("/dtmf-calls", None),
    "list_calls": ("/dtmf-calls", None),
    "get_call": ("/dtmf-calls/order-7781-pin", "order-7781-pin"),
    "cancel_call": ("/dtmf-calls/order-7781-pin", "order-7781-pin"),
    "erase_personal_data": ("/dtmf-calls/order-7781-pin/personal-data", "order-7781-pin"),
}


@pytest.mark.parametrize("shape", ["http", "rest"])
@pytest.mark.parametrize("user_arn", [5, ["arn"], {"arn": 1}, True], ids=repr)
@pytest.mark.parametrize("function", ROUTES)
def test_an_identity_that_is_not_a_string_is_403_never_500(
    place_call: Any, cm: FakeCm, function: str, user_arn: Any, shape: str
) -> None:
    """Fixed: `requestContext...userArn` of another JSON type than a string (a malformed
    event: API Gateway never sends it) raised in the owner's regex: 500 `internal-error` on
    every owned route, in both event shapes. It carries no identity: 403."""
    post(place_call, sample_body())
    path, instruction_id = ROUTES[function]
    body = sample_body() if function == "place_call" else None
    event = http_event(f"{function}.json", body=body)
    params = {"instruction-id": instruction_id} if instruction_id else None
    if shape == "rest":
        event = rest_event(event, path=path, path_parameters=params)
        event["requestContext"]["identity"] = {"userArn": user_arn}
    else:
        event["requestContext"]["authorizer"]["iam"] = {"userArn": user_arn}
    module = place_call if function == "place_call" else load_function(function)

    answer = invoke_http(module, event)

    assert answer.status == 403, answer.body
    assert answer.problem["type"].endswith(":forbidden")
    assert len(cm.requests) == 1


# ------------------------------------------------------------------ the README's figures


def test_the_snapstart_parameter_names_as_many_functions_as_it_turns_on() -> None:
    """Fixed: the `SnapStart` parameter's description said "the four API functions"; the
    template turns it on for seven (the README's SnapStart section says seven)."""
    words = {4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    resources = template()["Resources"].values()
    count = sum(1 for r in resources if "SnapStart" in r.get("Properties", {}))
    description = template()["Parameters"]["SnapStart"]["Description"]

    assert f"the {words[count]} API functions" in description
    assert f"for the {words[count]} API functions" in README


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    """`bench.requests` in its own interpreter (it hooks botocore process-wide)."""
    code = "import json, bench.requests as r; print(json.dumps(r.run()))"
    env = {**os.environ, "PYTHONPATH": "layers/shared:local:."}  # as `make bench` runs it
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    scenarios: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])["scenarios"]
    return scenarios


def test_the_readme_states_the_measured_writes_per_call(measured: dict[str, Any]) -> None:
    """Fixed: the README said 5 writes = 8 WRU with a key and 4 = 7 without (Performance) and
    9 / 6 WRU (Capacity); `python -m bench.run --only requests` measures 6 writes = 9 WRU and
    5 = 8 — the stack-wide pacing write (issue 17) is measured now, and "≤ 5 writes" is
    missed, as the bench's own target line says."""
    keyed, plain = measured["warm_with_key"], measured["warm_without_key"]
    key_writes, key_wru = keyed["dynamodb_writes"], int(keyed["dynamodb_wru"])
    writes, wru = plain["dynamodb_writes"], int(plain["dynamodb_wru"])

    assert f"**{key_writes} DynamoDB writes = {key_wru} WRU**" in README
    assert f"without: {writes} writes = {wru} WRU" in README
    assert re.search(
        rf"a call is {key_wru} WRU with an `Idempotency-Key` and an explicit `instruction-id`, "
        rf"{wru} otherwise",
        README,
    )


def test_the_readme_says_what_the_cost_section_needs(tmp_path: Any) -> None:
    """Fixed (newcomer): the README offered `--only ...,cost` as a way to run sections; run
    as `--only requests,cost` the cost section only prints "ERROR: cost needs the requests
    and warm sections". The README now says so and gives a command that works."""
    env = {**os.environ, "PYTHONPATH": "layers/shared:local:."}
    command = [sys.executable, "-m", "bench.run", "--only", "requests,cost"]
    command += ["--json", str(tmp_path / "bench.json")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)

    assert "cost needs the requests and warm sections" in done.stdout + done.stderr
    assert "`cost` needs `requests` and `warm` in the same run" in " ".join(README.split())


def test_the_capacity_table_counts_webhooks_one_delivery_per_invocation() -> None:
    """Fixed: the capacity table counted webhooks at ≈ 400 events/s (5 invocations x batches
    of 10), but since the per-host lanes every delivery is one invocation of its own (the
    lanes' event source reads one message at a time) and one receiving host gets at most
    `WebhookConcurrencyPerHost` (2) at once: ≈ 50 webhooks/s in all and ≈ 20/s to one host at
    0.1 s per answer — so webhooks to one host lag from ~20 calls/s, which the table said
    was fine up to 200. The figures follow from the template's defaults."""
    parameters = template()["Parameters"]
    events = template()["Resources"]["DeliverWebhooksFunction"]["Properties"]["Events"]
    answer_seconds = 0.1
    in_all = int(int(parameters["WebhookMaxConcurrency"]["Default"]) / answer_seconds)
    per_host = int(int(parameters["WebhookConcurrencyPerHost"]["Default"]) / answer_seconds)
    [row] = [line for line in README.splitlines() if line.startswith("| webhook fan-out |")]

    assert events["Attempts"]["Properties"]["BatchSize"] == 1
    assert f"≈ **{in_all} webhooks/s** in all and ≈ **{per_host}/s to one host**" in row
    assert "`WebhookConcurrencyPerHost`" in row.rsplit("|", 2)[-2]  # what moves it
