"""The bench's lifecycles place at once at any time of day: the template's default quiet
hours (21:00-08:00 in the callee's zone) made every bench placement a scheduled one during the
Dutch night, and `bench.requests` (and the tests that run it) failed each evening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.common import BENCH_CALLEE_ZONE, function_environment, quiet_hours_away_from_now
from dtmf_gateway.domain.quiet_hours import QuietHours


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    )
)
def test_the_bench_quiet_hours_are_never_within_the_next_ten_hours(now: datetime) -> None:
    window = QuietHours.parse(quiet_hours_away_from_now(now))
    assert window is not None and not window.empty
    zone = ZoneInfo(BENCH_CALLEE_ZONE)
    # a bench run lasts far less; 10 h leaves room for a DST change's hour
    for minutes in range(0, 10 * 60, 7):
        local = (now + timedelta(minutes=minutes)).astimezone(zone)
        assert not window.contains(local.time()), (now, minutes, window)


def test_every_function_with_quiet_hours_gets_the_bench_window() -> None:
    window = QuietHours.parse(function_environment("place_call")["QUIET_HOURS"])
    assert window is not None
    assert not window.contains(datetime.now(ZoneInfo(BENCH_CALLEE_ZONE)).time())
