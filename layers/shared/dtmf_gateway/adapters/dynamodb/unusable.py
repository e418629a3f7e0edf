"""Telling a DynamoDB request that can never succeed from one that failed for the moment.

DynamoDB answers `ValidationException` when the request itself is invalid — a key over its
size limit (partition key 2048 bytes, sort key 1024 bytes), an item over 400 KB, an empty key
value — and a transaction whose cancellation reasons include `ValidationError` for the same
reasons (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html,
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
Sending it again gives the same answer: it is not throttling, a timeout or a race.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from dtmf_gateway.domain.errors import StaleEntryUnusable

_INVALID_REQUEST = "ValidationException"


def is_invalid_request(error: ClientError) -> bool:
    """True when DynamoDB refused the request itself (retrying cannot help)."""
    code = error.response.get("Error", {}).get("Code")
    if code == _INVALID_REQUEST:
        return True
    reasons: Any = error.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        isinstance(r, dict) and r.get("Code") == "ValidationError" for r in reasons
    )


def stale_entry_unusable_on_invalid_request[**P, R](method: Callable[P, R]) -> Callable[P, R]:
    """For a `PendingCalls` method whose second argument is a `PendingCall`: an invalid
    request (:func:`is_invalid_request`) is raised as `StaleEntryUnusable` naming the
    entry's instruction; every other error is raised unchanged."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ClientError as error:
            if not is_invalid_request(error):
                raise
            entry = args[1] if len(args) > 1 else next(iter(kwargs.values()), None)
            instruction_id = str(getattr(entry, "instruction_id", ""))
            raise StaleEntryUnusable(instruction_id, str(error)[:300]) from error

    return guarded
