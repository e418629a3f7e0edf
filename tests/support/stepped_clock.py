"""A clock for code that paces itself by the time of day (a campaign row's pacing windows,
`domain.campaign_use_cases.PlaceRow._paced`), so that a test decides where in a window the
work falls, whatever the machine's load.

It stands still while the code works and moves only when the code sleeps, by exactly the time
asked. On the real clock a row whose pacing writes happen to start near the end of a second
and take a loaded machine's 50 ms is sent back to the queue, as designed
(`test_budgets_taken_too_slowly_to_reach_cm_in_their_second_send_the_row_back` drives that
on purpose); a test that means to place a row must not depend on that luck.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta


class SteppedClock:
    """``now()`` (an aware UTC datetime) stands still; ``sleep(seconds)`` moves it on by
    ``seconds`` at once (negative: not at all). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    @classmethod
    def at_a_whole_second(cls) -> SteppedClock:
        """Starting at the real clock's current whole second: the start of a 1-second
        pacing window, so the first row has its whole window ahead of it."""
        return cls(datetime.fromtimestamp(math.floor(time.time()), UTC))

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(seconds, 0.0))
