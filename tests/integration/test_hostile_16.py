"""Hostile review of #16 (schedules, quiet hours, redial, cancel, list): each probe is what a
newcomer reading the README would send; the README decides what must happen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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


def test_deadline_before_the_next_allowed_moment_is_422_naming_not_after(
    place_call: Any, get_call: Any
) -> None:
    """It was answered 202 with status 'scheduled' while GET said 'not-placed': an instruction
    no callee of which could ever be called. That is bad input, like a `not-after` already
    past or quiet hours that leave no moment of the day (both 422): 422 naming `not-after`,
    nothing stored, nothing placed."""
    # quiet all day but one minute, 12 hours from now in Amsterdam; deadline in 3 minutes
    allowed = datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(hours=12)
    quiet = {
        "start": (allowed + timedelta(minutes=1)).strftime("%H:%M"),
        "end": allowed.strftime("%H:%M"),
    }
    payload = body(**{"quiet-hours": quiet, "not-after": later(minutes=3)})

    result = post(place_call, payload)

    assert result.status == 422, result.body
    assert fields(result) == ["not-after"], result.body
    assert get(get_call, payload["instruction-id"]).status == 404  # nothing stored
    # the same request with a deadline after that minute is scheduled for it
    reachable = post(place_call, {**payload, "not-after": later(hours=13)})
    assert reachable.status == 202 and reachable.body["status"] == "scheduled", reachable.body
    assert reachable.body["calls"][0]["status"] == "scheduled", reachable.body


# ------------------------------------------------------------------ the use cases, hand-set clock

from tests.integration.test_scheduling import (  # noqa: E402
    NL,
    OWNER,
    RedialWorld,
    World,
    published,
)


def iso_utc(*args: int) -> str:
    return datetime(*args, tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_spring_forward_a_window_ending_in_the_skipped_hour_ends_when_clocks_jump(
    aws: Any,
) -> None:
    # Amsterdam, 2027-03-28: 02:00 CET jumps to 03:00 CEST at 01:00Z; 02:30 never happens.
    # README: the next allowed moment is `end`, "or, when the clocks jump over end, the
    # moment they jump".
    world = World(aws)
    world.now = datetime(2027, 3, 28, 0, 10, tzinfo=UTC)  # 01:10 CET: quiet
    dials = world.schedule("spring", **{"quiet-hours": {"start": "01:00", "end": "02:30"}})
    assert {d.scheduled_for for d in dials} == {iso_utc(2027, 3, 28, 1, 0)}


def test_fall_back_a_window_ending_in_the_repeated_hour(aws: Any) -> None:
    # Amsterdam, 2027-10-31: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:30 happens
    # twice (00:30Z and 01:30Z). From 00:10Z (02:10 CEST, quiet) the first end is 00:30Z.
    world = World(aws)
    world.now = datetime(2027, 10, 31, 0, 10, tzinfo=UTC)
    dials = world.schedule("fall", **{"quiet-hours": {"start": "01:00", "end": "02:30"}})
    [moment] = {d.scheduled_for for d in dials}
    assert moment in (iso_utc(2027, 10, 31, 0, 30), iso_utc(2027, 10, 31, 1, 30))


@pytest.fixture
def redials(aws: Any) -> RedialWorld:
    return RedialWorld(aws)


def test_a_redial_due_in_quiet_hours_waits_for_their_end(redials: RedialWorld) -> None:
    redials.now = datetime(2027, 6, 10, 18, 58, tzinfo=UTC)  # 20:58 in Amsterdam
    dial = redials.place(
        "redial-night",
        **{
            "quiet-hours": {"start": "21:00", "end": "08:00"},
            "redial": {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 120},
        },
    )
    from dtmf_gateway.domain.dialling import DialOutcome

    assert redials.dialler.dial(dial).outcome is DialOutcome.PLACED
    redials.now += timedelta(seconds=60)  # the call ends 20:59 unanswered
    redials.callback("redial-night", 9)

    second = redials.scheduler.dials[-1]
    assert second.attempt == 2
    assert second.scheduled_for == iso_utc(2027, 6, 11, 6, 0)  # 08:00 CEST next morning


def test_a_redial_schedule_firing_twice_rings_once(redials: RedialWorld) -> None:
    from dtmf_gateway.domain.dialling import DialOutcome

    dial = redials.place("redial-twice")
    redials.dialler.dial(dial)
    redials.callback("redial-twice", 9)
    redials.now += timedelta(seconds=61)
    second = redials.scheduler.dials[-1]

    outcomes = [redials.dialler.dial(second).outcome, redials.dialler.dial(second).outcome]
    first_again = redials.dialler.dial(dial).outcome  # the first schedule replayed late

    assert outcomes == [DialOutcome.PLACED, DialOutcome.SKIPPED]
    assert first_again is DialOutcome.SKIPPED
    assert redials.cm.requests == 2


def test_a_late_duplicate_callback_of_the_first_call_schedules_nothing_more(
    redials: RedialWorld,
) -> None:
    from dtmf_gateway.domain.callbacks import parse_callback

    dial = redials.place("redial-late-dup")
    redials.dialler.dial(dial)
    first_call = redials.call_id("redial-late-dup")
    redials.callback("redial-late-dup", 9)
    redials.now += timedelta(seconds=61)
    redials.dialler.dial(redials.scheduler.dials[-1])  # the redial rings
    raw = {
        "type": "dtmf-finished",
        "call-id": first_call,
        "callee": NL,
        "digits": None,
        "result": {"code": 9},
    }

    redials.callbacks.record("redial-late-dup", parse_callback("redial-late-dup", raw))

    assert [d.attempt for d in redials.scheduler.dials] == [1, 2]
    assert published(redials.calls("redial-late-dup")) == []  # attempt 2 still rings


def test_cancel_while_a_redial_waits_is_idempotent(redials: RedialWorld) -> None:
    dial = redials.place("redial-cancel-2")
    redials.dialler.dial(dial)
    redials.callback("redial-cancel-2", 9)

    first = redials.canceller.cancel("redial-cancel-2", owner=OWNER)
    again = redials.canceller.cancel("redial-cancel-2", owner=OWNER)

    assert first.cancelled == 1 and again.cancelled == 0
    assert len(published(redials.calls("redial-cancel-2"))) == 1
    from dtmf_gateway.domain.errors import InstructionNotFound

    with pytest.raises(InstructionNotFound):  # another principal: 404
        redials.canceller.cancel("redial-cancel-2", owner="arn:aws:iam::1:user/x")


# ------------------------------------------------------------------ erase x schedule


def erase(module: Any, instruction_id: str) -> Any:
    event = http_event(
        "erase_personal_data.json",
        path_parameters={"instruction-id": instruction_id},
        path=f"/dtmf-calls/{instruction_id}/personal-data",
    )
    return invoke_http(module, event)


def test_an_erased_scheduled_instruction_never_rings(
    place_call: Any,
    erase_personal_data: Any,
    get_call: Any,
    cm: Any,
    function_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import functools

    from devtools.lambdas import LambdaContext
    from dtmf_gateway.adapters import cm_client
    from tests.integration.test_scheduling import schedule_inputs

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    dial_call = load_function("dial_call")
    not_before = rfc3339(datetime.now(UTC) - timedelta(minutes=1))
    accepted = post(place_call, body(**{"not-before": not_before}))
    iid = accepted.body["instruction-id"]
    erased = erase(erase_personal_data, iid)
    assert erased.status == 200, erased.body
    [dial] = schedule_inputs()

    fired = dial_call.handler(dial, LambdaContext())

    assert cm.bodies() == [], cm.bodies()  # "an erased instruction's id is never placed again"
    assert fired["outcome"] in ("skipped", "not-placed"), fired
    view = get(get_call, iid).body
    print(view)
    assert view["calls"][0]["callee"] is None


# ------------------------------------------------------------------ principals, keys, defaults

SESSION_1 = "arn:aws:sts::123456789012:assumed-role/orders/i-0001"
SESSION_2 = "arn:aws:sts::123456789012:assumed-role/orders/i-0002"


def post_as(module: Any, payload: Any, user_arn: str, key: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    event = http_event("place_call.json", body=payload, headers=headers, user_arn=user_arn)
    return invoke_http(module, event)


def test_another_session_of_the_same_role_lists_pages_and_cancels(
    place_call: Any, list_calls: Any, cancel_call: Any
) -> None:
    for n in range(3):
        payload = body(**{"instruction-id": f"role-{n}", "not-before": later(hours=1)})
        assert post_as(place_call, payload, SESSION_1).status == 202
    page = get_list(list_calls, user_arn=SESSION_1, limit="2")
    assert [i["instruction-id"] for i in page.body["items"]] == ["role-2", "role-1"], page.body
    rest = get_list(
        list_calls, user_arn=SESSION_2, limit="2", **{"next-token": page.body["next-token"]}
    )
    assert rest.status == 200, rest.body
    assert [i["instruction-id"] for i in rest.body["items"]] == ["role-0"]
    assert delete(cancel_call, "role-0", user_arn=SESSION_2).body["status"] == "cancelled"
    stolen = get_list(list_calls, user_arn=OTHER, **{"next-token": page.body["next-token"]})
    assert stolen.status == 422 and fields(stolen) == ["next-token"]


def test_same_key_with_another_not_before_is_key_reused(place_call: Any) -> None:
    me = "arn:aws:iam::123456789012:user/orders-service"
    payload = body(**{"not-before": later(hours=1)})
    del payload["instruction-id"]
    first = post_as(place_call, payload, me, key="sched-2")
    other = post_as(place_call, {**payload, "not-before": later(hours=2)}, me, key="sched-2")
    assert first.status == 202
    assert other.status == 422, other.body
    assert other.body["type"].endswith("idempotency-key-reused")


@pytest.fixture
def quiet_all_day_by_default(function_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIET_HOURS", "00:01-00:00")


def test_quiet_hours_false_overrides_the_stack_default(
    quiet_all_day_by_default: None, place_call: Any
) -> None:
    result = post(place_call, body(**{"quiet-hours": False}))
    assert result.status == 202 and result.body["status"] == "queued", result.body


def test_the_stack_default_applies_without_the_key(
    quiet_all_day_by_default: None, place_call: Any
) -> None:
    result = post(place_call, body())
    now = datetime.now(UTC)
    print(result.status, result.body)
    assert result.status == 202
    if now.astimezone(QuietZone.AMSTERDAM).strftime("%H:%M") != "00:00":
        assert result.body["status"] == "scheduled", result.body


class QuietZone:
    from zoneinfo import ZoneInfo

    AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_a_not_placed_event_after_an_erase_carries_no_number(
    place_call: Any, erase_personal_data: Any, cancel_call: Any, aws: Any
) -> None:
    from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
    from dtmf_gateway.domain.not_placed import newly_unplaced, not_placed_detail

    store = DynamoDbScheduleStore(
        aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
    )
    iid = post(place_call, body(**{"not-before": later(hours=1)})).body["instruction-id"]
    assert erase(erase_personal_data, iid).status == 200
    before = store.load_instruction(iid)

    cancelled = delete(cancel_call, iid)
    after = store.load_instruction(iid)

    assert cancelled.status == 200, cancelled.body
    assert after is not None
    [entry] = newly_unplaced(before, after)
    detail = not_placed_detail(after, entry)
    assert (detail.caller, detail.callee) == (None, None), detail


def test_an_erased_instruction_whose_redial_waits_is_never_called_again(
    redials: RedialWorld,
) -> None:
    from dtmf_gateway.adapters.dynamodb.erasure_store import DynamoDbErasureStore
    from dtmf_gateway.domain.dialling import DialOutcome

    dial = redials.place("redial-erased")
    assert redials.dialler.dial(dial).outcome is DialOutcome.PLACED
    redials.callback("redial-erased", 9)  # unanswered: a redial waits
    erasure = DynamoDbErasureStore(
        redials.aws.dynamodb,
        redials.aws.table_name,
        idempotency_table_name="unused",
        placement_function_name="unused",
    )
    erasure.erase_instruction("redial-erased", iso_utc(2027, 6, 10, 10, 0, 30))
    redials.now += timedelta(seconds=61)

    fired = redials.dialler.dial(redials.scheduler.dials[-1])

    # README: "An erased instruction's id is never placed again"
    assert fired.outcome is not DialOutcome.PLACED
    assert redials.cm.requests == 1


def _three_scheduled(place_call: Any) -> None:
    for n in range(3):
        payload = body(**{"instruction-id": f"tok-{n}", "not-before": later(hours=1)})
        assert post(place_call, payload).status == 202


def test_a_next_token_survives_a_rotation_of_the_signing_secret(
    place_call: Any, list_calls: Any, aws: Any
) -> None:
    from tests.conftest import SIGNING_KEY, _reset_caches

    _three_scheduled(place_call)
    page = get_list(list_calls, limit="2")
    aws.put_signing_keys("n" * 48, previous=SIGNING_KEY)  # the documented rotation
    _reset_caches()

    rest = get_list(list_calls, limit="2", **{"next-token": page.body["next-token"]})

    assert rest.status == 200, rest.body
    assert [i["instruction-id"] for i in rest.body["items"]] == ["tok-0"]


@pytest.mark.parametrize("edit", ["flip", "cut", "pad", "case", "plus"])
def test_an_edited_next_token_is_422(place_call: Any, list_calls: Any, edit: str) -> None:
    _three_scheduled(place_call)
    token: str = get_list(list_calls, limit="1").body["next-token"]
    edited = {
        "flip": token[:5] + ("A" if token[5] != "A" else "B") + token[6:],
        "cut": token[:-1],
        "pad": token + "==",
        "case": token.swapcase(),
        "plus": token.replace("-", "+").replace("_", "/"),
    }[edit]
    if edited == token:
        pytest.skip("the edit changed nothing")

    result = get_list(list_calls, limit="1", **{"next-token": edited})

    assert result.status in (200, 422), result.body
    if result.status == 200:  # an equivalent spelling may decode; it must not move the page
        assert [i["instruction-id"] for i in result.body["items"]] == ["tok-1"], result.body
    else:
        assert fields(result) == ["next-token"]


def test_cancel_with_one_callee_placed_and_one_waiting(aws: Any) -> None:
    from dtmf_gateway.adapters.dynamodb.reader import DynamoDbInstructionReader
    from dtmf_gateway.domain.calls import InstructionStatus
    from dtmf_gateway.domain.dialling import DialOutcome
    from dtmf_gateway.domain.reading import scheduled_status

    world = World(aws)
    dials = world.schedule("mixed", **{"not-before": rfc3339(world.now + timedelta(minutes=5))})
    world.now += timedelta(minutes=5, seconds=10)
    first = next(d for d in dials if d.index == 0)  # NL
    second = next(d for d in dials if d.index == 1)  # NL2
    assert world.dialler.dial(first).outcome is DialOutcome.PLACED

    result = world.canceller.cancel("mixed", owner=OWNER)
    fired = world.dialler.dial(second)

    assert result.cancelled == 1
    assert fired.outcome is DialOutcome.SKIPPED
    assert world.cm.requests == 1
    found = DynamoDbInstructionReader(aws.dynamodb, aws.table_name).load("mixed")
    assert found is not None
    instruction, calls = found
    # one callee still rings, the other is cancelled: not `cancelled` (not every callee)
    assert scheduled_status(instruction, calls) is InstructionStatus.QUEUED


def test_a_request_with_redial_is_always_scheduled_and_replays(place_call: Any, cm: Any) -> None:
    me = "arn:aws:iam::123456789012:user/orders-service"
    payload = body(
        redial={"on": ["unanswered"], "max-redials": 5, "interval-seconds": 86400},
        **{"quiet-hours": False, "digits-mode": "verify", "expected-digits": "4821"},
    )
    del payload["instruction-id"]
    first = post_as(place_call, payload, me, key="redial-key")
    again = post_as(place_call, payload, me, key="redial-key")

    assert first.status == 202 and first.body["status"] == "scheduled", first.body
    assert again.body == first.body and again.headers.get("Idempotent-Replayed") == "true"
    assert cm.bodies() == []
    assert len(schedule_inputs_all()) == 1
    assert "4821" not in str(schedule_inputs_all())  # expected digits never in a schedule


def schedule_inputs_all() -> list[Any]:
    from tests.integration.test_scheduling import schedule_inputs

    return schedule_inputs()


def test_an_offset_whose_plus_arrived_as_a_space_is_read_as_plus(
    place_call: Any, list_calls: Any
) -> None:
    # `?created-from=2026-11-30T10:00:00+01:00` unencoded: form decoding makes the + a space
    _three_scheduled(place_call)
    since = (
        (datetime.now(UTC) - timedelta(minutes=5))
        .astimezone(QuietZone.AMSTERDAM)
        .strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    since = (since[:-2] + ":" + since[-2:]).replace("+", " ")  # "…T09:12:00 01:00"
    assert since.endswith((" 01:00", " 02:00"))

    result = get_list(list_calls, **{"created-from": since})

    assert result.status == 200, result.body
    assert len(result.body["items"]) == 3
    assert get_list(list_calls, **{"created-from": "2026-11-30T10:00:00 1:00"}).status == 422


def test_a_redial_request_whose_deadline_is_inside_the_scheduler_lead(place_call: Any) -> None:
    # redial makes the first call a scheduled dial with a minute's lead: a deadline 30 s away
    # can never be met, so nothing may be scheduled after it
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    result = post(
        place_call,
        body(
            redial={"on": ["unanswered"], "max-redials": 1, "interval-seconds": 60},
            **{"quiet-hours": False, "not-after": rfc3339(deadline)},
        ),
    )

    assert result.status == 202, result.body
    for call in result.body["calls"]:
        if call["status"] == "scheduled":
            assert datetime.fromisoformat(call["scheduled-for"]) <= deadline, result.body
        else:
            assert call["status"] == "not-placed", result.body
