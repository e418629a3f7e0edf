"""The use cases on their own, with the in-memory fakes: no AWS, no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from dtmf_gateway.adapters.dynamodb.calls_table import (
    INSTRUCTION_SK,
    call_from_item,
    instruction_from_item,
    instruction_pk,
)
from dtmf_gateway.domain.callbacks import CallbackVerdict, CmCallback, RecordCallback
from dtmf_gateway.domain.calls import InstructionStatus
from dtmf_gateway.domain.errors import (
    CalleeLimitReached,
    CmOutcomeUnknown,
    CmRejected,
    CmUnreachable,
    InstructionAlreadyExists,
    PlacementFailed,
    PolicyRefused,
)
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext, max_call_seconds
from dtmf_gateway.domain.policy import DialPolicy
from dtmf_gateway.domain.publishing import Change, publish_ended_calls
from dtmf_gateway.domain.request import parse_dtmf_call_request
from tests.fakes import (
    FakeCallbackUrls,
    FakeCm,
    InMemoryCallbackStore,
    InMemoryCalleeQuota,
    InMemoryDeadLetters,
    InMemoryInstructionStore,
    InMemoryPlacementRecordings,
    InMemoryPublisher,
    Table,
)

NOW = datetime(2026, 11, 29, 5, 15, tzinfo=UTC)
CONTEXT = PlacementContext(owner="arn:aws:iam::123456789012:user/test")


def request(**changes: Any) -> Any:
    body = {
        "instruction-id": "i-1",
        "callee": "+31612345678",
        "caller": "+31201234567",
        "prompt": "Type your PIN",
        "valid-prompt": "Thank you.",
        "min-digits": 4,
        "max-digits": 4,
        "regex": "[0-9]{4}",
        **changes,
    }
    return parse_dtmf_call_request({k: v for k, v in body.items() if v is not None})


@pytest.fixture
def table() -> Table:
    return Table()


def status_of(table: Table, instruction_id: str) -> str:
    return str(table.items[(f"instruction#{instruction_id}", "instruction")]["status"])


def service(table: Table, cm: FakeCm, **kwargs: Any) -> PlaceInstruction:
    fail_recording = kwargs.pop("fail_recording", None)
    note_survives = kwargs.pop("note_survives", False)
    return PlaceInstruction(
        cm=cm,
        store=InMemoryInstructionStore(
            table, fail_recording=fail_recording, note_survives=note_survives
        ),
        callback_urls=FakeCallbackUrls(),
        policy=DialPolicy.from_settings(
            allowed_countries="NL,BE", blocked_number_types="default", allowed_callers=""
        ),
        clock=lambda: NOW,
        **kwargs,
    )


def test_policy_is_checked_before_anything_is_stored(table: Table) -> None:
    cm = FakeCm()

    with pytest.raises(PolicyRefused):
        service(table, cm).place(request(callee="+447400123456"), CONTEXT)

    assert table.items == {}
    assert cm.requests == 0


def test_taken_instruction_id_places_nothing(table: Table) -> None:
    cm = FakeCm()
    service(table, cm).place(request(), CONTEXT)

    with pytest.raises(InstructionAlreadyExists):
        service(table, cm).place(request(), CONTEXT)

    assert cm.requests == 1


@pytest.mark.parametrize("error", [CmRejected("bad caller", 400), CmUnreachable("refused")])
def test_cm_placing_nothing_frees_the_instruction_id(table: Table, error: Exception) -> None:
    with pytest.raises(PlacementFailed):
        service(table, FakeCm(error=error)).place(request(), CONTEXT)  # type: ignore[arg-type]

    assert status_of(table, "i-1") == InstructionStatus.NOT_PLACED
    assert service(table, FakeCm()).place(request(), CONTEXT).queued


def test_ambiguous_cm_outcome_is_returned_not_raised(table: Table) -> None:
    cm = FakeCm(error=CmOutcomeUnknown("no answer", timed_out=True))

    result = service(table, cm).place(request(), CONTEXT)

    assert result.outcome_unknown is not None
    assert result.outcome_unknown.timed_out
    assert result.calls == ()
    assert status_of(table, "i-1") == InstructionStatus.UNKNOWN
    with pytest.raises(InstructionAlreadyExists):
        service(table, FakeCm()).place(request(), CONTEXT)


def test_every_callee_refused_is_a_failure(table: Table) -> None:
    cm = FakeCm(refuse=frozenset({"+31612345678"}))

    with pytest.raises(PlacementFailed, match="not reachable"):
        service(table, cm).place(request(), CONTEXT)


def test_a_storage_failure_after_cm_queued_still_answers_202(table: Table) -> None:
    errors: list[Exception] = []
    failing = service(
        table,
        FakeCm(),
        on_bookkeeping_error=errors.append,
        fail_recording=RuntimeError("DynamoDB unavailable"),
    )

    result = failing.place(request(), CONTEXT)

    assert [c.callee for c in result.queued] == ["+31612345678"]
    assert [str(e) for e in errors] == ["DynamoDB unavailable"]


def test_a_recording_that_fails_is_deferred_whole_and_the_answer_stands(table: Table) -> None:
    errors: list[Exception] = []
    deferred: list[Exception] = []
    recordings = InMemoryPlacementRecordings()
    body = {"callee": None, "callees": ["+31612345678", "+32470123456"]}
    failing = service(
        table,
        FakeCm(refuse=frozenset({"+32470123456"})),
        on_bookkeeping_error=errors.append,
        on_recording_deferred=deferred.append,
        recordings=recordings,
        fail_recording=RuntimeError("DynamoDB unavailable"),
    )

    result = failing.place(request(metadata={"order-id": "7781"}, **body), CONTEXT)

    [(instruction, queued, replies)] = recordings.deferred
    assert instruction.instruction_id == "i-1" and instruction.metadata == {"order-id": "7781"}
    assert queued == result.queued and tuple(replies) == result.calls
    assert [c.success for c in replies] == [True, False]
    assert [str(e) for e in deferred] == ["DynamoDB unavailable"]
    assert errors == []  # deferred: nothing lost, no bookkeeping error


def test_a_deferral_that_fails_too_is_a_bookkeeping_error_and_the_answer_stands(
    table: Table,
) -> None:
    errors: list[Exception] = []
    recordings = InMemoryPlacementRecordings(unavailable=RuntimeError("SQS unavailable"))
    failing = service(
        table,
        FakeCm(),
        on_bookkeeping_error=errors.append,
        recordings=recordings,
        fail_recording=RuntimeError("DynamoDB unavailable"),
    )

    result = failing.place(request(), CONTEXT)

    assert [c.callee for c in result.queued] == ["+31612345678"]
    assert [str(e) for e in errors] == ["SQS unavailable"]
    assert str(errors[0].__context__) == "DynamoDB unavailable"  # both are logged
    assert recordings.deferred == []


def test_a_failed_recording_keeps_cm_replies_on_the_instruction_until_applied(
    table: Table,
) -> None:
    """Issue 15: beside the queue, CM's replies are noted on the `placing` instruction (what
    GET, a retry and the expirer act on while the recording waits)."""
    recordings = InMemoryPlacementRecordings()
    placing = service(
        table,
        FakeCm(refuse=frozenset({"+32470123456"})),
        recordings=recordings,
        fail_recording=RuntimeError("DynamoDB unavailable"),
        note_survives=True,
    )

    result = placing.place(request(callee=None, callees=["+31612345678", "+32470123456"]), CONTEXT)

    stored = instruction_from_item(table.items[(instruction_pk("i-1"), INSTRUCTION_SK)])
    assert stored.status is InstructionStatus.PLACING and stored.call_ids is None
    assert stored.awaiting_recording == tuple(result.queued)
    assert len(recordings.deferred) == 1


def test_a_failed_deferral_is_alarmed_and_says_the_replies_are_noted(table: Table) -> None:
    """The queue failed too: still a bookkeeping error (operators must see a broken queue),
    whose notes say that the note on the instruction keeps the recording (the expirer
    applies it)."""
    errors: list[Exception] = []
    failing = service(
        table,
        FakeCm(),
        on_bookkeeping_error=errors.append,
        recordings=InMemoryPlacementRecordings(unavailable=RuntimeError("SQS unavailable")),
        fail_recording=RuntimeError("DynamoDB unavailable"),
        note_survives=True,
    )

    failing.place(request(), CONTEXT)

    [error] = errors
    assert str(error) == "SQS unavailable" and str(error.__context__) == "DynamoDB unavailable"
    assert "noted on the instruction" in " ".join(error.__notes__)
    stored = instruction_from_item(table.items[(instruction_pk("i-1"), INSTRUCTION_SK)])
    assert [c.callee for c in stored.awaiting_recording] == ["+31612345678"]


def test_a_recording_written_at_once_is_not_deferred(table: Table) -> None:
    recordings = InMemoryPlacementRecordings()

    service(table, FakeCm(), recordings=recordings).place(request(), CONTEXT)

    assert recordings.deferred == []


def test_longest_call_covers_ringing_prompts_and_every_key_timeout() -> None:
    r = request(
        **{"max-ringing-timeout": 30, "max-attempts": 3, "timeout": 5000, "prompt": "x" * 100}
    )
    # 30 s ringing + 3 attempts * (15 s prompt + 5 key timeouts * 5 s) + 6 s valid prompt
    assert max_call_seconds(r) == 30 + 3 * (15 + 25) + 6 + 1


# ------------------------------------------------------------------ callbacks


def placed(table: Table, **changes: Any) -> str:
    result = service(table, FakeCm()).place(request(**changes), CONTEXT)
    return str(result.queued[0].call_id)


def callback(call_id: str, callee: str | None = "+31612345678", **changes: Any) -> CmCallback:
    body = {
        "type": "dtmf-finished",
        "call-id": call_id,
        "callee": callee,
        "digits": "4821",
        "result": {"code": 10},
        **changes,
    }
    return CmCallback.model_validate(body)


def test_callback_records_once(table: Table) -> None:
    call_id = placed(table)
    record = RecordCallback(InMemoryCallbackStore(table), clock=lambda: NOW)

    first = record.record("i-1", callback(call_id))
    second = record.record("i-1", callback(call_id, digits="0000"))

    assert first.verdict is CallbackVerdict.RECORDED
    assert second.verdict is CallbackVerdict.DUPLICATE
    assert table.call("i-1", call_id)["digits"] == "4821"  # type: ignore[index]


@pytest.mark.parametrize(
    "callee", ["+31612345678", "0031612345678", "31612345678", "+31 6 1234 5678"]
)
def test_a_callback_that_came_first_is_adopted_whatever_cm_makes_of_the_number(
    table: Table, callee: str
) -> None:
    service(table, FakeCm(error=CmOutcomeUnknown("lost", timed_out=True))).place(request(), CONTEXT)

    verdict = (
        RecordCallback(InMemoryCallbackStore(table))
        .record("i-1", callback("early", callee))
        .verdict
    )

    # the placement never recorded its calls: held until the expirer settles it
    assert verdict is CallbackVerdict.HELD
    assert table.call("i-1", "early")["callee"] == "+31612345678"  # type: ignore[index]
    assert table.call("i-1", "early")["hold"] == "awaiting-placement"  # type: ignore[index]


def test_a_callback_for_someone_else_is_refused(table: Table) -> None:
    placed(table)

    verdict = (
        RecordCallback(InMemoryCallbackStore(table))
        .record("i-1", callback("stranger", "+32470123456"))
        .verdict
    )

    assert verdict is CallbackVerdict.UNKNOWN_CALL
    assert table.call("i-1", "stranger") is None


def test_no_callback_is_adopted_for_an_instruction_cm_refused(table: Table) -> None:
    with pytest.raises(PlacementFailed):
        service(table, FakeCm(error=CmRejected("no", 400))).place(request(), CONTEXT)

    verdict = RecordCallback(InMemoryCallbackStore(table)).record("i-1", callback("c-1")).verdict

    assert verdict is CallbackVerdict.UNKNOWN_CALL


def test_unknown_instruction(table: Table) -> None:
    assert RecordCallback(InMemoryCallbackStore(table)).record("nope", callback("c")).verdict is (
        CallbackVerdict.UNKNOWN_INSTRUCTION
    )


# ------------------------------------------------------------------ publishing


def ended(call_id: str, **changes: Any) -> Any:
    """A stored call item (as the stream carries it) read as the adapter reads it."""
    item = {
        "record-type": "call",
        "instruction-id": "i-1",
        "call-id": call_id,
        "caller": "+31201234567",
        "callee": "+31612345678",
        "status": "finished",
        "outcome": "no-input",
        "result": {"code": 10},
        "metadata": {},
        "queued-at": "2026-11-29T05:15:00.000Z",
        "finished-at": "2026-11-29T05:16:00.000Z",
        **changes,
    }
    return call_from_item({k: v for k, v in item.items() if v is not None})


def test_only_endings_are_published_and_failures_map_to_their_records() -> None:
    publisher = InMemoryPublisher(fail=frozenset({1}))
    dead_letters = InMemoryDeadLetters()
    changes = [
        Change("1", None, ended("a", status="queued")),  # placed: not an ending
        Change("2", ended("a", status="queued"), ended("a")),  # ended → published
        Change("3", None, ended("b")),  # callback came first → published, but fails
        Change("4", ended("b"), ended("b")),  # no transition
        Change("5", ended("c", status="queued"), ended("c", callee=None)),  # unusable item
    ]

    report = publish_ended_calls(changes, publisher, dead_letters)

    assert [json.loads(e["Detail"])["call-id"] for e in publisher.entries] == ["a"]
    assert (report.published, report.skipped) == (1, 2)
    assert report.failed == ["3"]  # retryable: retried
    assert [(x.record_id, x.call_id) for x in report.set_aside] == [("5", "c")]
    assert dead_letters.letters == report.set_aside


def test_the_callee_limit_is_checked_before_anything_is_stored(table: Table) -> None:
    quota = InMemoryCalleeQuota(limit=1)
    limited = service(table, FakeCm(), quota=quota, calls_per_callee_per_hour=1)
    limited.place(request(), CONTEXT)

    with pytest.raises(CalleeLimitReached) as refused:
        limited.place(request(**{"instruction-id": "i-2"}), CONTEXT)

    assert refused.value.fields == ["callee"]
    assert ("instruction#i-2", "instruction") not in table.items
