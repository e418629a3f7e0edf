"""The scheduling keys of ``POST /v1/dtmf-calls`` (round 2): ``not-before``, ``not-after``,
``quiet-hours``. Gateway keys, never sent to CM.

* ``not-before`` / ``not-after``: RFC 3339 times with an offset (``Z`` or ``±hh:mm``);
  ``not-after`` must be after ``not-before``. How far ahead ``not-before`` may be
  (``MaxScheduleDays``) and whether ``not-after`` is still ahead depend on the moment of the
  request: the use case checks them (:func:`window_problems`).
* ``quiet-hours``: ``{"start": "HH:MM", "end": "HH:MM"}`` in the callee's local time, or
  ``false`` for none (stored as the empty window ``00:00-00:00``: start equal to end means
  none); absent: the stack's ``QuietHours``.
* ``redial``: :class:`RedialPolicy` (a request with it is always scheduled: each attempt is a
  scheduled dial).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, field_validator

from dtmf_gateway.domain.errors import FieldProblem
from dtmf_gateway.domain.quiet_hours import CLOCK_PATTERN, QuietHours, parse_clock
from dtmf_gateway.domain.request_fields import WholeNumber, fail

if TYPE_CHECKING:
    from dtmf_gateway.domain.schedules import CalleeSchedule

_RFC3339: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
RFC3339_RULE: Final = "must be an RFC 3339 time with an offset, e.g. 2026-12-01T09:30:00+01:00"
CLOCK_RULE: Final = "must be a local time HH:MM (00:00 to 23:59)"
QUIET_HOURS_RULE: Final = (
    'must be {"start": "HH:MM", "end": "HH:MM"} (the callee\'s local time) or false'
)
#: ``quiet-hours: false`` as stored: the empty window.
NO_QUIET_HOURS: Final = {"start": "00:00", "end": "00:00"}
QUIET_HOURS_KEYS: Final = ("start", "end")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):  # already validated (model_copy, re-validation)
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise fail(RFC3339_RULE)
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        # A local time near year 1 or 9999 whose UTC instant lies outside datetime's range
        # (9999-12-31T23:59:59-23:59) would overflow later, in every comparison or iso().
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise fail(RFC3339_RULE) from None
    return moment


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 time with an offset (aware), or None (e.g. for a query parameter)."""
    try:
        moment = _rfc3339(text)
    except ValueError:
        return None
    return moment if isinstance(moment, datetime) else None


#: An RFC 3339 time with an offset, kept as an aware datetime.
Rfc3339Time = Annotated[datetime, BeforeValidator(_rfc3339)]


class QuietHoursWindow(BaseModel):
    """``quiet-hours``: the daily window [start, end) in the callee's local time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: StrictStr = Field(pattern=CLOCK_PATTERN, description="HH:MM, local time")
    end: StrictStr = Field(pattern=CLOCK_PATTERN, description="HH:MM, local time")

    def window(self) -> QuietHours:
        return QuietHours(parse_clock(self.start), parse_clock(self.end))


#: The outcomes a callee may be called again on (`redial.on`).
REDIAL_OUTCOMES: Final = ("unanswered", "rejected", "failed", "no-input", "invalid-input")
MAX_REDIALS: Final = 5
MIN_REDIAL_INTERVAL, MAX_REDIAL_INTERVAL = 60, 86_400
REDIAL_KEYS: Final = ("on", "max-redials", "interval-seconds")


class RedialPolicy(BaseModel):
    """``redial``: call a callee again (a new CM call) when its call ends with one of ``on``,
    at most ``max-redials`` times, ``interval-seconds`` after the previous call ended."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    on: tuple[StrictStr, ...] = Field(min_length=1, max_length=len(REDIAL_OUTCOMES))
    max_redials: WholeNumber = Field(alias="max-redials", ge=1, le=MAX_REDIALS)
    interval_seconds: WholeNumber = Field(
        alias="interval-seconds", ge=MIN_REDIAL_INTERVAL, le=MAX_REDIAL_INTERVAL
    )

    @field_validator("on")
    @classmethod
    def _known_outcomes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in REDIAL_OUTCOMES]
        if unknown or len(set(value)) != len(value):
            raise fail(REDIAL_ON_RULE)
        return value


REDIAL_ON_RULE: Final = f"must be a list of distinct outcomes from {', '.join(REDIAL_OUTCOMES)}"


def opted_out(data: Any) -> Any:
    """``quiet-hours: false`` as the empty window (before validation)."""
    if isinstance(data, dict) and data.get("quiet-hours") is False:
        return {**data, "quiet-hours": dict(NO_QUIET_HOURS)}
    return data


FIELD_RULES: Final[Mapping[str, str]] = {
    "not-before": RFC3339_RULE,
    "not-after": RFC3339_RULE,
    "quiet-hours": QUIET_HOURS_RULE,
    "quiet-hours.start": CLOCK_RULE,
    "quiet-hours.end": CLOCK_RULE,
    "redial": 'must be {"on": [...], "max-redials": 1-5, "interval-seconds": 60-86400}',
    "redial.on": REDIAL_ON_RULE,
    "redial.max-redials": f"must be a whole number between 1 and {MAX_REDIALS}",
    "redial.interval-seconds": (
        f"must be a whole number of seconds between {MIN_REDIAL_INTERVAL} and {MAX_REDIAL_INTERVAL}"
    ),
}


def _moment(value: object) -> datetime | None:
    try:
        moment = _rfc3339(value)
    except ValueError:
        return None
    return moment if isinstance(moment, datetime) else None


def schedule_problems(data: Mapping[str, Any]) -> list[FieldProblem]:
    """``not-after`` must be after ``not-before`` (raw or validated values; a value that is
    itself invalid is reported by its field rule)."""
    not_before, not_after = _moment(data.get("not-before")), _moment(data.get("not-after"))
    if not_before is not None and not_after is not None and not_after <= not_before:
        return [FieldProblem("not-after", "must be after not-before")]
    return []


def window_problems(
    not_before: datetime | None,
    not_after: datetime | None,
    now: datetime,
    max_schedule_days: int,
) -> list[FieldProblem]:
    """The rules that depend on the moment of the request: ``not-before`` at most
    ``max_schedule_days`` ahead, ``not-after`` still ahead."""
    problems: list[FieldProblem] = []
    if not_before is not None and not_before > now + timedelta(days=max_schedule_days):
        problems.append(
            FieldProblem("not-before", f"must be at most {max_schedule_days} days ahead")
        )
    if not_after is not None and not_after <= now:
        problems.append(FieldProblem("not-after", "must be in the future"))
    return problems


def never_placed_problems(callees: Sequence[CalleeSchedule]) -> list[FieldProblem]:
    """A request none of whose callees could ever be called: each one's next allowed moment
    (after ``not-before`` and its quiet hours, `schedules.plan`) is after ``not-after``. Like
    a ``not-after`` already past, that is bad input: one problem naming ``not-after`` and the
    earliest moment a callee could be called. None while a callee waits (the others end
    `not-placed`, reason `deadline-passed`, as architecture.md says)."""
    if not callees or any(c.waiting for c in callees):
        return []
    moments = sorted(c.scheduled_for for c in callees if c.scheduled_for)
    first = f" ({moments[0]})" if moments else ""
    return [
        FieldProblem(
            "not-after",
            "must be after the first moment a callee may be called"
            f"{first}: with not-before and quiet hours, no call could ever be placed",
        )
    ]
