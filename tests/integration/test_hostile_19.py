"""Hostile review of issue 19 (digits-mode, keyed hash, erasure, erase-by-number): every
place the README says the typed or expected digits, or the phone numbers, do not survive.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from devtools.cm import queued
from devtools.lambdas import LambdaContext, http_event
from devtools.streams import StreamReader
from scripts import erase_number
from tests.conftest import REGION, SESSION_LOG
from tests.integration.test_callback_handler import (
    INSTRUCTION,
    callback_body,
    deliver,
    read,
    token_of,
)
from tests.integration.test_deliver_webhooks import world  # noqa: F401 - the fixture
from tests.integration.test_erasure import CALLEE, CALLER, erase
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.legacy_idempotency import legacy_placement_record

PIN = "73*1"  # distinctive: a `*` never occurs in ids, times or hashes
PIN_REGEX = "[0-9*]{4}"


def _verify(expected: Any = PIN, **extra: Any) -> dict[str, Any]:
    return {
        **sample_body(),
        "digits-mode": "verify",
        "regex": PIN_REGEX,
        "expected-digits": expected,
        **extra,
    }


def _idem(aws: Any) -> list[dict[str, Any]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.idempotency_table_name)
    return [i for page in pages for i in page["Items"]]


def _everything(aws: Any) -> str:
    return json.dumps([aws.items(), _idem(aws)], default=str)


def _log_since(mark: int) -> str:
    return "\n".join(SESSION_LOG[mark:])


# ------------------------------------------------------------------ digits-mode variants


@pytest.mark.parametrize("mode", [" omit", "omit ", "om it", "omitted"])
def test_a_space_variant_of_digits_mode_is_refused_not_read_as_plain(
    place_call: Any, cm: Any, function_env: Any, mode: str
) -> None:
    answer = post(place_call, {**sample_body(), "digits-mode": mode})

    assert answer.status == 422
    assert [e["field"] for e in answer.body["errors"]] == ["digits-mode"]
    assert cm.bodies() == []


@pytest.mark.parametrize("mode", ["OMIT", "Omit"])
def test_a_case_variant_of_omit_omits_never_falls_back_to_plain(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, function_env: Any, mode: str
) -> None:
    """`OMIT` is accepted (the README lists only the lower-case values): then it must omit,
    never be read as the default `plain` (digits stored in clear)."""
    placed = post(place_call, {**sample_body(), "digits-mode": mode})
    assert placed.status == 202

    deliver(
        cm_callback, callback_body(placed.body["calls"][0]["call-id"], 10, "4821"), token_of(cm)
    )

    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["digits"]) == ("input-received", None)
    assert "4821" not in json.dumps(function_env.items(), default=str)


def test_digits_mode_null_is_the_default_plain(place_call: Any, cm: Any) -> None:
    """The body may be the .NET SDK's, with nulls: `null` is the default, like any CM key."""
    answer = post(place_call, {**sample_body(), "digits-mode": None})
    assert answer.status in (202, 422)
    if answer.status == 422:
        assert [e["field"] for e in answer.body["errors"]] == ["digits-mode"]


@pytest.mark.parametrize(
    "expected",
    [
        "73 *1",  # a space
        "73*1#",  # with the terminator
        "73*12",  # longer than max-digits
        "7",  # shorter than min-digits
        7301,  # a JSON number
        "\u0667\u0663*\u0661",  # Arabic-Indic digits
        "73*1\u200b",  # an invisible character
        "",
        None,
    ],
)
def test_expected_digits_that_break_the_rules_are_422_without_echoing_them(
    place_call: Any, cm: Any, function_env: Any, expected: Any
) -> None:
    mark = len(SESSION_LOG)
    answer = post(place_call, _verify(expected))

    assert answer.status == 422
    assert [e["field"] for e in answer.body["errors"]] == ["expected-digits"]
    text = json.dumps(answer.body, ensure_ascii=False)
    if expected not in (None, ""):
        for fragment in (str(expected), "73*1", "7301"):
            assert fragment not in text
            assert fragment not in _log_since(mark)
    assert cm.bodies() == []
    assert function_env.items() == []


def test_expected_digits_are_not_echoed_when_another_field_is_invalid(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    """A 422 for another field must not leak the PIN either (e.g. a model-level error that
    prints the whole input)."""
    mark = len(SESSION_LOG)
    body = _verify()
    body["min-digits"] = 9  # > max-digits: a model-level error, the expected digits around it
    answer = post(place_call, body)

    assert answer.status == 422
    assert PIN not in json.dumps(answer.body)
    assert PIN not in _log_since(mark)


def test_a_bad_key_next_to_expected_digits_does_not_echo_them(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    mark = len(SESSION_LOG)
    answer = post(place_call, {**_verify(), "expected-digit": PIN})

    assert answer.status == 422
    assert PIN not in json.dumps(answer.body)
    assert PIN not in _log_since(mark)


def test_expected_digits_with_leading_zeros_verify_exactly(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    body = {**_verify("0042"), "regex": "[0-9]{4}"}
    placed = post(place_call, body)
    assert placed.status == 202
    call_id = placed.body["calls"][0]["call-id"]

    deliver(cm_callback, callback_body(call_id, 10, "42"), token_of(cm))
    [call] = read(get_call).body["calls"]
    assert call["verified"] is False

    placed = post(place_call, {**body, "instruction-id": "lead-2"})
    call_id = placed.body["calls"][0]["call-id"]
    body_2 = {**callback_body(call_id, 10, "0042"), "instruction-id": "lead-2"}
    deliver(cm_callback, body_2, token_of(cm, 1), "lead-2")
    [call] = read(get_call, "lead-2").body["calls"]
    assert call["verified"] is True


def test_verify_with_the_typed_terminator_compares_like_the_outcome(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    """The same digit rules as the outcome: if `73*1#` counts as the valid `73*1` for the
    outcome, it verifies; if it is invalid input, it does not."""
    placed = post(place_call, _verify())
    call_id = placed.body["calls"][0]["call-id"]

    deliver(cm_callback, callback_body(call_id, 10, "73*1#"), token_of(cm))

    [call] = read(get_call).body["calls"]
    assert call["verified"] is (call["outcome"] == "input-received")


def _rotate_digits_key(aws: Any, current: str, previous: str) -> Any:
    """Put new digits hash keys and start a fresh place-call environment (as Lambda does
    once SECRETS_MAX_AGE_SECONDS has passed)."""
    from devtools.lambdas import load_function
    from tests.conftest import _reset_caches

    aws.secrets.put_secret_value(
        SecretId=aws.digits_hash_secret,
        SecretString=json.dumps({"current": current, "previous": previous}),
    )
    _reset_caches()
    return load_function("place_call")


def _clear_tables(aws: Any) -> None:
    for item in _idem(aws):
        aws.dynamodb.delete_item(TableName=aws.idempotency_table_name, Key={"id": item["id"]})
    for item in aws.dynamodb.scan(TableName=aws.table_name)["Items"]:
        aws.dynamodb.delete_item(TableName=aws.table_name, Key={"pk": item["pk"], "sk": item["sk"]})


def _validation_hashes(aws: Any) -> set[str]:
    """The payload hashes a keyed placement stored: its instruction's `body-hash` (issue 15;
    until then Powertools' `validation` in the idempotency table)."""
    return {i["body-hash"] for i in aws.items() if "body-hash" in i}


def test_the_idempotency_payload_hash_is_keyed(place_call: Any, cm: Any, function_env: Any) -> None:
    """README: the idempotency payload hash hashes the keyed value, never the digits. Then
    another hash key must give another stored payload hash for the very same request."""
    body = {k: v for k, v in _verify().items() if k != "instruction-id"}
    assert post(place_call, body, key="keyed-1").status == 202
    first = _validation_hashes(function_env)
    assert first
    _clear_tables(function_env)

    fresh = _rotate_digits_key(function_env, "z" * 48, "")
    assert post(fresh, body, key="keyed-1").status == 202

    assert _validation_hashes(function_env).isdisjoint(first)


@pytest.mark.parametrize("with_instruction_id", [True, False], ids=["explicit-id", "derived-id"])
def test_a_retry_across_a_digits_key_rotation_is_replayed_not_refused(
    place_call: Any, cm: Any, function_env: Any, with_instruction_id: bool
) -> None:
    """README: the digits hash key is 'rotated like the callback signing key: hashes made
    with either key are recognised'. A client's retry with the same Idempotency-Key and the
    same body, after the operator rotated the key, is the same request: replayed, not
    `422 idempotency-key-reused` — with an explicit instruction id or one derived from the key."""
    from tests.conftest import DIGITS_HASH_KEY

    body = _verify()
    if not with_instruction_id:
        body.pop("instruction-id")
    key = f"rotation-retry-{with_instruction_id}"
    assert post(place_call, body, key=key).status == 202

    fresh = _rotate_digits_key(function_env, "n" * 48, DIGITS_HASH_KEY)
    again = post(fresh, body, key=key)

    assert again.status == 202, again.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(cm.bodies()) == 1


def test_after_a_rotation_another_body_with_the_same_key_is_still_refused(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    from tests.conftest import DIGITS_HASH_KEY

    assert post(place_call, _verify(), key="rotation-other").status == 202

    fresh = _rotate_digits_key(function_env, "n" * 48, DIGITS_HASH_KEY)
    other = post(fresh, _verify("73*2"), key="rotation-other")

    assert other.status == 422
    assert len(cm.bodies()) == 1


def test_a_retry_of_a_dead_attempt_across_a_rotation_meets_the_reservation(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    from tests.conftest import DIGITS_HASH_KEY

    cm.replies = [RuntimeError("the function died while CM was called"), queued]
    first = post(place_call, _verify(), key="rotation-dead")
    assert first.status == 500, first.body  # died with the call in flight

    fresh = _rotate_digits_key(function_env, "n" * 48, DIGITS_HASH_KEY)
    again = post(fresh, _verify(), key="rotation-dead")

    assert again.status == 409, again.body
    assert again.body["type"].endswith("instruction-id-in-use")


def test_verify_does_not_depend_on_cm_echoing_the_instruction_id(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    """Only `type`, `call-id` and `result.code` are required in a callback; the instruction
    is the one the token authenticates (the path)."""
    placed = post(place_call, _verify())
    call_id = placed.body["calls"][0]["call-id"]
    body = callback_body(call_id, 10, PIN)
    del body["instruction-id"]

    assert deliver(cm_callback, body, token_of(cm)).status == 200

    [call] = read(get_call).body["calls"]
    assert (call["outcome"], call["verified"]) == ("input-received", True)


# ------------------------------------------------------------------ erase


@pytest.mark.parametrize(
    "instruction_id",
    ["..", ".", "a/b", "x" * 65, "order-7781-pin\x00", "k-" + "0" * 32, "%2e%2e", " "],
)
def test_erase_of_a_malformed_id_is_404_never_5xx(
    place_call: Any, erase_personal_data: Any, function_env: Any, instruction_id: str
) -> None:
    post(place_call, sample_body())
    before = function_env.items()

    answer = erase(erase_personal_data, instruction_id)

    assert answer.status == 404
    assert function_env.items() == before


def test_erase_by_the_same_role_in_another_session_is_allowed(
    place_call: Any, erase_personal_data: Any, get_call: Any
) -> None:
    """'a role counts as one principal, whatever its session name'."""
    session_1 = "arn:aws:sts::123456789012:assumed-role/orders/instance-1"
    session_2 = "arn:aws:sts::123456789012:assumed-role/orders/instance-2"
    assert post(place_call, sample_body(), user_arn=session_1).status == 202

    answer = erase(erase_personal_data, user_arn=session_2)

    assert answer.status == 200
    assert read(get_call, user_arn=session_1).body["callees"] == [None]


def test_a_held_callback_that_lands_with_an_erasure_keeps_no_personal_data(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    """The callback overtakes the placement (held, body stored), the erasure lands, then
    the placement records and releases the held call: nothing personal may be left or
    published."""
    stream = StreamReader(function_env.table_name, REGION)

    def callback_erase_then_queue(body: dict[str, Any]) -> Any:
        reply = queued(body)
        call_id = reply.json()[0]["call-id"]
        url = body["callback-url"]
        token = url.split("token=")[1]
        held = deliver(cm_callback, callback_body(call_id, 10, "4821"), token)
        assert held.status == 200
        assert erase(erase_personal_data).status == 200
        return reply

    cm.replies = [callback_erase_then_queue]
    placed = post(place_call, sample_body())
    assert placed.status == 202
    batch = stream.next_batch()
    if batch["Records"]:
        publish_results.handler(batch, LambdaContext())
    events = json.dumps(bus.received())

    for personal in (CALLEE, CALLER, "31612345678", "4821", "pin-check"):
        assert personal not in json.dumps(function_env.items(), default=str)
        assert personal not in events


def test_erase_that_lands_while_cm_refuses_keeps_the_id_erased(
    place_call: Any, cm: Any, erase_personal_data: Any, get_call: Any
) -> None:
    """'An erased instruction's id is never placed again (a POST with it is 409)'."""

    def erase_then_refuse(body: dict[str, Any]) -> Any:
        assert erase(erase_personal_data).status == 200
        import httpx

        return httpx.Response(400, json={"message": "bad request"})

    cm.replies = [erase_then_refuse]
    first = post(place_call, sample_body(), key="erase-refused")
    assert first.status == 502

    again = post(place_call, sample_body(), key="erase-refused")

    assert again.status == 409
    assert len(cm.bodies()) == 1


def test_a_replay_after_erase_by_number_does_not_resurrect_the_callee(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]["userArn"]
    body = {k: v for k, v in sample_body().items() if k != "instruction-id"}
    first = post(place_call, body, key="by-number-replay")
    assert first.body["calls"][0]["callee"] == CALLEE

    assert (
        erase_number.main(
            [
                "--owner",
                owner,
                "--number",
                CALLEE,
                "--table",
                function_env.table_name,
                "--idempotency-table",
                function_env.idempotency_table_name,
                "--place-call-function",
                "test-func",
                "--apply",
            ]
        )
        == 0
    )
    replay = post(place_call, body, key="by-number-replay")

    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert CALLEE not in json.dumps(replay.body)
    assert CALLEE not in _everything(function_env)


def test_erase_by_number_with_a_wrong_function_name_does_not_claim_success(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: PLACE_CALL_FUNCTION=<place-call function name> (no output names it). A wrong
    name must not leave the callee in the idempotency table while reporting success."""
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]["userArn"]
    placed = post(place_call, sample_body(), key="wrong-function-name")
    answer = {"http_status": 202, "body": placed.body, "headers": {}}  # until issue 15
    legacy_placement_record(function_env, owner, "wrong-function-name", answer)
    try:
        code = erase_number.main(
            [
                "--owner",
                owner,
                "--number",
                CALLEE,
                "--table",
                function_env.table_name,
                "--idempotency-table",
                function_env.idempotency_table_name,
                "--place-call-function",
                "dtmf-gateway-prod-PlaceCallFunction",  # a plausible guess, not the real name
                "--apply",
            ]
        )
    except SystemExit as refused:
        code = refused.code
    assert code != 0 or CALLEE not in json.dumps(_idem(function_env)), capsys.readouterr()


def test_erase_by_number_refuses_a_function_name_no_record_carries_even_in_a_dry_run(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]["userArn"]
    placed = post(place_call, sample_body(), key="wrong-function-name-dry")
    # as place-call stored it until issue 15 (such records live 24 h after the deployment)
    answer = {"http_status": 202, "body": placed.body, "headers": {}}
    legacy_placement_record(function_env, owner, "wrong-function-name-dry", answer)
    capsys.readouterr()
    args = ["--owner", owner, "--number", CALLEE, "--table", function_env.table_name]
    args += ["--idempotency-table", function_env.idempotency_table_name]

    with pytest.raises(SystemExit) as refused:
        erase_number.main([*args, "--place-call-function", "PlaceCallFunction"])
    assert refused.value.code == 2
    assert "test-func" in capsys.readouterr().err  # names the right one

    assert erase_number.main([*args, "--apply"]) == 0  # left out: read from the records
    assert CALLEE not in json.dumps(_idem(function_env))


def test_erase_by_number_with_the_role_arn_finds_a_sessions_instructions(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: OWNER=<role ARN>. A role's instructions are placed by its sessions
    (`arn:aws:sts::…:assumed-role/orders/i-1`); the operator has the role ARN."""
    session = "arn:aws:sts::123456789012:assumed-role/orders/i-1"
    post(place_call, sample_body(), user_arn=session)
    capsys.readouterr()

    code = erase_number.main(
        [
            "--owner",
            "arn:aws:iam::123456789012:role/orders",
            "--number",
            CALLEE,
            "--table",
            function_env.table_name,
            "--idempotency-table",
            function_env.idempotency_table_name,
            "--place-call-function",
            "test-func",
        ]
    )

    assert code == 0
    assert INSTRUCTION in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("number", ["0612345678", "31612345678", "not a number"])
def test_erase_by_number_refuses_a_number_it_cannot_read(
    function_env: Any, number: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A number not in E.164 must not silently match nothing ("0 instructions")."""
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        erase_number.main(
            [
                "--owner",
                "arn:aws:iam::123456789012:user/orders-service",
                "--number",
                number,
                "--table",
                function_env.table_name,
                "--idempotency-table",
                function_env.idempotency_table_name,
                "--place-call-function",
                "test-func",
            ]
        )


# ------------------------------------------------------------------ after an erasure


def test_republishing_a_range_after_erase_publishes_no_personal_data(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    bus: Any,
    function_env: Any,
) -> None:
    """An operator re-publishes a time range (README, Re-publishing results) after a callee
    asked for erasure: the events must not bring the numbers and digits back."""
    from datetime import timedelta

    from dtmf_gateway.domain.calls import iso, utc_now
    from tests.integration.test_republish import republish

    placed = post(place_call, sample_body())
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))
    assert erase(erase_personal_data).status == 200
    now = utc_now()

    code = republish.main(
        [
            "--table",
            function_env.table_name,
            "--bus",
            bus.name,
            "--apply",
            "range",
            "--since",
            iso(now - timedelta(hours=1)),
            "--until",
            iso(now + timedelta(minutes=1)),
        ]
    )

    assert code == 0
    events = bus.received()
    assert events
    for personal in (CALLEE, CALLER, "4821", "pin-check", '"order-id"'):
        assert personal not in json.dumps(events)
    assert all("erased-at" in e["detail"] for e in events)


def test_a_webhook_still_queued_when_the_instruction_is_erased_posts_no_personal_data(
    world: Any,  # noqa: F811 - the imported fixture
    place_call: Any,
    erase_personal_data: Any,
) -> None:
    """A delivery retried for up to a day sits in the gateway's own queues (not with a
    receiver yet). Once the instruction is erased, the gateway must not post the numbers
    and digits it still holds."""
    from tests.integration.test_deliver_webhooks import URL, _event, _place, _record, _run

    _place(place_call, INSTRUCTION, **{"webhook-url": URL})
    body = _event(INSTRUCTION)
    assert CALLEE in body and "4821" in body
    assert erase(erase_personal_data).status == 200

    _run(_record(body, fifo=True, attributes={"attempt": 1}))

    [request] = world.posted
    posted = request.content.decode()
    for personal in (CALLEE, CALLER, "4821", "pin-check", '"order-id"'):
        assert personal not in posted


# ------------------------------------------------------------------ problem bodies


@pytest.mark.parametrize(
    "raw",
    [
        '{"digits-mode": "verify", "expected-digits": "73*1", "expected-digits": "73*1"}',
        '{"digits-mode": "verify", "expected-digits": "73*1"',  # cut short
        '{"digits-mode": "verify", "expected-digits": "73*1", "x": NaN}',
        '{"digits-mode": "verify", "expected-digits": "73*1", "x": "\\ud800\\udzzz"}',
    ],
)
def test_a_bad_request_never_echoes_the_expected_digits(
    place_call: Any, cm: Any, function_env: Any, raw: str
) -> None:
    from tests.support.lambdas import invoke_http

    mark = len(SESSION_LOG)
    event = http_event(
        "place_call.json", raw_body=raw, headers={"Content-Type": "application/json"}
    )

    answer = invoke_http(place_call, event)

    assert answer.status in (400, 422)
    assert PIN not in json.dumps(answer.body)
    assert PIN not in _log_since(mark)


# ------------------------------------------------------------------ races


def test_a_callback_that_read_the_instruction_before_an_erasure_writes_no_personal_data(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race: the callback loads the instruction (not erased yet), the whole erasure runs,
    then the callback writes the result. README: a result that arrives after the erasure is
    recorded and published without personal data — whichever way the two interleave."""
    from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore

    stream = StreamReader(function_env.table_name, REGION)
    placed = post(place_call, sample_body())
    call_id = placed.body["calls"][0]["call-id"]
    publish_results.handler(stream.next_batch(), LambdaContext())
    bus.received()
    original = DynamoDbCallbackStore.finish_queued_call

    def erase_first(self: Any, instruction: Any, finish: Any, *named: Any) -> Any:
        assert erase(erase_personal_data).status == 200
        return original(self, instruction, finish, *named)

    monkeypatch.setattr(DynamoDbCallbackStore, "finish_queued_call", erase_first)

    assert deliver(cm_callback, callback_body(call_id, 10, "4821"), token_of(cm)).status == 200

    publish_results.handler(stream.next_batch(), LambdaContext())
    published = json.dumps(bus.received())
    stored = json.dumps(function_env.items(), default=str)
    for personal in (CALLEE, CALLER, "4821", "pin-check", '"order-id"'):
        assert personal not in stored
        assert personal not in published


def test_erase_scrubs_a_set_aside_call_too(
    place_call: Any, cm: Any, cm_callback: Any, erase_personal_data: Any, function_env: Any
) -> None:
    """A callback that overtook the placement for a call id CM did not queue is set aside
    ("kept for audit, never published, not shown by GET"): its stored body still holds the
    callee and the digits, and must not survive the erasure."""
    import uuid

    def stray_callback_then_queue(body: dict[str, Any]) -> Any:
        token = body["callback-url"].split("token=")[1]
        stray = callback_body(str(uuid.uuid4()), 10, "4821")
        assert deliver(cm_callback, stray, token).body == {"status": "held"}
        return queued(body)

    cm.replies = [stray_callback_then_queue]
    assert post(place_call, sample_body()).status == 202
    assert "4821" in json.dumps(function_env.items(), default=str)  # the set-aside call

    assert erase(erase_personal_data).status == 200

    stored = json.dumps(function_env.items(), default=str)
    for personal in (CALLEE, CALLER, "31612345678", "4821", "pin-check"):
        assert personal not in stored


def test_get_in_verify_mode_shows_neither_the_expected_digits_nor_their_hash(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any
) -> None:
    placed = post(place_call, _verify())
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"], 10, PIN), token_of(cm))

    text = json.dumps(read(get_call).body)

    assert PIN not in text
    assert "v1:" not in text
    assert "expected" not in text


OTHER_CALLEE = "+447400123456"


def test_erase_removes_a_number_cm_echoed_in_a_per_callee_error(
    place_call: Any, cm: Any, get_call: Any, erase_personal_data: Any, function_env: Any
) -> None:
    """CM's per-callee error text is passed through in the 202 (and so stored for the
    Idempotency-Key); CM may name the number in it."""
    import httpx

    def partly(body: dict[str, Any]) -> httpx.Response:
        items = queued(body).json()
        items[1].update(success=False, error=f"Callee {OTHER_CALLEE} is not reachable")
        items[1]["call-id"] = None
        return httpx.Response(200, json=items)

    cm.replies = [partly]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = [CALLEE, OTHER_CALLEE]
    assert post(place_call, body, key="cm-echo").status == 202

    assert erase(erase_personal_data).status == 200
    replay = post(place_call, body, key="cm-echo")

    assert OTHER_CALLEE not in json.dumps(replay.body)
    assert OTHER_CALLEE not in json.dumps(read(get_call).body)
    assert OTHER_CALLEE not in _everything(function_env)


def test_erase_removes_a_number_cm_echoed_in_its_refusal(
    place_call: Any, cm: Any, get_call: Any, erase_personal_data: Any, function_env: Any
) -> None:
    """A refused instruction keeps CM's reason as `status-reason` (GET); CM may name the
    number in it. An erasure removes the numbers."""
    import httpx

    cm.replies = [
        lambda _: httpx.Response(
            400, json={"errors": {"callee": [f"The callee {CALLEE} is not valid."]}}
        )
    ]
    mark = len(SESSION_LOG)
    assert post(place_call, sample_body()).status == 502
    assert CALLEE not in _log_since(mark)

    assert erase(erase_personal_data).status == 200

    assert CALLEE not in json.dumps(read(get_call).body)
    assert CALLEE not in _everything(function_env)


@pytest.mark.parametrize(
    ("text", "erased"),
    [
        ("Callee +447400123456 is not reachable", "Callee [erased] is not reachable"),
        ("The callee 0031 6 1234 5678 is not valid.", "The callee [erased] is not valid."),
        ("The callee is not valid.", "The callee is not valid."),
        ("result code 10, attempt 3", "result code 10, attempt 3"),
        ("[erased]", "[erased]"),
    ],
)
def test_numbers_in_cms_free_text_are_erased_and_the_reason_stays(text: str, erased: str) -> None:
    from dtmf_gateway.domain.erasure import without_numbers

    assert without_numbers(text) == erased


def test_erase_by_number_finds_a_number_that_is_only_a_later_callee(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]["userArn"]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = ["+31687654321", "+32 470 12 34 56"]  # written with spaces
    assert post(place_call, body).status == 202
    capsys.readouterr()

    code = erase_number.main(
        [
            "--owner",
            owner,
            "--number",
            "+32470123456",
            "--table",
            function_env.table_name,
            "--idempotency-table",
            function_env.idempotency_table_name,
            "--apply",
        ]
    )

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [INSTRUCTION, "1 instructions erased"]
    stored = json.dumps(function_env.items(), default=str)
    assert "+32470123456" not in stored and "+31687654321" not in stored
