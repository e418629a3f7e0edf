"""`DELETE /v1/dtmf-calls/{id}/personal-data` (issue 19) in-process, through the real adapters:
numbers, digits, prompts, metadata and callback bodies leave the table and the idempotency
records; ids, statuses, outcomes and times stay; a replay or a late result brings nothing back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.cm import queued
from devtools.lambdas import LambdaContext, http_event
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb import erasure_store
from scripts import erase_number
from tests.conftest import REGION
from tests.integration.test_callback_handler import (
    INSTRUCTION,
    callback_body,
    deliver,
    read,
    token_of,
)
from tests.integration.test_place_call_handler import post, sample_body
from tests.support.lambdas import invoke_http
from tests.support.legacy_idempotency import legacy_placement_record

CALLEE, CALLER = "+31612345678", "+31201234567"
PERSONAL = (
    CALLEE,
    CALLER,
    "31612345678",
    "4821",  # the digits typed
    "Please type your four digit PIN",  # the prompts
    "Your PIN was received",
    "That was not four digits",
    "pin-check",  # metadata
)
OTHER_ARN = "arn:aws:iam::123456789012:user/someone-else"


def erase(module: Any, instruction_id: str = INSTRUCTION, user_arn: str | None = None) -> Any:
    event = http_event(
        "erase_personal_data.json",
        path_parameters={"instruction-id": instruction_id},
        user_arn=user_arn,
        path=f"/dtmf-calls/{instruction_id}/personal-data",
    )
    return invoke_http(module, event)


def _idempotency_items(aws: Any) -> list[dict[str, Any]]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.idempotency_table_name)
    return [i for page in pages for i in page["Items"]]


def _everything(aws: Any) -> str:
    return json.dumps([aws.items(), _idempotency_items(aws)], default=str)


def test_the_record_id_formula_is_powertools_own(function_env: Any) -> None:
    """Records place-call stored before issue 15 (Powertools) are found by erasure's formula."""
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]
    legacy_placement_record(function_env, owner["userArn"], "formula-key", {"body": {}})

    ids = {i["id"]["S"] for i in _idempotency_items(function_env)}
    expected = erasure_store.idempotency_record_id("test-func", owner["userArn"], "formula-key")
    assert ids == {expected}


def test_erase_removes_personal_data_everywhere_and_keeps_the_facts(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    erase_personal_data: Any,
    function_env: Any,
) -> None:
    placed = post(place_call, sample_body(), key="erase-key-1")
    call_id = placed.body["calls"][0]["call-id"]
    deliver(cm_callback, callback_body(call_id, 10, "4821"), token_of(cm))
    before = read(get_call).body
    assert any(p in _everything(function_env) for p in PERSONAL)

    answer = erase(erase_personal_data)

    assert answer.status == 200
    view = answer.body
    assert view["erased-at"].endswith("Z")
    assert (view["caller"], view["callees"], view["metadata"]) == (None, [None], {})
    [call] = view["calls"]
    assert (call["call-id"], call["status"], call["outcome"]) == (
        call_id,
        "finished",
        "input-received",
    )
    assert (call["callee"], call["digits"]) == (None, None)
    assert call["queued-at"] == before["calls"][0]["queued-at"]
    assert call["finished-at"] == before["calls"][0]["finished-at"]
    assert read(get_call).body == view
    everything = _everything(function_env)
    for personal in PERSONAL:
        assert personal not in everything
    [instruction] = [i for i in function_env.items() if i["record-type"] == "instruction"]
    assert instruction["request"]["min-digits"] == 4  # the digit rules stay


def test_erase_is_idempotent_and_keeps_the_first_time(
    place_call: Any, erase_personal_data: Any
) -> None:
    post(place_call, sample_body())
    first = erase(erase_personal_data)
    second = erase(erase_personal_data)

    assert (first.status, second.status) == (200, 200)
    assert second.body == first.body


def test_unknown_or_foreign_instruction_is_404_and_changes_nothing(
    place_call: Any, erase_personal_data: Any, function_env: Any
) -> None:
    post(place_call, sample_body())
    before = function_env.items()

    assert erase(erase_personal_data, "no-such-instruction").status == 404
    assert erase(erase_personal_data, user_arn=OTHER_ARN).status == 404
    assert function_env.items() == before


def test_a_replay_after_erase_does_not_resurrect_the_numbers(
    place_call: Any, cm: Any, get_call: Any, erase_personal_data: Any, function_env: Any
) -> None:
    body = {k: v for k, v in sample_body().items() if k != "instruction-id"}  # a derived id
    first = post(place_call, body, key="replay-after-erase")
    instruction_id = first.body["instruction-id"]
    assert first.body["calls"][0]["callee"] == CALLEE

    erase(erase_personal_data, instruction_id)
    replay = post(place_call, body, key="replay-after-erase")

    assert replay.status == 202
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.body["instruction-id"] == instruction_id
    assert replay.body["calls"][0]["callee"] is None
    assert len(cm.bodies()) == 1  # nothing placed again
    assert CALLEE not in _everything(function_env)
    assert read(get_call, instruction_id).body["callees"] == [None]


def test_an_erased_id_cannot_be_placed_again(
    place_call: Any, cm: Any, erase_personal_data: Any
) -> None:
    post(place_call, sample_body())
    erase(erase_personal_data)

    again = post(place_call, sample_body())

    assert again.status == 409
    assert len(cm.bodies()) == 1


def test_a_result_after_erase_is_recorded_and_published_without_personal_data(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    erase_personal_data: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    placed = post(place_call, sample_body())
    call_id = placed.body["calls"][0]["call-id"]
    erase(erase_personal_data)

    answer = deliver(cm_callback, callback_body(call_id, 10, "4821"), token_of(cm))

    assert answer.status == 200
    [call] = read(get_call).body["calls"]
    assert (call["status"], call["outcome"], call["digits"], call["callee"]) == (
        "finished",
        "input-received",
        None,
        None,
    )
    assert publish_results.handler(stream.next_batch(), LambdaContext()) == {
        "batchItemFailures": []
    }
    [event] = bus.received()
    detail = event["detail"]
    assert (detail["caller"], detail["callee"], detail["digits"], detail["metadata"]) == (
        None,
        None,
        None,
        {},
    )
    assert detail["outcome"] == "input-received"
    assert detail["erased-at"] == read(get_call).body["erased-at"]
    for personal in PERSONAL:
        assert personal not in _everything(function_env)


def test_erasing_publishes_no_second_result(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    placed = post(place_call, sample_body())
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))
    publish_results.handler(stream.next_batch(), LambdaContext())
    assert len(bus.received()) == 1

    erase(erase_personal_data)
    publish_results.handler(stream.next_batch(), LambdaContext())

    assert bus.received() == []


@pytest.mark.parametrize("mode", ["omit", "verify"])
def test_erase_in_a_protected_mode_removes_the_expected_digits_hash(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    erase_personal_data: Any,
    function_env: Any,
    mode: str,
) -> None:
    body = {**sample_body(), "digits-mode": mode}
    if mode == "verify":
        body["expected-digits"] = "4821"
    placed = post(place_call, body)
    deliver(cm_callback, callback_body(placed.body["calls"][0]["call-id"]), token_of(cm))

    view = erase(erase_personal_data).body

    assert "v1:" not in json.dumps(function_env.items())
    if mode == "verify":
        assert view["calls"][0]["verified"] is True  # an outcome: it stays


def test_an_erasure_that_lands_while_placing_is_not_undone_by_the_placement(
    place_call: Any, cm: Any, erase_personal_data: Any, function_env: Any
) -> None:
    def erase_then_queue(body: dict[str, Any]) -> Any:
        assert erase(erase_personal_data).status == 200  # the instruction is `placing` now
        return queued(body)

    cm.replies = [erase_then_queue]

    placed = post(place_call, sample_body())

    assert placed.status == 202
    [call] = [i for i in function_env.items() if i.get("record-type") == "call"]
    assert call["status"] == "queued"
    assert "callee" not in call and "caller" not in call
    assert call["metadata"] == {}


# ---------------------------------------------------------------- erase by number


def test_erase_by_number_erases_only_that_principals_instructions_with_it(
    place_call: Any, cm: Any, function_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = http_event("place_call.json")["requestContext"]["authorizer"]["iam"]["userArn"]
    post(place_call, {**sample_body(), "instruction-id": "a"})
    post(place_call, {**sample_body(), "instruction-id": "b", "callee": "+31687654321"})
    post(
        place_call,
        {**sample_body(), "instruction-id": "c", "callee": "+31687654321", "caller": CALLEE},
    )
    post(place_call, {**sample_body(), "instruction-id": "d"}, user_arn=OTHER_ARN)
    args = [
        "--owner",
        owner,
        "--number",
        "+31 6 1234 5678",  # any form: written as E.164
        "--table",
        function_env.table_name,
        "--idempotency-table",
        function_env.idempotency_table_name,
        "--place-call-function",
        "test-func",
    ]

    capsys.readouterr()  # the placements' own output
    assert erase_number.main(args) == 0  # dry run
    assert capsys.readouterr().out.splitlines() == [
        "a",
        "c",
        "2 instructions to erase; dry run, nothing erased (use --apply)",
    ]
    assert all("erased-at" not in i for i in function_env.items())

    assert erase_number.main([*args, "--apply"]) == 0
    erased = {i["instruction-id"] for i in function_env.items() if "erased-at" in i}
    assert erased == {"a", "c"}
    assert "+31687654321" in json.dumps(function_env.items())  # b (and c's other number gone)
    by_id = {i["instruction-id"]: i for i in function_env.items() if i["sk"] == "instruction"}
    assert by_id["b"]["destinations"] == ["+31687654321"]
    assert by_id["d"]["destinations"] == [CALLEE]  # another principal's: untouched
    assert erase_number.main([*args, "--apply"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 instructions erased"
