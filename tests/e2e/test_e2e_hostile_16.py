"""Hostile review of #16 on the deployed local stack: the list route's query through the real
HTTP API (a time whose UTC instant overflows, an unencoded offset), cancel twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from stack_client import LocalStack

from tests.e2e.test_e2e import instruction

pytestmark = pytest.mark.e2e


def test_a_created_to_whose_utc_instant_overflows_is_422_not_500(stack: LocalStack) -> None:
    moment = quote("9999-12-31T23:59:59-23:59", safe="")
    answer = stack.api("GET", f"/v1/dtmf-calls?created-to={moment}")

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["created-to"]


def test_cancel_twice_then_list_it_as_cancelled(stack: LocalStack, new_id: str) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    since = quote((datetime.now(UTC) - timedelta(seconds=1)).isoformat(), safe="")
    placed = stack.api(
        "POST",
        "/v1/dtmf-calls",
        instruction(new_id, callee="+31612345167", **{"not-before": later}),
    )
    assert placed.status_code == 202, placed.text

    first = stack.api("DELETE", f"/v1/dtmf-calls/{new_id}")
    again = stack.api("DELETE", f"/v1/dtmf-calls/{new_id}")
    listed = stack.api("GET", f"/v1/dtmf-calls?status=cancelled&created-from={since}")

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == "cancelled"
    assert [i["instruction-id"] for i in listed.json()["items"]] == [new_id], listed.text


def test_an_unencoded_offset_plus_in_the_query_is_read_as_plus(stack: LocalStack) -> None:
    since = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + "+01:00"

    answer = stack.api("GET", f"/v1/dtmf-calls?created-from={since}")

    assert answer.status_code == 200, answer.text
