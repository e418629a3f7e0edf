"""Outbox publisher, expirer and example consumer: events reach the bus exactly as promised."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from devtools.lambdas import LambdaContext, load_function, sample_event
from devtools.streams import StreamReader
from dtmf_gateway.adapters.dynamodb.pending_calls import DynamoDbPendingCalls
from dtmf_gateway.adapters.dynamodb.placement_store import DynamoDbInstructionStore
from dtmf_gateway.adapters.eventbridge import EventBridgeResultPublisher
from dtmf_gateway.domain.calls import CmQueuedCall, NewInstruction, Outcome
from dtmf_gateway.domain.events import DtmfResultDetail
from dtmf_gateway.domain.expiry import expire_stale_calls
from tests.conftest import REGION, SESSION_LOG
from tests.integration.test_callback_handler import callback_body, deliver, read, token_of
from tests.integration.test_place_call_handler import post, sample_body

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "dtmf-result.v1.json").read_text())
validate_event = jsonschema.Draft4Validator(SCHEMA).validate


def details(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["detail"]["call-id"]: e["detail"] for e in events}


# ------------------------------------------------------------------ publisher


def test_sample_stream_batch_publishes_one_event_per_ended_call(
    publish_results: Any, bus: Any
) -> None:
    response = publish_results.handler(sample_event("publish_results.json"), LambdaContext())

    assert response == {"batchItemFailures": []}
    events = bus.received()
    for event in events:
        validate_event(event)
        assert event["source"] == "dtmf-gateway"
        assert event["detail-type"] == "DTMF Result"
        assert event["resources"] == [
            f"urn:dtmf-gateway:result:order-7781-pin:{event['detail']['call-id']}"
        ]
    by_call = details(events)
    assert {d["outcome"] for d in by_call.values()} == {"input-received", "no-input", "expired"}
    assert len(events) == 3
    expired = next(d for d in by_call.values() if d["outcome"] == "expired")
    assert expired["result"] is None
    assert expired["digits"] is None


def test_records_that_are_not_an_ending_publish_nothing(publish_results: Any, bus: Any) -> None:
    batch = sample_event("publish_results.json")
    batch["Records"] = [batch["Records"][i] for i in (0, 3, 5)]  # insert, finished→finished, instr.
    calls: list[Any] = []
    client = publish_results.publisher._events
    client.meta.events.register("before-call.events.PutEvents", lambda **kw: calls.append(kw))

    response = publish_results.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": []}
    assert calls == []
    assert bus.received() == []


def test_whole_lifecycle_from_the_real_stream(
    place_call: Any, cm: Any, cm_callback: Any, publish_results: Any, bus: Any, function_env: Any
) -> None:
    stream = StreamReader(function_env.table_name, REGION)
    body = sample_body()
    del body["callee"]
    body["callees"] = ["+31612345678", "+32470123456"]
    placed = post(place_call, body).body["calls"]
    token = token_of(cm)
    assert publish_results.handler(stream.next_batch(), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert bus.received() == []  # placing publishes nothing

    for call, digits in zip(placed, ["4821", "12"], strict=True):
        answer = callback_body(call["call-id"], 10, digits, callee=call["callee"])
        deliver(cm_callback, answer, token)
        deliver(cm_callback, answer, token)  # duplicate: no second event
    publish_results.handler(stream.next_batch(), LambdaContext())

    events = bus.received()
    assert len(events) == 2
    for event in events:
        validate_event(event)
    by_call = details(events)
    first, second = (by_call[c["call-id"]] for c in placed)
    assert (first["outcome"], first["digits"]) == ("input-received", "4821")
    assert (second["outcome"], second["digits"]) == ("invalid-input", "12")
    assert first["metadata"] == {"order-id": "7781", "purpose": "pin-check"}
    assert first["caller"] == "+31201234567"
    assert first["callee"] == "+31612345678"


def _detail(n: int) -> DtmfResultDetail:
    return DtmfResultDetail.model_validate(
        {
            "instruction-id": "i-1",
            "call-id": f"call-{n}",
            "caller": "+31201234567",
            "callee": "+31612345678",
            "outcome": "no-input",
            "digits": None,
            "result": {"code": 10, "description": "Finished successfully"},
            "metadata": {},
            "queued-at": "2026-11-29T05:15:00.000Z",
            "finished-at": "2026-11-29T05:16:00.000Z",
        }
    )


def test_put_events_in_batches_of_ten_with_per_entry_failures(bus: Any) -> None:
    publisher = EventBridgeResultPublisher(bus.events, bus.name)
    ok = {"EventId": "e"}
    with Stubber(bus.events) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [ok] * 10})
        entries = [ok] * 10
        entries[3] = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
        entries[7] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
        stub.add_response("put_events", {"FailedEntryCount": 2, "Entries": entries})
        stub.add_client_error("put_events", "InternalException", http_status_code=500)

        failed = publisher.publish([_detail(n) for n in range(25)])

    assert [f.index for f in failed] == [13, 17, 20, 21, 22, 23, 24]
    assert not any(f.permanent for f in failed)  # all retryable: the stream retries them


def test_handler_reports_exactly_the_records_that_failed(publish_results: Any) -> None:
    batch = sample_event("publish_results.json")  # records 2, 3 and 5 end a call
    client = publish_results.publisher._events
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure"}, {"EventId": "c"}],
            },
        )
        response = publish_results.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "100000000000000000003"}]}


def test_put_events_exception_fails_every_ended_record(publish_results: Any) -> None:
    client = publish_results.publisher._events
    with Stubber(client) as stub:
        stub.add_client_error("put_events", "ServiceUnavailable", http_status_code=503)
        response = publish_results.handler(sample_event("publish_results.json"), LambdaContext())

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == [
        "100000000000000000002",
        "100000000000000000003",
        "100000000000000000005",
    ]


@pytest.mark.parametrize("per_entry", [False, True], ids=["call refused", "entries refused"])
def test_an_access_denied_publish_is_logged_with_its_error_code(
    publish_results: Any, per_entry: bool
) -> None:
    """tests/e2e/test_iam.py fails on any AccessDenied in a function's log; a publisher whose
    role lost events:PutEvents must therefore say so in one."""
    client = publish_results.publisher._events
    logged = len(SESSION_LOG)
    with Stubber(client) as stub:
        if per_entry:
            denied = {"ErrorCode": "AccessDeniedException", "ErrorMessage": "not authorized"}
            stub.add_response("put_events", {"FailedEntryCount": 3, "Entries": [denied] * 3})
        else:
            stub.add_client_error("put_events", "AccessDeniedException", http_status_code=400)
        response = publish_results.handler(sample_event("publish_results.json"), LambdaContext())

    assert len(response["batchItemFailures"]) == 3
    assert any("AccessDenied" in line for line in SESSION_LOG[logged:])


def test_an_ended_call_that_cannot_make_a_valid_event_is_set_aside_not_retried_not_dropped(
    publish_results: Any, bus: Any, publisher_dlq: str
) -> None:
    batch = sample_event("publish_results.json")  # records 2, 3 and 5 end a call
    del batch["Records"][1]["dynamodb"]["NewImage"]["callee"]

    response = publish_results.handler(batch, LambdaContext())

    assert response == {"batchItemFailures": []}  # acknowledged: it never holds the batch
    assert len(bus.received()) == 2  # its batch-mates are published
    [letter] = _dead_letters(bus.sqs, publisher_dlq)
    assert letter["kind"] == "dtmf-gateway/set-aside"
    assert letter["stream-record"] == "100000000000000000002"
    assert (letter["instruction-id"], letter["call-id"]) == _ids(batch["Records"][1])
    assert "callee" in letter["reason"]
    assert "+31" not in letter["reason"]  # reasons name fields, never values


def _dead_letters(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def _ids(record: dict[str, Any]) -> tuple[str, str]:
    image = record["dynamodb"]["NewImage"]
    return image["instruction-id"]["S"], image["call-id"]["S"]


# ------------------------------------------------------------------ schema contract


def test_shipped_schema_is_generated_from_the_event_model() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "generate_schema.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert module.event_schema() == SCHEMA, "run `make schema`"


def test_template_registers_the_shipped_schema() -> None:
    from devtools.template import resource

    content = resource("ResultSchema")["Properties"]["Content"]
    assert json.loads(content) == SCHEMA, "run `make schema`"


def test_schema_and_model_agree_on_fields_and_outcomes() -> None:
    detail_schema = SCHEMA["definitions"]["DtmfResult"]
    model_fields = {f.alias or name for name, f in DtmfResultDetail.model_fields.items()}

    assert set(detail_schema["properties"]) == model_fields
    optional = {
        "schema-version",
        "revision",
        "corrects",
        "truncated",
        "verified",
        "erased-at",
        "attempts",
        "campaign-id",
    }  # truncated: if shortened; verified: verify mode (#19); attempts: scheduled (#16)
    assert set(detail_schema["required"]) == model_fields - optional
    assert SCHEMA["definitions"]["Outcome"]["enum"] == [o.value for o in Outcome]
    assert detail_schema["additionalProperties"] is False


def test_schema_refuses_what_the_model_refuses() -> None:
    event = sample_event("example_consumer.json")
    validate_event(event)
    for broken in (
        {**event["detail"], "outcome": "maybe"},
        {**event["detail"], "callee": "0612345678"},
        {**event["detail"], "surprise": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate_event({**event, "detail": broken})
        with pytest.raises(ValidationError):
            DtmfResultDetail.model_validate(broken)


# ------------------------------------------------------------------ expirer


def _store_call(aws: Any, instruction_id: str, call_id: str, stale_after: int) -> None:
    created = datetime.now(UTC) - timedelta(hours=1)
    store = DynamoDbInstructionStore(
        aws.dynamodb, aws.table_name, retention=timedelta(days=30), pending_shards=8
    )
    instruction = NewInstruction(
        instruction_id=instruction_id,
        owner="test",
        caller="+31201234567",
        callees=("+31612345678",),
        request={"min-digits": 4, "max-digits": 4, "regex": "[0-9]{4}"},
        metadata={},
        created_at=created,
        stale_after_seconds=stale_after,
    )
    store.reserve(instruction)
    store.record_queued_calls(instruction, [CmQueuedCall(call_id, "+31612345678", True)])


def _calls(aws: Any) -> dict[str, dict[str, Any]]:
    return {i["call-id"]: i for i in aws.items() if i["sk"].startswith("call#")}


def test_only_truly_stale_calls_expire(function_env: Any) -> None:
    _store_call(function_env, "old", "call-old", stale_after=1800)  # stale 30 min ago
    _store_call(function_env, "young", "call-young", stale_after=7200)  # stale in an hour
    pending = DynamoDbPendingCalls(function_env.dynamodb, function_env.table_name, shards=8)

    report = expire_stale_calls(pending)

    assert (report.examined, report.expired) == (1, 1)
    calls = _calls(function_env)
    assert calls["call-old"]["status"] == "expired"
    assert calls["call-old"]["outcome"] == "expired"
    assert calls["call-young"]["status"] == "queued"
    # issue 15: the entry stays on the index (no index write); the cursor is past it
    assert "pending-shard" in calls["call-old"]
    again = expire_stale_calls(pending)
    assert (again.examined, again.expired, again.skipped) == (0, 0, 0)


def test_expirer_handler_with_the_sample_schedule_event(function_env: Any) -> None:
    _store_call(function_env, "old", "call-old", stale_after=60)
    module = load_function("expire_calls")

    result = module.handler(sample_event("expire_calls.json"), LambdaContext())

    assert result == {"examined": 1, "expired": 1, "finished": True}


def test_finished_calls_are_never_expired(
    placed_and_finished: dict[str, str], function_env: Any
) -> None:
    pending = DynamoDbPendingCalls(function_env.dynamodb, function_env.table_name, shards=8)
    far_future = datetime.now(UTC) + timedelta(days=1)

    report = expire_stale_calls(pending, clock=lambda: far_future)

    assert (report.examined, report.skipped) == (0, 1)  # its entry stays, the call is skipped
    [call] = _calls(function_env).values()
    assert call["status"] == "finished"


@pytest.fixture
def placed_and_finished(place_call: Any, cm: Any, cm_callback: Any) -> dict[str, str]:
    call_id = post(place_call, sample_body()).body["calls"][0]["call-id"]
    deliver(cm_callback, callback_body(call_id), token_of(cm))
    return {"call_id": call_id}


@pytest.mark.parametrize("round_", range(5))
def test_callback_racing_the_expirer_ends_with_the_real_outcome(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, function_env: Any, round_: int
) -> None:
    call_id = post(place_call, sample_body()).body["calls"][0]["call-id"]
    token = token_of(cm)
    pending = DynamoDbPendingCalls(function_env.dynamodb, function_env.table_name, shards=8)
    later = datetime.now(UTC) + timedelta(days=1)
    outcomes: dict[str, Any] = {}
    start = threading.Barrier(2)

    def callback() -> None:
        start.wait()
        outcomes["callback"] = deliver(cm_callback, callback_body(call_id), token).body["status"]

    def expirer() -> None:
        start.wait()
        outcomes["expirer"] = expire_stale_calls(pending, clock=lambda: later).expired

    threads = [threading.Thread(target=callback), threading.Thread(target=expirer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Whoever writes first, the real callback's outcome is the call's final state (when the
    # expirer won, the callback corrected it: issue 12, failure 8).
    [call] = read(get_call).body["calls"]
    assert outcomes["callback"] == "recorded"
    assert outcomes["expirer"] in (0, 1)
    assert (call["status"], call["outcome"]) == ("finished", "input-received")


# ------------------------------------------------------------------ example consumer


def test_consumer_handles_a_real_shaped_event(function_env: Any) -> None:
    module = load_function("example_consumer")

    handled = module.handler(sample_event("example_consumer.json"), LambdaContext())

    assert handled == {
        "instruction-id": "order-7781-pin",
        "call-id": "6f1d2c3b-8a4e-4c55-9e0f-1b2a3c4d5e6f",
        "outcome": "input-received",
        "metadata": {"order-id": "7781", "purpose": "pin-check"},
    }


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # it fails before any
def test_consumer_refuses_an_event_that_breaks_the_contract(function_env: Any) -> None:
    module = load_function("example_consumer")
    event = sample_event("example_consumer.json")
    del event["detail"]["call-id"]

    with pytest.raises(Exception, match="call-id"):
        module.handler(event, LambdaContext())
