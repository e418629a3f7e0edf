"""A callback is only recorded against a stored call of the callee it names (CM may name one
call id for two callees): the number in any of CM's forms, nothing to compare when either side
has no number."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtmf_gateway.adapters.dynamodb.calls_table import CALLEE, CALLEES, ERASED_AT
from dtmf_gateway.domain.callbacks import CallbackVerdict, RecordCallback
from dtmf_gateway.domain.callees import callees_echoed, is_other_callee, matching_callee
from tests.fakes import FakeCm, InMemoryCallbackStore, Table
from tests.unit.test_domain import CONTEXT, NOW, callback, request, service

OWN = "+31612345678"
OTHER = "+32470123456"  # the instruction's second callee


def cm_forms(e164: str, national: str) -> st.SearchStrategy[str]:
    """`e164` as CM may echo it: `+31…`, `0031…`, `31…`, national with its trunk `0`,
    each possibly with spaces or dashes."""
    digits = e164.removeprefix("+")
    plain = st.sampled_from([e164, "00" + digits, digits, national])
    return st.one_of(
        plain,
        st.builds(lambda f, sep: f[:3] + sep + f[3:6] + sep + f[6:], plain, st.sampled_from(" -")),
    )


def mobile_nl() -> st.SearchStrategy[tuple[str, str]]:
    return st.integers(10_000_000, 99_999_999).map(lambda n: (f"+316{n}", f"06{n}"))


def placed_for_two(table: Table) -> dict[str, str]:
    """An instruction for OWN and OTHER; its call id per callee."""
    result = service(table, FakeCm()).place(request(callee=None, callees=[OWN, OTHER]), CONTEXT)
    return {str(c.callee): str(c.call_id) for c in result.queued}


def recorded(table: Table, call_id: str, callee: str | None) -> CallbackVerdict:
    store = InMemoryCallbackStore(table)
    return RecordCallback(store, clock=lambda: NOW).record("i-1", callback(call_id, callee)).verdict


@settings(max_examples=60, deadline=None)
@given(echo=cm_forms(OWN, "0612345678"))
def test_the_own_callee_in_any_of_cm_s_forms_is_recorded(echo: str) -> None:
    table = Table()
    calls = placed_for_two(table)

    assert recorded(table, calls[OWN], echo) is CallbackVerdict.RECORDED
    assert table.call("i-1", calls[OWN])["digits"] == "4821"  # type: ignore[index]


@settings(max_examples=60, deadline=None)
@given(number=mobile_nl(), data=st.data())
def test_another_number_in_any_form_is_refused_and_the_call_keeps_waiting(
    number: tuple[str, str], data: Any
) -> None:
    e164, national = number
    table = Table()
    calls = placed_for_two(table)
    stranger = e164 != OWN
    echo = data.draw(cm_forms(e164, national) if stranger else cm_forms(OTHER, "0470123456"))
    before = dict(table.call("i-1", calls[OWN]) or {})

    verdict = recorded(table, calls[OWN], echo)

    assert verdict is CallbackVerdict.CALLEE_MISMATCH
    assert table.call("i-1", calls[OWN]) == before  # nothing written: still queued
    assert recorded(table, calls[OWN], OWN) is CallbackVerdict.RECORDED  # its own callback


@settings(max_examples=30, deadline=None)
@given(echo=st.sampled_from([None, "", "  ", "anonymous", "unknown"]))
def test_a_callback_naming_no_number_is_recorded_as_today(echo: str | None) -> None:
    table = Table()
    calls = placed_for_two(table)

    assert recorded(table, calls[OWN], echo) is CallbackVerdict.RECORDED


def test_a_call_whose_number_was_erased_is_never_refused_for_its_callee() -> None:
    table = Table()
    calls = placed_for_two(table)
    del table.call("i-1", calls[OWN])[CALLEE]  # type: ignore[attr-defined]

    assert recorded(table, calls[OWN], OTHER) is CallbackVerdict.RECORDED


def test_an_erased_instruction_compares_no_numbers() -> None:
    table = Table()
    calls = placed_for_two(table)
    instruction = table.items[("instruction#i-1", "instruction")]
    instruction[ERASED_AT] = "2026-11-29T06:00:00.000Z"
    instruction[CALLEES] = [None, None]

    assert recorded(table, calls[OWN], OTHER) is not CallbackVerdict.CALLEE_MISMATCH


def test_an_expired_call_is_not_corrected_by_another_callee_s_callback() -> None:
    table = Table()
    calls = placed_for_two(table)
    table.call("i-1", calls[OWN])["status"] = "expired"  # type: ignore[index]

    assert recorded(table, calls[OWN], OTHER) is CallbackVerdict.CALLEE_MISMATCH
    assert table.call("i-1", calls[OWN])["status"] == "expired"  # type: ignore[index]
    assert recorded(table, calls[OWN], OWN) is CallbackVerdict.RECORDED  # the correction


def test_a_national_form_two_callees_share_is_not_clearly_another_number() -> None:
    callees = ["+31612345678", "+32612345678"]
    named = callees_echoed(callees, "0612345678")

    assert named == frozenset(callees)
    assert matching_callee(callees, "0612345678") is None  # ambiguous: no callee given
    assert not is_other_callee("+31612345678", named)
    assert is_other_callee("+31612345678", callees_echoed(callees, "+32612345678"))
    assert not is_other_callee(None, frozenset())  # an erased call: no number to compare
    assert not is_other_callee("+31612345678", None)  # a callback without a number
