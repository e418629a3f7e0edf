# ruff: noqa: F811  (the dial_call fixture of test_scheduling is a parameter)
"""Hostile review, stop 7: CM's odd synchronous replies (elements naming a stranger's number,
one call id named twice) on the paths beside the direct placement: a scheduled dial, a
campaign row. README/CHANGELOG promise: such an element is given to nobody (not recorded,
its callback refused 404 unknown-call, alarmed `CmErrors kind=reply-unattributed`); a
stranger's digits are never reported as a callee's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devtools.cm import FakeCm, queued
from devtools.lambdas import LambdaContext
from tests.conftest import Aws
from tests.integration.test_callback_handler import callback_body, deliver, token_of
from tests.integration.test_placement_recordings import call_items
from tests.integration.test_scheduling import (  # noqa: F401 - fixtures
    body,
    dial_call,
    post,
    rfc3339,
    schedule_inputs,
)

STRANGER = "+31698765432"
STRANGER_CALL = "bbbbbbbb-0000-4000-8000-0000000000aa"
OWN_CALL = "cccccccc-0000-4000-8000-0000000000bb"


def stranger_only(sent: dict[str, Any]) -> httpx.Response:
    """CM queues one call, naming a number that is not the instruction's callee."""
    [item] = queued(sent).json()
    item.update(callee=STRANGER)
    item["call-id"] = STRANGER_CALL
    return httpx.Response(200, json=[item])


def stranger_first(sent: dict[str, Any]) -> httpx.Response:
    """CM answers two elements for one callee: a stranger's call first, then the callee's."""
    [item] = queued(sent).json()
    stranger = {**item, "callee": STRANGER, "call-id": STRANGER_CALL}
    own = {**item, "call-id": OWN_CALL}
    return httpx.Response(200, json=[stranger, own])


def fire_scheduled_dial(place_call: Any, dial_call: Any, cm: FakeCm, reply: Any) -> str:
    """A scheduled instruction (not-before just past) whose one dial CM answers with
    ``reply``: its instruction id."""
    not_before = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    accepted = post(place_call, body(**{"not-before": rfc3339(not_before)}))
    assert accepted.status == 202, accepted.body
    [dial] = schedule_inputs()
    cm.replies = [reply]
    dial_call.handler(dial, LambdaContext())
    return str(accepted.body["instruction-id"])


def test_a_scheduled_dial_gives_a_strangers_queued_call_to_nobody(
    place_call: Any, dial_call: Any, cm_callback: Any, cm: FakeCm, function_env: Aws
) -> None:
    """The direct placement gives a reply naming a stranger's number to nobody; the dial
    must too: the stranger's callback may not become the callee's result."""
    iid = fire_scheduled_dial(place_call, dial_call, cm, stranger_only)

    recorded = call_items(function_env, iid)
    answer = deliver(
        cm_callback,
        callback_body(STRANGER_CALL, digits="9999", callee=STRANGER),
        token_of(cm),
        instruction_id=iid,
    )

    stored = call_items(function_env, iid)
    # expected: the stranger's call recorded nowhere, its callback refused (404 unknown-call)
    seen = {k: (v.get("callee"), v.get("status"), v.get("digits")) for k, v in stored.items()}
    assert STRANGER_CALL not in recorded, seen
    assert answer.status == 404, (answer.status, seen)


def test_a_scheduled_dial_takes_the_callees_own_call_not_the_first_queued_element(
    place_call: Any, dial_call: Any, cm_callback: Any, cm: FakeCm, function_env: Aws
) -> None:
    iid = fire_scheduled_dial(place_call, dial_call, cm, stranger_first)

    recorded = call_items(function_env, iid)

    # expected: the element naming the callee is its call; the stranger's one is nobody's
    seen = {k: (v.get("callee"), v.get("status")) for k, v in recorded.items()}
    assert sorted(recorded) == [OWN_CALL], seen
    assert recorded[OWN_CALL]["callee"] == "+31612345678"


def test_with_a_strangers_element_first_the_callees_own_result_is_not_the_one_published(
    place_call: Any, dial_call: Any, cm_callback: Any, cm: FakeCm, function_env: Aws
) -> None:
    """Both calls' callbacks come (the callee typed 4821, the stranger 9999); the expirer
    settles what is held. The callee's one published result must be its own digits."""
    from dtmf_gateway import wiring
    from dtmf_gateway.domain.calls import utc_now
    from dtmf_gateway.domain.expiry import expire_stale_calls

    iid = fire_scheduled_dial(place_call, dial_call, cm, stranger_first)
    token = token_of(cm)
    own = deliver(cm_callback, callback_body(OWN_CALL, digits="4821"), token, instruction_id=iid)
    other = deliver(
        cm_callback,
        callback_body(STRANGER_CALL, digits="9999", callee=STRANGER),
        token,
        instruction_id=iid,
    )
    later = utc_now() + timedelta(days=1)
    expire_stale_calls(wiring.pending_calls(), clock=lambda: later)

    stored = call_items(function_env, iid)
    results = [
        (v.get("callee"), v.get("digits"))
        for v in stored.values()
        if v.get("status") in ("finished", "expired") and not v.get("hold")
    ]
    assert results == [("+31612345678", "4821")], (own.status, other.status, results)


# ------------------------------------------------------------------ CM's national echo

UTRECHT, BERLIN = "+31301234567", "+49301234567"  # one national number, two countries


def national_echo(sent: dict[str, Any]) -> httpx.Response:
    """CM queues both callees and echoes each in the national form (`0301234567`, a form the
    gateway documents as observed), one element per callee in the request's order."""
    items = queued(sent).json()
    for item in items:
        item["callee"] = "0301234567"
    return httpx.Response(200, json=items)


def test_two_callees_sharing_a_national_number_echoed_nationally_are_each_given_their_call(
    place_call: Any, cm: FakeCm, function_env: Aws
) -> None:
    """Before this stop an element whose echo could not be told was given the callee at its
    own position (one element per callee); now any element naming digits that match no
    single callee is nobody's: both calls ring, the answer is 502 and no result is kept."""
    from tests.integration.test_place_call_handler import post as post_direct
    from tests.integration.test_place_call_handler import sample_body

    cm.replies = [national_echo]
    request = {k: v for k, v in sample_body().items() if k != "callee"}
    answer = post_direct(place_call, request | {"callees": [UTRECHT, BERLIN]})

    assert answer.status == 202, (answer.status, answer.body)
    assert [c["callee"] for c in answer.body["calls"]] == [UTRECHT, BERLIN]


def test_two_callees_sharing_a_national_number_their_callbacks_keep_a_result(
    place_call: Any, cm: FakeCm, cm_callback: Any, function_env: Aws
) -> None:
    """The consequence: CM rang both; each callback (echoing the national form, as the
    reply did) must still give its callee a result (held, then released) — not 404."""
    from tests.integration.test_place_call_handler import post as post_direct
    from tests.integration.test_place_call_handler import sample_body

    ids: list[str] = []

    def national_echo_kept(sent: dict[str, Any]) -> httpx.Response:
        reply = national_echo(sent)
        ids.extend(item["call-id"] for item in reply.json())
        return reply

    cm.replies = [national_echo_kept]
    request = {k: v for k, v in sample_body().items() if k != "callee"}
    post_direct(place_call, request | {"callees": [UTRECHT, BERLIN]})
    token = token_of(cm)

    statuses = [
        deliver(cm_callback, callback_body(call_id, callee="0301234567"), token).status
        for call_id in ids
    ]

    assert len(ids) == 2
    assert statuses == [200, 200], statuses
