"""Issue 12, 3b as a kind: whatever JSON CM puts in `result`, the event fits EventBridge's
entry limit (computed as EventBridge does), stays valid, keeps `code`, and says what it cut."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.eventbridge import MAX_ENTRY_BYTES, entry_size, result_entry
from dtmf_gateway.domain.events import DtmfResultDetail, fitted

BASE = {
    "instruction-id": "i" * 64,
    "call-id": "c" * 64,
    "caller": "+31201234567",
    "callee": "+31612345678",
    "outcome": "no-input",
    "digits": None,
    "metadata": {f"k{n}": "v" * 256 for n in range(10)},
    "queued-at": "2026-11-29T05:15:00.000Z",
    "finished-at": "2026-11-29T05:16:00.000Z",
}

big_text = st.text(min_size=0, max_size=40).map(lambda t: t * 4000)  # up to ~160k chars
leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | big_text
json_values = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def pointed(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


@settings(max_examples=80, deadline=None)
@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5),
    description=big_text,
)
def test_any_result_makes_an_entry_within_the_limit(
    extra: dict[str, Any], description: str
) -> None:
    extra = {k: v for k, v in extra.items() if k not in {"code", "description"}}
    result = {"code": 10, "description": description, **extra}
    detail = DtmfResultDetail.model_validate({**BASE, "result": result})

    entry = result_entry(detail, "bus")

    assert entry_size(entry) <= MAX_ENTRY_BYTES
    sent = json.loads(entry["Detail"])
    DtmfResultDetail.model_validate(sent)  # still a valid event
    assert sent["result"]["code"] == 10
    original = json.loads(detail.to_json())
    if "truncated" not in sent:
        assert sent == original  # nothing cut: nothing changed
    for pointer in sent.get("truncated", []):
        before, after = pointed(original, pointer), pointed(sent, pointer)
        assert after is None or (isinstance(before, str) and before.startswith(after))


def test_an_event_within_the_limit_is_sent_unchanged() -> None:
    detail = DtmfResultDetail.model_validate(
        {**BASE, "result": {"code": 10, "description": "é" * 1000}}
    )

    assert fitted(detail, MAX_ENTRY_BYTES) is detail
    assert "truncated" not in json.loads(result_entry(detail, "bus")["Detail"])


def test_multibyte_text_is_measured_in_bytes_not_characters() -> None:
    # 100k characters of 3 UTF-8 bytes each: 300 KB though only 100k characters
    detail = DtmfResultDetail.model_validate(
        {**BASE, "result": {"code": 10, "description": "€" * 100_000}}
    )

    entry = result_entry(detail, "bus")

    assert entry_size(entry) <= MAX_ENTRY_BYTES
    assert json.loads(entry["Detail"])["truncated"] == ["/result/description"]
