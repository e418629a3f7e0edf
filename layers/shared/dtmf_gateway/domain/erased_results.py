"""Issue 19: a result the outbox publishes after its instruction's erasure carries no
personal data, whatever the order in which the erasure, the placement's recording and CM's
callback wrote the table.

A call item may still hold the numbers when its end is written: the placement writes its
calls with them and scrubs them only once it finds the erasure's mark on the instruction
(``record_queued_calls``), and a callback that read the instruction before the erasure keeps
the digits. The stream image of that end is what the outbox receives. So the outbox looks at
the instruction last (:class:`~dtmf_gateway.domain.ports.ErasureMarks`, a strongly consistent
read): the erasure marks the instruction before it answers 200, so every event built after
that answer is built without the personal data. An event built before it (already on its way
to the bus) is the result as it was before the erasure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dtmf_gateway.domain.ports import ErasureMarks
    from dtmf_gateway.domain.stored import StoredCall


def erased_call(call: StoredCall, erased_at: str) -> StoredCall:
    """``call`` as the erasure leaves it (adapters' ``erase_call_item``): no caller, callee,
    digits nor callback body, ``metadata`` empty, ``erased-at`` its own mark if it has one,
    else ``erased_at`` (ISO-8601 UTC). Ids, status, outcome, `verified`, `result` and times
    stay."""
    return replace(
        call,
        caller=None,
        callee=None,
        digits=None,
        callback_body=None,
        metadata={},
        erased_at=call.erased_at or erased_at,
    )


def erasure_marks_of(calls: Iterable[StoredCall], marks: ErasureMarks) -> dict[str, str]:
    """The `erased-at` of the instructions of ``calls`` whose personal data was erased (one
    read for all; none when every call already says it was erased)."""
    unmarked = {call.instruction_id for call in calls if call.erased_at is None}
    return marks.erased(unmarked) if unmarked else {}


def as_published(call: StoredCall, erased: Mapping[str, str]) -> StoredCall:
    """``call`` as it may be published: without its personal data when it, or its
    instruction (``erased``: instruction id → `erased-at`), was erased."""
    erased_at = call.erased_at or erased.get(call.instruction_id)
    return call if erased_at is None else erased_call(call, erased_at)
