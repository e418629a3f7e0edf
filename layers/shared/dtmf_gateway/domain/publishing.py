"""Outbox publishing: stream records of calls that just ended become `DTMF Result` events.

The table's stream is the outbox: the callback handler (and the expirer) only write the
table, and every committed "call ended" change reaches the bus at least once through here.
The stream adapter (`adapters.dynamodb.stream`) turns each record into a :class:`Change`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from dtmf_gateway.domain.events import DtmfResultDetail, detail_from_call

if TYPE_CHECKING:
    from dtmf_gateway.domain.calls import StoredCall
    from dtmf_gateway.domain.ports import ResultPublisher


@dataclass(frozen=True, slots=True)
class Change:
    """One stream record: the call before and after (None: absent, or not a call)."""

    record_id: str  # the stream record's sequence number
    old: StoredCall | None
    new: StoredCall | None

    @property
    def ends_a_call(self) -> bool:
        """True when this change makes a call's result public: see :func:`is_publishable`."""
        return is_publishable(self.old, self.new)


def is_publishable(old: StoredCall | None, new: StoredCall | None) -> bool:
    """A call's result is published when it becomes public: the call ended (or was absent,
    or held) before and is now ended and not held; or it was corrected (its `revision` went
    up: a late callback after `expired`, a re-derived outcome). Held and set-aside calls
    (`hold`) are never published."""
    if new is None or not new.ended or new.hold is not None:
        return False
    if old is None or not old.ended or old.hold is not None:
        return True
    return new.revision > old.revision


@dataclass(frozen=True, slots=True)
class PublishReport:
    published: int
    skipped: int  # records that are not "a call ended"
    failed: list[str]  # record ids to retry
    malformed: list[str]  # record ids whose call cannot make a valid event (also retried)


def publish_ended_calls(changes: Sequence[Change], publisher: ResultPublisher) -> PublishReport:
    details: list[DtmfResultDetail] = []
    published_record_ids: list[str] = []  # the record id of each detail, index for index
    malformed: list[str] = []
    skipped = 0
    for change in changes:
        if not change.ends_a_call:
            skipped += 1
            continue
        assert change.new is not None  # noqa: S101 - ends_a_call checked it
        try:
            details.append(detail_from_call(change.new))
        except ValidationError:
            malformed.append(change.record_id)
            continue
        published_record_ids.append(change.record_id)
    failed_indexes = publisher.publish(details) if details else []
    failed = [published_record_ids[i] for i in failed_indexes]
    return PublishReport(
        published=len(details) - len(failed_indexes),
        skipped=skipped,
        failed=failed + malformed,
        malformed=malformed,
    )
