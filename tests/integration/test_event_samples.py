"""Every file in events/ goes through its handler here, so the samples users feed to
`sam local invoke -e` can never rot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.lambdas import LambdaContext, load_function, sample_event
from dtmf_gateway.domain.signing import SigningKeys, callback_token
from tests.conftest import SIGNING_KEY
from tests.support.lambdas import invoke_http

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = {
    "place_call.json": "PlaceCallFunction",
    "get_call.json": "GetCallFunction",
    "erase_personal_data.json": "ErasePersonalDataFunction",
    "cm_callback.json": "CmCallbackFunction",
    "publish_results.json": "PublishResultsFunction",
    "expire_calls.json": "ExpireCallsFunction",
    "example_consumer.json": "ExampleConsumerFunction",
    # exercised in tests/simulator/test_sandbox_lambda.py (the sandbox on moto)
    "cm_sandbox.json": "CmSandboxFunction",
    # exercised in tests/integration/test_deliver_webhooks.py
    "deliver_webhooks.json": "DeliverWebhooksFunction",
    # round 2 (#16)
    "dial_call.json": "DialCallFunction",
    "cancel_call.json": "CancelCallFunction",
    "list_calls.json": "ListCallsFunction",
    # exercised in tests/integration/test_campaign_handlers.py
    "campaigns.json": "CampaignsFunction",
    "campaign_worker.json": "CampaignWorkerFunction",
    # issue 15: a recording place-call could not write at once
    "record_placements.json": "RecordPlacementsFunction",
}


def test_every_sample_is_exercised_and_every_function_has_one() -> None:
    from devtools.template import template

    files = {p.name for p in EVENTS.glob("*.json")} - {"env.json"}
    functions = {
        name
        for name, r in template()["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert files == set(SAMPLES)
    assert set(SAMPLES.values()) == functions


def test_env_vars_file_names_real_functions_and_their_variables() -> None:
    from devtools.template import function_environment

    env = json.loads((EVENTS / "env.json").read_text())
    for function, variables in env.items():
        if function == "Parameters":
            continue
        assert set(variables) <= set(function_environment(function)), function


def test_rest_samples_walk_a_whole_call(
    place_call: Any, cm: Any, cm_callback: Any, get_call: Any, erase_personal_data: Any
) -> None:
    placed = invoke_http(place_call, sample_event("place_call.json"))
    assert placed.status == 202
    call_id = placed.body["calls"][0]["call-id"]

    callback = sample_event("cm_callback.json")
    body = json.loads(callback["body"])
    body["call-id"] = call_id
    callback["body"] = json.dumps(body)
    token = callback_token(SigningKeys(SIGNING_KEY.encode()), "order-7781-pin")
    callback["queryStringParameters"] = {"token": token}
    callback["multiValueQueryStringParameters"] = {"token": [token]}
    assert invoke_http(cm_callback, callback).body == {"status": "recorded"}

    read = invoke_http(get_call, sample_event("get_call.json"))
    assert read.status == 200
    assert read.body["calls"][0]["outcome"] == "input-received"

    erased = invoke_http(erase_personal_data, sample_event("erase_personal_data.json"))
    assert erased.status == 200
    assert erased.body["erased-at"]
    assert erased.body["calls"][0]["callee"] is None


def test_callback_sample_as_shipped_is_refused_for_its_placeholder_token(
    cm_callback: Any, function_env: Any
) -> None:
    response = invoke_http(cm_callback, sample_event("cm_callback.json"))

    assert response.status == 403


def test_stream_sample(publish_results: Any, bus: Any) -> None:
    response = publish_results.handler(sample_event("publish_results.json"), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert len(bus.received()) == 3


def test_recording_sample_records_the_calls_of_a_placement_that_could_not(
    place_call: Any, cm: Any, get_call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_placement_recordings import Flaky

    Flaky(monkeypatch)
    assert invoke_http(place_call, sample_event("place_call.json")).status == 202
    sample = sample_event("record_placements.json")

    result = load_function("record_placements").handler(sample, LambdaContext())

    assert result == {"batchItemFailures": []}
    [call] = invoke_http(get_call, sample_event("get_call.json")).body["calls"]
    assert call["call-id"] == json.loads(sample["Records"][0]["body"])["queued"][0]["call-id"]
    assert call["status"] == "queued"


@pytest.mark.parametrize(
    ("sample", "folder", "expected"),
    [
        ("expire_calls.json", "expire_calls", {"examined": 0, "expired": 0}),
        ("example_consumer.json", "example_consumer", {"outcome": "input-received"}),
    ],
)
def test_scheduled_and_bus_samples(
    function_env: Any, sample: str, folder: str, expected: dict[str, Any]
) -> None:
    result = load_function(folder).handler(sample_event(sample), LambdaContext())

    assert expected.items() <= result.items()


# ------------------------------------------------------------------ round 2 (#16)


@pytest.fixture
def far_ahead(function_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`not-before` may be years ahead (the dial sample names a fixed moment)."""
    from tests.conftest import _reset_caches

    monkeypatch.setenv("MAX_SCHEDULE_DAYS", "3650")
    _reset_caches()


def test_dial_and_cancel_samples_schedule_place_and_cancel(
    far_ahead: None, place_call: Any, cm: Any, cancel_call_module: Any, dial_module: Any
) -> None:
    dial = sample_event("dial_call.json")
    body = json.loads(sample_event("place_call.json")["body"])
    assert dial["instruction-id"] == body["instruction-id"] and dial["callee-index"] == 0

    nothing = dial_module.handler(dial, LambdaContext())  # not scheduled (yet): skipped
    scheduled = invoke_http(
        place_call,
        {
            **sample_event("place_call.json"),
            "body": json.dumps({**body, "not-before": dial["scheduled-for"]}),
        },
    )
    early = dial_module.handler(dial, LambdaContext())  # before not-before: it waits
    cancelled = invoke_http(cancel_call_module, sample_event("cancel_call.json"))

    assert nothing == {"outcome": "skipped"}
    assert scheduled.status == 202 and scheduled.body["status"] == "scheduled"
    assert early == {"outcome": "rescheduled"}
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert cm.bodies() == []


@pytest.fixture
def dial_module(function_env: Any, cm: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import functools

    from dtmf_gateway.adapters import cm_client

    monkeypatch.setattr(
        cm_client,
        "HttpCmClient",
        functools.partial(cm_client.HttpCmClient, transport=cm.transport, sleep=lambda _: None),
    )
    return load_function("dial_call")


@pytest.fixture
def cancel_call_module(function_env: Any) -> Any:
    return load_function("cancel_call")
