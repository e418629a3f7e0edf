"""domain.campaign_taken_rows: what a campaign's row makes of the instruction holding its id."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from dtmf_gateway.domain.calls import InstructionStatus
from dtmf_gateway.domain.campaign_taken_rows import TakenRow, taken_row
from dtmf_gateway.domain.placement_replay import PlacedBefore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OWNER = "arn:aws:iam::123456789012:role/campaigns"
ROWS = PlacedBefore(
    instruction_id="c1.1",
    owner=OWNER,
    idempotency_key=None,
    body_hash=None,
    status=InstructionStatus.PLACING,
    created_at="2026-12-01T08:59:00.000Z",
    placing_until=int(NOW.timestamp()) + 60,
    campaign_id="c1",
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"campaign_id": None}, TakenRow.FOREIGN),  # a direct POST /v1/dtmf-calls
        ({"campaign_id": "c2"}, TakenRow.FOREIGN),  # another campaign
        ({"owner": "arn:aws:iam::123456789012:user/x"}, TakenRow.FOREIGN),
        ({"status": InstructionStatus.QUEUED, "placing_until": None}, TakenRow.PLACED),
        ({"status": InstructionStatus.FINISHED, "placing_until": None}, TakenRow.PLACED),
        ({"status": InstructionStatus.SCHEDULED, "placing_until": None}, TakenRow.PLACED),
        ({}, TakenRow.IN_PROGRESS),
        ({"placing_until": int(NOW.timestamp())}, TakenRow.UNKNOWN),  # its deadline passed
        ({"placing_until": None}, TakenRow.UNKNOWN),  # the attempt raised: window ended
        ({"status": InstructionStatus.UNKNOWN, "placing_until": None}, TakenRow.UNKNOWN),
    ],
)
def test_what_holds_the_id_decides_the_row(changes: dict[str, object], expected: TakenRow) -> None:
    found = dataclasses.replace(ROWS, **changes)  # type: ignore[arg-type]
    assert taken_row(found, "c1", OWNER, NOW) == expected


def test_an_instruction_that_could_not_be_read_is_never_placed_again() -> None:
    assert taken_row(None, "c1", OWNER, NOW) == TakenRow.UNKNOWN
