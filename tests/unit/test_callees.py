"""Issue 12, 3a: whatever form CM echoes a callee in, the stored (and published) callee is the
instruction's own E.164 number."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import call_from_item
from dtmf_gateway.domain.callees import matching_callee, with_own_callees
from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.events import detail_from_call
from dtmf_gateway.domain.placement import PlaceInstruction, PlacementContext
from dtmf_gateway.domain.policy import DialPolicy
from dtmf_gateway.domain.request import parse_dtmf_call_request
from tests.fakes import FakeCallbackUrls, InMemoryInstructionStore, Table

CALLEES = ("+31612345678", "+31687654321", "+32470123456")


def echo(e164: str, form: str) -> str | None:
    """How CM might write `e164` in its reply (the simulator's `reply-callee-format`)."""
    digits = e164.removeprefix("+")
    return {
        "e164": e164,
        "national-00": "00" + digits,
        "no-plus": digits,
        "omitted": None,
    }[form]


FORMS = ("e164", "national-00", "no-plus", "omitted")


class EchoingCm:
    """CM's synchronous reply with each callee written in a scripted form, in scripted order."""

    def __init__(self, forms: dict[str, str], *, reverse: bool = False) -> None:
        self.forms = forms
        self.reverse = reverse

    def place(
        self,
        request: Any,
        *,
        instruction_id: str,
        callback_url: str,
        time_budget_seconds: float | None = None,
    ) -> list[CmQueuedCall]:
        replies = [
            CmQueuedCall(call_id=str(uuid.uuid4()), callee=echo(c, self.forms[c]), success=True)
            for c in request.all_callees()
        ]
        return replies[::-1] if self.reverse else replies


def place(callees: tuple[str, ...], cm: EchoingCm) -> list[dict[str, Any]]:
    table = Table()
    body: dict[str, Any] = {
        "instruction-id": "i-1",
        "caller": "+31201234567",
        "prompt": "Type your PIN",
        "valid-prompt": "Thank you",
        "min-digits": 4,
        "max-digits": 4,
    }
    if len(callees) == 1:
        body["callee"] = callees[0]
    else:
        body["callees"] = list(callees)
    PlaceInstruction(
        cm=cm,
        store=InMemoryInstructionStore(table),
        callback_urls=FakeCallbackUrls(),
        policy=DialPolicy.from_settings(
            allowed_countries="NL,BE", blocked_number_types="default", allowed_callers=""
        ),
        clock=lambda: datetime(2026, 11, 29, 5, 15, tzinfo=UTC),
    ).place(parse_dtmf_call_request(body), PlacementContext(owner="arn:aws:iam::1:user/t"))
    return [item for (_, sk), item in table.items.items() if sk.startswith("call#")]


def publishable(item: dict[str, Any]) -> str:
    """The callee of the event the call would make once it ended (raises if it cannot)."""
    ended = {
        **item,
        "status": "expired",
        "outcome": "expired",
        "finished-at": "2026-11-29T05:40:00.000Z",
    }
    return detail_from_call(call_from_item(ended)).callee


@pytest.mark.parametrize("form", FORMS)
def test_one_callee_in_every_reply_form_is_stored_in_e164_and_publishable(form: str) -> None:
    (item,) = place(CALLEES[:1], EchoingCm({CALLEES[0]: form}))

    assert item["callee"] == CALLEES[0]
    assert publishable(item) == CALLEES[0]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("reverse", [False, True], ids=["cm-order", "reversed"])
def test_several_callees_in_every_reply_form_are_each_stored_in_e164(
    form: str, reverse: bool
) -> None:
    items = place(CALLEES, EchoingCm(dict.fromkeys(CALLEES, form), reverse=reverse))

    # With every number omitted and CM's order changed, nothing tells which call is whose:
    # still each call gets one of our callees, each callee once, all publishable.
    assert sorted(i["callee"] for i in items) == sorted(CALLEES)
    assert sorted(publishable(i) for i in items) == sorted(CALLEES)


@settings(max_examples=200, deadline=None)
@given(
    callees=st.lists(
        st.sampled_from(
            ["+31612345678", "+31687654321", "+32470123456", "+4915112345678", "+33612345678"]
        ),
        min_size=1,
        max_size=5,
        unique=True,
    ),
    data=st.data(),
)
def test_any_mix_of_forms_and_orders_maps_every_reply_to_a_distinct_own_callee(
    callees: list[str], data: st.DataObject
) -> None:
    forms = [data.draw(st.sampled_from(FORMS)) for _ in callees]
    replies = [
        CmQueuedCall(call_id=f"c{i}", callee=echo(c, f), success=True)
        for i, (c, f) in enumerate(zip(callees, forms, strict=True))
    ]
    shuffled = data.draw(st.permutations(replies))
    omitted = sum(f == "omitted" for f in forms)
    if omitted > 1 and list(shuffled) != replies:
        return  # order is the only clue and CM broke it: nothing to promise
    mapped = with_own_callees(callees, shuffled)

    assert sorted(r.callee or "" for r in mapped) == sorted(callees)
    by_id = {r.call_id: r.callee for r in mapped}
    for i, (callee, form) in enumerate(zip(callees, forms, strict=True)):
        if form != "omitted" or omitted == 1 or list(shuffled) == replies:
            assert by_id[f"c{i}"] == callee


@pytest.mark.parametrize(
    ("echoed", "expected"),
    [
        ("+31612345678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("31612345678", "+31612345678"),
        ("0612345678", "+31612345678"),  # national form with trunk prefix
        ("+31 6 1234 5678", "+31612345678"),
        ("+31612345679", None),  # someone else
        ("", None),
        (None, None),
    ],
)
def test_a_single_echo_is_recognised_in_any_form(echoed: str | None, expected: str | None) -> None:
    assert matching_callee(("+31612345678", "+32470123456"), echoed) == expected


def test_a_reply_for_a_number_never_asked_for_gets_no_callee_of_ours() -> None:
    replies = [
        CmQueuedCall(call_id="a", callee="+31612345678", success=True),
        CmQueuedCall(call_id="b", callee="+31699999999", success=True),
        CmQueuedCall(call_id="c", callee="+31699999998", success=True),
    ]
    mapped = {r.call_id: r.callee for r in with_own_callees(CALLEES[:2], replies)}

    assert mapped["a"] == "+31612345678"
    assert list(mapped.values()).count("+31687654321") <= 1
