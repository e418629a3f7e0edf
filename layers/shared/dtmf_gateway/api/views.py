"""The JSON shape of `GET /v1/dtmf-calls/{instruction-id}`, built from the stored items."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dtmf_gateway.domain.calls import (
    TERMINAL_CALL_STATUSES,
    InstructionStatus,
    utc_now,
)

# A placement that wrote no call after this long will not write one any more (the function's
# timeout is far shorter): the instruction's outcome is then unknown until callbacks arrive.
PLACEMENT_GRACE = timedelta(minutes=2)


def instruction_status(
    instruction: dict[str, Any], calls: list[dict[str, Any]], now: datetime | None = None
) -> str:
    stored = instruction["status"]
    if calls:
        if all(c["status"] in TERMINAL_CALL_STATUSES for c in calls):
            return InstructionStatus.FINISHED.value
        return InstructionStatus.QUEUED.value
    if stored == InstructionStatus.PLACING:
        created = datetime.fromisoformat(instruction["created-at"])
        if (now or utc_now()) - created > PLACEMENT_GRACE:
            return InstructionStatus.UNKNOWN.value
    return str(stored)


def call_view(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "call-id": item["call-id"],
        "callee": item.get("callee"),
        "status": item["status"],
        "outcome": item.get("outcome"),
        "digits": item.get("digits"),
        "result": item.get("result"),
        "queued-at": item.get("queued-at"),
        "finished-at": item.get("finished-at"),
    }


def instruction_view(instruction: dict[str, Any], calls: list[dict[str, Any]]) -> dict[str, Any]:
    destinations = instruction.get("destinations", [])
    order = {callee: i for i, callee in enumerate(destinations)}
    ordered = sorted(calls, key=lambda c: (order.get(c.get("callee"), len(order)), c["call-id"]))
    view: dict[str, Any] = {
        "instruction-id": instruction["instruction-id"],
        "status": instruction_status(instruction, calls),
        "caller": instruction["caller"],
        "callees": destinations,
        "metadata": instruction.get("metadata", {}),
        "created-at": instruction["created-at"],
        "calls": [call_view(c) for c in ordered],
    }
    if instruction.get("status-reason"):
        view["status-reason"] = instruction["status-reason"]
    return view
