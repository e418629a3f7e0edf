"""The campaign use cases: create, validate (then queue), place a row, record a row's result,
pause/resume/cancel, read. Each takes ports (`domain.campaign_ports`) and knows nothing of AWS.

The flow (README, Campaigns): `CreateCampaign` stores the campaign (`validating`) and asks
for its validation; `ValidateCampaign` reads every row, writes the invalid ones to
`errors-uri`, and — only when no row is invalid or `skip-invalid-rows` — queues the valid
rows; `PlaceRow` places one queued row through the placement use case of `POST
/v1/dtmf-calls` (instruction id `{campaign-id}.{row}`, so a row queued twice rings once),
after the campaign's status, its concurrent-call slots and the pacing allow it;
`RecordRowResult` counts each row's `DTMF Result`; `FinishCampaign` ends the campaign once
every row has ended: `results-uri`, then one `DTMF Campaign Finished`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from dtmf_gateway.domain.calls import iso, utc_now
from dtmf_gateway.domain.campaign_events import CallNotPlacedDetail, CampaignFinishedDetail
from dtmf_gateway.domain.campaign_ports import (
    DUPLICATE_ROWS,
    FINISHED,
    INVALID_ROWS,
    NOT_PLACED,
    ROWS,
    UNKNOWN,
    CampaignAlreadyExists,
    CampaignEvents,
    CampaignFiles,
    CampaignStore,
    NewCampaign,
    Pacer,
    RowEnd,
    RowQueue,
    StoredCampaign,
    ValidationRequests,
)
from dtmf_gateway.domain.campaign_results import ResultVerdict, row_result
from dtmf_gateway.domain.campaign_taken_rows import TakenRow, taken_row
from dtmf_gateway.domain.campaigns import (
    CampaignRequest,
    CampaignStatus,
    Row,
    RowErrors,
    RowValidator,
    ValidRow,
    csv_header_problem,
    row_from_message,
    row_instruction_id,
    row_of_json,
    row_request,
    rows_of_text,
    split_s3_uri,
)
from dtmf_gateway.domain.errors import (
    CalleeLimitReached,
    FieldProblem,
    InstructionAlreadyExists,
    InvalidRequest,
    PlacementFailed,
    PolicyRefused,
)
from dtmf_gateway.domain.placement import PlacementContext
from dtmf_gateway.domain.schedules import NotPlacedReason
from dtmf_gateway.domain.stack_pacing import ALL_PLACEMENTS_SCOPE, WINDOW_TAIL, pacing_window

if TYPE_CHECKING:
    from dtmf_gateway.domain.placement import PlaceInstruction
    from dtmf_gateway.domain.policy import DialPolicy

#: Seconds a row of a paused (or not yet started) campaign waits before it looks again.
PAUSED_RECHECK_SECONDS = 2
#: Seconds a row waits after CM could not be reached (nothing placed) before it is tried again.
UNREACHABLE_RETRY_SECONDS = 30
#: Seconds a row waits when the campaign's concurrent-call slots are all taken.
BUSY_RECHECK_SECONDS = 1
#: How many 1-second pacing windows a row waits for in-process before it is queued again.
PACING_WAITS = 2
#: The key of a rows-queue message that only checks whether the campaign can finish.
FINISH_CHECK = "finish-check"
#: After this long, a campaign ended but its Finished event not out is published by whoever
#: looks (its first publisher died).
PUBLISH_TAKEOVER = timedelta(seconds=60)
#: How many times `FinishCampaign.refresh_results` rewrites results-uri while corrections race it.
REFRESH_ROUNDS = 5
#: The pacing scope shared by every campaign (the stack's: stack_pacing.ALL_PLACEMENTS_SCOPE).
ALL_CAMPAIGNS_SCOPE = "campaigns"


class CampaignNotFound(Exception):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign {campaign_id}")
        self.campaign_id = campaign_id


class PacingDeferred(Exception):
    """The pacing budgets stayed spent: the row goes back to the queue."""


class NoLongerRunning(PacingDeferred):
    """The campaign was paused or cancelled while the row waited for its pacing budget: the
    row goes back to the queue, whose next delivery sees the new status (deferred or ended
    `not-placed`)."""


class CampaignConflict(Exception):
    """The campaign's status does not allow the action (``action``: pause, resume, cancel;
    or ``create`` when the id is taken by another body or owner)."""

    def __init__(self, campaign_id: str, action: str, status: str) -> None:
        super().__init__(f"campaign {campaign_id} is {status}: cannot {action} it")
        self.campaign_id = campaign_id
        self.action = action
        self.status = status


@dataclass(frozen=True, slots=True)
class PacingLimits:
    """The stack's pacing: ``cm_max_calls_per_second`` over every placement (API and
    campaigns), of which campaigns together take at most ``campaign_calls_per_second`` (the
    rest is reserved for direct API calls)."""

    cm_max_calls_per_second: float
    campaign_calls_per_second: float


def body_hash(request: CampaignRequest, owner: str) -> str:
    data = {
        "owner": owner,
        "instruction": request.instruction,
        "callees": request.callees,
        "callees-s3-uri": request.callees_s3_uri,
        "calls-per-second": request.calls_per_second,
        "max-concurrent-calls": request.max_concurrent_calls,
        "skip-invalid-rows": request.skip_invalid_rows,
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _prefix(campaign_id: str) -> str:
    return f"campaigns/{campaign_id}/"


class CreateCampaign:
    """Use case: accept a campaign. Inline callees are written to the campaign bucket (so
    inline and S3 lists take one path); an S3 list must be an object of that bucket."""

    def __init__(
        self,
        store: CampaignStore,
        files: CampaignFiles,
        queue: ValidationRequests,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store, self._files, self._queue = store, files, queue
        self._clock, self._new_id = clock, new_id

    def create(self, request: CampaignRequest, owner: str) -> tuple[StoredCampaign, bool]:
        """The stored campaign and whether it is new (False: a retry of the same request by
        the same owner, answered again). Raises InvalidRequest (the S3 list is not in the
        campaign bucket or does not exist) or CampaignConflict (the id is taken)."""
        campaign_id = request.campaign_id or self._new_id()
        digest = body_hash(request, owner)
        existing = self._store.load(campaign_id)
        if existing is not None:
            return self._again(existing, owner, digest), False
        if request.callees is not None:
            key = f"{_prefix(campaign_id)}callees-{digest[:16]}.jsonl"
            self._files.put_lines(
                key, (json.dumps(row, ensure_ascii=False) for row in request.callees)
            )
            bucket = self._files.bucket
        else:
            bucket, key = split_s3_uri(str(request.callees_s3_uri))
            self._check_source(bucket, key)
        campaign = NewCampaign(
            campaign_id=campaign_id,
            owner=owner,
            template=request.instruction,
            callees_bucket=bucket,
            callees_key=key,
            calls_per_second=request.calls_per_second,
            max_concurrent_calls=request.max_concurrent_calls,
            skip_invalid_rows=request.skip_invalid_rows,
            created_at=self._clock(),
            body_hash=digest,
        )
        try:
            stored = self._store.create(campaign)
        except CampaignAlreadyExists as taken:
            return self._again(taken.existing, owner, digest), False
        self._queue.start_validation(campaign_id)
        return stored, True

    def _check_source(self, bucket: str, key: str) -> None:
        if bucket != self._files.bucket:
            raise InvalidRequest(
                [
                    FieldProblem(
                        "callees-s3-uri",
                        f"must be an object of the stack's campaign bucket ({self._files.bucket})",
                    )
                ]
            )
        if not self._files.exists(bucket, key):
            raise InvalidRequest([FieldProblem("callees-s3-uri", "no such object")])

    def _again(self, existing: StoredCampaign, owner: str, digest: str) -> StoredCampaign:
        if existing.owner != owner or existing.body_hash != digest:
            raise CampaignConflict(existing.campaign_id, "create", "taken")
        if not existing.validated and existing.status != CampaignStatus.FAILED:
            self._queue.start_validation(existing.campaign_id)  # the first may have died
        return existing


class ValidateCampaign:
    """Use case: validate every row before the first call; queue the valid rows.

    Idempotent: run again (a retried message), it validates again and queues again — the
    rows' instruction ids make a second placement of a row a no-op."""

    def __init__(
        self,
        *,
        store: CampaignStore,
        files: CampaignFiles,
        queue: RowQueue,
        policy: DialPolicy,
        finish: FinishCampaign,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store, self._files, self._queue, self._policy = store, files, queue, policy
        self._finish, self._clock = finish, clock

    def run(self, campaign_id: str) -> StoredCampaign | None:
        campaign = self._store.load(campaign_id)
        if campaign is None or campaign.status == CampaignStatus.FAILED or campaign.validated:
            return campaign
        validator = RowValidator(campaign.template, campaign_id, self._policy)
        valid: list[ValidRow] = []
        invalid: list[RowErrors] = []
        rows = 0
        for row in self._rows(campaign):
            rows += 1
            checked = validator.check(row)
            if isinstance(checked, RowErrors):
                invalid.append(checked)
            else:
                valid.append(checked)
        errors_uri = None
        if invalid:
            errors_uri = self._files.put_lines(
                f"{_prefix(campaign_id)}errors.jsonl",
                (json.dumps(e.line(), ensure_ascii=False) for e in invalid),
            )
        failed = (bool(invalid) and not campaign.skip_invalid_rows) or rows == 0
        if not failed:
            for valid_row in valid:
                if valid_row.duplicate_of is not None:
                    self._store.end_row(campaign_id, _duplicate_end(campaign_id, valid_row))
            self._queue.send_rows(
                row.message(campaign_id) for row in valid if row.duplicate_of is None
            )
        counts = {ROWS: rows, INVALID_ROWS: len(invalid)}
        self._store.end_validation(
            campaign_id, counts, errors_uri, failed=failed, now=iso(self._clock())
        )
        self._finish.settle(campaign_id)
        return self._store.load(campaign_id)

    def _rows(self, campaign: StoredCampaign) -> Iterator[Row]:
        try:
            lines = self._files.lines(campaign.callees_bucket, campaign.callees_key)
            if campaign.callees_key.lower().endswith(".csv"):
                first = next(lines, "")
                problem = csv_header_problem(first)
                if problem is not None:
                    yield Row(1, None, unknown=("(header)",))
                    return
                lines = _chain(first, lines)
            yield from rows_of_text(lines, key=campaign.callees_key)
        except LookupError:
            yield Row(1, None, unknown=("callees-s3-uri",))


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _duplicate_end(campaign_id: str, row: ValidRow) -> RowEnd:
    if row.duplicate_of is None:
        raise ValueError("not a duplicate row")
    return RowEnd(
        row=row.number,
        line={
            "row": row.number,
            "instruction-id": row_instruction_id(campaign_id, row.duplicate_of),
            "callee": row.callee,
            "outcome": None,
            "digits": None,
            "attempts": 0,
            "finished-at": None,
            "duplicate-of": row.duplicate_of,
        },
        counters=(DUPLICATE_ROWS,),
    )


class RowVerdict(StrEnum):
    """What placing a queued row came to (the handler counts them)."""

    PLACED = "placed"
    DEFERRED = "deferred"  # queued again: paused, not started, no slot, or pacing
    ENDED = "ended"  # ended without a call (cancelled, refused, unknown)
    SKIPPED = "skipped"  # nothing to do: already placed or ended, or no such campaign


class PlaceRow:
    """Use case: place one queued row when the campaign, its slots and the pacing allow.

    A row takes one of the campaign's `max-concurrent-calls` slots before it is first placed
    and holds it until it ends (its result, or `not-placed`/`unknown`): through a pacing
    wait, CM being unreachable, and its redeliveries, which use the row's slot instead of
    taking another. So a placer that dies mid-row never strands a slot, and the redelivered
    row can always find out what became of it (campaign_taken_rows), even when every slot is
    taken: `max-concurrent-calls` 1 and a placer killed during the CM call ends the row
    `unknown` on its redelivery, not sent back for ever."""

    def __init__(
        self,
        *,
        store: CampaignStore,
        queue: RowQueue,
        pacer: Pacer,
        limits: PacingLimits,
        placement: PlaceInstruction,
        policy: DialPolicy,
        ends: EndRow,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store, self._queue, self._pacer, self._limits = store, queue, pacer, limits
        self._placement, self._policy, self._ends = placement, policy, ends
        self._clock, self._sleep = clock, sleep

    def run(self, message: Mapping[str, Any]) -> RowVerdict:
        if message.get(FINISH_CHECK):
            self._ends.finish.settle(str(message["campaign-id"]))
            return RowVerdict.SKIPPED
        campaign_id, row = row_from_message(message)
        campaign = self._store.load(campaign_id)
        if campaign is None:
            return RowVerdict.SKIPPED
        if self._store.row_ended(campaign_id, row.number):
            self._ends.finish.settle(campaign_id)  # in case its first delivery died before
            return RowVerdict.SKIPPED
        return self._by_status(campaign, row, message) or self._when_allowed(campaign, row, message)

    def _when_allowed(
        self, campaign: StoredCampaign, row: Row, message: Mapping[str, Any]
    ) -> RowVerdict:
        """Place the row of a running campaign once it holds a slot and the pacing allows."""
        campaign_id = campaign.campaign_id
        try:
            request = row_request(campaign.template, row, campaign_id, self._policy, validated=True)
        except InvalidRequest:  # the policy changed since validation
            self._ends.not_placed(campaign, row, NotPlacedReason.POLICY_REFUSED)
            return RowVerdict.ENDED
        if not self._store.acquire_slot(campaign_id, row.number, campaign.max_concurrent_calls):
            self._queue.defer(message, BUSY_RECHECK_SECONDS)
            return RowVerdict.DEFERRED
        return self._place(campaign, row, request, message)

    def _by_status(
        self, campaign: StoredCampaign, row: Row, message: Mapping[str, Any]
    ) -> RowVerdict | None:
        """What the campaign's status makes of the row (None: running, go on)."""
        if campaign.status == CampaignStatus.CANCELLED:
            self._ends.not_placed(campaign, row, NotPlacedReason.CANCELLED)
            return RowVerdict.ENDED
        if campaign.status in (CampaignStatus.FINISHED, CampaignStatus.FAILED):
            return RowVerdict.SKIPPED
        if campaign.status != CampaignStatus.RUNNING:
            self._queue.defer(message, PAUSED_RECHECK_SECONDS)
            return RowVerdict.DEFERRED
        return None

    def _paced(self, campaign: StoredCampaign) -> None:
        """Take one placement from the campaign's rate, all campaigns' share and the stack's
        limit, right before CM is called; raise PacingDeferred when they stay spent.

        Waits in-process for the next window up to PACING_WAITS times. No budget is taken in
        the last WINDOW_TAIL of a window: a call sent then could reach CM in the next second
        and, with that second's own calls, exceed the limit there. A budget taken before a
        later limit refuses is not given back: pacing errs on the slow side."""
        remaining = [
            (f"campaign#{campaign.campaign_id}", campaign.calls_per_second),
            (ALL_CAMPAIGNS_SCOPE, self._limits.campaign_calls_per_second),
            (ALL_PLACEMENTS_SCOPE, self._limits.cm_max_calls_per_second),
        ]
        for attempt in range(PACING_WAITS + 1):
            now = self._clock()
            window, _ = pacing_window(remaining[0][1])
            left = window - now.timestamp() % window
            if left > WINDOW_TAIL:
                while remaining and self._pacer.acquire(remaining[0][0], remaining[0][1], now):
                    remaining.pop(0)
                late = (self._clock() - now).total_seconds() > left - WINDOW_TAIL
                if not remaining and not late:
                    return
                if late:  # the writes took so long the call would land in the next second
                    raise PacingDeferred(campaign.campaign_id)
                window, _ = pacing_window(remaining[0][1])
                left = window - now.timestamp() % window
            if attempt < PACING_WAITS and window <= 1:
                self._sleep(left + 0.005)
        raise PacingDeferred(campaign.campaign_id)

    def _paced_and_running(self, campaign: StoredCampaign) -> None:
        """Pacing, then the campaign's status read again (one consistent read): a row can
        wait seconds for its budget, and a pause or cancel answered meanwhile must stop it
        before CM is called, not after (raises NoLongerRunning)."""
        self._paced(campaign)
        now = self._store.load(campaign.campaign_id)
        if now is None or now.status != CampaignStatus.RUNNING:
            raise NoLongerRunning(campaign.campaign_id)

    def _place(
        self, campaign: StoredCampaign, row: Row, request: Any, message: Mapping[str, Any]
    ) -> RowVerdict:
        context = PlacementContext(
            owner=campaign.owner,
            campaign_id=campaign.campaign_id,
            before_cm=lambda: self._paced_and_running(campaign),
        )
        try:
            result = self._placement.place(request, context)
        except InstructionAlreadyExists as taken:
            return self._taken(taken, campaign, row, request, message)
        except (PacingDeferred, PlacementFailed) as error:
            return self._not_sent(error, campaign, row, message)
        except (PolicyRefused, CalleeLimitReached):
            self._ends.not_placed(campaign, row, NotPlacedReason.POLICY_REFUSED)
            return RowVerdict.ENDED
        if result.outcome_unknown is not None:
            self._ends.unknown(campaign, row, request)
            return RowVerdict.ENDED
        self._store.count_placed(campaign.campaign_id, row.number)
        return RowVerdict.PLACED

    def _taken(
        self,
        taken: InstructionAlreadyExists,
        campaign: StoredCampaign,
        row: Row,
        request: Any,
        message: Mapping[str, Any],
    ) -> RowVerdict:
        """The row's id is held by an instruction: account for the row once by what that
        instruction is (domain.campaign_taken_rows). The row's slot (one, whichever delivery
        took it) stays with the row until its end: its result, or the end here."""
        kind = taken_row(taken.found, campaign.campaign_id, campaign.owner, self._clock())
        if kind == TakenRow.FOREIGN:
            self._ends.not_placed(campaign, row, NotPlacedReason.INSTRUCTION_ID_IN_USE)
            return RowVerdict.ENDED
        if kind == TakenRow.IN_PROGRESS:
            self._queue.defer(message, UNREACHABLE_RETRY_SECONDS)
            return RowVerdict.DEFERRED
        if kind == TakenRow.UNKNOWN:
            self._ends.unknown(campaign, row, request)
            return RowVerdict.ENDED
        counted = self._store.count_placed(campaign.campaign_id, row.number)
        return RowVerdict.PLACED if counted else RowVerdict.SKIPPED

    def _not_sent(
        self, error: Exception, campaign: StoredCampaign, row: Row, message: Mapping[str, Any]
    ) -> RowVerdict:
        """The row was not placed now: paced back, or CM unreachable (surely nothing placed:
        tried again later, the id stays free; the row keeps its slot for that), or CM
        refused."""
        if isinstance(error, PlacementFailed) and not error.unreachable:
            self._ends.not_placed(campaign, row, NotPlacedReason.CM_REFUSED)
            return RowVerdict.ENDED
        delay = UNREACHABLE_RETRY_SECONDS if isinstance(error, PlacementFailed) else 1
        self._queue.defer(message, delay)
        return RowVerdict.DEFERRED


class EndRow:
    """Ends rows that get no `DTMF Result`: not placed (with its `DTMF Call Not Placed`
    event) or unknown; then lets the campaign finish if that was its last row."""

    def __init__(
        self,
        store: CampaignStore,
        events: CampaignEvents,
        finish: FinishCampaign,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store, self._events, self._finish, self._clock = store, events, finish, clock

    @property
    def finish(self) -> FinishCampaign:
        return self._finish

    def not_placed(self, campaign: StoredCampaign, row: Row, reason: NotPlacedReason) -> None:
        now = iso(self._clock())
        instruction_id = row_instruction_id(campaign.campaign_id, row.number)
        callee = row.callee if isinstance(row.callee, str) else None
        metadata = {**(campaign.template.get("metadata") or {}), **(row.metadata or {})}  # type: ignore[dict-item]
        line = {
            "row": row.number,
            "instruction-id": instruction_id,
            "callee": callee,
            "outcome": None,
            "digits": None,
            "attempts": 0,
            "finished-at": now,
            "status": NOT_PLACED,
            "reason": reason.value,
        }
        if self._store.end_row(campaign.campaign_id, RowEnd(row.number, line, (NOT_PLACED,))):
            detail = CallNotPlacedDetail.model_validate(
                {
                    "instruction-id": instruction_id,
                    "callee": callee,
                    "caller": campaign.template.get("caller"),
                    "reason": reason.value,
                    "metadata": metadata,
                    "campaign-id": campaign.campaign_id,
                    "ended-at": now,
                }
            )
            self._events.not_placed(detail.model_dump(by_alias=True, mode="json"))
        self._finish.settle(campaign.campaign_id)

    def unknown(self, campaign: StoredCampaign, row: Row, request: Any) -> None:
        line = {
            "row": row.number,
            "instruction-id": row_instruction_id(campaign.campaign_id, row.number),
            "callee": request.all_callees()[0],
            "outcome": None,
            "digits": None,
            "attempts": 1,
            "finished-at": iso(self._clock()),
            "status": UNKNOWN,
        }
        self._store.end_row(campaign.campaign_id, RowEnd(row.number, line, (UNKNOWN,)))
        self._finish.settle(campaign.campaign_id)


class RecordRowResult:
    """Use case: a `DTMF Result` of a campaign's row ends that row (once, whatever the
    number of deliveries), or corrects its result (a later `revision`: a late callback after
    the call was published `expired`, a re-derived outcome); the campaign finishes with its
    last row. A result for a row the campaign never placed (no such row, an invalid or
    duplicate row, one not placed yet) or that ended without a call changes nothing."""

    def __init__(self, store: CampaignStore, finish: FinishCampaign) -> None:
        self._store, self._finish = store, finish

    def run(self, detail: Mapping[str, Any]) -> ResultVerdict:
        """What the event came to (see ResultVerdict)."""
        result = row_result(detail)
        if result is None:
            return ResultVerdict.IGNORED
        campaign_id, end = result.campaign_id, result.end
        if self._store.end_row(campaign_id, end):
            verdict = ResultVerdict.COUNTED
        elif self._store.correct_row(campaign_id, end):
            verdict = ResultVerdict.CORRECTED
            self._finish.refresh_results(campaign_id)
        elif self._store.row_ended(campaign_id, end.row):
            verdict = ResultVerdict.REPEATED
        else:
            return ResultVerdict.IGNORED
        self._finish.settle(campaign_id)  # also for a repeat: its first delivery may have died
        return verdict


class FinishPending(Exception):
    """Another delivery ended the campaign a moment ago and is publishing its event: this
    one is retried later (then the event is out, or its publisher has died and this one
    publishes it)."""


class FinishCampaign:
    """Use case: once every row has ended (or validation failed), write `results-uri`, set
    the terminal status and publish one `DTMF Campaign Finished`.

    The delivery that sets the terminal status publishes; one that finds the campaign ended
    but its event not out raises FinishPending (retried later) until PUBLISH_TAKEOVER has
    passed, then publishes it itself: the publisher died. At least once; a duplicate needs a
    publisher slower than PUBLISH_TAKEOVER (consumers dedupe on `resources`)."""

    def __init__(
        self,
        store: CampaignStore,
        files: CampaignFiles,
        events: CampaignEvents,
        clock: Callable[[], datetime] = utc_now,
        checks: RowQueue | None = None,
    ) -> None:
        self._store, self._files, self._events, self._clock = store, files, events, clock
        self._checks = checks

    def settle(self, campaign_id: str) -> None:
        """`run`, and when another delivery is publishing, a finish check queued for a
        minute later (`FINISH_CHECK` message on the rows queue) instead of an error."""
        try:
            self.run(campaign_id)
        except FinishPending:
            if self._checks is None:
                raise
            self._checks.defer({"campaign-id": campaign_id, FINISH_CHECK: True}, 60)

    def run(self, campaign_id: str, *, insist: bool = True) -> StoredCampaign | None:
        """``insist=False`` (an API request): never raise FinishPending, leave it."""
        campaign = self._store.load(campaign_id)
        if campaign is None or campaign.finished_published or not campaign.validated:
            return campaign
        if campaign.finished_at is None:
            if (
                campaign.status != CampaignStatus.FAILED
                and campaign.rows_ended < campaign.rows_to_end
            ):
                return campaign
            if not self._end(campaign):
                campaign = self._store.load(campaign_id)
                return self._taken_over(campaign, insist=insist)
            ended = self._store.load(campaign_id)
            if ended is not None and ended.corrections != campaign.corrections:
                self.refresh_results(campaign_id)  # a correction raced the results file
                ended = self._store.load(campaign_id)
            campaign = ended
        else:
            return self._taken_over(campaign, insist=insist)
        return self._publish(campaign)

    def _end(self, campaign: StoredCampaign) -> bool:
        status = (
            campaign.status
            if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.FAILED)
            else CampaignStatus.FINISHED
        )
        results_uri = None
        if status != CampaignStatus.FAILED:
            results_uri = self._write_results(campaign.campaign_id)
        return self._store.mark_ended(campaign.campaign_id, status, results_uri, iso(self._clock()))

    def _write_results(self, campaign_id: str) -> str:
        """Write every ended row's line to `results-uri` (JSON Lines, row order); its URI."""
        return self._files.put_lines(
            f"{_prefix(campaign_id)}results.jsonl",
            (json.dumps(line, ensure_ascii=False) for line in self._store.row_lines(campaign_id)),
        )

    def refresh_results(self, campaign_id: str) -> None:
        """Rewrite `results-uri` (the same object) of an ended campaign after a row's result
        was corrected, so that it holds each row's final result; written again while other
        corrections land during the write (at most REFRESH_ROUNDS times; each correction
        also refreshes after its own write). A campaign not ended yet: nothing (its file is
        written when it ends). No second `DTMF Campaign Finished`: one per campaign, its
        `counts` as they were when it ended; `GET` shows the corrected counts."""
        for _ in range(REFRESH_ROUNDS):
            campaign = self._store.load(campaign_id)
            if campaign is None or campaign.finished_at is None or campaign.results_uri is None:
                return
            self._write_results(campaign_id)
            after = self._store.load(campaign_id)
            if after is None or after.corrections == campaign.corrections:
                return

    def _taken_over(
        self, campaign: StoredCampaign | None, *, insist: bool
    ) -> StoredCampaign | None:
        if campaign is None or campaign.finished_published or campaign.finished_at is None:
            return campaign
        ended = datetime.fromisoformat(campaign.finished_at.replace("Z", "+00:00"))
        if self._clock() - ended >= PUBLISH_TAKEOVER:
            return self._publish(campaign)
        if insist:
            raise FinishPending(campaign.campaign_id)
        return campaign

    def _publish(self, campaign: StoredCampaign | None) -> StoredCampaign | None:
        if campaign is None:
            return None
        detail = CampaignFinishedDetail.model_validate(
            {
                "campaign-id": campaign.campaign_id,
                "status": campaign.status.value,
                "counts": campaign.counts,
                "finished-at": campaign.finished_at,
                "results-uri": campaign.results_uri,
                "errors-uri": campaign.errors_uri,
            }
        )
        self._events.finished(detail.model_dump(by_alias=True, mode="json"))
        self._store.mark_published(campaign.campaign_id)
        return campaign


class ControlCampaign:
    """Use case: read, pause, resume or cancel one's own campaign (another owner's does not
    exist: CampaignNotFound)."""

    _ALLOWED: ClassVar[dict[str, tuple[CampaignStatus, tuple[CampaignStatus, ...]]]] = {
        "pause": (CampaignStatus.PAUSED, (CampaignStatus.RUNNING, CampaignStatus.VALIDATING)),
        "cancel": (
            CampaignStatus.CANCELLED,
            (CampaignStatus.RUNNING, CampaignStatus.VALIDATING, CampaignStatus.PAUSED),
        ),
    }

    def __init__(self, store: CampaignStore, finish: FinishCampaign) -> None:
        self._store, self._finish = store, finish

    def read(self, campaign_id: str, owner: str) -> StoredCampaign:
        campaign = self._store.load(campaign_id)
        if campaign is None or campaign.owner != owner:
            raise CampaignNotFound(campaign_id)
        return campaign

    def act(self, campaign_id: str, owner: str, action: str) -> StoredCampaign:
        """Apply ``action`` (``pause``, ``resume``, ``cancel``); idempotent (pausing a
        paused campaign answers it again). Raises CampaignNotFound, CampaignConflict (e.g.
        resuming a finished campaign)."""
        campaign = self.read(campaign_id, owner)
        if action == "resume":
            target = CampaignStatus.RUNNING if campaign.validated else CampaignStatus.VALIDATING
            allowed: tuple[CampaignStatus, ...] = (CampaignStatus.PAUSED,)
        else:
            target, allowed = self._ALLOWED[action]
        if campaign.status == target or (
            action == "resume" and campaign.status in (CampaignStatus.RUNNING,)
        ):
            return campaign
        if campaign.status not in allowed or not self._store.change_status(
            campaign_id, target, allowed
        ):
            current = self.read(campaign_id, owner)
            if current.status == target:
                return current
            raise CampaignConflict(campaign_id, action, current.status.value)
        if action == "cancel":
            self._finish.run(campaign_id, insist=False)
        return self.read(campaign_id, owner)


def estimated_finish(
    campaign: StoredCampaign, now: datetime, *, campaign_share: float | None = None
) -> str | None:
    """When the last row should be placed (ISO 8601 UTC; None unless running): at the
    campaign's rate, or at ``campaign_share`` (calls per second, the stack's
    `CampaignCallsPerSecond` all campaigns share) when that is lower — a rate asked above
    the share is accepted but never given, so the estimate must not count on it."""
    if campaign.status != CampaignStatus.RUNNING or not campaign.validated:
        return None
    rate = campaign.calls_per_second
    if campaign_share is not None:
        rate = min(rate, campaign_share)
    seconds = campaign.rows_to_place / rate
    return iso(now + timedelta(seconds=seconds))


__all__ = [
    "FINISHED",
    "CampaignConflict",
    "CampaignNotFound",
    "ControlCampaign",
    "CreateCampaign",
    "EndRow",
    "FinishCampaign",
    "PlaceRow",
    "RecordRowResult",
    "RowVerdict",
    "ValidateCampaign",
    "estimated_finish",
    "pacing_window",
    "row_of_json",
]
