"""Hostile review, stop 6: malformed scheduling keys on POST /v1/dtmf-calls. README: bad input
is a clear 4xx naming the field, and changes nothing (no schedule, no instruction, no call)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.cm import FakeCm
from tests.conftest import DIAL_SCHEDULE_GROUP, REGION, Aws
from tests.integration.test_scheduling import body, post

BAD: list[tuple[str, Any]] = [
    ("not-before", "0001-01-01T00:00:00+01:00"),
    ("not-before", "9999-12-31T23:59:59-01:00"),
    ("not-before", "9999-12-31T23:59:59Z"),
    ("not-before", "2026-02-30T09:00:00Z"),
    ("not-before", "2026-12-01T23:59:60Z"),
    ("not-before", "2026-12-01T09:00:00+24:00"),
    ("not-before", "2026-12-01T09:00:00"),
    ("not-before", "2026-12-01"),
    ("not-before", 1796000000),
    ("not-before", ""),
    ("not-before", "2026-12-01T09:00:00.1234567890123Z"),
    ("not-before", "\uff12\uff10\uff12\uff16-12-01T09:00:00Z"),
    ("not-after", "0001-01-01T00:00:00+01:00"),
    ("not-after", "9999-12-31T23:59:59-01:00"),
    ("not-after", "2000-01-01T00:00:00Z"),
    ("quiet-hours", {"start": "24:00", "end": "08:00"}),
    ("quiet-hours", {"start": "21:00", "end": "08:00", "tz": "UTC"}),
    ("quiet-hours", {"start": "21:00"}),
    ("quiet-hours", True),
    ("quiet-hours", "21:00-08:00"),
    ("quiet-hours", {"start": "9:00", "end": "08:00"}),
    ("quiet-hours", {"start": "21:00:00", "end": "08:00"}),
    ("redial", {"on": [], "max-redials": 1, "interval-seconds": 60}),
    ("redial", {"on": ["unanswered"], "max-redials": 0, "interval-seconds": 60}),
    ("redial", {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 59}),
    ("redial", {"on": ["unanswered"], "max-redials": 1, "interval-seconds": 10**30}),
    ("redial", {"on": ["unanswered", "unanswered"], "max-redials": 1, "interval-seconds": 60}),
    ("redial", {"on": ["cancelled"], "max-redials": 1, "interval-seconds": 60}),
    ("redial", {"on": "unanswered", "max-redials": 1, "interval-seconds": 60}),
    ("redial", True),
    ("redial", {"on": ["unanswered"], "max-redials": 1.5, "interval-seconds": 60}),
]


@pytest.mark.parametrize(("key", "value"), BAD, ids=[f"{k}={v!r}"[:60] for k, v in BAD])
def test_a_bad_scheduling_key_is_a_4xx_naming_it_and_changes_nothing(
    place_call: Any, cm: FakeCm, function_env: Aws, key: str, value: Any
) -> None:
    answer = post(place_call, body(**{key: value}))

    assert 400 <= answer.status < 500, (answer.status, answer.body)
    fields = {e.get("field") for e in answer.body.get("errors", [])}
    assert key in fields or any(f and f.startswith(key) for f in fields), answer.body
    assert cm.bodies() == []
    scheduler = boto3.client("scheduler", region_name=REGION)
    assert scheduler.list_schedules(GroupName=DIAL_SCHEDULE_GROUP)["Schedules"] == []
    items = function_env.dynamodb.scan(TableName=function_env.table_name)["Items"]
    assert [i for i in items if i["pk"]["S"].startswith("INSTRUCTION")] == []
