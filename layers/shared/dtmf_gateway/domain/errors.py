"""Every error the domain raises, in one place: what the API layer may have to answer.

Messages are written for the client: they never contain internals, and never a full phone
number. How each one is answered (status, problem type, title) is decided once, in
`dtmf_gateway.api.problems`; the domain knows nothing of HTTP.

- request: :class:`InvalidRequest` (every offending field), :class:`PolicyRefused` (the dial
  policy's rules), :class:`CalleeLimitReached` (calls per callee per hour);
- callbacks: :class:`MalformedCallback`;
- storage: :class:`InstructionAlreadyExists`, :class:`RequestInProgress`,
  :class:`IdempotencyKeyReused`, :class:`InstructionNotFound`;
- CM: :class:`CmError` and its three kinds, raised by the `CmApi` adapter, and
  :class:`PlacementFailed`, what the placement makes of a CM failure that surely placed nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# ---------------------------------------------------------------- the request


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One offending field.

    ``field`` is the JSON path in the request's own (kebab-case) names, e.g.
    ``"min-digits"``, ``"callees[2]"``, ``"voice.volume"``, ``"metadata.order-id"``;
    ``"(body)"`` means the body as a whole (``request_messages.BODY``; never an empty name).
    ``message`` is a human sentence.
    """

    field: str
    message: str


class InvalidRequest(Exception):
    """The request body breaks one or more rules; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems: list[FieldProblem] = list(problems)
        summary = "; ".join(f"{p.field or '(body)'}: {p.message}" for p in self.problems)
        super().__init__(f"invalid request: {summary}" if summary else "invalid request")


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """A valid request that this deployment's dial policy refuses.

    ``rule`` is a stable name (``destination-country-not-allowed``,
    ``number-type-not-allowed``, ``caller-not-allowed``); ``field`` the JSON path of the
    number concerned; ``message`` names the country or number type, never the number.
    """

    rule: str
    field: str
    message: str


class PolicyRefused(Exception):
    """The dial policy refused the request; ``violations`` lists every reason."""

    def __init__(self, violations: Iterable[PolicyViolation]) -> None:
        self.violations: list[PolicyViolation] = list(violations)
        rules = sorted({v.rule for v in self.violations})
        super().__init__(f"refused by dial policy: {', '.join(rules)}")

    @property
    def rules(self) -> list[str]:
        """The distinct rule names, in the order they were first violated."""
        return list(dict.fromkeys(v.rule for v in self.violations))


class CalleeLimitReached(Exception):
    """A callee already had the most calls this deployment allows in the current hour.

    ``fields`` are the JSON paths of the callees at the limit, ``limit`` the calls per hour,
    ``retry_after_seconds`` the seconds until the clock hour ends.
    """

    RULE = "per-callee-limit-reached"

    def __init__(self, fields: Iterable[str], limit: int, retry_after_seconds: int) -> None:
        self.fields = list(fields)
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"{self.RULE}: {', '.join(self.fields)}")


class StackAtLimit(Exception):
    """The stack placed its most calls this second (`CmMaxCallsPerSecond`, see
    `domain.stack_pacing`): nothing was placed. ``calls`` the instruction's callees (one
    token each), ``limit`` the calls per second, ``retry_after_seconds`` until the next
    window."""

    def __init__(self, calls: int, limit: float) -> None:
        super().__init__(f"{calls} call(s) over the stack's {limit:g} calls per second")
        self.calls = calls
        self.limit = limit
        self.retry_after_seconds = 1


class MalformedCallback(Exception):
    """A callback body that is not CM's `dtmf-finished` shape; the message names the fields."""


# ---------------------------------------------------------------- stored instructions


class InstructionAlreadyExists(Exception):
    """The instruction id is taken (by an earlier request that placed or may have placed calls).

    ``found`` is what the store read of the instruction that holds it (a
    ``placement_replay.PlacedBefore``, None when not read): a retry with its key replays it.
    ``foreign``: another principal holds it (ids are unique across the stack), so the answer
    points to no state the caller could not read anyway.
    """

    def __init__(
        self, instruction_id: str, found: object | None = None, *, foreign: bool = False
    ) -> None:
        super().__init__(instruction_id)
        self.instruction_id = instruction_id
        self.found = found
        self.foreign = foreign


class RequestInProgress(Exception):
    """An earlier request with this Idempotency-Key reserved the instruction and may still be
    placing it (its invocation's time has not run out): retry shortly for its answer."""

    def __init__(self, instruction_id: str) -> None:
        super().__init__(instruction_id)
        self.instruction_id = instruction_id


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key is bound to another body (a key claim or an instruction placed
    under it within the idempotency TTL): nothing was placed."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the Idempotency-Key of scope {scope!r} was used with another body")
        self.scope = scope


class InstructionNotFound(Exception):
    """No instruction with this id that the asking owner may read (or its retention passed)."""

    def __init__(self, instruction_id: str) -> None:
        super().__init__(instruction_id)
        self.instruction_id = instruction_id


# ---------------------------------------------------------------- CM


class CmError(Exception):
    """Base of what can go wrong talking to CM; ``reason`` is safe to show the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CmRejected(CmError):
    """CM answered and placed nothing (4xx, 401, every callee refused, busy after retries)."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status_code


class CmUnreachable(CmError):
    """The request surely never reached CM (connection refused, DNS, connect timeout)."""


class CmOutcomeUnknown(CmError):
    """The request may have reached CM: calls may ring although we got no usable answer.

    ``timed_out`` tells a read timeout from a broken reply or a 5xx.
    """

    def __init__(self, reason: str, *, timed_out: bool) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class PlacementFailed(Exception):
    """CM placed nothing: safe to retry once the reason is dealt with.

    ``unreachable`` is True when CM could not be reached at all, False when it refused.
    """

    def __init__(self, instruction_id: str, reason: str, *, unreachable: bool) -> None:
        super().__init__(reason)
        self.instruction_id = instruction_id
        self.reason = reason
        self.unreachable = unreachable


class InvalidListQuery(InvalidRequest):
    """Round 2 (#16): `GET /v1/dtmf-calls` query parameters that are not valid; ``problems``
    names each by its parameter name."""


class StaleEntryUnusable(Exception):
    """A pending-calls entry the store can never handle (`PendingCalls.apply_recording` /
    `expire`): the request itself is refused, not the moment (e.g. a call id over DynamoDB's
    1 KB sort-key limit noted on an instruction). Retrying cannot help; the expirer sets it
    aside (logged, alarmed) and goes on with the others. ``reason``: the store's text."""

    def __init__(self, instruction_id: str, reason: str) -> None:
        super().__init__(reason)
        self.instruction_id = instruction_id
        self.reason = reason
