"""Issue 19: the outbox publishes a result of an erased instruction without personal data,
whatever its stream image holds (domain.erased_results)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.erasure_marks import DynamoDbErasureMarks, ErasureMarksUnread
from dtmf_gateway.domain.calls import CallStatus, Outcome
from dtmf_gateway.domain.publishing import Change, publish_ended_calls
from dtmf_gateway.domain.stored import StoredCall
from tests.fakes import InMemoryDeadLetters, InMemoryPublisher

CALLER, CALLEE = "+31201234567", "+31612345678"
ERASED_AT = "2026-11-30T23:00:00Z"


class Marks:
    """In-memory `ErasureMarks`: the erased instructions, and the ids it was asked about."""

    def __init__(self, erased: dict[str, str]) -> None:
        self._erased = erased
        self.asked: list[set[str]] = []

    def erased(self, instruction_ids: Collection[str]) -> dict[str, str]:
        self.asked.append(set(instruction_ids))
        return {i: self._erased[i] for i in instruction_ids if i in self._erased}


def ended(instruction_id: str, *, marked: bool = False) -> StoredCall:
    """An ended call as its stream image may hold it: with the numbers, whether or not the
    call item already carries the erasure's mark (a placement re-adding them, issue 19)."""
    return StoredCall(
        instruction_id=instruction_id,
        call_id=f"call-{instruction_id}",
        caller=CALLER,
        callee=CALLEE,
        status=CallStatus.FINISHED,
        outcome=Outcome.INPUT_RECEIVED,
        digits="4821",
        result={"code": 10},
        metadata={"purpose": "pin-check"},
        queued_at="2026-11-30T22:59:00Z",
        finished_at="2026-11-30T23:01:00Z",
        erased_at=ERASED_AT if marked else None,
    )


@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.booleans()), min_size=1, max_size=8, unique=True
    ),
    st.sets(st.sampled_from("abcde")),
)
def test_a_result_of_an_erased_instruction_goes_out_without_personal_data(
    calls: list[tuple[str, bool]], erased: set[str]
) -> None:
    marks = Marks(dict.fromkeys(erased, ERASED_AT))
    publisher = InMemoryPublisher()
    changes = [
        Change(record_id=str(n), old=None, new=ended(i, marked=m)) for n, (i, m) in enumerate(calls)
    ]

    report = publish_ended_calls(changes, publisher, InMemoryDeadLetters(), erasures=marks)

    assert report.published == len(calls)  # the result itself is never lost
    for (instruction_id, marked), entry in zip(calls, publisher.entries, strict=True):
        detail = json.loads(entry["Detail"])
        assert detail["outcome"] == "input-received"
        if marked or instruction_id in erased:
            assert detail["erased-at"] == ERASED_AT
            assert (detail["caller"], detail["callee"], detail["digits"]) == (None, None, None)
            assert detail["metadata"] == {}
        else:
            assert (detail["caller"], detail["digits"], detail.get("erased-at")) == (
                CALLER,
                "4821",
                None,
            )
    # one look for the batch, only at instructions whose calls do not say it themselves
    unmarked = {i for i, m in calls if not m}
    assert marks.asked == ([unmarked] if unmarked else [])


def test_a_batch_with_nothing_to_publish_reads_no_instruction() -> None:
    marks = Marks({})
    queued = StoredCall("a", "call-a", CALLER, CALLEE, CallStatus.QUEUED)

    publish_ended_calls(
        [Change(record_id="1", old=None, new=queued)],
        InMemoryPublisher(),
        InMemoryDeadLetters(),
        erasures=marks,
    )

    assert marks.asked == []


class Throttled:
    """A DynamoDB client whose BatchGetItem leaves every key unprocessed `times` times."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        [(table, request)] = RequestItems.items()
        if self.calls <= self.times:
            return {"Responses": {table: []}, "UnprocessedKeys": RequestItems}
        items = [{**key, "erased-at": {"S": ERASED_AT}} for key in request["Keys"]]
        return {"Responses": {table: items}, "UnprocessedKeys": {}}


def test_keys_left_unprocessed_are_read_again_then_the_batch_is_retried() -> None:
    slept: list[float] = []
    client = Throttled(times=2)
    marks = DynamoDbErasureMarks(cast("Any", client), "calls", sleep=slept.append)

    assert marks.erased(["a"]) == {"a": ERASED_AT}
    assert (client.calls, len(slept)) == (3, 2)

    with pytest.raises(ErasureMarksUnread):
        DynamoDbErasureMarks(cast("Any", Throttled(times=99)), "calls", sleep=slept.append).erased(
            ["a"]
        )
