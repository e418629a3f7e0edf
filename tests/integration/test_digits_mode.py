"""`digits-mode` (issue 19) end to end in-process: place → callback → table, GET, events, logs,
idempotency records. The expected and the typed digits must appear nowhere but in `plain` mode.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from devtools.lambdas import LambdaContext
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb.correction_store import DynamoDbCorrectionStore
from dtmf_gateway.domain.callbacks import rederive_outcomes
from dtmf_gateway.domain.calls import utc_now
from tests.conftest import DIGITS_HASH_KEY, REGION, SESSION_LOG
from tests.integration.test_callback_handler import callback_body, deliver, read, token_of
from tests.integration.test_place_call_handler import post, sample_body

# Distinctive: with a `*` they cannot be part of an id, a time or a hash in the dumps searched.
EXPECTED = "73*1"
WRONG = "73*0"
INVALID = "7*"
REGEX = "[0-9*]{4}"


def _body(mode: str, expected: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {**sample_body(), "digits-mode": mode, "regex": REGEX, **extra}
    if expected is not None:
        body["expected-digits"] = expected
    return body


def _dump_table(aws: Any) -> str:
    return json.dumps(aws.items(), default=str)


def _dump_idempotency(aws: Any) -> str:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.idempotency_table_name)
    return json.dumps([i for page in pages for i in page["Items"]], default=str)


def _publish(stream: StreamReader, publish_results: Any, bus: Any) -> list[dict[str, Any]]:
    assert publish_results.handler(stream.next_batch(), LambdaContext()) == {
        "batchItemFailures": []
    }
    return [e["detail"] for e in bus.received()]


def _assert_nowhere(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize(
    ("typed", "outcome", "verified"),
    [
        (EXPECTED, "input-received", True),
        (WRONG, "input-received", False),
        (INVALID, "invalid-input", False),
        ("", "no-input", False),
    ],
)
def test_verify_mode_keeps_only_a_keyed_hash_and_says_whether_it_matched(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    typed: str,
    outcome: str,
    verified: bool,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    logged_before = len(SESSION_LOG)
    placed = post(place_call, _body("verify", EXPECTED), key="verify-key-1")
    assert placed.status == 202
    assert "expected-digits" not in json.dumps(cm.bodies()[0])  # never sent to CM
    assert "digits-mode" not in json.dumps(cm.bodies()[0])
    call_id = placed.body["calls"][0]["call-id"]

    answer = deliver(cm_callback, callback_body(call_id, 10, typed, extra_pin=typed), token_of(cm))
    assert answer.status == 200

    details = _publish(stream, publish_results, bus)
    [detail] = details
    assert detail["outcome"] == outcome
    assert detail["digits"] is None
    assert detail["verified"] is verified
    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"], call["verified"]) == (outcome, None, verified)

    table = _dump_table(function_env)
    assert "v1:" in table  # the keyed hash is there …
    secrets = (EXPECTED, typed) if typed else (EXPECTED,)
    _assert_nowhere(table, *secrets)  # … the digits are not, nor in the stored body
    _assert_nowhere(_dump_idempotency(function_env), *secrets)
    _assert_nowhere(json.dumps(details), *secrets)
    _assert_nowhere("\n".join(SESSION_LOG[logged_before:]), *secrets)
    assert DIGITS_HASH_KEY not in "\n".join(SESSION_LOG[logged_before:])


def test_omit_mode_classifies_then_discards_the_digits(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    logged_before = len(SESSION_LOG)
    placed = post(place_call, _body("omit"))
    call_id = placed.body["calls"][0]["call-id"]

    deliver(cm_callback, callback_body(call_id, 10, EXPECTED), token_of(cm))

    [detail] = _publish(stream, publish_results, bus)
    assert (detail["outcome"], detail["digits"]) == ("input-received", None)
    assert "verified" not in detail
    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", None)
    assert "verified" not in call
    [stored] = [i for i in function_env.items() if i["sk"].startswith("call#")]
    body = json.loads(stored["callback-body"])
    assert body["digits"] is None
    assert body["redacted-by-gateway"] == ["digits"]
    assert body["result"]["code"] == 10  # what identifies the call and its result stays
    _assert_nowhere(_dump_table(function_env), EXPECTED)
    _assert_nowhere("\n".join(SESSION_LOG[logged_before:]), EXPECTED)


def test_plain_mode_is_round_one(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, function_env: Any
) -> None:
    placed = post(place_call, sample_body())
    deliver(
        cm_callback, callback_body(placed.body["calls"][0]["call-id"], 10, "4821"), token_of(cm)
    )

    [call] = read(get_call).body["calls"]
    assert call["digits"] == "4821"
    assert "verified" not in call
    [stored] = [i for i in function_env.items() if i["sk"].startswith("call#")]
    assert "digits-mode" not in stored  # plain items are written as before


def test_a_replay_in_verify_mode_replays_and_another_expected_value_is_refused(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    first = post(place_call, _body("verify", EXPECTED), key="k-verify")
    again = post(place_call, _body("verify", EXPECTED), key="k-verify")
    other = post(place_call, _body("verify", WRONG), key="k-verify")

    assert (first.status, again.status) == (202, 202)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert other.status == 422  # same key, another body: the keyed hash differs
    assert len(cm.bodies()) == 1
    _assert_nowhere(_dump_idempotency(function_env), EXPECTED, WRONG)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"digits-mode": "verify"}, "is required with digits-mode verify"),
        ({"digits-mode": "verify", "expected-digits": "123"}, "own digit rules"),
        ({"digits-mode": "verify", "expected-digits": "12*4"}, "own digit rules"),
        ({"digits-mode": "verify", "expected-digits": "12a4"}, "DTMF keys"),
        ({"expected-digits": "1234"}, "only allowed with digits-mode verify"),
        ({"digits-mode": "secret"}, "plain, omit, verify"),
    ],
)
def test_bad_digits_mode_input_is_422_naming_the_key_and_changes_nothing(
    place_call: Any, cm: Any, function_env: Any, extra: dict[str, Any], message: str
) -> None:
    answer = post(place_call, {**sample_body(), **extra})

    assert answer.status == 422
    [error] = answer.body["errors"]
    assert error["field"] in ("expected-digits", "digits-mode")
    assert message in error["message"]
    assert not any(d in json.dumps(answer.body) for d in ("1234", "12a4", "12*4"))
    assert cm.bodies() == []
    assert function_env.items() == []


def test_the_hash_key_rotates_without_breaking_calls_in_flight(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, function_env: Any
) -> None:
    placed = post(place_call, _body("verify", EXPECTED))
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(
        SecretId=function_env.digits_hash_secret,
        SecretString=json.dumps({"current": "n" * 48, "previous": DIGITS_HASH_KEY}),
    )
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()

    deliver(
        cm_callback, callback_body(placed.body["calls"][0]["call-id"], 10, EXPECTED), token_of(cm)
    )

    [call] = read(get_call).body["calls"]
    assert call["verified"] is True


def test_rederive_leaves_protected_calls_alone_and_counts_them(
    place_call: Any, cm: Any, cm_callback: Any, function_env: Any
) -> None:
    placed = post(place_call, _body("omit"))
    deliver(
        cm_callback, callback_body(placed.body["calls"][0]["call-id"], 10, EXPECTED), token_of(cm)
    )
    store = DynamoDbCorrectionStore(function_env.dynamodb, function_env.table_name)
    now = utc_now()

    from datetime import timedelta

    report = rederive_outcomes(
        store, now - timedelta(hours=1), now + timedelta(hours=1), apply=True
    )

    assert (report.examined, report.protected, report.changed, report.written) == (1, 1, [], 0)
    [stored] = [i for i in function_env.items() if i["sk"].startswith("call#")]
    assert stored["outcome"] == "input-received"  # not turned into no-input
