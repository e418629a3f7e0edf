"""Calls that never got a callback become `expired` once they are surely over.

Each queued call has a stale-after moment: queued time + the longest the call can last (ringing +
prompts and key timeouts for every attempt) + a grace period for a late callback. The
expirer only looks at calls past that moment, through a sparse sharded index, and ends them
with the same conditional write a callback uses — so exactly one of the two wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dtmf_gateway.domain.calls import iso, utc_now

if TYPE_CHECKING:
    from dtmf_gateway.domain.ports import PendingCall, PendingCalls

# How long after a call must have ended we still wait for CM's callback.
CALLBACK_GRACE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    examined: int
    expired: int
    already_ended: int


def expire_stale_calls(
    pending: PendingCalls, clock: Callable[[], datetime] = utc_now, limit: int = 1000
) -> ExpiryReport:
    now = clock()
    examined = expired = 0
    for call in pending.stale(now):
        examined += 1
        if pending.expire(call, iso(clock())):
            expired += 1
        else:
            settle_held(pending, call)
        if examined >= limit:
            break
    return ExpiryReport(examined=examined, expired=expired, already_ended=examined - expired)


def settle_held(pending: PendingCalls, call: PendingCall) -> bool | None:
    """Settle a call whose callback overtook a placement that never recorded its calls (the
    expirer finds it on the pending index once PLACEMENT_GRACE has passed): released —
    published — when the placement recorded it, or, with no placement record, when its
    callee has no other call; else set aside (never published). None: the call is not held.
    """
    held = pending.held(call)
    if held is None:
        return None
    if held.placement_call_ids is not None:
        release = call.call_id in held.placement_call_ids
    else:
        release = held.callee is not None and held.callee not in held.callees_with_a_call
    return pending.settle(call, release=release) and release
