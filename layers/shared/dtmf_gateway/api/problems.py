"""RFC 9457 problem+json answers: what a problem is, how a catalogue of them is installed.

A catalogue (the routes' own are in :mod:`dtmf_gateway.api.catalogues`) maps each exception
type to a builder of its answer: status, problem type (`urn:dtmf-gateway:problem:` + slug),
title, detail and extensions; `register` installs a catalogue on a resolver in one call.
How each answer is counted and logged is part of its entry too (`metric`, `reasons`,
`warning`): the metric names are the operators' contract (docs/operations.md).

Each builder also declares example errors (`documented`) that between them produce every
answer it can give: `scripts/generate_openapi.py` builds the OpenAPI document's statuses,
problem types, headers and examples by running the builders on them (`documented_answers`),
so the document cannot drift from what the API answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from aws_lambda_powertools.event_handler import Response

from dtmf_gateway.api.models import PROBLEM_JSON, Problem, render, with_version
from dtmf_gateway.observability import MetricName, count, count_by, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

PROBLEM_TYPE_PREFIX = "urn:dtmf-gateway:problem:"
_NONE: Mapping[str, Any] = MappingProxyType({})  # an empty mapping no answer can change


class ProblemAnswer(NamedTuple):
    """One problem+json answer: HTTP ``status``, the problem type's ``slug``, ``title``,
    ``detail`` and body ``extensions``, response ``headers``, and how it is counted
    (``metric`` by ``dimension`` = each of ``reasons``) and logged (``warning``, ``log_extra``).

    A `NamedTuple`, not a frozen dataclass, for the cold start: every API function builds this
    class at init, and a dataclass generates and compiles its methods from source when its
    class is made (~1 ms of CPU for these eleven fields, issue 15). Read its fields by name."""

    status: int
    slug: str
    title: str
    detail: str
    extensions: Mapping[str, Any] = _NONE
    headers: Mapping[str, str] = _NONE
    reasons: tuple[str, ...] = ()  # the metric's dimension values: why it was refused
    metric: MetricName | None = None  # counted under this metric (by `dimension`, if reasons)
    dimension: str = "reason"
    warning: str | None = None  # logged at WARNING with `log_extra`
    log_extra: Mapping[str, Any] = _NONE

    def body(self) -> Problem:
        return Problem.model_validate(
            {
                "type": PROBLEM_TYPE_PREFIX + self.slug,
                "title": self.title,
                "status": self.status,
                "detail": self.detail,
                **self.extensions,
            }
        )

    def response(self) -> Response[str]:
        return with_version(
            Response(
                status_code=self.status,
                content_type=PROBLEM_JSON,
                body=render(self.body()),
                headers=dict(self.headers) or None,
            )
        )

    def observe(self) -> None:
        """Count and log the answer (called while its exception is being handled)."""
        if self.status == 500:  # the catch-all; a 502/504 is an answer about CM, not a bug
            logger.exception("unexpected error")
        if self.warning:
            logger.warning(self.warning, extra=dict(self.log_extra))
        if self.metric is None:
            return
        if not self.reasons:
            count(self.metric)
        for reason in self.reasons:
            count_by(self.metric, self.dimension, reason)


Catalogue = Mapping[type[Exception], Callable[[Any], ProblemAnswer]]
_Builder = TypeVar("_Builder", bound=Callable[..., ProblemAnswer])
_EXAMPLES: dict[Callable[..., ProblemAnswer], tuple[Exception, ...]] = {}


def documented(*examples: Exception) -> Callable[[_Builder], _Builder]:
    """Declare errors a builder answers, one per distinct answer (status, type, headers) it
    can give: the OpenAPI document is built from them (documentation only)."""

    def mark(build: _Builder) -> _Builder:
        _EXAMPLES[build] = examples
        return build

    return mark


def documented_answers(catalogue: Catalogue) -> list[ProblemAnswer]:
    """Every answer `catalogue` can give, built by its own builders from their declared
    examples (for the OpenAPI document). Raises LookupError naming an entry without any."""
    answers: list[ProblemAnswer] = []
    for error_type, build in catalogue.items():
        if build not in _EXAMPLES:
            raise LookupError(f"the problem entry for {error_type.__name__} declares no example")
        answers.extend(build(example) for example in _EXAMPLES[build])
    return answers


def register(app: ApiGatewayResolver, catalogue: Catalogue) -> None:
    """Answer each exception type of the catalogue with its problem, counted and logged.
    Powertools picks the entry of the closest base class (`Exception` catches the rest).

    A path no route matches (API Gateway passes `{instruction-id}` with characters the
    resolver's routes refuse, such as `"`, `\\` or a NUL) is `404`: Powertools answers it
    with `NotFoundError` outside any `except`, which `Exception` would turn into a `500`
    logged as an error anyone could provoke."""
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError

    catalogue = {NotFoundError: _no_route, **catalogue}
    # every route's answer names the stack's version; problems get it in `response()`
    # (Powertools calls exception handlers outside the middlewares)
    app.use(middlewares=[_versioned])
    for error_type, build in catalogue.items():

        def answer(error: Exception, build: Callable[[Any], ProblemAnswer] = build) -> Any:
            problem = build(error)
            problem.observe()
            return problem.response()

        app.exception_handler(error_type)(answer)


def _versioned(app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
    return with_version(next_middleware(app))


class InvalidIdempotencyKey(ValueError):
    """The Idempotency-Key header is not 1-255 printable ASCII characters without spaces."""


class CallbackForbidden(Exception):
    """The callback's token is missing or not valid."""


class CallbackRefused(Exception):
    """The callback is not for a call the instruction placed; `reason` is the verdict."""

    def __init__(self, reason: str, call_id: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.call_id = call_id


def _no_route(_: Exception) -> ProblemAnswer:
    return ProblemAnswer(404, "not-found", "Not found", "There is no such resource.")
