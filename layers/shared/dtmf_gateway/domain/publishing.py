"""Outbox publishing: stream records of calls that just ended become `DTMF Result` events.

The table's stream is the outbox: the callback handler (and the expirer) only write the
table, and every committed "call ended" change reaches the bus at least once through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from dtmf_gateway.domain.events import DtmfResultDetail, detail_from_call, ended_by


class ResultPublisher(Protocol):
    def publish(self, details: Sequence[DtmfResultDetail]) -> list[int]:
        """Publish in order; return the indexes of the details that were NOT published."""
        ...


@dataclass(frozen=True, slots=True)
class Change:
    record_id: str  # the stream record's sequence number
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PublishReport:
    published: int
    skipped: int  # records that are not "a call ended"
    failed: list[str]  # record ids to retry
    malformed: list[str]  # record ids whose item cannot make a valid event (also retried)


def publish_ended_calls(changes: Sequence[Change], publisher: ResultPublisher) -> PublishReport:
    details: list[DtmfResultDetail] = []
    owners: list[str] = []
    malformed: list[str] = []
    skipped = 0
    for change in changes:
        if not ended_by(change.old, change.new):
            skipped += 1
            continue
        assert change.new is not None  # noqa: S101 - ended_by checked it
        try:
            details.append(detail_from_call(change.new))
        except (KeyError, ValidationError):
            malformed.append(change.record_id)
            continue
        owners.append(change.record_id)
    failed_indexes = publisher.publish(details) if details else []
    failed = [owners[i] for i in failed_indexes]
    return PublishReport(
        published=len(details) - len(failed_indexes),
        skipped=skipped,
        failed=failed + malformed,
        malformed=malformed,
    )
