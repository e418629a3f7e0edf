"""Hostile review of #16 (schedules, quiet hours, redial, cancel, list): each probe is what a
newcomer reading the README would send; the README decides what must happen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.lambdas import http_event, load_function
from tests.integration.test_scheduling import body, delete, get, post, rfc3339
from tests.support.lambdas import invoke_http

OTHER = "arn:aws:iam::123456789012:user/someone-else"


@pytest.fixture
def cancel_call(function_env: Any) -> Any:
    return load_function("cancel_call")


@pytest.fixture
def list_calls(function_env: Any) -> Any:
    return load_function("list_calls")


def get_list(module: Any, user_arn: str | None = None, **query: str) -> Any:
    return invoke_http(module, http_event("list_calls.json", user_arn=user_arn, query=query))


def fields(result: Any) -> list[str]:
    return [e["field"] for e in result.body.get("errors", [])]


def later(**delta: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(**delta))


# ------------------------------------------------------------------ request validation


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T09:30:00",  # naive
        "2026-12-01 09:30:00Z",  # space instead of T? RFC 3339 allows it; just no 5xx
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+14:00",
        "2026-12-31T23:59:60Z",  # leap second
        "2026-12-01T09:30:00+25:00",
        "2026-13-01T09:30:00Z",
        "",
        12345,
        None,
        True,
        [],
        {},
        "2026-12-01T09:30:00.123456789Z",
        "2026-12-01",
        "+002026-12-01T09:30:00Z",
        "\uff12\uff10\uff12\uff16-12-01T09:30:00Z",
    ],
)
@pytest.mark.parametrize("key", ["not-before", "not-after"])
def test_bad_times_are_422_naming_the_field_never_5xx(
    place_call: Any, key: str, value: Any
) -> None:
    result = post(place_call, body(**{key: value}))
    print(key, value, result.status, result.body)
    assert result.status < 500
    if value is not None:
        assert (result.status == 422 and key in fields(result)) or result.status == 202


def test_not_after_in_the_past_is_422(place_call: Any) -> None:
    result = post(place_call, body(**{"not-after": later(minutes=-5)}))
    assert result.status == 422 and "not-after" in fields(result), result.body


def test_not_after_before_not_before_is_422(place_call: Any) -> None:
    result = post(place_call, body(**{"not-before": later(hours=3), "not-after": later(hours=2)}))
    assert result.status == 422 and "not-after" in fields(result), result.body


def test_not_before_more_than_30_days_ahead_is_422(place_call: Any) -> None:
    result = post(place_call, body(**{"not-before": later(days=31)}))
    assert result.status == 422 and "not-before" in fields(result), result.body


@pytest.mark.parametrize(
    ("redial", "field"),
    [
        (
            {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 60, "bogus": 1},
            "redial.bogus",
        ),
        ({"on": ["unanswered"], "max-redial": 1, "interval-seconds": 60}, "redial.max-redial"),
        ({"on": ["busy"], "max-redials": 1, "interval-seconds": 60}, "redial.on"),
        ({"on": ["input-received"], "max-redials": 1, "interval-seconds": 60}, "redial.on"),
        ({"on": [], "max-redials": 1, "interval-seconds": 60}, "redial.on"),
        ({"on": "unanswered", "max-redials": 1, "interval-seconds": 60}, "redial.on"),
        ({"on": ["unanswered"], "max-redials": 0, "interval-seconds": 60}, "redial.max-redials"),
        ({"on": ["unanswered"], "max-redials": 6, "interval-seconds": 60}, "redial.max-redials"),
        ({"on": ["unanswered"], "max-redials": True, "interval-seconds": 60}, "redial.max-redials"),
        (
            {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 59},
            "redial.interval-seconds",
        ),
        (
            {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 10**30},
            "redial.interval-seconds",
        ),
        (
            {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 1e308},
            "redial.interval-seconds",
        ),
        (
            {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 86401},
            "redial.interval-seconds",
        ),
        ({"on": ["unanswered"], "max-redials": 1.5, "interval-seconds": 60}, "redial.max-redials"),
        (
            {"on": ["unanswered", "unanswered"], "max-redials": 1, "interval-seconds": 60},
            "redial.on",
        ),
        ({"on": [None], "max-redials": 1, "interval-seconds": 60}, "redial.on"),
        ("yes", "redial"),
        ([], "redial"),
        (True, "redial"),
    ],
)
def test_bad_redial_is_422_naming_the_nested_field(
    place_call: Any, redial: Any, field: str
) -> None:
    result = post(place_call, body(redial=redial))
    print(redial, result.status, result.body)
    assert result.status == 422, result.body
    assert any(f == field or f.startswith(field) for f in fields(result)), result.body


@pytest.mark.parametrize(
    ("quiet", "field"),
    [
        ({"start": "21:00", "end": "08:00", "tz": "UTC"}, "quiet-hours.tz"),
        ({"start": "21:00"}, "quiet-hours.end"),
        ({"start": "25:00", "end": "08:00"}, "quiet-hours.start"),
        ({"start": "21:60", "end": "08:00"}, "quiet-hours.start"),
        ({"start": "9:00", "end": "08:00"}, "quiet-hours.start"),
        ({"start": "21:00:00", "end": "08:00"}, "quiet-hours.start"),
        ({"start": "24:00", "end": "08:00"}, "quiet-hours.start"),
        ({"start": "\uff12\uff11:00", "end": "08:00"}, "quiet-hours.start"),
        ({"start": 21, "end": 8}, "quiet-hours.start"),
        (True, "quiet-hours"),
        ("21:00-08:00", "quiet-hours"),
        ({"start": "00:00", "end": "23:59", "x": 1}, "quiet-hours.x"),
    ],
)
def test_bad_quiet_hours_are_422_naming_the_nested_field(
    place_call: Any, quiet: Any, field: str
) -> None:
    result = post(place_call, body(**{"quiet-hours": quiet}))
    print(quiet, result.status, result.body)
    assert result.status == 422, result.body
    assert field in fields(result), result.body


def test_quiet_hours_that_leave_no_moment_are_422(place_call: Any) -> None:
    # 00:00-23:59 leaves one minute a day: allowed. 00:01-00:00 leaves one minute too.
    # A multi-zone number (US toll-free spans many zones) with a window that leaves no
    # moment common to all its zones must be 422.
    result = post(
        place_call,
        body(callee="+18002530000", **{"quiet-hours": {"start": "00:01", "end": "00:00"}}),
    )
    print(result.status, result.body)
    assert result.status in (403, 422), result.body


def test_quiet_hours_equal_start_end_is_none(place_call: Any) -> None:
    result = post(place_call, body(**{"quiet-hours": {"start": "03:00", "end": "03:00"}}))
    assert result.status == 202 and result.body["status"] == "queued", result.body


def test_quiet_hours_false_places_now(place_call: Any) -> None:
    result = post(place_call, body(**{"quiet-hours": False}))
    assert result.status == 202 and result.body["status"] == "queued", result.body


def test_quiet_hours_null(place_call: Any) -> None:
    result = post(place_call, body(**{"quiet-hours": None}))
    print(result.status, result.body)
    assert result.status < 500


# ------------------------------------------------------------------ list


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e2"}, "limit"),
        ({"limit": "99999999999999999999999999"}, "limit"),
        ({"limit": "\u0665"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"status": "bogus"}, "status"),
        ({"outcome": "bogus"}, "outcome"),
        ({"created-from": "2026-12-01T00:00:00"}, "created-from"),
        ({"created-from": "yesterday"}, "created-from"),
        ({"created-to": "9999-12-31T23:59:59-23:59"}, "created-to"),
        ({"created-to": "2026-12-31T23:59:60Z"}, "created-to"),
        ({"next-token": "garbage"}, "next-token"),
        ({"next-token": ""}, "next-token"),
        ({"next-token": "=" * 5000}, "next-token"),
        ({"next-token": "WyIyMDI2LTEyLTAxVDA4OjMwOjAwLjAwMFoiLCJzdXJ2ZXktMTIwMSJd"}, "next-token"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    list_calls: Any, query: dict[str, str], field: str
) -> None:
    result = get_list(list_calls, **query)
    print(query, result.status, result.body)
    assert result.status == 422, result.body
    assert field in fields(result), result.body


def test_created_from_after_created_to(list_calls: Any) -> None:
    result = get_list(
        list_calls, **{"created-from": "2026-12-02T00:00:00Z", "created-to": "2026-12-01T00:00:00Z"}
    )
    print(result.status, result.body)
    assert result.status < 500


# ------------------------------------------------------------------ cancel


def test_cancel_of_the_list_route_or_weird_ids(cancel_call: Any) -> None:
    for iid in ["..", ".", "a" * 65, "x%00", "k-" + "0" * 32]:
        result = delete(cancel_call, iid)
        print(iid, result.status, result.body)
        assert result.status == 404


@pytest.mark.parametrize("status", ["scheduled", "cancelled"])
def test_list_accepts_the_round_2_statuses(list_calls: Any, status: str) -> None:
    result = get_list(list_calls, status=status)
    assert result.status == 200, result.body


@pytest.fixture
def allow_au(function_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_DESTINATION_COUNTRIES", "NL,AU")


def test_a_multi_zone_number_whose_zones_share_no_allowed_minute_is_422(
    allow_au: None, place_call: Any
) -> None:
    # an Australian mobile spans Perth (UTC+8) to Lord Howe/Sydney (UTC+11 in summer):
    # a window leaving only 00:00-00:01 local can never hold in all of them at once
    result = post(
        place_call,
        body(callee="+61412345678", **{"quiet-hours": {"start": "00:01", "end": "00:00"}}),
    )
    assert result.status == 422 and "quiet-hours" in fields(result), result.body


def test_scheduled_request_replayed_with_its_key_schedules_once(
    place_call: Any, cancel_call: Any, list_calls: Any
) -> None:
    payload = body(**{"not-before": later(hours=1)})
    del payload["instruction-id"]
    headers = {"Content-Type": "application/json", "Idempotency-Key": "sched-1"}
    first = invoke_http(place_call, http_event("place_call.json", body=payload, headers=headers))
    again = invoke_http(place_call, http_event("place_call.json", body=payload, headers=headers))
    assert first.status == again.status == 202, (first.body, again.body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == first.body
    iid = first.body["instruction-id"]
    cancelled = delete(cancel_call, iid)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    listed = get_list(list_calls, status="cancelled")
    assert [i["instruction-id"] for i in listed.body["items"]] == [iid], listed.body


@pytest.mark.xfail(
    strict=True,
    reason="the 202 of an instruction whose every callee is not-placed (deadline before the "
    "next allowed moment) says status 'scheduled' while GET says 'not-placed'; the response "
    "model PlacementAccepted.status allows only queued/scheduled, so the fix changes the "
    "OpenAPI document and the client packages",
)
def test_deadline_before_the_next_allowed_moment_is_not_placed_at_once(
    place_call: Any, get_call: Any
) -> None:
    # quiet all day but one minute a day (04:00-04:01 allowed), deadline in ~3 minutes:
    # unless it is 04:00 in Amsterdam, the next allowed moment is after the deadline
    now = datetime.now(UTC)
    result = post(
        place_call,
        body(
            **{
                "quiet-hours": {"start": "04:01", "end": "04:00"},
                "not-after": rfc3339(now + timedelta(minutes=3)),
            }
        ),
    )
    print(result.status, result.body)
    assert result.status == 202, result.body
    assert result.body["calls"][0]["status"] == "not-placed", result.body
    view = get(get_call, result.body["instruction-id"]).body
    assert view["status"] == "not-placed", view
    # the 202 must say what GET says: nothing will ever be placed
    assert result.body["status"] == "not-placed", result.body
