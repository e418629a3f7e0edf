"""The stack-wide placement limit (`CmMaxCallsPerSecond`) for direct and scheduled placements.

Every placement of the stack takes from one per-second counter before CM is called: campaign
rows in `campaign_use_cases.PlaceRow._paced` (after their campaign's rate and all campaigns'
`CampaignCallsPerSecond`), direct `POST /v1/dtmf-calls` and scheduled dials here. One token
is **one call**: one callee of a CM placement request. An instruction with 20 callees takes
20 tokens at once (one conditional write, all or none), a campaign row or a scheduled dial
one: the counter measures what CM is asked to ring, whatever the batching.

Windows are whole seconds of the stack's clock. A call must leave for CM before the end of
the second that counted it, with a margin for its trip (else it could reach CM in the next
second beside that second's own calls): campaign rows take no budget in a window's last
`WINDOW_TAIL` (500 ms: they wait in a queue anyway); direct and scheduled placements none in
its last `SEND_MARGIN` (100 ms: an API caller waits for it). One that comes in that margin
waits for the next second (at most 100 ms; 10% of requests, 5 ms on average); one whose
write took it into the margin has its token forfeited (counted, never used: the slow side)
and takes one in the next second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Self

from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.errors import StackAtLimit
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext
from dtmf_gateway.domain.request_limits import MAX_CALLEES

if TYPE_CHECKING:
    from dtmf_gateway.domain.campaign_ports import Pacer
    from dtmf_gateway.domain.placement import PlacementResult
    from dtmf_gateway.domain.request import DtmfCallRequest

#: No token is taken this close to a window's end (seconds): see the module's docstring.
WINDOW_TAIL = 0.5
#: A direct or scheduled call leaves for CM at least this long before its second ends (s).
SEND_MARGIN = 0.1
#: The pacing scope every placement of the stack takes from (`CmMaxCallsPerSecond`).
ALL_PLACEMENTS_SCOPE = "all"


def pacing_window(per_second: float) -> tuple[int, int]:
    """(window seconds, placements per window) for a rate: whole calls per 1-second window
    from 1/s up (the fraction dropped: never above the rate); below 1/s one call per window
    of ``ceil(1 / rate)`` seconds."""
    if per_second >= 1:
        return 1, math.floor(per_second)
    return math.ceil(1 / per_second), 1


def check_limits(stack: float, campaigns: float | None = None) -> None:
    """The relation the template cannot express (CloudFormation Rules compare no numbers):
    ``MAX_CALLEES`` (20) ≤ `CmMaxCallsPerSecond` (an instruction of 20 callees fits in one
    second) and, when ``campaigns`` is given, 0 < `CampaignCallsPerSecond` <
    `CmMaxCallsPerSecond` (campaigns always leave a share to direct calls). Raises
    ValueError naming the parameters."""
    if stack < MAX_CALLEES:
        raise ValueError(
            f"CmMaxCallsPerSecond ({stack:g}) must be at least {MAX_CALLEES}: an instruction "
            f"of {MAX_CALLEES} callees is placed in one second"
        )
    if campaigns is not None and not 0 < campaigns < stack:
        raise ValueError(
            f"CampaignCallsPerSecond ({campaigns:g}) must be above 0 and below "
            f"CmMaxCallsPerSecond ({stack:g}): the difference is kept for direct calls"
        )


class StackPacing:
    """Takes calls from the stack-wide counter right before CM is called.

    ``waits``: how many times a placement that finds the second spent waits for the next one
    in-process (0 for an API request: it answers 429 at once; 1 for a scheduled dial)."""

    def __init__(
        self,
        pacer: Pacer,
        calls_per_second: float,
        *,
        waits: int = 0,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._pacer, self._limit, self._waits = pacer, calls_per_second, waits
        self._clock, self._sleep = clock, sleep

    def take(self, calls: int) -> None:
        """Take ``calls`` tokens (one per callee) in the current second, all or none, with
        one conditional write, so that the call leaves at least SEND_MARGIN before that
        second ends (waiting for the next second when it comes later, and taking again
        there when the write itself took it into the margin). Raises StackAtLimit when the
        second has not that many left (after ``waits`` more seconds)."""
        full, late = self._waits, 1  # spent seconds still to wait for; late writes to redo
        for _ in range(self._waits + 4):  # bounded, whatever the clock does
            now = self._clock()
            left = 1 - now.timestamp() % 1
            if left <= SEND_MARGIN:  # a call sent now could reach CM in the next second
                self._sleep(left + 0.001)
                continue
            if not self._pacer.acquire(ALL_PLACEMENTS_SCOPE, self._limit, now, tokens=calls):
                if full == 0:
                    break
                full -= 1
            elif (self._clock() - now).total_seconds() <= left - SEND_MARGIN:
                return
            elif late == 0:  # two slow writes in a row
                break
            else:  # the write took it into the margin: that token is forfeited
                late -= 1
            self._sleep(1 - self._clock().timestamp() % 1 + 0.001)
        raise StackAtLimit(calls, self._limit)


class PacedPlaceInstruction(PlaceInstruction):
    """`PlaceInstruction` for direct `POST /v1/dtmf-calls`: a placement that sets no
    ``before_cm`` of its own takes one token per callee from the stack's limit right before
    CM is called (StackAtLimit then propagates: the reservation is `not-placed`, the key is
    free, a retry places). Campaign rows use the plain use case: they pace themselves."""

    _stack_pacing: StackPacing | None = None

    def paced_by(self, stack_pacing: StackPacing) -> Self:
        """This use case, taking from ``stack_pacing`` (wiring calls it once, at init)."""
        self._stack_pacing = stack_pacing
        return self

    def place(self, request: DtmfCallRequest, context: PlacementContext) -> PlacementResult:
        pacing = self._stack_pacing
        if context.before_cm is None and pacing is not None:
            calls = len(request.all_callees())
            context = replace(context, before_cm=lambda: pacing.take(calls))
        return super().place(request, context)


__all__ = [
    "ALL_PLACEMENTS_SCOPE",
    "SEND_MARGIN",
    "WINDOW_TAIL",
    "PacedPlaceInstruction",
    "StackAtLimit",
    "StackPacing",
    "check_limits",
    "pacing_window",
]
