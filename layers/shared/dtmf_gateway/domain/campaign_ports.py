"""What the campaign use cases keep and the ports they keep it through.

Adapters: `adapters/dynamodb/campaigns_table.py` (store, pacing), `adapters/campaign_files.py`
(S3), `adapters/campaign_queue.py` (SQS), `adapters/campaign_events.py` (EventBridge); the
unit tests use the in-memory fakes of `tests/campaign_fakes.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dtmf_gateway.domain.campaigns import TERMINAL_STATUSES, CampaignStatus

#: The counters of a campaign besides one per call outcome (``counts`` in the API).
ROWS = "rows"
INVALID_ROWS = "invalid-rows"
DUPLICATE_ROWS = "duplicate-rows"
PLACED = "placed"
FINISHED = "finished"
NOT_PLACED = "not-placed"
UNKNOWN = "unknown"
#: Row ends that are not a call's result (counted under their own key, not under `finished`).
_NON_RESULT_ENDS = (DUPLICATE_ROWS, NOT_PLACED, UNKNOWN)


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """An accepted campaign: its template, where its callee list is, its pacing."""

    campaign_id: str
    owner: str
    template: dict[str, Any]  # the instruction template (JSON form)
    callees_bucket: str
    callees_key: str
    calls_per_second: float
    max_concurrent_calls: int
    skip_invalid_rows: bool
    created_at: datetime
    body_hash: str  # sha256 hex of the request as accepted: a retry of it replays


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    campaign_id: str
    owner: str
    status: CampaignStatus
    template: dict[str, Any]
    callees_bucket: str
    callees_key: str
    calls_per_second: float
    max_concurrent_calls: int
    skip_invalid_rows: bool
    created_at: str  # ISO-8601 UTC
    body_hash: str
    counts: dict[str, int] = field(default_factory=dict)
    validated: bool = False  # every row was validated (and the valid ones queued)
    started_at: str | None = None
    finished_at: str | None = None
    errors_uri: str | None = None
    results_uri: str | None = None
    finished_published: bool = False  # its `DTMF Campaign Finished` event went out
    corrections: int = 0  # row results replaced by a later revision (see correct_row)

    def count(self, key: str) -> int:
        return int(self.counts.get(key, 0))

    @property
    def rows_to_end(self) -> int:
        """Rows that end with a result, a not-placed, an unknown or as a duplicate."""
        return self.count(ROWS) - self.count(INVALID_ROWS)

    @property
    def rows_ended(self) -> int:
        return self.count(FINISHED) + sum(self.count(k) for k in _NON_RESULT_ENDS)

    @property
    def rows_to_place(self) -> int:
        return max(0, self.rows_to_end - self.count(PLACED) - self.rows_ended_unplaced)

    @property
    def rows_ended_unplaced(self) -> int:
        return sum(self.count(k) for k in _NON_RESULT_ENDS)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class RowEnd:
    """A row's final line (``results-uri``) and the counters it adds one to (``counters``:
    ``finished`` and an outcome, or ``not-placed``, ``unknown``, ``duplicate-rows``).
    ``revision``: set for a call's result (its `DTMF Result` ``revision``, 0 for the first),
    None for an end that is not a call's result."""

    row: int
    line: dict[str, Any]
    counters: tuple[str, ...]
    revision: int | None = None


class CampaignAlreadyExists(Exception):
    def __init__(self, existing: StoredCampaign) -> None:
        super().__init__(f"campaign {existing.campaign_id} already exists")
        self.existing = existing


class CampaignStore(Protocol):
    def create(self, campaign: NewCampaign) -> StoredCampaign:
        """Store a new campaign (`validating`); raise CampaignAlreadyExists otherwise."""
        ...

    def load(self, campaign_id: str) -> StoredCampaign | None: ...

    def change_status(
        self, campaign_id: str, to: CampaignStatus, when: Iterable[CampaignStatus]
    ) -> bool:
        """Set the status if it is one of ``when`` (one conditional write); False if not."""
        ...

    def end_validation(
        self,
        campaign_id: str,
        counts: Mapping[str, int],
        errors_uri: str | None,
        *,
        failed: bool,
        now: str,
    ) -> None:
        """Record the validation pass (``rows``, ``invalid-rows``), mark the campaign
        validated and started, and move it on: `failed` if ``failed``; from `validating`
        to `running`; a `paused` or `cancelled` campaign stays as it is."""
        ...

    def acquire_slot(self, campaign_id: str, row: int, limit: int) -> bool:
        """Give ``row`` one of the campaign's ``limit`` concurrent-call slots and open it
        (from now on a call's result may end it), in one transaction; True when the row
        holds a slot: taken now, or by an earlier delivery of the row (a row holds at most
        one, until it ends: a redelivery after its placer died uses the dead placer's slot).
        False when all are taken by other rows, or the row has ended."""
        ...

    def count_placed(self, campaign_id: str, row: int) -> bool:
        """Count ``row`` under `placed` once, whatever the number of deliveries that ask, and
        never after the row ended (a call's result counted it then, see `end_row`): True
        when this call counted it."""
        ...

    def row_ended(self, campaign_id: str, row: int) -> bool: ...

    def end_row(self, campaign_id: str, end: RowEnd) -> bool:
        """Record the row's end once: its line and its counter (and free the slot the row
        holds, if it holds one: `acquire_slot`) in one transaction; False (nothing changed)
        when the row had already ended — or, for a call's result (``end.revision`` set), when
        the row was never opened (`acquire_slot`):
        a result for a row this campaign never placed changes nothing. A call's result also
        counts the row `placed` in that transaction when its placer has not yet
        (`count_placed`: a result can beat it, or the placer died after CM answered), so that
        no count changes after a row ended: a campaign's totals never show more `finished`
        than `placed`, and its `DTMF Campaign Finished` holds its final counts."""
        ...

    def correct_row(self, campaign_id: str, end: RowEnd) -> bool:
        """Replace an ended row's call result by a later revision of it (``end.revision``
        above the stored one): its line, and its outcome's count moved from the old outcome
        to ``end.counters``' outcome (`finished` unchanged), and ``corrections`` + 1, in one
        transaction. False (nothing changed) when the row has no call result (not ended, or
        ended without a call) or already holds this or a later revision."""
        ...

    def row_lines(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        """Every ended row's line, in row order."""
        ...

    def mark_ended(
        self, campaign_id: str, status: CampaignStatus, results_uri: str | None, now: str
    ) -> bool:
        """Set the final status, ``results-uri`` and ``finished-at`` once; False when it had
        already ended."""
        ...

    def mark_published(self, campaign_id: str) -> None: ...


class Pacer(Protocol):
    def acquire(self, scope: str, per_second: float, now: datetime, tokens: int = 1) -> bool:
        """Take ``tokens`` calls (all or none) from ``scope``'s budget of ``per_second`` (see
        ``stack_pacing.pacing_window``) in the window holding ``now``; False when the
        window's budget has not that many left. Correct under any concurrency (one
        conditional write)."""
        ...


class CampaignFiles(Protocol):
    @property
    def bucket(self) -> str: ...

    def put_lines(self, key: str, lines: Iterable[str]) -> str:
        """Write JSON Lines to ``key`` of the campaign bucket; its ``s3://`` URI."""
        ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def lines(self, bucket: str, key: str) -> Iterator[str]:
        """The object's text, line by line (raises LookupError when it does not exist)."""
        ...


class ValidationRequests(Protocol):
    def start_validation(self, campaign_id: str) -> None:
        """Ask for the campaign's validation (at least once)."""
        ...


class RowQueue(Protocol):
    def send_rows(self, messages: Iterable[dict[str, Any]]) -> None:
        """Queue each row for placement (at least once)."""
        ...

    def defer(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        """Queue the row again, visible after ``delay_seconds``."""
        ...


class CampaignEvents(Protocol):
    def finished(self, detail: Mapping[str, Any]) -> None:
        """Publish `DTMF Campaign Finished` (raises when the bus refused it)."""
        ...

    def not_placed(self, detail: Mapping[str, Any]) -> None:
        """Publish `DTMF Call Not Placed` (raises when the bus refused it)."""
        ...
