"""A placement's recording applied after the fact (issue 15: nothing accepted is lost).

When CM has queued an instruction's calls but their recording could not be written at once,
`PlaceInstruction` hands it to `PlacementRecordings`; this use case applies it later with the
same `InstructionStore.record_queued_calls` (re-applying it changes nothing).

One thing differs from a recording written at once: it may be applied long after the calls
were queued (SQS retries, a redrive from the DLQ days later). The expirer walks the pending
index by `stale-at` behind a cursor (adapters.dynamodb.pending_calls) that never goes back,
and relies on every entry being written before its `stale-at` has passed; an entry written
behind the cursor would never be expired and its result never published. So a late
recording's calls are stale no earlier than CALLBACK_GRACE after the recording is applied:
a call whose callback never comes is expired then.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import CALLBACK_GRACE, CmQueuedCall, NewInstruction, utc_now

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import InstructionStore


def recorded_late(instruction: NewInstruction, now: datetime) -> NewInstruction:
    """The instruction as a recording applied at ``now`` (aware) writes it: unchanged while
    its calls' stale time (``created_at`` + ``stale_after_seconds``) is at least
    CALLBACK_GRACE ahead of ``now``, else with ``stale_after_seconds`` (whole seconds)
    moved to that."""
    earliest = now + CALLBACK_GRACE
    stale = instruction.created_at + timedelta(seconds=instruction.stale_after_seconds)
    if stale >= earliest:
        return instruction
    seconds = math.ceil((earliest - instruction.created_at).total_seconds())
    return dataclasses.replace(instruction, stale_after_seconds=seconds)


class ApplyPlacementRecording:
    """Use case: apply a deferred recording (functions/record_placements)."""

    def __init__(self, store: InstructionStore, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock

    def apply(
        self,
        instruction: NewInstruction,
        queued: Sequence[CmQueuedCall],
        replies: Sequence[CmQueuedCall],
    ) -> None:
        """`record_queued_calls` of the deferred recording, its calls stale no earlier than
        CALLBACK_GRACE from now (`recorded_late`). Raises what the store raises (the
        message is then retried)."""
        self._store.record_queued_calls(recorded_late(instruction, self._clock()), queued, replies)
