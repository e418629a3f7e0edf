"""The expirer's settlement of a callee's held calls around a redial (round 2, #16): the
earlier call held `redialled` until a deadline (its redial attempt's CM answer was lost) and
that attempt's late callback (held awaiting its placement) — exactly one becomes the
callee's result, in whatever order the expirer meets them; a held call a later attempt
redials is never released as final."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from dtmf_gateway.domain.calls import Hold
from dtmf_gateway.domain.expiry import settle_held
from dtmf_gateway.domain.ports import HeldCall, PendingCall

NL = "+31612345678"
IID = "i-1"


@dataclass
class Call:
    callee: str | None
    hold: Hold | None
    until: bool = False  # held `redialled` until a deadline


@dataclass
class Table:
    """The calls of one instruction as DynamoDbPendingCalls reads and settles them."""

    calls: dict[str, Call]
    redialled_ids: set[str] = field(default_factory=set)  # a later attempt redials them

    def held(self, call: PendingCall) -> HeldCall | None:
        this = self.calls[call.call_id]
        redialled = this.hold is Hold.REDIALLED and this.until
        if this.hold is not Hold.AWAITING_PLACEMENT and not redialled:
            return None
        counted = {None, Hold.AWAITING_PLACEMENT} if redialled else {None}
        callees = {
            c.callee
            for i, c in self.calls.items()
            if i != call.call_id and c.hold in counted and c.callee
        }
        return HeldCall(
            callee=this.callee,
            placement_call_ids=None,  # a scheduled instruction names no call ids
            callees_with_a_call=frozenset(callees),
            redialled=redialled,
            redialled_by_schedule=call.call_id in self.redialled_ids,
        )

    def settle(self, call: PendingCall, *, release: bool, redialled: bool = False) -> bool:
        this = self.calls[call.call_id]
        if this.hold is Hold.AWAITING_PLACEMENT:
            this.hold = None if release else (Hold.REDIALLED if redialled else Hold.SET_ASIDE)
            return True
        if this.hold is Hold.REDIALLED and this.until:
            this.until = False
            this.hold = None if release else Hold.REDIALLED
            return True
        return False

    def stale(self, *_: object) -> list[PendingCall]:  # pragma: no cover - not walked here
        return []

    def expire(self, call: PendingCall, finished_at: str) -> bool:  # pragma: no cover
        return False

    def released(self) -> list[str]:
        return [i for i, c in self.calls.items() if c.hold is None]


@given(order=st.permutations(["earlier", "late"]), late_came=st.booleans())
def test_one_result_whatever_the_order_and_whether_the_late_callback_came(
    order: list[str], late_came: bool
) -> None:
    calls = {"earlier": Call(NL, Hold.REDIALLED, until=True)}
    if late_came:
        calls["late"] = Call(NL, Hold.AWAITING_PLACEMENT)
    table = Table(calls)

    for call_id in order:
        if call_id in calls:
            settle_held(table, PendingCall(IID, call_id))
            settle_held(table, PendingCall(IID, call_id))  # a later run: nothing changes

    assert table.released() == (["late"] if late_came else ["earlier"])
    assert all(c.until is False for c in calls.values())


def test_a_held_call_a_later_attempt_redials_is_held_redialled_never_released() -> None:
    table = Table({"first": Call(NL, Hold.AWAITING_PLACEMENT)}, redialled_ids={"first"})

    assert settle_held(table, PendingCall(IID, "first")) is False

    assert table.calls["first"].hold is Hold.REDIALLED
    assert table.released() == []


def test_an_erased_earlier_call_is_released_at_its_deadline() -> None:
    table = Table({"earlier": Call(None, Hold.REDIALLED, until=True)})

    assert settle_held(table, PendingCall(IID, "earlier")) is True
