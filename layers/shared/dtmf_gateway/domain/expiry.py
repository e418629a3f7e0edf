"""Calls that never got a callback become `expired` once they are surely over.

Each queued call has a stale-after moment: queued time + the longest the call can last (ringing +
prompts and key timeouts for every attempt) + a grace period for a late callback
(`calls.CALLBACK_GRACE`). The expirer walks the calls past that moment in order, through a
sparse sharded index that keeps ended calls too (the adapter remembers how far it got), skips
those that ended, and ends the others with the same conditional write a callback uses — so
exactly one of the two wins.

Issue 15: a placement whose recording could not be written keeps CM's replies on its
instruction, with an entry on the same index at its calls' stale time. If the recording has
not been applied by then (the placement-recordings queue failed too, or keeps failing), the
expirer applies it there and expires its calls at once: a call whose callback never came is
still ended and published.

An entry the store can never handle (`StaleEntryUnusable`: e.g. a noted call id over
DynamoDB's key limit) is set aside: reported (`on_set_aside`: logged, alarmed) and passed,
so that one bad entry never holds back the others or the walk's cursor. Any other failure
(throttling, a timeout) ends the run as before: nothing is passed, the next run retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import iso, utc_now
from dtmf_gateway.domain.errors import StaleEntryUnusable

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import PendingCall, PendingCalls

# What a run keeps back from its time budget: a page of the index and one write take well
# under a second; the rest is headroom so the run ends itself instead of being killed.
TIME_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    examined: int  # stale calls found still waiting (queued or held)
    expired: int
    already_ended: int  # of those examined: a callback came first, or held (settled instead)
    finished: bool  # False: the time budget ran out with stale calls left (next run goes on)
    skipped: int = 0  # stale calls that had ended before this run read them (nothing to do)
    set_aside: int = 0  # entries the store can never handle (StaleEntryUnusable), passed


def expire_stale_calls(
    pending: PendingCalls,
    clock: Callable[[], datetime] = utc_now,
    *,
    seconds_left: Callable[[], float] = lambda: float("inf"),
    margin_seconds: float = TIME_MARGIN_SECONDS,
    on_set_aside: Callable[[PendingCall, StaleEntryUnusable], None] = lambda _e, _r: None,
) -> ExpiryReport:
    """Expire every call stale at the start of the run, until none is left or
    `seconds_left()` (the invocation's remaining time, seconds) falls below `margin_seconds`.

    There is no count limit: a run drains the backlog as fast as the table allows, and a run
    cut short by time reports ``finished=False`` (the next scheduled run continues from where
    this one stopped). Calls that had already ended are only counted (``skipped``). An entry
    the store raises `StaleEntryUnusable` on is reported to `on_set_aside` and passed
    (``set_aside``); what it handled before failing stays done. Other errors propagate."""
    now = clock()
    examined = expired = skipped = set_aside = 0
    out_of_time = False

    def keep_going() -> bool:
        nonlocal out_of_time
        out_of_time = seconds_left() < margin_seconds
        return not out_of_time

    for entry in pending.stale(now, keep_going):
        try:
            # issue 15: an instruction whose recording waits is applied here (its queue
            # failed, or still retries): its calls are stale by now, so handled at once
            for call in pending.apply_recording(entry) if entry.recording else (entry,):
                if call.ended:
                    skipped += 1
                    continue
                examined += 1
                if pending.expire(call, iso(clock())):
                    expired += 1
                else:
                    settle_held(pending, call)
        except StaleEntryUnusable as unusable:
            set_aside += 1
            on_set_aside(entry, unusable)
    return ExpiryReport(
        examined=examined,
        expired=expired,
        already_ended=examined - expired,
        finished=not out_of_time,
        skipped=skipped,
        set_aside=set_aside,
    )


def settle_held(pending: PendingCalls, call: PendingCall) -> bool | None:
    """Settle a call whose callback overtook a placement that never recorded its calls (the
    expirer finds it on the pending index once PLACEMENT_GRACE has passed): released —
    published — when the placement recorded it, or, with no placement record, when its
    callee has no other call; else set aside (never published). None: the call is not held.

    Round 2 (#16): a held call a later attempt of its callee redials (its dial's recording
    could not settle it) is held `redialled`, never published as final; a call held until
    a deadline (its redial attempt's CM answer was lost; held `redialled`, or still awaiting
    its placement when its overtaking callback was not settled: HeldCall.redialled) is
    released as the callee's result when no later call of the callee came, else stays
    `redialled` (that attempt's late callback is the result): one result either way, in
    whatever order the two are settled."""
    held = pending.held(call)
    if held is None:
        return None
    if held.redialled_by_schedule and not held.redialled:
        pending.settle(call, release=False, redialled=True)
        return False
    if held.redialled:
        release = held.callee is None or held.callee not in held.callees_with_a_call
    elif held.placement_call_ids is not None:
        release = call.call_id in held.placement_call_ids
    else:
        release = held.callee is not None and held.callee not in held.callees_with_a_call
    return pending.settle(call, release=release) and release
