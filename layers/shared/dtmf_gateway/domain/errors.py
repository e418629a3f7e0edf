"""Domain errors: what was wrong with a request, and which policy rule refused it.

The API layer maps :class:`InvalidRequest` to ``422 application/problem+json`` with
``errors: [{"field", "message"}]`` and :class:`PolicyRefused` to ``403`` naming the rule.
Messages are written for the client: they never contain internals, and never a full
phone number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One offending field.

    ``field`` is the JSON path in the request's own (kebab-case) names, e.g.
    ``"min-digits"``, ``"callees[2]"``, ``"voice.volume"``, ``"metadata.order-id"``;
    ``""`` means the body as a whole. ``message`` is a human sentence.
    """

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


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

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "field": self.field, "message": self.message}


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
    """A callee already had the most calls this deployment allows in the current hour."""

    RULE = "per-callee-limit-reached"

    def __init__(self, fields: Iterable[str], limit: int, retry_after_seconds: int) -> None:
        self.fields = list(fields)
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"{self.RULE}: {', '.join(self.fields)}")
