"""Issue 12, 3a: whatever form CM echoes a callee in, the stored (and published) callee is the
instruction's own E.164 number."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import call_from_item
from dtmf_gateway.domain.callees import (
    attributed_replies,
    matching_callee,
    matching_callees,
    with_own_callees,
)
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


# ---------------------------------------------------------------- whose each reply is


STRANGERS = ("+31699999999", "+4915199999999", "0699999999")
# one national number in two countries: `0301234567` (the national form) matches both
TWINS = ("+31301234567", "+49301234567")
TWIN_ECHO = "0301234567"


def _reply_strategy(callees: list[str]) -> st.SearchStrategy[CmQueuedCall]:
    """One element of CM's reply: one of ours in any form, a stranger, or no number; a call
    id from a small pool (so that CM repeats one now and then); queued or refused."""
    ours = st.tuples(st.sampled_from(callees), st.sampled_from(FORMS)).map(lambda t: echo(*t))
    echoed = st.one_of(
        ours,
        st.sampled_from(STRANGERS),
        st.sampled_from([None, "", "anonymous"]),
        st.just(TWIN_ECHO),  # ambiguous when both twins are callees, one of ours or a stranger
    )
    return st.builds(
        CmQueuedCall,
        call_id=st.sampled_from(["c1", "c2", "C2", "c3", "c4", None]),
        callee=echoed,
        success=st.booleans(),
    )


@settings(max_examples=300, deadline=None)
@given(
    callees=st.lists(
        st.sampled_from((*CALLEES, "+4915112345678", *TWINS)), min_size=1, unique=True
    ),
    data=st.data(),
)
def test_attributed_replies_never_give_a_call_to_the_wrong_callee(
    callees: list[str], data: st.DataObject
) -> None:
    drawn = data.draw(st.lists(_reply_strategy(callees), max_size=6))
    # each element marked with its position (in `error`, which the split carries along)
    replies = [dataclasses.replace(r, error=str(i)) for i, r in enumerate(drawn)]

    split = attributed_replies(callees, replies)

    # nothing is lost: every element is a callee's or reported unattributed, once
    positions = sorted(int(r.error or "") for r in (*split.calls, *split.unattributed))
    assert positions == list(range(len(replies)))
    assert all(r.callee is None for r in split.unattributed)
    # each callee and each call id once at most, always one of ours
    given = [r.callee for r in split.calls]
    assert all(c in callees for c in given) and len(set(given)) == len(given)
    ids = [r.call_id.lower() for r in split.calls if r.call_id]
    assert len(set(ids)) == len(ids)
    for call in split.calls:
        original = replies[int(call.error or "")]
        # a number CM named is the callee it is given, never another one; a number that may
        # be several of ours (TWIN_ECHO) is given one of those
        if any(ch.isdigit() for ch in original.callee or ""):
            assert call.callee in matching_callees(callees, original.callee)
            if len(matching_callees(callees, original.callee)) == 1:
                assert matching_callee(callees, original.callee) == call.callee
        # a call id CM named before belongs to that earlier element, never to this one
        earlier = replies[: int(call.error or "")]
        assert not call.call_id or all(
            (r.call_id or "").lower() != call.call_id.lower() for r in earlier
        )
    # an ambiguous echo is ours, never unattributed while one of its callees is left over
    # (when CM repeats no call id: a repeated one keeps the strict rule)
    named = [r.call_id.lower() for r in replies if r.call_id]
    if len(set(named)) == len(named):
        left = set(callees) - set(given)
        for reply in split.unattributed:
            original = replies[int(reply.error or "")]
            assert not left & set(matching_callees(callees, original.callee))


def test_a_reply_naming_a_stranger_is_unattributed_even_when_it_could_go_by_position() -> None:
    """One element per callee, the second names a number we never asked for: by position it
    would be the second callee's, and a stranger's digits would be reported as theirs."""
    replies = [
        CmQueuedCall(call_id="a", callee="+31612345678", success=True),
        CmQueuedCall(call_id="b", callee="+31699999999", success=True),
    ]

    split = attributed_replies(CALLEES[:2], replies)

    assert [(r.call_id, r.callee) for r in split.calls] == [("a", "+31612345678")]
    assert [(r.call_id, r.callee) for r in split.unattributed] == [("b", None)]


@pytest.mark.parametrize("reverse", [False, True])
def test_an_echo_matching_two_callees_goes_by_position_among_them(reverse: bool) -> None:
    """`+31301234567` and `+49301234567` echoed both as `0301234567`: each element gets the
    callee at its own position (CM answers in the request's order); not a stranger's."""
    callees = list(TWINS[::-1]) if reverse else list(TWINS)
    replies = [
        CmQueuedCall(call_id="a", callee=TWIN_ECHO, success=True),
        CmQueuedCall(call_id="b", callee=TWIN_ECHO, success=True),
    ]

    split = attributed_replies(callees, replies)

    assert [(r.call_id, r.callee) for r in split.calls] == [("a", callees[0]), ("b", callees[1])]
    assert split.unattributed == ()


def test_an_ambiguous_echo_takes_the_match_an_exact_echo_left() -> None:
    """The first element names the second twin exactly; the national echo at position 1 (the
    second twin's place) gets the first twin, the one left among its matches."""
    replies = [
        CmQueuedCall(call_id="a", callee=TWINS[1], success=True),
        CmQueuedCall(call_id="b", callee=TWIN_ECHO, success=True),
    ]

    split = attributed_replies(list(TWINS), replies)

    assert {r.call_id: r.callee for r in split.calls} == {"a": TWINS[1], "b": TWINS[0]}


def test_a_third_ambiguous_echo_with_both_twins_given_is_unattributed() -> None:
    replies = [CmQueuedCall(call_id=c, callee=TWIN_ECHO, success=True) for c in ("a", "b", "c")]

    split = attributed_replies(list(TWINS), replies)

    assert [r.call_id for r in split.calls] == ["a", "b"]
    assert [r.call_id for r in split.unattributed_queued] == ["c"]


def test_a_reply_without_a_number_still_goes_by_position() -> None:
    replies = [
        CmQueuedCall(call_id="a", callee="+31612345678", success=True),
        CmQueuedCall(call_id="b", callee=None, success=True),
    ]

    split = attributed_replies(CALLEES[:2], replies)

    assert [(r.call_id, r.callee) for r in split.calls] == [
        ("a", "+31612345678"),
        ("b", "+31687654321"),
    ]
    assert split.unattributed == ()


def test_a_second_reply_for_the_same_callee_is_unattributed() -> None:
    replies = [
        CmQueuedCall(call_id="a", callee="+31612345678", success=True),
        CmQueuedCall(call_id="b", callee="0031612345678", success=True),
    ]

    split = attributed_replies(CALLEES[:2], replies)

    assert [r.call_id for r in split.calls] == ["a"]
    assert [r.call_id for r in split.unattributed_queued] == ["b"]


class ScriptedCm:
    """CM answering with the given elements, whatever was asked."""

    def __init__(self, replies: list[CmQueuedCall]) -> None:
        self.replies = replies

    def place(self, request: Any, **_: Any) -> list[CmQueuedCall]:
        return self.replies


def _placed(
    replies: list[CmQueuedCall],
) -> tuple[Any, Table, list[tuple[str, tuple[CmQueuedCall, ...]]]]:
    table = Table()
    reported: list[tuple[str, tuple[CmQueuedCall, ...]]] = []
    result = PlaceInstruction(
        cm=ScriptedCm(replies),
        store=InMemoryInstructionStore(table),
        callback_urls=FakeCallbackUrls(),
        policy=DialPolicy.from_settings(
            allowed_countries="NL,BE", blocked_number_types="default", allowed_callers=""
        ),
        clock=lambda: datetime(2026, 11, 29, 5, 15, tzinfo=UTC),
        on_unattributed_replies=lambda iid, calls: reported.append((iid, calls)),
    ).place(
        parse_dtmf_call_request(
            {
                "instruction-id": "i-1",
                "caller": "+31201234567",
                "callees": list(CALLEES[:2]),
                "prompt": "Type your PIN",
                "valid-prompt": "Thank you",
                "quiet-hours": False,
            }
        ),
        PlacementContext(owner="arn:aws:iam::1:user/t"),
    )
    return result, table, reported


def test_a_call_for_a_stranger_is_reported_by_call_id_and_never_recorded() -> None:
    result, table, reported = _placed(
        [
            CmQueuedCall(call_id="mine", callee="+31612345678", success=True),
            CmQueuedCall(call_id="theirs", callee="+31699999999", success=True),
        ]
    )

    assert [(c.call_id, c.callee) for c in result.calls] == [("mine", "+31612345678")]
    assert [(iid, [c.call_id for c in calls]) for iid, calls in reported] == [("i-1", ["theirs"])]
    assert all(c.callee is None for _, calls in reported for c in calls)  # never the number
    calls = {sk: item for (_, sk), item in table.items.items() if sk.startswith("call#")}
    assert [item["callee"] for item in calls.values()] == ["+31612345678"]


def test_when_no_queued_call_is_a_callees_the_outcome_is_unknown_never_not_placed() -> None:
    result, table, reported = _placed(
        [
            CmQueuedCall(call_id="x", callee="+31699999999", success=True),
            CmQueuedCall(call_id=None, callee="+31612345678", success=False, error="busy"),
        ]
    )

    assert result.outcome_unknown is not None  # calls may ring: a retry must not place again
    assert result.calls == ()
    assert [c.call_id for _, calls in reported for c in calls] == ["x"]
    assert not [sk for (_, sk) in table.items if sk.startswith("call#")]
    instruction = next(item for (_, sk), item in table.items.items() if not sk.startswith("call#"))
    assert instruction["status"] == "unknown"
