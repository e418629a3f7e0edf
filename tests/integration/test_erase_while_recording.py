"""An erasure that lands while a placement is still running (issue 19, hostile finding of stop
7): no `DTMF Result` published after the erasure's 200 carries personal data, whatever the
interleaving of the erasure, the placement's recording of its calls and CM's callback.

The race found: the placement writes its call items with the numbers, and scrubs them only
once it has named them on the instruction and found the erasure's mark there. A callback
ending the call in between wrote the call's end onto the item still holding the numbers
(digits null: the callback saw the instruction erased), and the outbox published that image
with `caller`, `callee` and `metadata` in clear and no `erased-at`.

Each test drives one interleaving deterministically through the real adapters: hooks in the
placement's recording run the erasure / the callback at the chosen point, and the stream is
read at every step, so the publisher sees each intermediate image as Lambda would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.cm import queued
from devtools.lambdas import LambdaContext
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb.callback_store import DynamoDbCallbackStore
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from tests.conftest import REGION
from tests.integration.test_callback_handler import INSTRUCTION, callback_body, deliver, token_of
from tests.integration.test_erasure import CALLEE, CALLER, erase
from tests.integration.test_place_call_handler import post, sample_body

PERSONAL = (CALLEE, CALLER, "4821", "pin-check")


# where, in the placement's recording, the erasure and the callback land
#   erase-in-reply: the erasure lands while CM's reply is awaited (the tester's case)
#   erase-after-calls: the erasure lands once the call items are written, not yet named
ERASE_POINTS = ("erase-in-reply", "erase-after-calls")
#   before-scrub: the callback ends the call between its write and the placement's scrub
#   after-scrub: the callback comes once the placement has recorded everything
#   stale-read: the callback read the instruction before the erasure, writes before the scrub
CALLBACK_POINTS = ("before-scrub", "after-scrub", "stale-read")
# how the instruction is named: explicit id with an Idempotency-Key, explicit id without,
# id derived from the key
NAMINGS = ("keyed-explicit", "explicit", "keyed-derived")


def _body(naming: str) -> dict[str, Any]:
    body = sample_body()
    if naming == "keyed-derived":
        del body["instruction-id"]
    return body


@pytest.mark.parametrize("naming", NAMINGS)
@pytest.mark.parametrize("callback_at", CALLBACK_POINTS)
@pytest.mark.parametrize("erase_at", ERASE_POINTS)
def test_no_result_published_after_the_erasure_carries_personal_data(
    place_call: Any,
    cm: Any,
    cm_callback: Any,
    get_call: Any,
    erase_personal_data: Any,
    publish_results: Any,
    bus: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    erase_at: str,
    callback_at: str,
    naming: str,
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    events: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def publish() -> None:
        """What the outbox publishes of the table's changes since the last look."""
        assert publish_results.handler(stream.next_batch(), LambdaContext()) == {
            "batchItemFailures": []
        }
        events.extend(bus.received())

    def erase_now() -> None:
        instruction_id = state.get("id", INSTRUCTION)
        assert erase(erase_personal_data, instruction_id).status == 200
        state["erased"] = True
        publish()

    def call_back() -> None:
        [call_id] = state["call_ids"]
        body = callback_body(call_id, 10, "4821", **{"instruction-id": state["id"]})
        answer = deliver(cm_callback, body, token_of(cm), state["id"])
        assert answer.status == 200
        publish()

    def reply(body: dict[str, Any]) -> Any:
        state["id"] = body["instruction-id"]
        if callback_at == "stale-read":  # the callback's first read: before any erasure
            load = DynamoDbCallbackStore.load_instruction
            seen = [load(_store(function_env), state["id"])]

            def stale(self: Any, instruction_id: str) -> Any:
                return seen.pop() if seen else load(self, instruction_id)

            monkeypatch.setattr(DynamoDbCallbackStore, "load_instruction", stale)
        if erase_at == "erase-in-reply":
            erase_now()
        answer = queued(body)
        state["call_ids"] = [c["call-id"] for c in answer.json()]
        return answer

    cm.replies = [reply]
    record_call_ids = DynamoDbInstructionStore._record_call_ids

    def named(self: Any, *args: Any, **kwargs: Any) -> Any:
        # the call items are written (with the numbers), not yet named on the instruction
        if erase_at == "erase-after-calls":
            erase_now()
        if callback_at in ("before-scrub", "stale-read"):
            call_back()
        return record_call_ids(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDbInstructionStore, "_record_call_ids", named)

    key = None if naming == "explicit" else f"key-{erase_at}-{callback_at}"
    placed = post(place_call, _body(naming), key=key)
    assert placed.status == 202, placed.body
    monkeypatch.undo()  # the callback reads the table as it is from now on
    publish()
    if callback_at == "after-scrub":
        call_back()
    publish()

    assert state.get("erased")
    [event] = [e for e in events if e["detail-type"] == "DTMF Result"]
    detail = event["detail"]
    assert (detail["caller"], detail["callee"], detail["digits"], detail["metadata"]) == (
        None,
        None,
        None,
        {},
    )
    assert detail["outcome"] == "input-received"  # the result itself is never lost
    assert detail["erased-at"] is not None
    published = json.dumps(events)
    for personal in PERSONAL:
        assert personal not in published
    stored = json.dumps(function_env.items(), default=str)
    for personal in PERSONAL:
        assert personal not in stored


def _store(aws: Any) -> DynamoDbCallbackStore:
    from datetime import timedelta

    return DynamoDbCallbackStore(aws.dynamodb, aws.table_name, retention=timedelta(days=30))


def test_the_erasure_marks_are_read_for_any_number_of_instructions(function_env: Any) -> None:
    """The outbox's look (DynamoDbErasureMarks): more instructions than one BatchGetItem
    takes, some erased, some not, some absent."""
    from dtmf_gateway.adapters.dynamodb.calls_table import instruction_key
    from dtmf_gateway.adapters.dynamodb.erasure_marks import DynamoDbErasureMarks

    erased = {f"order-{n}": f"2026-11-30T23:{n % 60:02d}:00Z" for n in range(0, 150, 7)}
    for n in range(150):
        instruction_id = f"order-{n}"
        item = {**instruction_key(instruction_id), "record-type": {"S": "instruction"}}
        if instruction_id in erased:
            item["erased-at"] = {"S": erased[instruction_id]}
        function_env.dynamodb.put_item(TableName=function_env.table_name, Item=item)
    marks = DynamoDbErasureMarks(function_env.dynamodb, function_env.table_name)

    asked = [f"order-{n}" for n in range(160)]  # 150 stored, 10 absent

    assert marks.erased(asked) == erased
    assert marks.erased([]) == {}
