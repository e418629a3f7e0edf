"""domain.campaign_taken_rows: what a campaign's row makes of the instruction holding its id."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from dtmf_gateway.domain.calls import CmQueuedCall, InstructionStatus
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
#: CM's replies noted on a `placing` instruction whose recording failed (issue 15)
NOTED = (CmQueuedCall("5b3a6c1e-8d2f-4e7a-9c0b-1f2e3d4c5b6a", "+31612000000", success=True),)
REFUSED = (CmQueuedCall(None, "+31612000000", success=False, error="not reachable"),)


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
        # CM queued the call, its recording waits: placed, whatever the placer's deadline
        ({"calls": NOTED}, TakenRow.PLACED),
        ({"calls": NOTED, "placing_until": int(NOW.timestamp())}, TakenRow.PLACED),
        ({"calls": REFUSED, "placing_until": int(NOW.timestamp())}, TakenRow.UNKNOWN),
        ({"calls": NOTED, "campaign_id": "c2"}, TakenRow.FOREIGN),
    ],
)
def test_what_holds_the_id_decides_the_row(changes: dict[str, object], expected: TakenRow) -> None:
    found = dataclasses.replace(ROWS, **changes)  # type: ignore[arg-type]
    assert taken_row(found, "c1", OWNER, NOW) == expected


def test_an_instruction_that_could_not_be_read_is_never_placed_again() -> None:
    assert taken_row(None, "c1", OWNER, NOW) == TakenRow.UNKNOWN
