"""Campaigns end to end in-process: the use cases on their real DynamoDB and S3 adapters
(moto), the placement use case with the fake CM, the queues and the bus as lists.

What a user notices: every row validated before the first call; a campaign with an invalid
row places nothing unless `skip-invalid-rows`; duplicates called once; placeholders filled
per row; a row queued twice rings once; pause, resume and cancel; pacing that never exceeds
the campaign's rate, all campaigns' share or the stack's limit, whatever the concurrency;
results-uri and one DTMF Campaign Finished.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from dtmf_gateway.adapters.campaign_io import S3CampaignFiles
from dtmf_gateway.adapters.dynamodb.campaigns_table import DynamoDbCampaignStore, DynamoDbPacer
from dtmf_gateway.domain.campaign_use_cases import (
    CampaignConflict,
    CampaignNotFound,
    ControlCampaign,
    CreateCampaign,
    EndRow,
    FinishCampaign,
    PacingLimits,
    PlaceRow,
    RecordRowResult,
    RowVerdict,
    ValidateCampaign,
)
from dtmf_gateway.domain.campaigns import CampaignStatus, parse_campaign_request
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.placement import PlaceInstruction
from dtmf_gateway.domain.policy import DialPolicy
from tests.fakes import FakeCallbackUrls, FakeCm, InMemoryInstructionStore, Table

OWNER = "arn:aws:iam::123456789012:role/crm"
BUCKET = "campaign-bucket"
POLICY = DialPolicy.from_settings(
    allowed_countries="NL,BE", blocked_number_types="default", allowed_callers=""
)
TEMPLATE = {
    "caller": "+31201234567",
    "prompt": "Hello {{name}}, type your four digit PIN.",
    "valid-prompt": "Thank you.",
    "min-digits": 4,
    "max-digits": 4,
    "regex": "[0-9]{4}",
    "metadata": {"round": "december"},
}


def callee(n: int) -> str:
    return f"+316{12000000 + n}"


class Queues:
    def __init__(self) -> None:
        self.validations: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.deferred: list[tuple[dict[str, Any], int]] = []
        self._lock = threading.Lock()

    def start_validation(self, campaign_id: str) -> None:
        self.validations.append(campaign_id)

    def send_rows(self, messages: Iterable[dict[str, Any]]) -> None:
        self.rows.extend(messages)

    def defer(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        with self._lock:
            self.deferred.append((dict(message), delay_seconds))


class Bus:
    def __init__(self) -> None:
        self.finished: list[dict[str, Any]] = []
        self.not_placed: list[dict[str, Any]] = []
        self.down = False

    def finished_event(self, detail: Mapping[str, Any]) -> None:
        if self.down:
            raise RuntimeError("EventBridge refused the entry")
        self.finished.append(dict(detail))

    def not_placed_event(self, detail: Mapping[str, Any]) -> None:
        self.not_placed.append(dict(detail))


class _Events:
    def __init__(self, bus: Bus) -> None:
        self.finished = bus.finished_event
        self.not_placed = bus.not_placed_event


class World:
    def __init__(self, *, rate_limit: float = 10, campaign_share: float = 8) -> None:
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        # the campaigns table: `aws` (conftest) creates it
        self.table_name = "campaigns"
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        self.s3 = s3
        self.store = DynamoDbCampaignStore(ddb, self.table_name)
        self.pacer = DynamoDbPacer(ddb, self.table_name)
        self.files = S3CampaignFiles(s3, BUCKET)
        self.queues = Queues()
        self.bus = Bus()
        self.cm = FakeCm()
        self.calls = Table()
        events = _Events(self.bus)
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        clock = lambda: self.now  # noqa: E731
        self.finish = FinishCampaign(
            self.store,
            self.files,
            events,  # type: ignore[arg-type]
            clock,
            checks=self.queues,
        )
        self.create = CreateCampaign(self.store, self.files, self.queues, clock)
        self.validate = ValidateCampaign(
            store=self.store,
            files=self.files,
            queue=self.queues,
            policy=POLICY,
            finish=self.finish,
            clock=clock,
        )
        placement = PlaceInstruction(
            cm=self.cm,
            store=InMemoryInstructionStore(self.calls),
            callback_urls=FakeCallbackUrls(),
            policy=POLICY,
            clock=clock,
        )
        self.place = PlaceRow(
            store=self.store,
            queue=self.queues,
            pacer=self.pacer,
            limits=PacingLimits(rate_limit, campaign_share),
            placement=placement,
            policy=POLICY,
            ends=EndRow(self.store, events, self.finish, clock),  # type: ignore[arg-type]
            clock=clock,
            sleep=lambda _: None,
        )
        self.record = RecordRowResult(self.store, self.finish)
        self.control = ControlCampaign(self.store, self.finish)

    def start(self, **body: Any) -> str:
        raw = {"instruction": TEMPLATE, **body}
        request = parse_campaign_request(raw, max_calls_per_second=10, default_calls_per_second=1)
        campaign, _ = self.create.create(request, OWNER)
        self.validate.run(campaign.campaign_id)
        return campaign.campaign_id

    def place_all(self) -> Counter[RowVerdict]:
        verdicts: Counter[RowVerdict] = Counter()
        for message in list(self.queues.rows):
            verdicts[self.place.run(message)] += 1
            self.now += timedelta(seconds=1)
        return verdicts

    def answer_all(self, outcome: str = "input-received") -> None:
        for message in self.queues.rows:
            instruction_id = f"{message['campaign-id']}.{message['row']}"
            self.record.run(
                {
                    "campaign-id": message["campaign-id"],
                    "instruction-id": instruction_id,
                    "callee": message["callee"],
                    "outcome": outcome,
                    "digits": "1234",
                    "finished-at": "2026-12-01T09:01:00.000Z",
                }
            )

    def lines(self, uri: str) -> list[dict[str, Any]]:
        key = uri.removeprefix(f"s3://{BUCKET}/")
        body = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        return [json.loads(line) for line in body.splitlines()]


@pytest.fixture
def world(aws: Any) -> World:
    return World()


def rows(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"callee": callee(i), "variables": {"name": f"N{i}"}, **extra} for i in range(n)]


def test_a_campaign_places_every_row_once_and_finishes_with_its_results(world: World) -> None:
    campaign_id = world.start(**{"campaign-id": "dec-1", "callees": rows(5)})
    assert world.store.load(campaign_id).status == CampaignStatus.RUNNING  # type: ignore[union-attr]

    assert world.place_all() == Counter({RowVerdict.PLACED: 5})
    assert world.cm.requests == 5
    first = world.cm.last_payload
    assert first is not None and first["prompt"] == "Hello N4, type your four digit PIN."
    world.answer_all()

    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.FINISHED
    assert campaign.counts == {
        "rows": 5,
        "invalid-rows": 0,
        "placed": 5,
        "finished": 5,
        "input-received": 5,
    }
    assert [line["row"] for line in world.lines(str(campaign.results_uri))] == [1, 2, 3, 4, 5]
    assert world.lines(str(campaign.results_uri))[0]["instruction-id"] == "dec-1.1"
    assert [e["status"] for e in world.bus.finished] == ["finished"]


def test_a_row_queued_twice_rings_once_and_a_result_counted_twice_counts_once(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(2))
    world.queues.rows.append(dict(world.queues.rows[0]))  # SQS delivers at least once

    assert world.place_all() == Counter({RowVerdict.PLACED: 2, RowVerdict.SKIPPED: 1})
    assert world.cm.requests == 2
    world.answer_all()  # the repeated row's result comes twice too
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.count("finished") == 2
    assert len(world.bus.finished) == 1


def test_an_invalid_row_fails_the_campaign_before_any_call(world: World) -> None:
    callees = [*rows(3), {"callee": "+81312345678", "variables": {"name": "X"}}, {"callee": "x"}]
    campaign_id = world.start(callees=callees)

    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.FAILED
    assert world.queues.rows == [] and world.cm.requests == 0
    errors = world.lines(str(campaign.errors_uri))
    assert [e["row"] for e in errors] == [4, 5]
    assert errors[0]["errors"][0]["field"] == "callee"
    assert "destination-country-not-allowed" in errors[0]["errors"][0]["message"]
    assert campaign.counts == {"rows": 5, "invalid-rows": 2}
    assert [e["status"] for e in world.bus.finished] == ["failed"]


def test_skip_invalid_rows_places_the_valid_ones(world: World) -> None:
    callees = [*rows(2), {"callee": callee(9)}]  # row 3 lacks the name the prompt needs
    campaign_id = world.start(callees=callees, **{"skip-invalid-rows": True})

    world.place_all()
    world.answer_all()
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.FINISHED
    assert world.lines(str(campaign.errors_uri)) == [
        {
            "row": 3,
            "errors": [{"field": "variables.name", "message": "is needed by prompt ({{name}})"}],
        }
    ]
    assert campaign.count("finished") == 2


def test_duplicate_numbers_are_called_once(world: World) -> None:
    callees = [*rows(2), {"callee": "+31 6 1200 0000", "variables": {"name": "again"}}]
    campaign_id = world.start(callees=callees)

    assert len(world.queues.rows) == 2
    world.place_all()
    world.answer_all()
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.FINISHED
    assert campaign.count("duplicate-rows") == 1
    duplicate = world.lines(str(campaign.results_uri))[2]
    assert duplicate["duplicate-of"] == 1 and duplicate["outcome"] is None


def test_pause_holds_rows_and_resume_places_them(world: World) -> None:
    campaign_id = world.start(callees=rows(2))
    world.control.act(campaign_id, OWNER, "pause")

    assert world.place_all() == Counter({RowVerdict.DEFERRED: 2})
    assert world.cm.requests == 0
    world.control.act(campaign_id, OWNER, "resume")
    assert world.place_all() == Counter({RowVerdict.PLACED: 2})


def test_cancel_ends_unplaced_rows_not_placed_with_their_events(world: World) -> None:
    campaign_id = world.start(callees=rows(3))
    world.place.run(world.queues.rows[0])
    world.control.act(campaign_id, OWNER, "cancel")

    assert world.place.run(world.queues.rows[1]) == RowVerdict.ENDED
    assert world.place.run(world.queues.rows[2]) == RowVerdict.ENDED
    assert world.cm.requests == 1
    assert [d["reason"] for d in world.bus.not_placed] == ["cancelled", "cancelled"]
    assert world.bus.not_placed[0]["instruction-id"] == f"{campaign_id}.2"
    assert world.bus.finished == []  # row 1 is still ringing
    world.record.run(
        {
            "campaign-id": campaign_id,
            "instruction-id": f"{campaign_id}.1",
            "outcome": "no-input",
            "finished-at": "2026-12-01T09:01:00.000Z",
        }
    )
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.status == CampaignStatus.CANCELLED
    assert campaign.count("not-placed") == 2 and campaign.count("no-input") == 1
    assert [(e["status"], e["counts"]["not-placed"]) for e in world.bus.finished] == [
        ("cancelled", 2)
    ]
    with pytest.raises(CampaignConflict):
        world.control.act(campaign_id, OWNER, "resume")


def test_another_owner_sees_no_campaign(world: World) -> None:
    campaign_id = world.start(callees=rows(1))
    with pytest.raises(CampaignNotFound):
        world.control.read(campaign_id, "arn:aws:iam::123456789012:role/other")


def test_the_same_request_again_is_the_same_campaign_and_another_body_conflicts(
    world: World,
) -> None:
    body = {"instruction": TEMPLATE, "campaign-id": "c-1", "callees": rows(1)}
    request = parse_campaign_request(body, max_calls_per_second=10, default_calls_per_second=1)
    _, new = world.create.create(request, OWNER)
    _, again = world.create.create(request, OWNER)
    assert (new, again) == (True, False)
    other = parse_campaign_request(
        {**body, "callees": rows(2)}, max_calls_per_second=10, default_calls_per_second=1
    )
    with pytest.raises(CampaignConflict):
        world.create.create(other, OWNER)


def test_an_s3_list_outside_the_campaign_bucket_is_refused(world: World) -> None:
    request = parse_campaign_request(
        {"instruction": TEMPLATE, "callees-s3-uri": "s3://someone-else/list.csv"},
        max_calls_per_second=10,
        default_calls_per_second=1,
    )
    with pytest.raises(InvalidRequest) as refused:
        world.create.create(request, OWNER)
    assert refused.value.problems[0].field == "callees-s3-uri"


def test_a_csv_list_in_s3_with_metadata_and_variables_columns(world: World) -> None:
    text = "callee,name,metadata.patient\n+31612000001,Anna,p-1\n+31612000002,Bob,p-2\n"
    world.s3.put_object(Bucket=BUCKET, Key="lists/dec.csv", Body=text.encode())
    campaign_id = world.start(**{"callees-s3-uri": f"s3://{BUCKET}/lists/dec.csv"})

    assert [r["metadata"] for r in world.queues.rows] == [{"patient": "p-1"}, {"patient": "p-2"}]
    world.place_all()
    assert world.cm.last_payload is not None
    assert world.cm.last_payload["prompt"] == "Hello Bob, type your four digit PIN."
    assert world.store.load(campaign_id).count("placed") == 2  # type: ignore[union-attr]


def test_pacing_never_exceeds_any_limit_under_concurrency(aws: Any) -> None:
    """Three campaigns at 5/s each, 16 placers at once, within one second of the clock:
    campaigns together get at most 8 (the share), the stack at most 10."""
    world = World(rate_limit=10, campaign_share=8)
    for n in range(3):
        world.start(**{"campaign-id": f"c{n}", "callees": rows(10), "calls-per-second": 5})
    messages = list(world.queues.rows)
    with ThreadPoolExecutor(16) as pool:
        verdicts = Counter(pool.map(world.place.run, messages))

    per_campaign = Counter(i.split(".")[0] for (i, _) in _placed(world.calls))
    assert verdicts[RowVerdict.PLACED] == 8
    assert max(per_campaign.values()) <= 5
    assert verdicts[RowVerdict.DEFERRED] == len(messages) - 8

    world.now += timedelta(seconds=1)  # the next second: 8 more, the deferred rows included
    deferred = [m for m, _ in world.queues.deferred]
    with ThreadPoolExecutor(16) as pool:
        again = Counter(pool.map(world.place.run, deferred))
    assert again[RowVerdict.PLACED] == 8
    assert world.cm.requests == 16


def _placed(calls: Table) -> list[tuple[str, str]]:
    return [
        (item["instruction-id"], item["sk"])
        for item in calls.items.values()
        if item["sk"] == "instruction" and item.get("status") == "queued"
    ]


def test_a_repeated_last_result_publishes_no_second_finished_event(
    world: World,
) -> None:
    """A repeat of the last result finds the campaign ended and published: nothing again."""
    world.start(callees=rows(2))
    world.place_all()
    world.answer_all()
    assert len(world.bus.finished) == 1
    # a late repeat of the last result (or a concurrent one) finds it ended and published
    world.answer_all()
    assert len(world.bus.finished) == 1


def test_a_campaign_ended_by_a_delivery_that_died_is_published_by_a_later_check(
    world: World,
) -> None:
    campaign_id = world.start(callees=rows(1))
    world.place_all()
    world.bus.down = True
    with pytest.raises(RuntimeError):
        world.answer_all()  # ended, the event not out: this delivery fails (and is retried)
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.finished_at and not campaign.finished_published

    world.bus.down = False
    world.answer_all()  # the retry, at once: another delivery may still be publishing
    assert world.bus.finished == []
    assert world.queues.deferred[-1] == ({"campaign-id": campaign_id, "finish-check": True}, 60)
    world.now += timedelta(seconds=61)
    assert world.place.run(world.queues.deferred[-1][0]) == RowVerdict.SKIPPED
    assert [e["status"] for e in world.bus.finished] == ["finished"]


def test_a_row_the_pacing_sent_back_is_placed_later_under_the_same_id(world: World) -> None:
    campaign_id = world.start(callees=rows(1), **{"calls-per-second": 1})
    world.now = world.now.replace(microsecond=900_000)  # the window's last 250 ms: no budget
    message = world.queues.rows[0]

    assert world.place.run(message) == RowVerdict.DEFERRED
    assert world.cm.requests == 0 and world.queues.deferred == [(message, 1)]
    world.now += timedelta(milliseconds=200)  # the next second's window
    assert world.place.run(message) == RowVerdict.PLACED
    assert world.cm.requests == 1
    assert world.store.load(campaign_id).count("placed") == 1  # type: ignore[union-attr]


def test_cm_unreachable_sends_the_row_back_and_cm_refusing_ends_it_not_placed(
    world: World,
) -> None:
    from dtmf_gateway.domain.errors import CmRejected, CmUnreachable

    campaign_id = world.start(callees=rows(2))
    world.cm.error = CmUnreachable("connection refused")
    assert world.place.run(world.queues.rows[0]) == RowVerdict.DEFERRED
    world.now += timedelta(seconds=1)  # the campaign's 1/s: the next window
    world.cm.error = CmRejected("invalid caller", 400)
    assert world.place.run(world.queues.rows[1]) == RowVerdict.ENDED
    assert [d["reason"] for d in world.bus.not_placed] == ["cm-refused"]

    world.cm.error = None
    world.now += timedelta(seconds=30)
    assert world.place.run(world.queues.deferred[-1][0]) == RowVerdict.PLACED
    campaign = world.store.load(campaign_id)
    assert campaign is not None and campaign.count("placed") == 1
    assert campaign.count("not-placed") == 1


def test_budgets_taken_too_slowly_to_reach_cm_in_their_second_send_the_row_back(
    world: World,
) -> None:
    world.start(callees=rows(1))
    pacer = world.pacer

    class SlowPacer:
        def acquire(self, scope: str, per_second: float, now: datetime) -> bool:
            world.now += timedelta(milliseconds=300)  # a loaded table: 0.9 s for three writes
            return pacer.acquire(scope, per_second, now)

    world.place._pacer = SlowPacer()  # type: ignore[assignment]
    assert world.place.run(world.queues.rows[0]) == RowVerdict.DEFERRED
    assert world.cm.requests == 0


def test_a_pause_answered_while_a_row_waits_for_its_budget_stops_it_before_cm(
    world: World,
) -> None:
    """A row can wait seconds for its pacing budget (here the campaign's 1 call/s is spent
    by row 1); a pause answered meanwhile must stop it before CM is called, and resume
    places it then (the status is read again right before CM)."""
    campaign_id = world.start(callees=rows(2), **{"calls-per-second": 1})
    first, second = world.queues.rows[:2]
    assert world.place.run(first) == RowVerdict.PLACED

    def pause_while_waiting(seconds: float) -> None:
        world.control.act(campaign_id, OWNER, "pause")
        world.now += timedelta(seconds=seconds)

    world.place._sleep = pause_while_waiting  # the wait inside the pacing
    assert world.place.run(second) == RowVerdict.DEFERRED
    assert world.cm.requests == 1  # row 2 never reached CM
    assert world.place.run(second) == RowVerdict.DEFERRED  # paused: held
    world.control.act(campaign_id, OWNER, "resume")
    world.now += timedelta(seconds=1)
    assert world.place.run(second) == RowVerdict.PLACED
    assert world.cm.requests == 2
    assert world.store.load(campaign_id).count("placed") == 2  # type: ignore[union-attr]
