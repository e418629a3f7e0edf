"""GET /v1/dtmf-calls (round 2, #16) through its handler on moto: the caller's own
instructions newest first, filters, pagination, and a next-token no one can forge or reuse
as another principal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.lambdas import http_event, load_function, sample_event
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.domain.calls import CmQueuedCall, InstructionStatus, NewInstruction
from tests.support.lambdas import invoke_http

ME = "arn:aws:iam::123456789012:user/orders-service"  # the sample event's principal
OTHER = "arn:aws:iam::123456789012:user/someone-else"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


@pytest.fixture
def list_calls(function_env: Any) -> Any:
    return load_function("list_calls")


def store_instruction(aws: Any, instruction_id: str, minutes: int, owner: str = ME) -> None:
    store = DynamoDbInstructionStore(
        aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
    )
    instruction = NewInstruction(
        instruction_id=instruction_id,
        owner=owner,
        caller="+31201234567",
        callees=("+31612345678",),
        request={},
        metadata={},
        created_at=T0 + timedelta(minutes=minutes),
        stale_after_seconds=600,
    )
    store.reserve(instruction)
    if minutes % 2 == 0:  # the even ones were placed (queued), the odd ones CM refused
        store.record_queued_calls(
            instruction, [CmQueuedCall(f"call-{instruction_id}", "+31612345678", True)]
        )
    else:
        store.mark(instruction_id, InstructionStatus.NOT_PLACED, "refused")


def get_list(module: Any, user_arn: str = ME, **query: str) -> Any:
    event = http_event("list_calls.json", user_arn=user_arn, query=query)
    return invoke_http(module, event)


@pytest.fixture
def six(aws: Any) -> None:
    for minute in range(6):
        store_instruction(aws, f"mine-{minute}", minute)
    store_instruction(aws, "theirs", 3, owner=OTHER)


def ids(result: Any) -> list[str]:
    return [i["instruction-id"] for i in result.body["items"]]


def test_newest_first_only_mine_and_paged(list_calls: Any, six: None) -> None:
    first = get_list(list_calls, limit="4")
    second = get_list(list_calls, limit="4", **{"next-token": first.body["next-token"]})

    assert first.status == 200
    assert ids(first) == ["mine-5", "mine-4", "mine-3", "mine-2"]
    assert ids(second) == ["mine-1", "mine-0"]
    assert second.body["next-token"] is None
    assert get_list(list_calls).body["next-token"] is None  # 6 ≤ the default 20


def test_filters(list_calls: Any, six: None) -> None:
    queued = get_list(list_calls, status="queued")
    refused = get_list(list_calls, status="not-placed")
    window = get_list(
        list_calls,
        **{
            "created-from": (T0 + timedelta(minutes=2)).isoformat(),
            "created-to": (T0 + timedelta(minutes=4)).isoformat(),
        },
    )

    assert ids(queued) == ["mine-4", "mine-2", "mine-0"]
    assert ids(refused) == ["mine-5", "mine-3", "mine-1"]
    assert ids(window) == ["mine-3", "mine-2"]  # from inclusive, to exclusive
    assert ids(get_list(list_calls, outcome="input-received")) == []


def test_a_token_cannot_be_used_by_another_principal_or_forged(list_calls: Any, six: None) -> None:
    token = get_list(list_calls, limit="2").body["next-token"]
    mine_again = get_list(list_calls, limit="2", **{"next-token": token})
    theirs = get_list(list_calls, OTHER, limit="2", **{"next-token": token})
    forged = get_list(list_calls, limit="2", **{"next-token": token[:-2] + "AA"})

    assert mine_again.status == 200
    for refused in (theirs, forged):
        assert refused.status == 422
        assert [e["field"] for e in refused.problem["errors"]] == ["next-token"]
    assert ids(get_list(list_calls, OTHER)) == ["theirs"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"limit": "0"}, ["limit"]),
        ({"limit": "101"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"status": "done"}, ["status"]),
        ({"outcome": "answered"}, ["outcome"]),
        ({"created-from": "yesterday"}, ["created-from"]),
        ({"created-to": "2026-01-01T00:00:00"}, ["created-to"]),  # no offset
        (
            {"created-from": "2026-01-02T00:00:00Z", "created-to": "2026-01-01T00:00:00Z"},
            ["created-to"],
        ),
        ({"next-token": "not-a-token"}, ["next-token"]),
        ({"limit": "0", "status": "x"}, ["status", "limit"]),
    ],
)
def test_bad_query_values_are_422_naming_the_parameter(
    list_calls: Any, query: dict[str, str], fields: list[str]
) -> None:
    refused = get_list(list_calls, **query)

    assert refused.status == 422
    assert [e["field"] for e in refused.problem["errors"]] == fields


@pytest.mark.parametrize(
    ("query", "fields", "hint"),
    [
        ({"created_from": "2026-01-01T00:00:00Z"}, ["created_from"], "created-from"),
        ({"state": "bogus"}, ["state"], "status"),
        ({"limt": "0"}, ["limt"], "limit"),
        ({"nexttoken": "x", "status": "x"}, ["nexttoken", "status"], "next-token"),
        ({"q": "x"}, ["q"], None),
    ],
)
def test_an_unknown_query_parameter_is_422_naming_it_not_an_unfiltered_list(
    list_calls: Any, six: None, query: dict[str, str], fields: list[str], hint: str | None
) -> None:
    """A misspelt filter must not answer the whole list as if it had been applied."""
    refused = get_list(list_calls, **query)

    assert refused.status == 422, refused.body
    errors = refused.problem["errors"]
    assert [e["field"] for e in errors] == fields
    assert "unknown query parameter" in errors[0]["message"]
    if hint is not None:
        assert f"did you mean {hint}?" in errors[0]["message"]
    else:
        assert "did you mean" not in errors[0]["message"]


def test_an_overlong_unknown_parameter_is_named_cut(list_calls: Any, six: None) -> None:
    refused = get_list(list_calls, **{"x" * 300: "1"})

    assert refused.status == 422
    assert [e["field"] for e in refused.problem["errors"]] == ["x" * 64 + "…"]


def test_the_sample_event(list_calls: Any, six: None) -> None:
    result = invoke_http(list_calls, sample_event("list_calls.json"))

    assert result.status == 200
    assert json.dumps(result.body)  # serialisable
    assert result.body["items"] == []  # nothing of mine has finished
