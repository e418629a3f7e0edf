"""The `DTMF Call Not Placed` event (round 2, #16): one per callee that ends without a CM
call — cancelled, past its deadline, refused by the dialling policy at dial time, or refused
by CM when its schedule dialled it. Published from the table's stream like `DTMF Result`.

The pydantic model is the source of truth; `schemas/dtmf-call-not-placed.v1.json` is
generated from it (`make schema`) and a contract test keeps the two identical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from dtmf_gateway.domain.schedules import NotPlacedReason

if TYPE_CHECKING:
    from dtmf_gateway.domain.schedules import CalleeSchedule
    from dtmf_gateway.domain.stored import StoredInstruction

NOT_PLACED_DETAIL_TYPE = "DTMF Call Not Placed"

_E164 = r"^\+[1-9][0-9]{6,14}$"
_ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


class NotPlacedDetail(BaseModel):
    """`detail` of a `DTMF Call Not Placed` event (source `dtmf-gateway`)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, title="DtmfCallNotPlaced"
    )

    schema_version: Literal["1"] = Field(default="1", alias="schema-version")
    instruction_id: str = Field(alias="instruction-id", min_length=1, max_length=64)
    callee: str | None = Field(pattern=_E164, description="E.164; null only once erased")
    caller: str | None = Field(pattern=_E164, description="E.164; null only once erased")
    reason: NotPlacedReason = Field(
        description="`cancelled` (DELETE), `deadline-passed` (`not-after` came first), "
        "`policy-refused` (the dialling policy refused it at dial time), `cm-refused` (CM "
        "refused the scheduled call), `instruction-id-in-use` (a campaign's row whose id "
        "`{campaign-id}.{row}` another instruction holds)"
    )
    metadata: dict[str, str] = Field(description="as given when the instruction was placed")
    campaign_id: str | None = Field(
        default=None, alias="campaign-id", description="the campaign it belongs to, if any"
    )
    ended_at: str = Field(alias="ended-at", pattern=_ISO_UTC)
    #: the callee's place in the instruction's callees (not published): what tells the events
    #: of two callees apart once their numbers are erased (adapters.eventbridge.not_placed_urn)
    _callee_index: int | None = PrivateAttr(default=None)

    @property
    def callee_index(self) -> int | None:
        return self._callee_index

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def newly_unplaced(
    old: StoredInstruction | None, new: StoredInstruction | None
) -> list[CalleeSchedule]:
    """The callees of ``new`` whose schedule ended unplaced in this change (so each is
    published once: when it became cancelled or not-placed)."""
    if new is None:
        return []
    before = {s.index: s for s in old.schedule} if old is not None else {}
    return [
        entry
        for entry in new.schedule
        if entry.ended_unplaced
        and entry.call_id is None  # a callee called before: its last call is its result
        and not (entry.index in before and before[entry.index].ended_unplaced)
    ]


def not_placed_detail(instruction: StoredInstruction, entry: CalleeSchedule) -> NotPlacedDetail:
    """The event of a callee that ended unplaced; pydantic's ValidationError when the record
    lacks what the event needs. Once the instruction's personal data was erased (issue 19)
    the event is published without it, as a `DTMF Result` is: ``caller`` and ``callee``
    null, ``metadata`` ``{}``."""
    detail = NotPlacedDetail.model_validate(
        {
            "instruction-id": instruction.instruction_id,
            "callee": entry.callee,
            "caller": instruction.caller,
            "reason": entry.reason,
            "metadata": instruction.metadata,
            "ended-at": entry.ended_at,
        }
    )
    detail._callee_index = entry.index
    return detail
