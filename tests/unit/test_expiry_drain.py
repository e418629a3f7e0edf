"""Issue 12, capacity: the expirer drains every stale call within its time, with no count
limit, and stops itself (reporting a backlog) before the invocation's time runs out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from dtmf_gateway.domain.expiry import TIME_MARGIN_SECONDS, expire_stale_calls
from dtmf_gateway.domain.ports import PendingCall

NOW = datetime(2026, 11, 29, 5, 15, tzinfo=UTC)


class ManyPending:
    def __init__(self, count: int) -> None:
        self.left = [PendingCall(f"i-{n}", f"c-{n}") for n in range(count)]
        self.expired: list[PendingCall] = []

    def stale(self, now: datetime, keep_going: Callable[[], bool]) -> Iterator[PendingCall]:
        for call in list(self.left):
            if not keep_going():
                return
            yield call

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        self.expired.append(call)
        return True


@pytest.mark.parametrize("backlog", [0, 1, 999, 1000, 1001, 25_000])
def test_a_run_with_time_enough_expires_the_whole_backlog(backlog: int) -> None:
    pending = ManyPending(backlog)

    report = expire_stale_calls(pending, clock=lambda: NOW, seconds_left=lambda: 100.0)

    assert (report.expired, report.finished) == (backlog, True)


def test_a_run_stops_at_its_time_budget_and_says_so() -> None:
    pending = ManyPending(5000)
    remaining = iter(range(120, -1000, -1))  # one second per call, from 120 s left

    report = expire_stale_calls(
        pending, clock=lambda: NOW, seconds_left=lambda: float(next(remaining))
    )

    assert report.finished is False
    assert report.expired == 120 - int(TIME_MARGIN_SECONDS) + 1
