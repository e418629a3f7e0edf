"""Properties (issue 13): whatever arrives, the callback parser and the stream-record decoder
end in a result or their own refusal — never another exception.

- `parse_callback`: any JSON value, for any instruction id → a CmCallback, or
  MalformedCallback (answered 400);
- the callback body reader + parser, for any byte string → a result, BadRequest (400) or
  MalformedCallback (400);
- `stream.changes`: any stream record (DynamoDB JSON images of any shape) → one Change per
  record (None when an image is not a call), or UndecodableStreamRecord naming the record.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.stream import UndecodableStreamRecord, changes
from dtmf_gateway.api.body import BadRequest, json_body
from dtmf_gateway.domain.callbacks import CmCallback, parse_callback
from dtmf_gateway.domain.errors import MalformedCallback
from dtmf_gateway.domain.publishing import Change

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=6)
    ),
    max_leaves=30,
)
CALLBACK_KEYS = st.sampled_from(
    ["type", "call-id", "instruction-id", "caller", "callee", "digits", "result", "code"]
)
#: Bodies close to CM's: its keys, with any JSON values, in a dict (or a `result` dict).
CALLBACK_LIKE = st.dictionaries(
    CALLBACK_KEYS,
    JSON_VALUES | st.dictionaries(CALLBACK_KEYS | st.text(max_size=10), JSON_VALUES, max_size=4),
    max_size=8,
)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(instruction_id=st.text(max_size=70), raw=JSON_VALUES | CALLBACK_LIKE)
def test_any_json_value_is_a_callback_or_malformed(instruction_id: str, raw: Any) -> None:
    outcome: object
    try:
        outcome = parse_callback(instruction_id, raw)
    except MalformedCallback as error:
        outcome = error
    assert isinstance(outcome, (CmCallback, MalformedCallback)) and str(outcome)


@SETTINGS
@given(
    body=st.binary(max_size=300)
    | CALLBACK_LIKE.map(lambda d: json.dumps(d).encode())
    | JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    encoded=st.booleans(),
)
def test_any_callback_body_is_read_or_refused_as_400(body: bytes, encoded: bool) -> None:
    text = base64.b64encode(body).decode() if encoded else body.decode("utf-8", "surrogateescape")
    outcome: object
    try:
        outcome = parse_callback("order-7781-pin", json_body(text, is_base64=encoded))
    except (BadRequest, MalformedCallback) as error:
        outcome = error
    assert isinstance(outcome, (CmCallback, BadRequest, MalformedCallback)) and str(outcome)


# ---------------------------------------------------------------- stream records
ATTRIBUTE_VALUES = st.deferred(
    lambda: st.one_of(
        st.fixed_dictionaries({"S": st.text(max_size=20)}),
        st.fixed_dictionaries(
            {"N": st.sampled_from(["1", "0", "-7", "1.5", "1e400", "NaN", "Infinity", "x", ""])}
        ),
        st.fixed_dictionaries({"BOOL": st.booleans()}),
        st.fixed_dictionaries({"NULL": st.just(True)}),
        st.fixed_dictionaries({"B": st.text(max_size=12)}),
        st.fixed_dictionaries({"SS": st.lists(st.text(max_size=5), max_size=3)}),
        st.fixed_dictionaries({"L": st.lists(ATTRIBUTE_VALUES, max_size=3)}),
        st.fixed_dictionaries(
            {"M": st.dictionaries(st.text(max_size=10), ATTRIBUTE_VALUES, max_size=3)}
        ),
        JSON_VALUES,  # not DynamoDB JSON at all
    )
)
CALL_ATTRIBUTES = st.sampled_from(
    [
        "pk",
        "sk",
        "record-type",
        "instruction-id",
        "call-id",
        "caller",
        "callee",
        "status",
        "outcome",
        "digits",
        "result",
        "metadata",
        "queued-at",
        "finished-at",
    ]
)
IMAGES = st.none() | st.dictionaries(
    CALL_ATTRIBUTES | st.text(max_size=8), ATTRIBUTE_VALUES, max_size=10
)
CALL_IMAGES = st.fixed_dictionaries(
    {"record-type": st.just({"S": "call"})},
    optional={
        "status": st.sampled_from(
            [{"S": "finished"}, {"S": "queued"}, {"S": "expired"}, {"N": "1"}]
        ),
        "outcome": st.sampled_from([{"S": "input-received"}, {"S": "nonsense"}, {"NULL": True}]),
        "call-id": ATTRIBUTE_VALUES,
        "instruction-id": ATTRIBUTE_VALUES,
        "result": ATTRIBUTE_VALUES,
        "metadata": ATTRIBUTE_VALUES,
        "digits": ATTRIBUTE_VALUES,
    },
)
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
        "dynamodb": st.fixed_dictionaries(
            {},
            optional={
                "SequenceNumber": st.text(max_size=10),
                "OldImage": IMAGES | CALL_IMAGES,
                "NewImage": IMAGES | CALL_IMAGES,
            },
        ),
    },
)


@SETTINGS
@given(records=st.lists(RECORDS, max_size=4))
def test_any_stream_record_decodes_to_one_change(records: list[dict[str, Any]]) -> None:
    outcome: list[Change] | UndecodableStreamRecord
    try:
        outcome = changes(DynamoDBStreamEvent({"Records": records}))
    except UndecodableStreamRecord as error:
        outcome = error
    if isinstance(outcome, UndecodableStreamRecord):
        ids = {str((r.get("dynamodb") or {}).get("SequenceNumber")) for r in records}
        assert outcome.record_id in ids
    else:
        assert len(outcome) == len(records)


def test_a_real_call_image_decodes() -> None:
    image = {
        "record-type": {"S": "call"},
        "instruction-id": {"S": "order-7781-pin"},
        "call-id": {"S": "c-1"},
        "status": {"S": "finished"},
        "result": {"M": {"code": {"N": "10"}}},
    }
    record = {"dynamodb": {"SequenceNumber": "7", "NewImage": image}}

    (change,) = changes(DynamoDBStreamEvent({"Records": [record]}))

    assert change.new is not None and change.new.call_id == "c-1" and change.old is None
