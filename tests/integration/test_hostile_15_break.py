"""Hostile review of issue 15 (r5-break): the deferred placement recording
(`PlacementRecordingsQueue` → record-placements), erasure while a recording waits, and the
README's retry table for a `202` whose recording failed.

Drives the real place-call, cm-callback, get-call and erase handlers in-process (moto for AWS,
FakeCm for CM) and the real record-placements consumer on moto's SQS, as
tests/integration/test_placement_recordings.py does. What held is a regression test; what did
not is a strict xfail naming the gap.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devtools.cm import FakeCm, queued
from devtools.lambdas import load_function
from devtools.template import ROOT
from dtmf_gateway.domain.calls import utc_now
from dtmf_gateway.domain.expiry import expire_stale_calls
from tests.conftest import Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_erasure import erase
from tests.integration.test_place_call_handler import instruction_item, post, sample_body
from tests.integration.test_placement_faults import age_in_progress_records
from tests.integration.test_placement_recordings import (
    Flaky,
    call_items,
    consume,
    queued_messages,
    run_record_placements,
)
from tests.integration.test_scheduling import get

KEY = "order-7781-break"
NUMBER = "612345678"  # the sample callee's national digits
README = (ROOT / "README.md").read_text()


@pytest.fixture
def failing_recording(monkeypatch: pytest.MonkeyPatch) -> Flaky:
    """The placement's recording fails once (as DynamoDB would after botocore's retries)."""
    return Flaky(monkeypatch)


def without_id() -> dict[str, Any]:
    body = sample_body()
    del body["instruction-id"]
    return body


def _partly_refused(sent: dict[str, Any]) -> httpx.Response:
    items = queued(sent).json()
    items[1].update(success=False, error="Callee +447400123456 is not reachable")
    items[1]["call-id"] = None
    return httpx.Response(200, json=items)


# ------------------------------------------------------------------ retry table


def test_a_retry_while_the_recording_waits_is_request_in_progress_until_applied(
    place_call: Any, cm: FakeCm, function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky(monkeypatch, failures=2)  # the placement's write, then the consumer's first attempt
    first = post(place_call, without_id(), key=KEY)
    assert run_record_placements(function_env)["batchItemFailures"]  # waits for its retry
    age_in_progress_records(function_env)  # the first attempt's Lambda deadline has passed

    waiting = post(place_call, without_id(), key=KEY)

    assert first.status == 202
    assert waiting.status == 409, waiting.body
    assert waiting.problem["type"].endswith(":request-in-progress"), waiting.problem


def test_after_the_retried_recording_is_applied_the_retry_is_the_202_replay(
    place_call: Any, cm: FakeCm, function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: whatever the retry got while the recording waited, once it is applied the retry
    is the 202 replay, and CM was asked once."""
    Flaky(monkeypatch, failures=2)
    first = post(place_call, without_id(), key=KEY)
    run_record_placements(function_env)
    age_in_progress_records(function_env)
    post(place_call, without_id(), key=KEY)

    assert run_record_placements(function_env) == {"batchItemFailures": []}
    again = post(place_call, without_id(), key=KEY)

    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == first.body
    assert len(cm.requests) == 1


def test_get_while_the_recording_waits_shows_the_queued_calls(
    place_call: Any, cm: FakeCm, function_env: Aws, get_call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky(monkeypatch, failures=2)
    first = post(place_call, sample_body(), key=KEY)
    run_record_placements(function_env)  # the consumer's first attempt fails too
    later = utc_now() + timedelta(minutes=3)
    get_call.read_instruction._clock = lambda: later

    read = get(get_call, "order-7781-pin")

    assert first.status == 202
    assert read.status == 200
    assert read.body["status"] != "unknown", read.body
    assert [c["call-id"] for c in read.body["calls"]] == [c["call-id"] for c in first.body["calls"]]


# ------------------------------------------------------------------ held callbacks, late recordings


def test_a_held_callback_settled_by_the_expirer_before_the_recording_keeps_its_result(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    cm_callback: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held: the callback overtook a placement whose recording waits; the expirer settles the
    held call after PLACEMENT_GRACE (released: its callee has no other call), and the recording
    applied afterwards (a redrive days later) leaves the result as it is."""
    from dtmf_gateway import wiring

    Flaky(monkeypatch, failures=2)
    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    run_record_placements(function_env)  # fails: the recording waits
    soon = utc_now() + timedelta(minutes=20)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: soon)

    redriven = utc_now() + timedelta(days=2)
    consume(queued_messages(function_env), now=redriven)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: redriven + timedelta(minutes=20))

    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished" and call["outcome"] == "input-received"
    assert "hold" not in call
    assert "placing-until" not in instruction_item(function_env, "order-7781-pin")


def test_a_duplicate_recording_of_two_callees_after_both_callbacks_changes_nothing(
    place_call: Any, cm: FakeCm, function_env: Aws, cm_callback: Any, failing_recording: Any
) -> None:
    """Held: SQS delivers the recording twice, both callbacks came first (held), then both
    copies are applied in one batch: both results released once, items unchanged by the
    second copy."""
    callees = ["+31612345678", "+31687654321"]
    body = {k: v for k, v in sample_body().items() if k != "callee"} | {"callees": callees}
    answer = post(place_call, body, key=KEY)
    for placed in answer.body["calls"]:
        deliver(
            cm_callback, callback_body(placed["call-id"], callee=placed["callee"]), token_of(cm)
        )
    [record] = queued_messages(function_env)
    twin = {**record, "messageId": record["messageId"] + "-copy"}

    result = consume([record, twin])

    assert result == {"batchItemFailures": []}
    calls = call_items(function_env, "order-7781-pin")
    assert len(calls) == 2
    assert all(c["status"] == "finished" and "hold" not in c for c in calls.values())


# ------------------------------------------------------------------ erasure while it waits


def _table_text(aws: Aws) -> str:
    return json.dumps(aws.items(), default=str)


def test_an_erasure_while_the_recording_waits_is_not_undone_when_it_is_applied(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    erase_personal_data: Any,
    failing_recording: Any,
) -> None:
    """Held: the recording (numbers, metadata, prompts) applied after the erasure writes the
    calls and scrubs them again; nothing in the table names the callee; the replay names no
    one."""
    body = {**sample_body(), "metadata": {"order-id": "7781"}}
    first = post(place_call, body, key=KEY)
    erased = erase(erase_personal_data, "order-7781-pin")

    assert run_record_placements(function_env) == {"batchItemFailures": []}
    again = post(place_call, body, key=KEY)

    assert first.status == 202 and erased.status == 200
    assert NUMBER not in _table_text(function_env)
    assert "7781" not in json.dumps(
        [c.get("metadata") for c in call_items(function_env, "order-7781-pin").values()]
    )
    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "queued" and "pending-shard" in call  # still expired if silent
    assert again.status == 202 and [c["callee"] for c in again.body["calls"]] == [None]


def test_an_erasure_while_the_recording_waits_keeps_no_number_in_cms_replies(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    erase_personal_data: Any,
    failing_recording: Any,
) -> None:
    cm.replies = [_partly_refused]
    body = {k: v for k, v in sample_body().items() if k != "callee"}
    body["callees"] = ["+31612345678", "+447400123456"]
    first = post(place_call, body, key=KEY)
    erase(erase_personal_data, "order-7781-pin")

    run_record_placements(function_env)

    assert first.status == 202
    assert "7400123456" not in _table_text(function_env)


def test_the_readme_says_an_erasure_leaves_a_waiting_recording_in_its_queue() -> None:
    start = README.index("**What cannot be erased**")
    section = README[start : README.index("**Encryption.**", start)]
    assert "PlacementRecordings" in section or "placement-recordings" in section


def test_a_waiting_recording_still_holds_the_numbers_after_the_erasure(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    erase_personal_data: Any,
    failing_recording: Any,
) -> None:
    """What the erasure leaves (documented only in the data table): the queued message."""
    post(place_call, sample_body(), key=KEY)
    erase(erase_personal_data, "order-7781-pin")

    [record] = queued_messages(function_env)

    assert NUMBER in record["body"]


# ------------------------------------------------------------------ malformed recordings


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m["queued"].clear(),
        lambda m: m["queued"][0].update({"call-id": None}),
        lambda m: m["instruction"].update({"created-at": "2026-11-30T10:00:00"}),
        lambda m: m["instruction"].update({"stale-after-seconds": True}),
        lambda m: m["instruction"].update({"metadata": {"k": 1}}),
        lambda m: m.update({"version": 2}),
    ],
    ids=["no-queued", "queued-without-id", "naive-time", "bool-seconds", "metadata-int", "v2"],
)
def test_a_recording_that_does_not_parse_is_a_failure_and_writes_nothing(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Any, mutate: Any
) -> None:
    post(place_call, sample_body(), key=KEY)
    [record] = queued_messages(function_env)
    message = json.loads(record["body"])
    mutate(message)
    before = function_env.items()

    result = consume([{**record, "body": json.dumps(message)}])

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert function_env.items() == before


def test_a_recording_naming_a_callee_outside_the_instruction_is_refused(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Any
) -> None:
    post(place_call, sample_body(), key=KEY)
    [record] = queued_messages(function_env)
    message = json.loads(record["body"])
    message["queued"][0]["callee"] = "+31687654321"

    result = consume([{**record, "body": json.dumps(message)}])

    assert result["batchItemFailures"], "applied a call to a number the instruction never named"


def test_record_placements_has_no_gc_pause(function_env: Aws) -> None:
    """record-placements is not an API function: its module does not pause the collector."""
    source = (ROOT / "functions" / "record_placements" / "app.py").read_text()
    assert "init_begins" not in source
    load_function("record_placements")


# ------------------------------------------------------------------ SnapStart's after-restore hook

#: AWS Lambda docs, "Troubleshooting SnapStart errors": an after-restore hook that runs longer
#: than 10 seconds times out the Restore phase (SnapStartTimeoutException: the invoke fails).
RESTORE_HOOK_LIMIT_SECONDS = 10


def test_the_after_restore_secret_read_is_bounded_below_the_restore_limit(
    function_env: Aws,
) -> None:
    from dtmf_gateway import wiring

    client = wiring.managed_secrets()._provider.client
    config = client.meta.config
    attempts = config.retries.get("total_max_attempts") or config.retries.get("max_attempts", 4) + 1
    worst = attempts * (config.connect_timeout + config.read_timeout)

    assert worst < RESTORE_HOOK_LIMIT_SECONDS, (
        attempts,
        config.connect_timeout,
        config.read_timeout,
    )


def test_a_failing_secret_read_after_restore_leaves_the_restore_and_the_first_request_whole(
    function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: a refresher that raises is logged and skipped; random is reseeded; the caches
    the hook forgot are empty, so the first request reads the secret itself."""
    import random

    from dtmf_gateway import snapstart

    calls: list[str] = []

    def throttled() -> None:
        calls.append("read")
        raise RuntimeError("ThrottlingException")

    monkeypatch.setattr(snapstart, "_refresh", [throttled])
    monkeypatch.setattr(snapstart, "_forget", [lambda: calls.append("forget")])
    random.seed(1)
    frozen = random.random()
    random.seed(1)

    snapstart.after_restore()

    assert calls == ["forget", "read"]
    assert random.random() != frozen


# ------------------------------------------------------------------ init without the collector


def test_the_campaigns_function_ends_its_init_with_the_collector_on(
    function_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held: campaigns (the one API function tests/unit/test_heap.py leaves out) pauses the
    collector for its init and turns it back on by its last init step."""
    import gc
    import sys

    from tests.integration.test_campaign_handlers import campaigns as campaigns_fixture

    campaigns_fixture.__wrapped__(function_env, monkeypatch)  # its tables, bucket and queues
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")
    monkeypatch.delitem(sys.modules, "dtmf_gateway.init_begins", raising=False)
    gc.unfreeze()
    try:
        load_function("campaigns")
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


# ------------------------------------------------------------------ when deferring fails too


def test_a_call_whose_recording_could_not_even_be_queued_is_still_expired(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Any
) -> None:
    import boto3

    from dtmf_gateway import wiring
    from tests.conftest import REGION

    boto3.client("sqs", region_name=REGION).delete_queue(
        QueueUrl=function_env.placement_recordings_queue_url
    )
    answer = post(place_call, sample_body(), key=KEY)
    later = utc_now() + timedelta(days=1)

    report = expire_stale_calls(wiring.pending_calls(), clock=lambda: later)

    assert answer.status == 202
    assert report.expired == 1, "CM queued a call that nothing will ever end or publish"


# ------------------------------------------------------------------ the README's figures


def test_the_snapstart_first_request_figures_agree_with_each_other() -> None:
    """The first-request row's SnapStart hook figure is the SnapStart section's, and its
    "before" column is the figures docs/performance-history.md gives for that run (the row
    once named a before-figure the before column contradicted)."""
    row = next(line for line in README.splitlines() if line.startswith("| first request in a new"))
    hook_now = re.search(r"plus ([0-9.]+) \[[0-9.\u2013]+\] ms in the after-restore hook", row)
    before = re.search(r"\| place-call ([0-9.]+) \(SnapStart ([0-9.]+), \+([0-9.]+)\)", row)
    snapstart_section = README[README.index("### SnapStart (opt-in)") :]
    history = (ROOT / "docs" / "performance-history.md").read_text(encoding="utf-8")

    assert hook_now and before
    assert f"**{hook_now.group(1)} ms** of CPU for place-call's two" in snapstart_section
    total, snapstart, hook = before.groups()
    history_row = next(
        line for line in history.splitlines() if line.startswith("| first request in a new")
    )
    assert f"place-call **{total} [" in history_row
    assert f"**{snapstart} [" in history_row and f"plus {hook} [" in history_row


def test_a_result_arriving_after_the_erasure_while_the_recording_waits_is_kept(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    cm_callback: Any,
    erase_personal_data: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dtmf_gateway import wiring

    Flaky(monkeypatch, failures=2)
    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    erase(erase_personal_data, "order-7781-pin")
    callback = deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    run_record_placements(function_env)  # fails: retried after the visibility timeout
    assert run_record_placements(function_env) == {"batchItemFailures": []}
    later = utc_now() + timedelta(days=1)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: later)

    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished" and call["outcome"] == "input-received", call["status"]
    assert callback.status == 200, callback.body
    assert NUMBER not in json.dumps(call, default=str)


def test_a_redriven_copy_applied_after_the_result_and_the_erasure_names_no_one(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    cm_callback: Any,
    erase_personal_data: Any,
    failing_recording: Any,
) -> None:
    """Held: a copy of the recording (SQS's at-least-once, or a DLQ redrive of a copy) applied
    after the call finished and the instruction was erased rewrites the call's described
    fields, then scrubs them again: no number stays, the result stays."""
    answer = post(place_call, {**sample_body(), "metadata": {"order-id": "7781"}}, key=KEY)
    [placed] = answer.body["calls"]
    records = queued_messages(function_env)
    consume(records)
    deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
    erase(erase_personal_data, "order-7781-pin")

    assert consume(records) == {"batchItemFailures": []}

    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished" and call["outcome"] == "input-received"
    assert NUMBER not in _table_text(function_env)


def test_request_in_progress_while_the_recording_waits_says_when_to_retry(
    place_call: Any, cm: FakeCm, function_env: Aws, failing_recording: Any
) -> None:
    """Held: within the first attempt's deadline the retry is 409 request-in-progress with a
    Retry-After, and CM was asked once."""
    post(place_call, without_id(), key=KEY)

    waiting = post(place_call, without_id(), key=KEY)

    assert waiting.status == 409 and waiting.problem["type"].endswith(":request-in-progress")
    assert int(waiting.headers["Retry-After"]) >= 1
    assert len(cm.requests) == 1


def test_the_readme_says_whether_the_first_request_goal_is_reached() -> None:
    section = README[README.index("## Performance and cost") : README.index("### `make load`")]
    verdicts = re.findall(r"\*\*[^*]*(?:[Nn]ot reached|[Rr]eached|out of reach)[^*]*\*\*", section)
    assert any("first request" in v or "8 ms" in v for v in verdicts), verdicts


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(("erase", "callback", "apply"))),
    ids="-".join,
)
def test_erasure_callback_and_recording_in_any_order_keep_the_result_and_no_number(
    place_call: Any,
    cm: FakeCm,
    function_env: Aws,
    cm_callback: Any,
    erase_personal_data: Any,
    failing_recording: Any,
    order: tuple[str, ...],
) -> None:
    """The kind behind the lost result (the finding above): a placement whose recording waits,
    an erasure and CM's callback, in every order. The real outcome is kept (never replaced by
    an expiry), the callback is answered 200, and no number stays in the table."""
    from dtmf_gateway import wiring

    answer = post(place_call, sample_body(), key=KEY)
    [placed] = answer.body["calls"]
    answers: list[Any] = []
    steps = {
        "erase": lambda: erase(erase_personal_data, "order-7781-pin"),
        "callback": lambda: answers.append(
            deliver(cm_callback, callback_body(placed["call-id"]), token_of(cm))
        ),
        "apply": lambda: run_record_placements(function_env),
    }
    for step in order:
        steps[step]()
    later = utc_now() + timedelta(days=1)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: later)

    [call] = call_items(function_env, "order-7781-pin").values()
    assert call["status"] == "finished" and call["outcome"] == "input-received", call["status"]
    assert [a.status for a in answers] == [200]
    assert NUMBER not in _table_text(function_env)
