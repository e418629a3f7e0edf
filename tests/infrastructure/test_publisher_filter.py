"""The publisher's event source mapping filter (template.yaml, `CallChanges` FilterCriteria)
and `adapters.dynamodb.stream.reaches_publisher`, which scripts/republish.py uses to tell
which records between an on-failure record's first and last sequence numbers were its
batch's, must agree: a record the filter drops is never in a batch, so republish must not
publish or report it (a counter's key holds a phone number). Checked on generated records
against the template's own patterns, matched as Lambda's event filtering matches them
(every key of the pattern present, its value one of the listed strings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from devtools.template import template
from dtmf_gateway.adapters.dynamodb.stream import (
    PUBLISHER_EVENT_NAMES,
    PUBLISHER_STATUSES,
    reaches_publisher,
)


def _patterns() -> list[dict[str, Any]]:
    function = template()["Resources"]["PublishResultsFunction"]["Properties"]
    filters = function["Events"]["CallChanges"]["Properties"]["FilterCriteria"]["Filters"]
    return [json.loads(f["Pattern"]) for f in filters]


def _matches(pattern: Mapping[str, Any], value: Any) -> bool:
    """Lambda's filtering for the pattern shapes the template uses: nested keys, leaves a
    list of allowed values (a missing key does not match)."""
    if isinstance(pattern, list):
        return value in pattern
    if not isinstance(value, Mapping):
        return False
    return all(key in value and _matches(sub, value[key]) for key, sub in pattern.items())


def test_the_template_lets_through_what_republish_takes_for_a_batchs() -> None:
    names = {n for p in _patterns() for n in p["eventName"]}
    statuses = {s for p in _patterns() for s in p["dynamodb"]["NewImage"]["status"]["S"]}

    assert names == PUBLISHER_EVENT_NAMES
    assert statuses == PUBLISHER_STATUSES


_statuses = st.sampled_from(
    [*sorted(PUBLISHER_STATUSES), "queued", "placing", "cancelled", "Finished", ""]
)
_attribute = st.one_of(
    st.builds(lambda s: {"S": s}, _statuses),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
    st.just({"NULL": True}),
)
_image = st.one_of(
    st.none(),
    st.fixed_dictionaries({"pk": st.just({"S": "callee#+31612345678"})}),
    st.fixed_dictionaries({"pk": st.just({"S": "instruction#i-1"}), "status": _attribute}),
)


@given(
    event_name=st.sampled_from(["INSERT", "MODIFY", "REMOVE", "insert", "OTHER"]),
    new_image=_image,
    old_image=_image,
)
def test_a_record_reaches_the_publisher_exactly_when_the_filter_lets_it(
    event_name: str, new_image: dict[str, Any] | None, old_image: dict[str, Any] | None
) -> None:
    change: dict[str, Any] = {"SequenceNumber": "1"}
    if new_image is not None:
        change["NewImage"] = new_image
    if old_image is not None:
        change["OldImage"] = old_image
    record = {"eventName": event_name, "dynamodb": change}

    assert reaches_publisher(record) == any(_matches(p, record) for p in _patterns())
