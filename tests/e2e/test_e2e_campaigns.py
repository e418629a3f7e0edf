"""Campaigns on the deployed local stack: the API, the worker on both queues (the rows queue
at its maximum concurrency), the pacing table, the result rule, S3, the bus.

50 rows: 40 type a valid PIN, 5 do not answer, 2 type too few digits, 3 repeat earlier numbers
(called once) — exact counts, exact events, one CM call per distinct number, and the measured
placements per second never above the campaign's rate.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from stack_client import LocalStack

from tests.e2e.conftest import BusEvents

pytestmark = pytest.mark.e2e

CALLER = "+31201234567"
TEMPLATE = {
    "caller": CALLER,
    "prompt": "Hello {{name}}, please type your four digit PIN, then press hash.",
    "valid-prompt": "Thank you.",
    "min-digits": 4,
    "max-digits": 4,
    "max-attempts": 1,
    "timeout": 3000,
    "terminators": "#",
    "regex": "[0-9]{4}",
    "metadata": {"suite": "e2e-campaign"},
}
CAMPAIGN_EVENTS = "LocalCampaignEventCaptureQueueUrl"


def api(stack: LocalStack, method: str, path: str, body: Any = None) -> httpx.Response:
    """One API call, sent again when the (loaded) emulator does not answer in time: every
    campaign route is safe to repeat (a POST with the same campaign-id and body answers the
    same campaign)."""
    for attempt in range(4):
        try:
            return stack.api(method, path, body)
        except httpx.TimeoutException:
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def numbers(count: int) -> list[str]:
    base = random.randint(100, 999)
    return [f"+3161{base}{n:04d}" for n in range(count)]


def wait_for_campaign(
    stack: LocalStack, campaign_id: str, statuses: set[str], timeout: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = api(stack, "GET", f"/v1/dtmf-campaigns/{campaign_id}").json()
        if view.get("status") in statuses:
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign {campaign_id}: {view}")
        time.sleep(1)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def campaign_events(stack: LocalStack, campaign_id: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(found) < count and time.monotonic() < deadline:
        found += [
            e
            for e in stack.events(output=CAMPAIGN_EVENTS)
            if e["detail"].get("campaign-id") == campaign_id
        ]
        time.sleep(0.5)
    time.sleep(1.5)  # and anything unwanted after them
    found += [
        e
        for e in stack.events(output=CAMPAIGN_EVENTS)
        if e["detail"].get("campaign-id") == campaign_id
    ]
    return found


def s3_lines(stack: LocalStack, uri: str) -> list[dict[str, Any]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_fifty_rows_exact_counts_exact_events(stack: LocalStack, bus: BusEvents) -> None:
    distinct = numbers(47)
    rows: list[dict[str, Any]] = []
    for n, number in enumerate(distinct, start=1):
        if n <= 40:
            stack.script_callee(number, pickup="answer", keys=["4821#"])
        elif n <= 45:
            stack.script_callee(number, pickup="no-answer")
        else:
            stack.script_callee(number, pickup="answer", keys=["12#"])
        rows.append({"callee": number, "metadata": {"row": str(n)}, "variables": {"name": f"P{n}"}})
    rows += [{"callee": distinct[i], "variables": {"name": "again"}} for i in range(3)]
    campaign_id = f"e2e-c{random.randint(0, 10**8)}"

    created = api(
        stack,
        "POST",
        "/v1/dtmf-campaigns",
        {
            "campaign-id": campaign_id,
            "instruction": TEMPLATE,
            "callees": rows,
            "calls-per-second": 5,
            "max-concurrent-calls": 20,
        },
    )
    assert created.status_code == 202, created.text
    assert created.json() == {"campaign-id": campaign_id, "status": "validating"}

    view = wait_for_campaign(stack, campaign_id, {"finished", "failed", "cancelled"})
    assert view["status"] == "finished"
    assert view["counts"] == {
        "rows": 50,
        "invalid-rows": 0,
        "duplicate-rows": 3,
        "placed": 47,
        "finished": 47,
        "input-received": 40,
        "unanswered": 5,
        "invalid-input": 2,
    }
    assert view["errors-uri"] is None

    # one DTMF Result per placed row, carrying the campaign id and the row's metadata
    results = {}
    for n in range(1, 48):
        events = bus.for_instruction(f"{campaign_id}.{n}", 1, timeout=30, settle=0)
        assert len(events) == 1, n
        results[n] = events[0]["detail"]
    assert {d["campaign-id"] for d in results.values()} == {campaign_id}
    assert Counter(d["outcome"] for d in results.values()) == {
        "input-received": 40,
        "unanswered": 5,
        "invalid-input": 2,
    }
    assert results[7]["metadata"] == {"suite": "e2e-campaign", "row": "7"}
    assert bus.for_instruction(f"{campaign_id}.48", 0, timeout=0, settle=0) == []

    # CM: one call per distinct number, its prompt filled for that row, paced
    calls = [c for c in stack.simulator_calls() if str(c["instruction-id"]).startswith(campaign_id)]
    assert sorted(str(c["callee"]) for c in calls) == sorted(distinct)
    prompt = next(
        c["instruction"]["prompt"] for c in calls if c["instruction-id"] == f"{campaign_id}.7"
    )
    assert prompt == "Hello P7, please type your four digit PIN, then press hash."
    per_second = Counter(
        datetime.fromisoformat(str(c["created-at"]).replace("Z", "+00:00")).replace(microsecond=0)
        for c in calls
    )
    assert max(per_second.values()) <= 5

    # results-uri: one line per row; one DTMF Campaign Finished with the totals
    lines = s3_lines(stack, view["results-uri"])
    assert [line["row"] for line in lines] == list(range(1, 51))
    assert lines[0]["outcome"] == "input-received" and lines[0]["digits"] == "4821"
    assert lines[47]["duplicate-of"] == 1
    finished = campaign_events(stack, campaign_id, 1)
    assert [(e["detail-type"], e["detail"]["status"]) for e in finished] == [
        ("DTMF Campaign Finished", "finished")
    ]
    assert finished[0]["detail"]["counts"] == view["counts"]


def test_an_invalid_row_fails_the_campaign_and_places_nothing(stack: LocalStack) -> None:
    good = numbers(2)
    campaign_id = f"e2e-f{random.randint(0, 10**8)}"
    body = {
        "campaign-id": campaign_id,
        "instruction": TEMPLATE,
        "callees": [
            {"callee": good[0], "variables": {"name": "A"}},
            {"callee": "+8131234567", "variables": {"name": "B"}},
            {"callee": good[1]},
        ],
    }
    assert api(stack, "POST", "/v1/dtmf-campaigns", body).status_code == 202

    view = wait_for_campaign(stack, campaign_id, {"finished", "failed", "cancelled"}, 60)
    assert view["status"] == "failed"
    assert view["counts"] == {"rows": 3, "invalid-rows": 2, "placed": 0, "finished": 0}
    assert [
        (e["row"], [f["field"] for f in e["errors"]]) for e in s3_lines(stack, view["errors-uri"])
    ] == [(2, ["callee"]), (3, ["variables.name"])]
    assert [
        c for c in stack.simulator_calls() if str(c["instruction-id"]).startswith(campaign_id)
    ] == []
    finished = campaign_events(stack, campaign_id, 1)
    assert [e["detail"]["status"] for e in finished] == ["failed"]


def test_malformed_bodies_are_refused_at_once(stack: LocalStack) -> None:
    refused = api(
        stack,
        "POST",
        "/v1/dtmf-campaigns",
        {
            "instruction": {**TEMPLATE, "callee": "+31612345678"},
            "callees": [{"callee": "+31612345678"}],
            "callees-s3-uri": "s3://x/y.csv",
            "calls-per-second": 1000,
        },
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {
        "instruction.callee",
        "callees",
        "calls-per-second",
    }
    assert api(stack, "GET", "/v1/dtmf-campaigns/no-such-campaign").status_code == 404


def test_pause_then_cancel_ends_unplaced_rows_not_placed(stack: LocalStack) -> None:
    callees = numbers(6)
    for number in callees:
        stack.script_callee(number, pickup="answer", keys=["4821#"])
    campaign_id = f"e2e-p{random.randint(0, 10**8)}"
    body = {
        "campaign-id": campaign_id,
        "instruction": TEMPLATE,
        "callees": [{"callee": c, "variables": {"name": "X"}} for c in callees],
        "calls-per-second": 1,
    }
    assert api(stack, "POST", "/v1/dtmf-campaigns", body).status_code == 202
    paused = api(stack, "POST", f"/v1/dtmf-campaigns/{campaign_id}/pause")
    paused_at = datetime.now(UTC)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    time.sleep(6)  # paused: nothing may ring from now on
    # Under load validation can end (and a row be placed, at 1/s) before the pause arrives;
    # nothing may be placed after the pause was answered.
    rang = [c for c in stack.simulator_calls() if str(c["instruction-id"]).startswith(campaign_id)]
    assert [c for c in rang if _moment(str(c["created-at"])) > paused_at] == []
    before = len(rang)

    cancelled = api(stack, "POST", f"/v1/dtmf-campaigns/{campaign_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    view = wait_for_campaign(stack, campaign_id, {"cancelled"}, 60)
    deadline = time.monotonic() + 60
    while view["finished-at"] is None and time.monotonic() < deadline:
        time.sleep(1)
        view = wait_for_campaign(stack, campaign_id, {"cancelled"}, 60)
    assert view["counts"]["not-placed"] == 6 - before and view["counts"]["placed"] == before
    events = campaign_events(stack, campaign_id, 7 - before)
    assert Counter(e["detail-type"] for e in events if e["detail-type"] != "DTMF Result") == {
        "DTMF Call Not Placed": 6 - before,
        "DTMF Campaign Finished": 1,
    }
    assert {
        e["detail"]["reason"] for e in events if e["detail-type"] == "DTMF Call Not Placed"
    } <= {"cancelled"}
    assert api(stack, "POST", f"/v1/dtmf-campaigns/{campaign_id}/resume").status_code == 409
