"""A deferred placement recording (adapters.placement_recordings): what place-call sends to
the placement-recordings queue is exactly what record-placements applies, it fits an SQS
message, and anything else on the queue is refused as malformed (never applied)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.placement_recordings import (
    RECORDING_KIND,
    MalformedRecording,
    parse_recording,
    recording_body,
)
from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction
from dtmf_gateway.domain.digits_protection import DigitKeys
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.request_limits import (
    MAX_CALLEES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
    MAX_PROMPT_LENGTH,
)
from tests.fakes import FakeCm, InMemoryPlacementRecordings, Table
from tests.unit.test_domain import request, service


class Keys:
    """``DigitKeySource`` (verify mode's expected-digits hash)."""

    def digit_keys(self) -> DigitKeys:
        return DigitKeys(current=b"d" * 48)


#: SQS's largest message (SendMessage, "MessageBody"): 256 KiB.
SQS_MAX_MESSAGE_BYTES = 262_144


def deferred(body: dict[str, Any], context: PlacementContext, cm: FakeCm | None = None) -> Any:
    """What the domain defers for this request when recording fails: (instruction, queued,
    replies) — a real instruction, as PlaceInstruction builds it."""
    recordings = InMemoryPlacementRecordings()
    service(
        Table(),
        cm or FakeCm(),
        recordings=recordings,
        digit_keys=Keys(),
        fail_recording=RuntimeError("DynamoDB unavailable"),
    ).place(request(**body), context)
    [recording] = recordings.deferred
    return recording


def round_trip(instruction: NewInstruction, queued: Any, replies: Any) -> None:
    body = recording_body(instruction, queued, replies)
    parsed = parse_recording(body)

    assert parsed.instruction == instruction
    assert parsed.queued == tuple(queued)
    assert parsed.replies == tuple(replies)
    assert json.loads(body)["kind"] == RECORDING_KIND


MULTI = {"callee": None, "callees": ["+31612345678", "+32470123456", "+31687654321"]}
KEYED = PlacementContext(owner="arn:aws:iam::123456789012:user/test", idempotency_key="k-1")


@pytest.mark.parametrize(
    ("body", "context"),
    [
        ({}, PlacementContext(owner="arn:aws:iam::123456789012:user/test")),
        ({"metadata": {"order-id": "7781", "purpose": "pin-check"}}, KEYED),
        ({**MULTI, "metadata": {"naam": "Zoë ✓"}, "prompt": "Café: type your PIN 🔢"}, KEYED),
        ({"digits-mode": "verify", "expected-digits": "4821", "anonymous": True}, KEYED),
    ],
    ids=["plain", "metadata-keyed", "multi-callee-unicode", "protected-digits"],
)
def test_a_real_deferred_recording_round_trips(body: dict[str, Any], context: Any) -> None:
    cm = FakeCm(refuse=frozenset({"+32470123456"}))
    instruction, queued, replies = deferred(body, context, cm)

    round_trip(instruction, queued, replies)


texts = st.text(max_size=30)
optional_texts = st.none() | texts
calls = st.builds(CmQueuedCall, optional_texts, optional_texts, st.booleans(), optional_texts)
queued_calls = st.builds(CmQueuedCall, texts.filter(bool), optional_texts, st.just(True))
json_leaves = st.none() | st.booleans() | st.integers() | texts
instructions = st.builds(
    NewInstruction,
    instruction_id=texts,
    owner=texts,
    caller=texts,
    callees=st.lists(texts, max_size=4).map(tuple),
    request=st.dictionaries(texts, json_leaves, max_size=5),
    metadata=st.dictionaries(texts, texts, max_size=5),
    created_at=st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]),
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
    ),
    stale_after_seconds=st.integers(min_value=0, max_value=10**6),
    idempotency_key=optional_texts,
    expected_digits_hash=optional_texts,
    campaign_id=optional_texts,
    body_hash=optional_texts,
    placing_until=st.none() | st.integers(min_value=0, max_value=2**40),
)


def _own(call: CmQueuedCall, instruction: NewInstruction, pick: int) -> CmQueuedCall:
    """The call with a callee the instruction names, or None (what with_own_callees gives)."""
    choices = [None, *instruction.callees]
    return dataclasses.replace(call, callee=choices[pick % len(choices)])


@settings(max_examples=150, deadline=None)
@given(
    instruction=instructions,
    queued=st.lists(st.tuples(queued_calls, st.integers(0, 8)), min_size=1, max_size=4),
    replies=st.lists(st.tuples(calls, st.integers(0, 8)), max_size=4),
)
def test_any_recording_round_trips(instruction: NewInstruction, queued: Any, replies: Any) -> None:
    queued = [_own(call, instruction, pick) for call, pick in queued]
    replies = [_own(call, instruction, pick) for call, pick in replies]
    round_trip(instruction, queued, replies)


def test_the_largest_instruction_fits_an_sqs_message_with_room_to_spare() -> None:
    wide = "🔢"  # 4 bytes in UTF-8: the widest character
    callees = [f"+3161234{n:04d}" for n in range(MAX_CALLEES)]
    metadata = {
        f"{n}".rjust(MAX_METADATA_KEY_LENGTH, "k"): wide * MAX_METADATA_VALUE_LENGTH
        for n in range(MAX_METADATA_KEYS)
    }
    prompts = dict.fromkeys(("prompt", "invalid-prompt", "valid-prompt"), wide * MAX_PROMPT_LENGTH)
    body = {"callee": None, "callees": callees, "metadata": metadata, **prompts}
    instruction, queued, replies = deferred(body, KEYED)
    long_errors = [
        CmQueuedCall(f"{n:032x}", callee, success=False, error=wide * 300)
        for n, callee in enumerate(callees)
    ]

    size = len(recording_body(instruction, queued, [*replies, *long_errors]).encode())

    assert len(queued) == MAX_CALLEES
    assert size < SQS_MAX_MESSAGE_BYTES // 4, size


GOOD = recording_body(*deferred(MULTI, KEYED))


def changed(path: tuple[str, ...], value: Any) -> str:
    data = json.loads(GOOD)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        json.dumps({"kind": "dtmf-gateway/set-aside"}),
        changed(("version",), 2),
        changed(("instruction",), None),
        changed(("instruction", "created-at"), "yesterday"),
        changed(("instruction", "created-at"), "2026-11-30T10:00:00"),  # no offset
        changed(("instruction", "stale-after-seconds"), "60"),
        changed(("instruction", "stale-after-seconds"), True),
        changed(("instruction", "metadata"), {"a": 1}),
        changed(("instruction", "callees"), "+31612345678"),
        changed(("instruction", "instruction-id"), None),
        changed(("queued",), []),
        changed(("queued",), [{"call-id": None, "callee": None, "success": True}]),
        changed(("replies",), [{"call-id": "c", "success": "yes"}]),
        changed(("replies",), None),
    ],
)
def test_anything_else_is_malformed(body: str) -> None:
    with pytest.raises(MalformedRecording):
        parse_recording(body)


def test_a_scheduled_instruction_is_not_deferred() -> None:
    instruction, queued, replies = deferred({}, KEYED)
    from dataclasses import replace

    from dtmf_gateway.domain.schedules import CalleeSchedule, ScheduleStatus

    scheduled = replace(
        instruction,
        schedule=(CalleeSchedule("+31612345678", ScheduleStatus.SCHEDULED, None, index=0),),
    )

    with pytest.raises(ValueError, match="scheduled"):
        recording_body(scheduled, queued, replies)
