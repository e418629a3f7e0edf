"""The installable event model (clients/python/dtmf-gateway-events) reads every event the stack
publishes: each schema in schemas/ is modelled key for key, events generated from the stack's own
model (and valid against the schema file) parse, and the Powertools envelope unwraps them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from dtmf_gateway.domain.events import DtmfResultDetail
from dtmf_gateway_events import (
    DETAIL_MODELS,
    DtmfCallNotPlaced,
    DtmfCampaignFinished,
    DtmfResult,
    Outcome,
    WebhookPayload,
)
from dtmf_gateway_events.envelope import DtmfGatewayEnvelope, DtmfGatewaySqsEnvelope

ROOT = Path(__file__).resolve().parents[2]
EVENT_SCHEMAS = sorted(p for p in (ROOT / "schemas").glob("*.json") if p.name != "openapi.json")
SAMPLE = json.loads((ROOT / "events" / "example_consumer.json").read_text())


def _detail_schema(schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    detail_type = schema["properties"]["detail-type"]["enum"][0]
    ref = schema["properties"]["detail"]["$ref"].rsplit("/", 1)[1]
    return detail_type, schema["definitions"][ref]


def _aliases(model: type[Any]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


@pytest.mark.parametrize("path", EVENT_SCHEMAS, ids=lambda p: p.name)
def test_every_published_schema_is_modelled_key_for_key(path: Path) -> None:
    detail_type, detail = _detail_schema(json.loads(path.read_text()))
    model = DETAIL_MODELS[detail_type]

    assert set(detail["properties"]) <= _aliases(model)
    required = {a for n, f in model.model_fields.items() if f.is_required() for a in [f.alias or n]}
    assert required <= set(detail.get("required", []))


def test_the_schemas_folder_is_found() -> None:
    assert any(p.name == "dtmf-result.v1.json" for p in EVENT_SCHEMAS)


E164 = st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
ISO = st.datetimes(min_value=datetime(2000, 1, 1)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
RESULTS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"code": st.sampled_from([9, 10, 11, 12])},
        optional={"description": TEXT, "sip-disconnect-code": TEXT, "new-cm-key": TEXT},
    ),
)
DETAILS = st.builds(
    lambda **kw: DtmfResultDetail.model_validate(kw).to_json(),
    **{
        "instruction-id": st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
        "call-id": st.uuids().map(str),
        "caller": E164,
        "callee": E164,
        "outcome": st.sampled_from([o.value for o in Outcome]),
        "digits": st.one_of(st.none(), st.from_regex(r"[0-9*#A-D]{1,10}", fullmatch=True)),
        "result": RESULTS,
        "metadata": st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), TEXT, max_size=3),
        "queued-at": ISO,
        "finished-at": ISO,
        "revision": st.integers(0, 3),
    },
)


@settings(max_examples=60, deadline=None)
@given(DETAILS)
def test_every_result_the_stack_publishes_parses(detail_json: str) -> None:
    event = {**SAMPLE, "detail": json.loads(detail_json)}
    schema = json.loads((ROOT / "schemas" / "dtmf-result.v1.json").read_text())
    jsonschema.validate(event, schema)  # an event the stack can publish

    parsed = DtmfGatewayEnvelope().parse(event, DtmfResult)

    assert parsed is not None
    assert parsed.model_dump(by_alias=True, exclude_unset=True, mode="json") == event["detail"]


def test_the_envelope_refuses_an_event_of_another_type() -> None:
    with pytest.raises(ValueError, match="DTMF Call Not Placed"):
        DtmfGatewayEnvelope().parse(SAMPLE, DtmfCallNotPlaced)
    with pytest.raises(ValueError, match="dtmf-gateway"):
        DtmfGatewayEnvelope().parse({**SAMPLE, "source": "someone-else"}, DtmfResult)


def test_the_sqs_envelope_reads_events_the_bus_put_on_a_queue() -> None:
    sqs = json.loads((ROOT / "events" / "deliver_webhooks.json").read_text())

    [result] = DtmfGatewaySqsEnvelope().parse(sqs, DtmfResult)

    assert result.digits == SAMPLE["detail"]["digits"]
    assert result.result is not None
    assert result.result.code == 10


def test_unknown_keys_and_outcomes_are_kept_and_an_unknown_outcome_is_a_failure() -> None:
    detail = {**SAMPLE["detail"], "outcome": "voicemail", "attempts": 2, "new-key": {"x": 1}}

    result = DtmfResult.model_validate(detail)

    assert result.outcome == "voicemail"
    assert result.is_failure
    assert result.attempts == 2
    assert result.model_extra == {"new-key": {"x": 1}}
    assert not DtmfResult.model_validate(SAMPLE["detail"]).is_failure


def test_round_2_details_follow_the_contract() -> None:
    not_placed = DtmfCallNotPlaced.model_validate(
        {
            "instruction-id": "spring.7",
            "callee": "+31612345678",
            "caller": "+31201234567",
            "reason": "deadline-passed",
            "metadata": {},
            "campaign-id": "spring",
            "ended-at": "2026-11-30T08:00:00Z",
        }
    )
    finished = DtmfCampaignFinished.model_validate(
        {
            "campaign-id": "spring",
            "status": "finished",
            "counts": {"rows": 3, "placed": 3},
            "finished-at": "2026-11-30T09:00:00Z",
        }
    )

    assert not_placed.reason == "deadline-passed"
    assert not_placed.campaign_id == "spring"
    assert finished.count("rows") == 3
    assert finished.count("no-input") == 0  # zeros may be absent
    with pytest.raises(ValidationError, match="ended-at"):
        DtmfCallNotPlaced.model_validate(
            {"instruction-id": "x", "callee": None, "caller": None, "reason": "cancelled"}
        )


def test_a_webhook_body_parses_by_its_type() -> None:
    body = json.dumps({"type": "DTMF Result", "data": SAMPLE["detail"]})

    payload = TypeAdapter(WebhookPayload).validate_json(body)

    assert isinstance(payload.data, DtmfResult)
    assert payload.data.instruction_id == SAMPLE["detail"]["instruction-id"]
