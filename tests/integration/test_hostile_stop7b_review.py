"""Hostile review (breaker2, 0.2.0 unreleased): reproductions of findings.

Each test asserts the behaviour the project promises; a failing test is a finding."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dtmf_gateway.domain import dialling, digits
from dtmf_gateway.domain.campaigns import Row, row_request
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.policy import DialPolicy
from tests.integration.test_dial_reparse import busy_machine

TEMPLATE = {
    "caller": "+31201234567",
    "prompt": "Hello {{name}}, type your PIN.",
    "min-digits": 4,
    "max-digits": 4,
    "valid-prompt": "Thank you.",
    "regex": "[0-9]*",
}
POLICY = DialPolicy.from_settings(
    allowed_countries="NL", blocked_number_types="default", allowed_callers=""
)

__all__ = ["busy_machine"]  # the fixture, used by name


def test_dial_time_reparse_survives_a_busy_machine(busy_machine: Callable[[], None]) -> None:
    """Calibration: the dialpolicy fix holds for a scheduled callee's stored request."""
    busy_machine()
    stored = dict(TEMPLATE) | {"prompt": "Hello, type your PIN."}
    dialling.request_for(stored, "+31612345678")


def test_campaign_row_is_not_refused_for_a_busy_machine(
    busy_machine: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding: the campaign placer re-parses each row (campaign_use_cases.py:376 ->
    campaigns.row_request -> parse_dtmf_call_request(body), no stored=True) with the regex's
    timed probes, so a busy worker ends a valid, already-validated row `not-placed`
    (`policy-refused`), and the refusal is cached for the execution environment."""
    busy_machine()
    row = Row(number=1, callee="+31612345678", variables={"name": "Ann"})
    try:
        row_request(TEMPLATE, row, "camp-1", POLICY, validated=True)  # as its placer does
    except InvalidRequest as refused:
        fields = sorted(p.field for p in refused.problems)
        # once the load is gone, the same worker environment still refuses (cached refusal)
        monkeypatch.undo()
        try:
            row_request(
                TEMPLATE,
                Row(number=2, callee="+31612345679", variables={"name": "Bo"}),
                "camp-1",
                POLICY,
                validated=True,
            )
            sticky = False
        except InvalidRequest:
            sticky = True
        pytest.fail(
            f"a validated row refused on a busy machine: {fields}; "
            f"later rows in the same environment refused too: {sticky}"
        )


def test_twin_national_echoes_are_never_swapped_when_cm_answers_fewer_elements() -> None:
    """Finding: callees.py:95-99 give an ambiguous echo the callee at its own *position*
    even when CM answered fewer elements than callees (the untold rule, callees.py:110,
    guards on len(replies) == len(callees); the ambiguous rule does not). Callees
    [X, A, B], A and B sharing the national number 0301234567; CM answers in the request's
    order but without an element for X: [A's call, B's call]. Position 1 is A, so B's call
    is given to A and A's call to B: each callee's digits are published as the other's
    (the callback's callee check cannot see it: the echo matches both)."""
    from dtmf_gateway.domain.callees import attributed_replies
    from dtmf_gateway.domain.calls import CmQueuedCall

    x, a, b = "+31612345678", "+31301234567", "+49301234567"
    replies = [
        CmQueuedCall(call_id="call-of-a", callee="0301234567", success=True),
        CmQueuedCall(call_id="call-of-b", callee="0301234567", success=True),
    ]
    given = {r.call_id: r.callee for r in attributed_replies([x, a, b], replies).calls}
    # acceptable: the request's order kept (a->A, b->B) or nobody (an unknown outcome)
    assert given.get("call-of-a") in (a, None) and given.get("call-of-b") in (b, None), given


def test_one_slow_moment_does_not_make_a_valid_client_regex_a_lasting_422(
    busy_machine: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding (client-facing side of the same cache): digits._compile_cached caches a
    timed-probe refusal (digits.py:131-147, lru_cache keyed on (pattern, probe)). One busy
    moment in a place-call environment makes every later POST with that valid pattern a
    422 `regex` for the environment's life, when the machine is idle again."""
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    body = {
        "caller": "+31201234567",
        "callee": "+31612345678",
        "prompt": "Type your PIN.",
        "valid-prompt": "Thank you.",
        "regex": "[0-9]{4}",
    }
    busy_machine()
    with pytest.raises(InvalidRequest):
        parse_dtmf_call_request(body)  # refused while busy: load-dependent, as designed
    monkeypatch.undo()  # the machine is idle again; the environment lives on
    parse_dtmf_call_request(body)  # expected: accepted


def test_dial_time_reparse_still_runs_the_deterministic_regex_rules() -> None:
    """Finding (Low): parse_dtmf_call_request(stored=True) -> compile_input_regex(probe=False)
    also skips the static analysis (digits.py:140 keep_ambiguity=probe, :146 count_paths),
    which does not depend on load; the CHANGELOG says "every other rule runs, so a rule
    tightened since the request was accepted still refuses it". A stored `(0+)+` (refused
    for a client: "can backtrack catastrophically") is dialled and sent to CM."""
    digits.forget_probes()
    stored = {**TEMPLATE, "prompt": "Type your PIN.", "regex": "(0+)+"}
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    with pytest.raises(InvalidRequest):
        parse_dtmf_call_request({**stored, "callee": "+31612345678"})  # a client: refused
    with pytest.raises(InvalidRequest):  # and the dial-time re-parse too
        dialling.request_for(stored, "+31612345678")
