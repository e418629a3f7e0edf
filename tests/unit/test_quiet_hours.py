"""Quiet hours in the callee's local time: windows, several zones, DST nights."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.domain.quiet_hours import InvalidQuietHours, QuietHours, callee_zones

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
NIGHT = QuietHours(time(21), time(8))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_the_stack_parameter() -> None:
    assert QuietHours.parse("21:00-08:00") == NIGHT
    assert QuietHours.parse(" ") is None
    with pytest.raises(InvalidQuietHours):
        QuietHours.parse("21:00")
    with pytest.raises(InvalidQuietHours):
        QuietHours.parse("24:00-08:00")


def test_window_is_half_open_and_start_equal_end_is_none() -> None:
    assert NIGHT.contains(time(21))
    assert NIGHT.contains(time(7, 59, 59))
    assert not NIGHT.contains(time(8))
    assert not NIGHT.contains(time(20, 59))
    lunch = QuietHours(time(12), time(13))
    assert lunch.contains(time(12, 30)) and not lunch.contains(time(13))
    assert not QuietHours(time(9), time(9)).contains(time(9))


def test_outside_quiet_hours_the_moment_itself() -> None:
    moment = utc(2026, 6, 10, 10, 0)  # 12:00 in Amsterdam
    assert NIGHT.next_allowed(moment, (AMSTERDAM,)) == moment


def test_inside_quiet_hours_the_next_allowed_moment_is_end() -> None:
    # 23:00 in Amsterdam (CEST, UTC+2) → 08:00 next morning = 06:00 UTC
    assert NIGHT.next_allowed(utc(2026, 6, 10, 21, 0), (AMSTERDAM,)) == utc(2026, 6, 11, 6, 0)
    # 03:00 local → 08:00 the same day
    assert NIGHT.next_allowed(utc(2026, 6, 10, 1, 0), (AMSTERDAM,)) == utc(2026, 6, 10, 6, 0)


def test_a_number_spanning_several_zones_waits_for_all() -> None:
    # 13:00 UTC: 15:00 in Amsterdam, 09:00 in New York; 06:00 UTC: 08:00 AMS, 02:00 NY
    zones = (AMSTERDAM, NEW_YORK)
    assert NIGHT.next_allowed(utc(2026, 6, 10, 13), zones) == utc(2026, 6, 10, 13)
    # at 06:00 UTC Amsterdam is free but New York sleeps until 08:00 EDT = 12:00 UTC
    assert NIGHT.next_allowed(utc(2026, 6, 10, 6), zones) == utc(2026, 6, 10, 12)
    # 19:30 UTC: 21:30 in Amsterdam (quiet) → next moment free in both is 12:00 UTC tomorrow
    assert NIGHT.next_allowed(utc(2026, 6, 10, 19, 30), zones) == utc(2026, 6, 11, 12)


def test_zones_come_from_the_number() -> None:
    assert callee_zones("+31612345678") == (AMSTERDAM,)
    assert callee_zones("+12125550100") == (NEW_YORK,)
    assert len(callee_zones("+61491570156")) > 1  # an Australian mobile spans the continent
    assert callee_zones("+999") == (ZoneInfo("UTC"),)


def test_spring_forward_night_amsterdam() -> None:
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC). Quiet until 08:00 local:
    # 08:00 CEST = 06:00 UTC (not 07:00 as the evening's offset would say).
    assert NIGHT.next_allowed(utc(2026, 3, 28, 22), (AMSTERDAM,)) == utc(2026, 3, 29, 6)
    # a window ending inside the gap ends when the clocks jump
    gap = QuietHours(time(21), time(2, 30))
    assert gap.next_allowed(utc(2026, 3, 28, 22), (AMSTERDAM,)) == utc(2026, 3, 29, 1)
    assert not gap.is_quiet(utc(2026, 3, 29, 1), (AMSTERDAM,))
    assert gap.is_quiet(utc(2026, 3, 29, 0, 59, 59), (AMSTERDAM,))


def test_fall_back_night_new_york() -> None:
    # 1 November 2026: 02:00 EDT falls back to 01:00 EST (06:00 UTC). 08:00 EST = 13:00 UTC.
    assert NIGHT.next_allowed(utc(2026, 11, 1, 3), (NEW_YORK,)) == utc(2026, 11, 1, 13)
    # a window ending at 01:30 (which happens twice): the first 01:30 (EDT, 05:30 UTC) ends it
    twice = QuietHours(time(21), time(1, 30))
    assert twice.next_allowed(utc(2026, 11, 1, 3), (NEW_YORK,)) == utc(2026, 11, 1, 5, 30)
    # after the clocks fell back it is 01:00-01:30 again: quiet until the second 01:30 (EST)
    assert twice.next_allowed(utc(2026, 11, 1, 6, 10), (NEW_YORK,)) == utc(2026, 11, 1, 6, 30)


def test_no_free_moment_in_the_day_gives_none() -> None:
    almost_all_day = QuietHours(time(8), time(7))  # free 07:00-08:00 local only
    zones = (AMSTERDAM, ZoneInfo("Asia/Tokyo"))  # 7 hours apart: never free in both
    assert almost_all_day.next_allowed(utc(2026, 6, 10), zones) is None


ZONES = [
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/St_Johns",
    "UTC",
]
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    moment=moments,
    start=clock,
    end=clock,
    names=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
)
def test_next_allowed_is_the_first_free_instant(
    moment: datetime, start: time, end: time, names: list[str]
) -> None:
    quiet = QuietHours(start, end)
    zones = tuple(ZoneInfo(n) for n in names)
    found = quiet.next_allowed(moment, zones)
    if found is None:
        return
    assert found >= moment
    assert not quiet.is_quiet(found, zones)
    if found > moment:  # nothing earlier was free: the second before it is quiet
        assert quiet.is_quiet(found - timedelta(seconds=1), zones)


@settings(max_examples=200, deadline=None)
@given(moment=moments, start=clock, end=clock, name=st.sampled_from(ZONES))
def test_one_zone_always_has_a_free_moment_unless_quiet_all_day(
    moment: datetime, start: time, end: time, name: str
) -> None:
    quiet = QuietHours(start, end)
    found = quiet.next_allowed(moment, (ZoneInfo(name),))
    assert found is not None
    assert found - moment <= timedelta(days=1, hours=1)
