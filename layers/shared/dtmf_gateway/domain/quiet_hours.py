"""Quiet hours in the callee's local time: when a call may start.

Rules (README, "Scheduling, quiet hours"):

* quiet hours are the half-open window [``start``, ``end``) of local wall-clock time, every
  day; ``start`` after ``end`` wraps midnight (``21:00-08:00``); ``start`` equal to ``end``
  means none;
* the callee's time zones come from the number: libphonenumber's time zone metadata
  (``phonenumbers.timezone.time_zones_for_number``), the rules from the IANA tz database
  (``zoneinfo``). A number whose range spans several zones may be called only when it is
  outside quiet hours in every one of them; a number with no known zone is treated as UTC;
* the next allowed moment is the first instant whose local time is outside the window in
  every zone — ``end`` itself, or, when ``end`` does not exist that night (the clocks jump
  over it), the instant the clocks jump.

Pure: no I/O. The time zone metadata is imported on first use only (about 1.5 ms, measured
with ``python -X importtime``), so functions that never schedule do not load it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from zoneinfo import ZoneInfo

#: "HH:MM" (24 h), as the request and the `QuietHours` stack parameter write a bound.
CLOCK_PATTERN: Final = r"^(?:[01]\d|2[0-3]):[0-5]\d$"
_CLOCK = re.compile(CLOCK_PATTERN)
_UNKNOWN_ZONE: Final = "Etc/Unknown"  # libphonenumber's answer for a range without a zone
#: Past this far ahead no allowed moment will come (the window and the zones cover every
#: instant of a day): the answer is None.
_SEARCH_LIMIT: Final = timedelta(days=3)


class InvalidQuietHours(ValueError):
    """A `QuietHours` text that is not ``HH:MM-HH:MM`` (nor empty)."""


def parse_clock(text: str) -> time:
    """``"21:00"`` as a time; ValueError unless ``HH:MM`` (00:00 to 23:59)."""
    if not _CLOCK.match(text):
        raise ValueError(f"{text!r} is not HH:MM (00:00 to 23:59)")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """The daily window [``start``, ``end``) of local wall-clock time in which no call starts."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"21:00-08:00"`` (the stack parameter's form); empty or blank: None (no quiet
        hours). Raises InvalidQuietHours otherwise."""
        text = text.strip()
        if not text:
            return None
        start, _, end = text.partition("-")
        try:
            return cls(parse_clock(start.strip()), parse_clock(end.strip()))
        except ValueError:
            raise InvalidQuietHours(f"quiet hours must be HH:MM-HH:MM, not {text!r}") from None

    @property
    def empty(self) -> bool:
        return self.start == self.end

    def contains(self, local: time) -> bool:
        """Whether a local wall-clock time is quiet (seconds count: 07:59:59 is quiet)."""
        if self.start < self.end:
            return self.start <= local < self.end
        if self.start > self.end:
            return local >= self.start or local < self.end
        return False

    def is_quiet(self, moment: datetime, zones: Sequence[ZoneInfo]) -> bool:
        """Whether ``moment`` (aware) is quiet in any of ``zones``."""
        return any(self.contains(_wall(moment, zone).time()) for zone in zones)

    def next_allowed(self, moment: datetime, zones: Sequence[ZoneInfo]) -> datetime | None:
        """The first instant at or after ``moment`` (aware) that is outside quiet hours in
        every zone (UTC); ``moment`` itself when it is. None when no such instant comes
        within three days (the window and the zones leave no moment of the day free)."""
        current = moment.astimezone(UTC)
        limit = current + _SEARCH_LIMIT
        while current <= limit:
            blocking = [z for z in zones if self.contains(_wall(current, z).time())]
            if not blocking:
                return current
            current = max(self._window_end(current, zone) for zone in blocking)
        return None

    def _window_end(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The end of the quiet window ``moment`` is in, in ``zone``: the first instant
        after ``moment`` whose wall-clock time is ``end`` (or later, when the clocks jump
        over ``end``)."""
        local = _wall(moment, zone)
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)
        for candidate_day in (day, day + timedelta(days=1)):
            found = _first_instant_at(datetime.combine(candidate_day, self.end), zone, moment)
            if found is not None:
                return found
        return moment + timedelta(days=1)  # pragma: no cover - a wall time recurs daily


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """``moment``'s local wall-clock time in ``zone`` (naive)."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _first_instant_at(wall: datetime, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first instant strictly after ``after`` whose wall-clock time in ``zone`` is
    ``wall`` or, if the clocks jump over ``wall``, the instant they jump; None if none such
    belongs to this ``wall`` (then the caller tries the next day)."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # the offset before a change
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # the offset after it
    first, second = min(early, late), max(early, late)
    candidates: list[datetime] = []
    for instant in (first, second):
        if _wall(instant, zone) == wall:
            candidates.append(instant)  # the wall time exists (once, or twice at a fall back)
    if not candidates:  # a spring-forward gap: the jump lies between the two readings
        candidates.append(_jump(first, second, zone, wall))
    later = [c for c in candidates if c > after]
    return min(later) if later else None


def _jump(low: datetime, high: datetime, zone: ZoneInfo, wall: datetime) -> datetime:
    """The first whole second in [low, high] whose wall-clock time is at or past ``wall``
    (bisection: wall-clock time only moves forward across a spring-forward jump)."""
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while lo < hi:
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


@cache
def _zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def zones_of_names(names: Iterable[str]) -> tuple[ZoneInfo, ...]:
    """The zones of IANA names (unknown names skipped); none known: (UTC,)."""
    from zoneinfo import ZoneInfoNotFoundError

    zones: list[ZoneInfo] = []
    for name in names:
        if name == _UNKNOWN_ZONE:
            continue
        try:
            zones.append(_zone(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return tuple(zones) or (_zone("UTC"),)


def callee_zones(e164: str) -> tuple[ZoneInfo, ...]:
    """The time zones of a number's range (libphonenumber's metadata; a country-wide list
    when the range has none of its own); (UTC,) when none is known."""
    import phonenumbers
    from phonenumbers import timezone

    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return zones_of_names(())
    return zones_of_names(timezone.time_zones_for_number(number))
