# ruff: noqa: F811  (the fixture of test_scheduling, imported, is a parameter here)
"""The stack-wide limit `CmMaxCallsPerSecond` over every placement (#17): campaigns, direct
`POST /v1/dtmf-calls` and scheduled dials, on the real counter (moto), racing in real threads.

What a user notices: CM never gets more calls in a second than the stack's limit, campaigns
never more than their share (`CampaignCallsPerSecond`), so direct calls within the rest are
never refused however hard the campaigns push; a direct POST that finds the second spent is
a 429 `rate-limited` with `Retry-After` that placed nothing and consumed nothing (the same
Idempotency-Key places on retry); a scheduled dial that finds it spent is dialled a moment
later, once.

Time is virtual (`VirtualTime`): it stands still while threads work and moves on only when
every thread sleeps, to the earliest wake-up. The threads race for real on moto's counter;
calls per second are counted at the CM fake by the virtual clock. No wall-clock assertion.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devtools.lambdas import LambdaContext, http_event
from dtmf_gateway.adapters.dynamodb.pacing import DynamoDbPacer
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.adapters.dynamodb.schedule_store import DynamoDbScheduleStore
from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.campaign_use_cases import EndRow, PacingLimits, PlaceRow, RowVerdict
from dtmf_gateway.domain.dialling import STACK_AT_LIMIT_DELAY, DialOutcome, DialScheduledCall
from dtmf_gateway.domain.errors import StackAtLimit
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext
from dtmf_gateway.domain.ports import ScheduledDial
from dtmf_gateway.domain.request import DtmfCallRequest, parse_dtmf_call_request
from dtmf_gateway.domain.schedules import SchedulingRules
from dtmf_gateway.domain.stack_pacing import (
    SEND_MARGIN,
    PacedPlaceInstruction,
    StackPacing,
    check_limits,
)
from tests.conftest import REGION
from tests.fakes import FakeCallbackUrls, FakeCm, FakeDialScheduler, InMemoryInstructionStore, Table
from tests.integration.test_campaign_handlers import campaigns  # noqa: F401  (fixture)
from tests.integration.test_campaigns import POLICY, World, _Events, rows
from tests.integration.test_scheduling import (  # noqa: F401  (fixture)
    body,
    dial_call,
    post,
    schedule_inputs,
)
from tests.support.lambdas import invoke_http

STACK, CAMPAIGNS = 50, 30  # the template's defaults
OWNER = "arn:aws:iam::123456789012:role/crm"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class VirtualTime:
    """A clock shared by ``workers`` threads: `now` stands still while any thread works;
    when all sleep (or are done), time jumps to the earliest wake-up and wakes those due."""

    def __init__(self, start: datetime, workers: int) -> None:
        self._t = start.timestamp()
        self._cond = threading.Condition()
        self._running = workers
        self._sleepers: list[list[Any]] = []  # [wake-up, woken]

    def now(self) -> datetime:
        with self._cond:
            return datetime.fromtimestamp(self._t, UTC)

    def sleep(self, seconds: float) -> None:
        with self._cond:
            entry = [self._t + max(seconds, 0.0), False]
            self._sleepers.append(entry)
            self._running -= 1
            self._cond.notify_all()
            while not entry[1]:
                self._cond.wait()

    def sleep_until(self, moment: datetime) -> None:
        self.sleep(moment.timestamp() - self.now().timestamp())

    def done(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    def drive(self) -> None:
        """Run until every worker is done (call from the test's own thread)."""
        with self._cond:
            while True:
                while self._running > 0:
                    self._cond.wait()
                if not self._sleepers:
                    return
                self._t = max(self._t, min(e[0] for e in self._sleepers))
                for entry in [e for e in self._sleepers if e[0] <= self._t]:
                    self._sleepers.remove(entry)
                    entry[1] = True
                    self._running += 1
                self._cond.notify_all()


class RecordingCm(FakeCm):
    """The CM fake, noting each request's moment (virtual), kind and number of callees."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__()
        self._clock = clock
        self.calls: list[tuple[float, str, int]] = []
        self._lock = threading.Lock()

    def place(self, request: DtmfCallRequest, **kwargs: Any) -> list[CmQueuedCall]:
        moment, kind = self._clock().timestamp(), _kind(kwargs["instruction_id"])
        with self._lock:
            self.calls.append((moment, kind, len(request.all_callees())))
        return super().place(request, **kwargs)

    def per_second(self, kinds: tuple[str, ...] | None = None) -> Counter[int]:
        out: Counter[int] = Counter()
        for moment, kind, callees in self.calls:
            if kinds is None or kind in kinds:
                out[int(moment)] += callees
        return out


def _kind(instruction_id: str) -> str:
    """`direct-…`, `dial-…`, or the campaign id of a row (`c0.7`)."""
    head = instruction_id.split("-", maxsplit=1)[0]
    return head if head in ("direct", "dial") else instruction_id.split(".", maxsplit=1)[0]


class RowQueue:
    """The rows queue: messages due at a (virtual) moment; PlaceRow defers into it."""

    def __init__(self, clock: Callable[[], datetime], messages: list[dict[str, Any]]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._due: list[tuple[float, dict[str, Any]]] = [(clock().timestamp(), m) for m in messages]

    def defer(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        with self._lock:
            self._due.append((self._clock().timestamp() + delay_seconds, dict(message)))

    def send_rows(self, messages: Any) -> None:  # pragma: no cover - validation is done
        raise AssertionError("not used")

    def take(self) -> tuple[float, dict[str, Any]] | None:
        with self._lock:
            if not self._due:
                return None
            self._due.sort(key=lambda d: d[0])
            return self._due.pop(0)


def _request(instruction_id: str, callees: list[str], **extra: Any) -> DtmfCallRequest:
    return parse_dtmf_call_request(
        body(**{"instruction-id": instruction_id, "callees": callees, **extra}) | {"callee": None}
    )


def _number(kind: int, n: int) -> str:
    return f"+316{kind}{n:07d}"


def test_every_placement_together_stays_under_the_stack_limit_and_campaigns_under_theirs(
    aws: Any,
) -> None:
    """Four campaigns at 10/s (40 asked, 30 allowed), direct POSTs and scheduled dials in the
    reserve (20/s) for 6 s, then direct bursts over it for 4 s: 11 threads at once."""
    world = World(rate_limit=STACK, campaign_share=CAMPAIGNS)
    for n in range(4):
        world.start(
            **{
                "campaign-id": f"c{n}",
                "callees": rows(60),
                "calls-per-second": 10,
                "max-concurrent-calls": 1000,
            }
        )
    dial_world = _DialWorld(aws)
    dial_plan = [
        dial_world.schedule(f"dial-{s}-{k}", _number(5, 10 * s + k))
        for s in range(10)
        for k in range(3)
    ]
    campaign_threads, direct_threads, dial_threads = 4, 4, 3
    vt = VirtualTime(START, campaign_threads + direct_threads + dial_threads)
    cm = RecordingCm(vt.now)
    pacer = DynamoDbPacer(aws.dynamodb, "campaigns")
    # rows interleaved across the campaigns (c0.1, c1.1, c2.1, c3.1, c0.2, ...)
    queue = RowQueue(vt.now, sorted(world.queues.rows, key=lambda m: (m["row"], m["campaign-id"])))
    placer = PlaceRow(
        store=world.store,
        queue=queue,
        pacer=pacer,
        limits=PacingLimits(STACK, CAMPAIGNS),
        placement=PlaceInstruction(
            cm=cm,
            store=InMemoryInstructionStore(Table()),
            callback_urls=FakeCallbackUrls(),
            policy=POLICY,
            clock=vt.now,
        ),
        policy=POLICY,
        ends=EndRow(world.store, _Events(world.bus), world.finish, vt.now),  # type: ignore[arg-type]
        clock=vt.now,
        sleep=vt.sleep,
    )
    direct = PacedPlaceInstruction(
        cm=cm,
        store=InMemoryInstructionStore(Table()),
        callback_urls=FakeCallbackUrls(),
        policy=POLICY,
        clock=vt.now,
    ).paced_by(StackPacing(pacer, STACK, waits=0, clock=vt.now, sleep=vt.sleep))
    dialler = dial_world.dialler(
        cm, StackPacing(pacer, STACK, waits=1, clock=vt.now, sleep=vt.sleep), vt.now
    )
    verdicts: Counter[RowVerdict] = Counter()
    refused: list[tuple[int, int]] = []  # (second, callees) of direct POSTs answered 429
    dialled: dict[int, list[DialOutcome]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)
            finally:
                vt.done()

        return run

    def campaign_rows() -> None:
        while (item := queue.take()) is not None:
            due, message = item
            vt.sleep_until(datetime.fromtimestamp(due, UTC))
            verdict = placer.run(message)
            with lock:
                verdicts[verdict] += 1

    def direct_posts(thread: int) -> Callable[[], None]:
        # 2 callees at 0.05 s and 0.45 s of each second per thread: 4 threads = 16 calls/s;
        # from second 6 on, threads 0 and 1 ask for 20 callees instead (over the reserve)
        def run() -> None:
            for second in range(10):
                for half, offset in enumerate((0.05, 0.45)):
                    vt.sleep_until(START + timedelta(seconds=second + offset + thread * 0.01))
                    size = 20 if second >= 6 and thread < 2 else 2
                    numbers = [
                        _number(thread + 1, 1000 * second + 100 * half + i) for i in range(size)
                    ]
                    request = _request(f"direct-{thread}-{second}-{half}", numbers)
                    try:
                        direct.place(request, PlacementContext(owner=OWNER))
                    except StackAtLimit:
                        with lock:
                            refused.append((second, size))

        return run

    def dials(thread: int) -> None:
        # one scheduled dial per thread at 0.2 s of each second: 3 calls/s
        for second in range(10):
            vt.sleep_until(START + timedelta(seconds=second + 0.2))
            outcome = dialler.dial(dial_plan[3 * second + thread]).outcome
            with lock:
                dialled.setdefault(second, []).append(outcome)

    threads = [threading.Thread(target=worker(campaign_rows)) for _ in range(campaign_threads)]
    threads += [threading.Thread(target=worker(direct_posts(t))) for t in range(direct_threads)]
    threads += [threading.Thread(target=worker(lambda t=t: dials(t))) for t in range(dial_threads)]
    for thread in threads:
        thread.start()
    vt.drive()
    for thread in threads:
        thread.join()

    assert errors == []
    start = int(START.timestamp())
    total = cm.per_second()
    campaigns = cm.per_second(("c0", "c1", "c2", "c3"))
    direct_calls = cm.per_second(("direct",))
    # the limits hold in every second, and they bind: the counters, not a lack of demand
    assert max(total.values()) <= STACK
    assert max(campaigns.values()) == CAMPAIGNS  # 40 asked for
    for n in range(4):
        assert max(cm.per_second((f"c{n}",)).values()) <= 10
    # within the reserve (seconds 0-5: 16 direct + 3 dialled < 20) nothing is refused or
    # put off, the campaigns running beside them
    assert [r for r in refused if r[0] < 6] == []
    assert [direct_calls[start + s] for s in range(6)] == [16] * 6
    assert all(dialled[s] == [DialOutcome.PLACED] * 3 for s in range(6))
    # over it (seconds 6-9) some are refused, each only when its second had too little left
    assert refused
    for second, size in refused:
        assert total[start + second] > STACK - size
    assert {o for s in range(6, 10) for o in dialled[s]} <= {
        DialOutcome.PLACED,
        DialOutcome.RESCHEDULED,
    }
    # every row placed exactly once in the end
    placed = [c for c in cm.calls if c[1].startswith("c")]
    assert verdicts[RowVerdict.PLACED] == len(placed) == 240
    assert len({(m, k) for m, k, _ in cm.calls}) <= len(cm.calls)
    # no direct or scheduled call left for CM in its second's last SEND_MARGIN
    assert all(m % 1 < 1 - SEND_MARGIN for m, kind, _ in cm.calls if kind in ("direct", "dial"))


class _DialWorld:
    """Scheduled instructions on moto's calls table, one callee each, due at START."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.scheduler = FakeDialScheduler()
        self.rules = SchedulingRules(default_quiet_hours=None)
        self.store = DynamoDbScheduleStore(
            aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
        )
        self.placement = PlaceInstruction(
            cm=FakeCm(),
            store=DynamoDbInstructionStore(
                aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
            ),
            callback_urls=FakeCallbackUrls(),
            policy=POLICY,
            clock=lambda: START - timedelta(minutes=10),
            scheduler=self.scheduler,
            scheduling=self.rules,
        )

    def schedule(self, instruction_id: str, callee: str) -> ScheduledDial:
        not_before = (START - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.placement.place(
            _request(instruction_id, [callee], **{"not-before": not_before}),
            PlacementContext(owner=OWNER),
        )
        [dial] = [d for d in self.scheduler.dials if d.instruction_id == instruction_id]
        return dial

    def dialler(
        self, cm: FakeCm, pacing: StackPacing, clock: Callable[[], datetime]
    ) -> DialScheduledCall:
        return DialScheduledCall(
            store=self.store,
            cm=cm,
            callback_urls=FakeCallbackUrls(),
            policy=POLICY,
            scheduler=self.scheduler,
            rules=self.rules,
            clock=clock,
            stack_pacing=pacing,
        )


# ------------------------------------------------------------------ the stack's second spent


def _fill_the_stack(seconds: int = 120) -> None:
    """Spend the stack's counter for the coming ``seconds`` (as other placements would)."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    now = int(datetime.now(UTC).timestamp())
    for start in range(now - 1, now + seconds):
        ddb.put_item(
            TableName="campaigns",
            Item={"pk": {"S": "rate#all"}, "sk": {"S": str(start)}, "placements": {"N": "50"}},
        )


def _free_the_stack() -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    for item in ddb.scan(TableName="campaigns")["Items"]:
        ddb.delete_item(TableName="campaigns", Key={"pk": item["pk"], "sk": item["sk"]})


def test_a_direct_post_at_the_limit_is_a_429_that_places_nothing_and_keeps_the_key_free(
    place_call: Any, cm: Any, function_env: Any
) -> None:
    _fill_the_stack()
    payload = body(callees=["+31612345678", "+31612345679"]) | {"callee": None}
    headers = {"Content-Type": "application/json", "Idempotency-Key": "order-7781"}

    refused = invoke_http(place_call, http_event("place_call.json", body=payload, headers=headers))

    assert refused.status == 429, refused.body
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.body["type"] == "urn:dtmf-gateway:problem:rate-limited"
    assert "nothing was placed" in refused.body["detail"]
    assert cm.bodies() == []

    _free_the_stack()  # the next second, with room
    placed = invoke_http(place_call, http_event("place_call.json", body=payload, headers=headers))
    again = invoke_http(place_call, http_event("place_call.json", body=payload, headers=headers))

    assert placed.status == 202, placed.body
    assert [c["status"] for c in placed.body["calls"]] == ["queued", "queued"]
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(cm.bodies()) == 1  # the retry placed once; the replay placed nothing
    # two tokens (one per callee) from the stack's counter of that second
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName="campaigns")["Items"]
    assert sorted(int(i["placements"]["N"]) for i in items) == [2]


def test_a_scheduled_dial_at_the_limit_is_dialled_a_moment_later_once(
    place_call: Any,
    dial_call: Any,
    cm: Any,
) -> None:
    not_before = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted = post(place_call, body(**{"not-before": not_before}))
    assert accepted.status == 202, accepted.body
    [dial] = schedule_inputs()
    _fill_the_stack()

    at_limit = dial_call.handler(dial, LambdaContext())

    assert at_limit == {"outcome": "rescheduled"}
    assert cm.bodies() == []
    [again] = [d for d in schedule_inputs() if d != dial]
    moved = datetime.fromisoformat(again["scheduled-for"]) - datetime.fromisoformat(
        dial["scheduled-for"]
    )
    assert moved >= STACK_AT_LIMIT_DELAY
    _free_the_stack()
    assert dial_call.handler(dial, LambdaContext()) == {"outcome": "skipped"}  # not its turn
    assert dial_call.handler(again, LambdaContext()) == {"outcome": "placed"}
    assert dial_call.handler(again, LambdaContext()) == {"outcome": "skipped"}
    assert len(cm.bodies()) == 1


# ------------------------------------------------------------------ the counter, alone


class _Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.moment += timedelta(seconds=seconds)


def test_an_instruction_takes_one_token_per_callee_all_or_none(aws: Any) -> None:
    clock = _Clock(START + timedelta(milliseconds=100))
    pacing = StackPacing(DynamoDbPacer(aws.dynamodb, "campaigns"), 50, clock=clock.now)

    pacing.take(20)
    pacing.take(20)
    with pytest.raises(StackAtLimit) as refused:
        pacing.take(20)  # 10 left: none of them taken
    pacing.take(10)

    assert refused.value.calls == 20 and refused.value.retry_after_seconds == 1
    with pytest.raises(StackAtLimit):
        pacing.take(1)
    clock.moment += timedelta(seconds=1)
    pacing.take(20)  # the next second


def test_a_placement_in_the_seconds_last_margin_waits_for_the_next_second(aws: Any) -> None:
    clock = _Clock(START + timedelta(milliseconds=950))
    pacer = DynamoDbPacer(aws.dynamodb, "campaigns")
    StackPacing(pacer, 50, clock=clock.now, sleep=clock.sleep).take(5)

    assert clock.slept and sum(clock.slept) <= SEND_MARGIN
    assert int(clock.moment.timestamp()) == int(START.timestamp()) + 1
    assert not pacer.acquire("all", 50, START + timedelta(seconds=1), tokens=46)  # 5 taken


def test_a_write_that_ends_in_the_margin_forfeits_its_token_and_takes_one_next_second(
    aws: Any,
) -> None:
    clock = _Clock(START + timedelta(milliseconds=850))
    real = DynamoDbPacer(aws.dynamodb, "campaigns")

    class SlowPacer:
        def acquire(self, scope: str, per_second: float, now: datetime, tokens: int = 1) -> bool:
            taken = real.acquire(scope, per_second, now, tokens)
            clock.moment += timedelta(milliseconds=80)  # a loaded table
            return taken

    StackPacing(SlowPacer(), 50, clock=clock.now, sleep=clock.sleep).take(1)  # type: ignore[arg-type]

    assert clock.moment >= START + timedelta(seconds=1)
    # both seconds counted one (the first forfeited: the slow side, never over the limit)
    assert not real.acquire("all", 50, START, tokens=50)
    assert real.acquire("all", 50, START, tokens=49)
    assert not real.acquire("all", 50, START + timedelta(seconds=1), tokens=50)


@pytest.mark.parametrize(
    ("stack", "campaigns", "message"),
    [
        (19, None, "CmMaxCallsPerSecond (19) must be at least 20"),
        (50, 50, "CampaignCallsPerSecond (50) must be above 0 and below CmMaxCallsPerSecond"),
        (50, 0, "CampaignCallsPerSecond (0) must be above 0"),
    ],
)
def test_a_broken_relation_of_the_parameters_is_refused_naming_them(
    stack: float, campaigns: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_limits(stack, campaigns)
    check_limits(STACK, CAMPAIGNS)  # the template's defaults hold


def test_a_deployment_whose_campaigns_could_take_the_whole_stack_refuses_to_start(
    campaigns: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudFormation cannot compare two parameters: the campaign functions' cold start does
    (the API's placement only needs the stack's own limit to hold an instruction)."""
    from dtmf_gateway import wiring
    from dtmf_gateway.settings import ConfigurationError
    from tests.conftest import _reset_caches

    monkeypatch.setenv("CM_MAX_CALLS_PER_SECOND", "40")
    monkeypatch.setenv("CAMPAIGN_CALLS_PER_SECOND", "40")
    _reset_caches()
    for start in (wiring.campaign_worker, wiring.campaigns_api):
        with pytest.raises(ConfigurationError, match=r"CampaignCallsPerSecond \(40\) must be"):
            start()
    wiring.paced_placement_service()  # direct calls are not the campaigns' to stop

    monkeypatch.setenv("CM_MAX_CALLS_PER_SECOND", "10")
    _reset_caches()
    with pytest.raises(ConfigurationError, match=r"CmMaxCallsPerSecond \(10\) must be at least"):
        wiring.paced_placement_service()
