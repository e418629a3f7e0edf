"""What a campaign's row makes of its instruction id found taken (issue 17: "a crash anywhere
resumes without skipping or repeating a row").

A row's instruction id is `{campaign-id}.{row}`. When placing it meets
``InstructionAlreadyExists``, the instruction that holds the id (``PlacedBefore``, read by
the reservation itself: no extra read) says which of these it is:

- ``FOREIGN``: not this campaign's (a direct `POST /v1/dtmf-calls` named the id, or another
  campaign's row): the row ends `not-placed`, reason `instruction-id-in-use`;
- ``PLACED``: this campaign's and CM queued (or it was scheduled): an earlier delivery placed
  it; it is counted `placed` once and its `DTMF Result` ends it. So is a `placing` one that
  keeps CM's replies (issue 15, `InstructionStore.note_pending_recording`): CM queued its
  call, only the recording failed and waits (the placement-recordings queue, or the expirer
  at the calls' stale time), so its result will come, whatever its ``placing_until``;
- ``IN_PROGRESS``: this campaign's, still `placing` before its ``placing_until``: another
  delivery may be calling CM right now; the message waits;
- ``UNKNOWN``: this campaign's and CM's answer is unknown, or the attempt is over without an
  answer (it raised, which ends its window, or its deadline passed: the placer died during
  the CM call): the row ends `unknown` and is never placed again (never ring twice). This
  includes a placement whose recording failed and whose note of CM's replies failed too
  (DynamoDB failing throughout) when its recording is not applied by then: nothing on the
  instruction tells it from a placer that died during the CM call. Its result, if it comes,
  then changes nothing of the row (`CampaignStore.end_row`: the row has ended).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from dtmf_gateway.domain.calls import InstructionStatus
from dtmf_gateway.domain.placement_replay import PlacedBefore


class TakenRow(StrEnum):
    FOREIGN = "foreign"
    PLACED = "placed"
    IN_PROGRESS = "in-progress"
    UNKNOWN = "unknown"


#: Statuses of an instruction whose placement answered with calls placed or planned.
_PLACED = frozenset(
    {
        InstructionStatus.QUEUED,
        InstructionStatus.FINISHED,
        InstructionStatus.SCHEDULED,
        InstructionStatus.CANCELLED,
    }
)


def taken_row(found: object | None, campaign_id: str, owner: str, now: datetime) -> TakenRow:
    """What the instruction ``found`` at a row's id (``InstructionAlreadyExists.found``) means
    for the row of campaign ``campaign_id`` placed by ``owner``. An instruction that could not
    be read (None) is taken as UNKNOWN: the safe side, it is never placed again."""
    if not isinstance(found, PlacedBefore):
        return TakenRow.UNKNOWN
    if found.campaign_id != campaign_id or found.owner != owner:
        return TakenRow.FOREIGN
    if found.status in _PLACED or _recording_waits(found):
        return TakenRow.PLACED
    if (
        found.status == InstructionStatus.PLACING
        and found.placing_until is not None
        and now.timestamp() < found.placing_until
    ):
        return TakenRow.IN_PROGRESS
    return TakenRow.UNKNOWN


def _recording_waits(found: PlacedBefore) -> bool:
    """Whether ``found`` is `placing` with CM's replies noted on it and a call CM queued among
    them: the attempt answered, only its recording waits (placement_replay.replay waits for
    it likewise)."""
    return found.status is InstructionStatus.PLACING and any(
        call.success and call.call_id for call in found.calls
    )
