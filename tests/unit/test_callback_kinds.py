"""Issue 12, kind of failure 2: any JSON value CM could put anywhere in a callback — inside
`result` and beside it — is either refused with a 4xx-class error or stored, within
DynamoDB's item limit, in a form DynamoDB's serialiser accepts, read back unchanged and
publishable as an event."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import call_from_item, from_item, to_item
from dtmf_gateway.domain.callbacks import (
    CALLBACK_BODY_LIMIT_BYTES,
    RESULT_LIMIT_BYTES,
    CallbackVerdict,
    RecordCallback,
    parse_callback,
)
from dtmf_gateway.domain.errors import MalformedCallback
from dtmf_gateway.domain.events import detail_from_call
from tests.fakes import InMemoryCallbackStore, Table
from tests.unit.test_domain import placed

DYNAMODB_ITEM_LIMIT = 400 * 1024

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),  # NaN/Infinity are not JSON: a 400
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
big_text = st.builds(
    lambda s, n: s * n, st.text(min_size=1, max_size=3), st.sampled_from([1, 40_000, 120_000])
)
codes = st.one_of(
    st.sampled_from([9, 10, 11, 12, 10.0, "10", 13, 10**30]),
    json_values,
)


@st.composite
def callbacks(draw: st.DrawFn, call_id: str) -> Any:
    body: dict[str, Any] = {
        "type": "dtmf-finished",
        "call-id": call_id,
        "instruction-id": "i-1",
        "caller": "+31201234567",
        "callee": "+31612345678",
        "digits": "4821",
        "result": {"code": draw(codes), "description": draw(st.one_of(json_values, big_text))},
    }
    for key in ("instruction-id", "caller", "digits", "sip-disconnect-code"):
        if draw(st.booleans()):
            target = body["result"] if key.startswith("sip") else body
            target[key] = draw(json_values)
    body["result"] |= draw(st.dictionaries(st.text(max_size=12), json_values, max_size=4))
    body["result"].setdefault("code", 10)
    extra = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=4))
    body |= {k: v for k, v in extra.items() if k not in ("type", "call-id", "callee", "result")}
    return body


def _stored(table: Table, call_id: str) -> dict[str, Any]:
    item = table.call("i-1", call_id)
    assert item is not None
    return item


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_json_cm_sends_is_refused_or_stored_whole(data: st.DataObject) -> None:
    table = Table()
    call_id = placed(table)
    body = data.draw(callbacks(call_id.lower()))
    text = json.dumps(body, ensure_ascii=False)
    try:
        callback = parse_callback("i-1", body)
    except MalformedCallback:
        assert table.call("i-1", call_id) is not None  # nothing changed: still queued
        return

    record = RecordCallback(InMemoryCallbackStore(table)).record("i-1", callback, text)

    assert record.verdict is CallbackVerdict.RECORDED
    item = _stored(table, call_id)
    typed = to_item(item)  # boto3's serialiser: refused floats before (issue 12, failure 2)
    assert len(json.dumps(typed, ensure_ascii=False).encode()) < DYNAMODB_ITEM_LIMIT
    call = call_from_item(from_item(typed))
    assert call.result is not None
    assert len(json.dumps(call.result, ensure_ascii=False).encode()) <= RESULT_LIMIT_BYTES + 64
    assert call.callback_body is not None
    assert len(call.callback_body.encode()) <= CALLBACK_BODY_LIMIT_BYTES
    sent = callback.result.model_dump(by_alias=True, exclude_none=True)
    if len(json.dumps(sent, ensure_ascii=False).encode()) <= RESULT_LIMIT_BYTES:
        assert call.result == sent  # every value as CM sent it, floats and big ints included
    if len(text.encode()) <= CALLBACK_BODY_LIMIT_BYTES:
        assert json.loads(call.callback_body) == body
    detail_from_call(call)  # publishable: never a record the outbox retries forever


@given(st.one_of(json_values, st.lists(json_values), st.dictionaries(st.text(), json_values)))
def test_the_parser_is_total(raw: Any) -> None:
    """Any JSON value: a parsed callback or MalformedCallback (400), nothing else."""
    with contextlib.suppress(MalformedCallback):
        parse_callback("i-1", raw)
