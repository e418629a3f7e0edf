"""Hostile review, stop 7: one pending-calls entry the store can never handle (a call id
over DynamoDB's key limit noted on an instruction) must not stop the expirer for the others;
a failure that may pass (throttling) still ends the run, so nothing is passed unhandled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from dtmf_gateway.adapters.dynamodb.unusable import (
    is_invalid_request,
    stale_entry_unusable_on_invalid_request,
)
from dtmf_gateway.domain.errors import StaleEntryUnusable
from dtmf_gateway.domain.expiry import expire_stale_calls
from dtmf_gateway.domain.ports import PendingCall

NOW = datetime(2026, 11, 30, 23, 45, tzinfo=UTC)


def client_error(code: str, **extra: object) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, **extra}, "UpdateItem")  # type: ignore[arg-type]


class Pending:
    """Entries in walk order; `poison` ones raise `failure` when handled."""

    def __init__(self, entries: list[PendingCall], poison: set[str], failure: Exception) -> None:
        self.entries = entries
        self.poison = poison
        self.failure = failure
        self.walked: list[str] = []  # what the walk moved past (the cursor's view)
        self.expired: list[str] = []

    def stale(self, now: datetime, keep_going: Callable[[], bool]) -> Iterator[PendingCall]:
        for entry in self.entries:
            if not keep_going():
                return
            yield entry
            self.walked.append(entry.instruction_id)

    def apply_recording(self, entry: PendingCall) -> list[PendingCall]:
        if entry.instruction_id in self.poison:
            raise self.failure
        return [PendingCall(entry.instruction_id, "applied")]

    def expire(self, call: PendingCall, finished_at: str) -> bool:
        if call.instruction_id in self.poison:
            raise self.failure
        self.expired.append(call.instruction_id)
        return True


ENTRIES = [
    PendingCall("a", "c-a"),
    PendingCall("poison", "", recording=True),
    PendingCall("b", "c-b"),
    PendingCall("c", "", recording=True),
]


def test_an_unusable_entry_is_set_aside_reported_and_the_others_expired() -> None:
    pending = Pending(ENTRIES, {"poison"}, StaleEntryUnusable("poison", "key too large"))
    reported: list[tuple[str, str]] = []

    report = expire_stale_calls(
        pending,  # type: ignore[arg-type]
        clock=lambda: NOW,
        on_set_aside=lambda entry, why: reported.append((entry.instruction_id, why.reason)),
    )

    assert pending.expired == ["a", "b", "c"]
    assert (report.expired, report.set_aside, report.finished) == (3, 1, True)
    assert reported == [("poison", "key too large")]
    assert pending.walked == ["a", "poison", "b", "c"]


def test_a_failure_that_may_pass_ends_the_run_before_the_entry_is_passed() -> None:
    pending = Pending(ENTRIES, {"poison"}, client_error("ProvisionedThroughputExceededException"))

    with pytest.raises(ClientError):
        expire_stale_calls(pending, clock=lambda: NOW)  # type: ignore[arg-type]

    assert pending.expired == ["a"]
    assert pending.walked == ["a"]  # the failing entry is not passed: the next run retries


@pytest.mark.parametrize(
    ("error", "invalid"),
    [
        (client_error("ValidationException"), True),
        (
            client_error(
                "TransactionCanceledException",
                CancellationReasons=[{"Code": "None"}, {"Code": "ValidationError"}],
            ),
            True,
        ),
        (
            client_error(
                "TransactionCanceledException",
                CancellationReasons=[{"Code": "ConditionalCheckFailed"}],
            ),
            False,
        ),
        (client_error("ThrottlingException"), False),
        (client_error("InternalServerError"), False),
    ],
)
def test_only_a_request_dynamodb_refuses_itself_is_unusable(
    error: ClientError, invalid: bool
) -> None:
    class Store:
        @stale_entry_unusable_on_invalid_request
        def expire(self, call: PendingCall, finished_at: str) -> bool:
            raise error

    expected: type[Exception] = StaleEntryUnusable if invalid else ClientError
    assert is_invalid_request(error) is invalid
    with pytest.raises(expected) as raised:
        Store().expire(PendingCall("i-1", "c-1"), "now")
    if invalid:
        assert isinstance(raised.value, StaleEntryUnusable)
        assert raised.value.instruction_id == "i-1"
