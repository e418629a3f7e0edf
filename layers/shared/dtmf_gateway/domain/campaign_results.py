"""A campaign row's `DTMF Result`, read defensively: which row of which campaign it ends, and
with what line of `results-uri` (README, Campaigns: "Progress and results").

The campaign worker receives every `DTMF Result` whose `detail` carries `campaign-id` (an
EventBridge rule on the stack's bus). Anything that is not a well-formed result of a row —
an `instruction-id` that is not `{campaign-id}.{row}` (row from 1), an unknown `outcome`, a
`revision` that is not a whole number ≥ 0 — is a stray: `row_result` answers None and the
event changes nothing. Whether the row exists in that campaign and was placed is the
store's to check (`CampaignStore.end_row`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dtmf_gateway.domain.calls import Outcome
from dtmf_gateway.domain.campaign_ports import FINISHED, RowEnd

_OUTCOMES = frozenset(o.value for o in Outcome)


class ResultVerdict(StrEnum):
    """What a `DTMF Result` of a campaign row came to (the worker logs and counts it)."""

    COUNTED = "counted"  # it ended its row: `finished` and its outcome + 1
    CORRECTED = "corrected"  # a later revision replaced the row's result (counts moved)
    #: Its row had already ended — with this or a later revision (a repeat, out of order), or
    #: without a call (not placed, unknown, duplicate): nothing changed.
    REPEATED = "repeated"
    #: A stray: malformed, or for a row the campaign never placed (no such row or campaign,
    #: an invalid row, a row not placed yet): nothing changed.
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class RowResult:
    """The campaign and the row end a well-formed result event gives."""

    campaign_id: str
    end: RowEnd


def row_result(detail: Mapping[str, Any]) -> RowResult | None:
    """The row end of a `DTMF Result` ``detail`` (kebab-case keys, as published): counters
    `finished` and the outcome, the row's results line (`row`, `instruction-id`, `callee`,
    `outcome`, `digits`, `attempts`, `finished-at`, `queued-at`, and `verified` when given),
    ``revision`` (0 when absent). None when the detail is not a well-formed result of a
    campaign row (see the module's docstring)."""
    campaign_id = detail.get("campaign-id")
    instruction_id = detail.get("instruction-id")
    if not isinstance(campaign_id, str) or not campaign_id or not isinstance(instruction_id, str):
        return None
    row_text = instruction_id.removeprefix(f"{campaign_id}.")
    if row_text == instruction_id or not row_text.isascii() or not row_text.isdigit():
        return None
    row = int(row_text)
    if str(row) != row_text:  # `{campaign-id}.{row}` has no leading zeros
        return None
    outcome = detail.get("outcome")
    revision = detail.get("revision", 0)
    if revision is None:
        revision = 0
    if (
        row < 1
        or outcome not in _OUTCOMES
        or isinstance(revision, bool)
        or not isinstance(revision, int)
        or revision < 0
    ):
        return None
    line = {
        "row": row,
        "instruction-id": instruction_id,
        "callee": detail.get("callee"),
        "outcome": outcome,
        "digits": detail.get("digits"),
        "attempts": detail.get("attempts") or 1,
        "finished-at": detail.get("finished-at"),
        "queued-at": detail.get("queued-at"),
    }
    if "verified" in detail:
        line["verified"] = detail["verified"]
    end = RowEnd(row, line, (FINISHED, str(outcome)), revision=revision)
    return RowResult(campaign_id, end)


__all__ = ["ResultVerdict", "RowResult", "row_result"]
