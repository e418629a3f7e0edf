"""The problem catalogue: every error the API answers, as RFC 9457 problem+json, decided once.

Each entry maps an exception type to its status, problem type (`urn:dtmf-gateway:problem:`
+ slug), title, detail and extensions; `register` installs a catalogue on a resolver in one
call. A function's catalogue is built by a function so that each Lambda imports only the
exception types it can meet (the idempotency ones pull in Powertools' idempotency package).
How each answer is counted and logged is part of its entry too (`metric`, `reasons`,
`warning`): the metric names are the operators' contract (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from dtmf_gateway.api.body import BadRequest, UnsupportedMediaType
from dtmf_gateway.api.models import PROBLEM_JSON, Problem, render
from dtmf_gateway.domain.errors import (
    CalleeLimitReached,
    CmOutcomeUnknown,
    InstructionAlreadyExists,
    InstructionNotFound,
    InvalidRequest,
    MalformedCallback,
    PlacementFailed,
    PolicyRefused,
)
from dtmf_gateway.observability import MetricName, count, count_by, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

PROBLEM_TYPE_PREFIX = "urn:dtmf-gateway:problem:"


@dataclass(frozen=True, slots=True)
class ProblemAnswer:
    status: int
    slug: str
    title: str
    detail: str
    extensions: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()  # the metric's dimension values: why it was refused
    metric: MetricName | None = None  # counted under this metric (by `dimension`, if reasons)
    dimension: str = "reason"
    warning: str | None = None  # logged at WARNING with `log_extra`
    log_extra: Mapping[str, Any] = field(default_factory=dict)

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
        return Response(
            status_code=self.status,
            content_type=PROBLEM_JSON,
            body=render(self.body()),
            headers=dict(self.headers) or None,
        )

    def observe(self) -> None:
        """Count and log the answer (called while its exception is being handled)."""
        if self.status >= 500:
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


def register(app: ApiGatewayResolver, catalogue: Catalogue) -> None:
    """Answer each exception type of the catalogue with its problem, counted and logged.
    Powertools picks the entry of the closest base class (`Exception` catches the rest)."""
    for error_type, build in catalogue.items():

        def answer(error: Exception, build: Callable[[Any], ProblemAnswer] = build) -> Any:
            problem = build(error)
            problem.observe()
            return problem.response()

        app.exception_handler(error_type)(answer)


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


# ---------------------------------------------------------------- POST /v1/dtmf-calls

_REFUSED: Final = "RequestsRefused"


def _unreadable(error: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        400,
        "bad-request",
        "The request body could not be read",
        str(error),
        reasons=("unreadable-body",),
        metric=_REFUSED,
    )


def _invalid(error: InvalidRequest) -> ProblemAnswer:
    fields = ", ".join(p.field for p in error.problems)
    return ProblemAnswer(
        422,
        "invalid-request",
        "The instruction is not valid",
        f"{len(error.problems)} field(s) are not valid: {fields}",
        extensions={"errors": [{"field": p.field, "message": p.message} for p in error.problems]},
        reasons=("invalid-request",),
        metric=_REFUSED,
    )


def _invalid_key(error: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        422,
        "invalid-request",
        "The Idempotency-Key header is not valid",
        str(error),
        extensions={"errors": [{"field": "Idempotency-Key", "message": str(error)}]},
        reasons=("invalid-idempotency-key",),
        metric=_REFUSED,
    )


def _policy(error: PolicyRefused) -> ProblemAnswer:
    rules = sorted({v.rule for v in error.violations})
    return ProblemAnswer(
        403,
        "policy-refused",
        "The dialling policy refuses this instruction",
        "; ".join(v.message for v in error.violations),
        extensions={
            "rules": rules,
            "errors": [
                {"field": v.field, "rule": v.rule, "message": v.message} for v in error.violations
            ],
        },
        reasons=tuple(rules),
        metric=_REFUSED,
    )


def _too_many(error: CalleeLimitReached) -> ProblemAnswer:
    rule = CalleeLimitReached.RULE
    return ProblemAnswer(
        429,
        "policy-refused",
        "Too many calls to the same number",
        f"{', '.join(error.fields)} already had {error.limit} call(s) this hour, the most this "
        "service allows; nothing was placed.",
        headers={"Retry-After": str(error.retry_after_seconds)},
        extensions={
            "rules": [rule],
            "errors": [
                {"field": f, "rule": rule, "message": "too many calls this hour"}
                for f in error.fields
            ],
        },
        reasons=(rule,),
        metric=_REFUSED,
    )


def instruction_location(instruction_id: str) -> str:
    """Where an instruction is read: its GET path under the API's base URL (ApiUrl)."""
    return f"/v1/dtmf-calls/{quote(instruction_id, safe='')}"


def _exists(error: InstructionAlreadyExists) -> ProblemAnswer:
    return ProblemAnswer(
        409,
        "instruction-id-in-use",
        "The instruction-id is already in use",
        f"instruction-id {error.instruction_id!r} was used before, by this request's first "
        "attempt (same Idempotency-Key) or another request: nothing new was placed. Its state "
        "is at the Location; send a new instruction-id for a new instruction.",
        headers={"Location": instruction_location(error.instruction_id)},
        extensions={"instruction-id": error.instruction_id},
        reasons=("instruction-id-in-use",),
        metric=_REFUSED,
    )


def _key_reused(_: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        422,
        "idempotency-key-reused",
        "The Idempotency-Key was used with a different body",
        "An Idempotency-Key identifies one instruction: use a new key for a different body.",
        reasons=("idempotency-key-reused",),
        metric=_REFUSED,
    )


def _in_flight(_: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        409,
        "request-in-progress",
        "A request with this Idempotency-Key is still being processed",
        "Retry in a few seconds to get its response.",
        headers={"Retry-After": "2"},
        reasons=("idempotency-key-in-flight",),
        metric=_REFUSED,
    )


def _not_placed(error: PlacementFailed) -> ProblemAnswer:
    kind = "unreachable" if error.unreachable else "refused"
    return ProblemAnswer(
        502,
        f"cm-{kind}",
        "CM could not be reached" if error.unreachable else "CM refused the instruction",
        f"{error.reason}. No call was placed; the request can be retried.",
        extensions={"instruction-id": error.instruction_id, "instruction-status": "not-placed"},
        reasons=(kind,),
        metric="CmErrors",
        dimension="kind",
        warning="CM placed nothing",
        log_extra={"cm_error": kind},
    )


def outcome_unknown(instruction_id: str, error: CmOutcomeUnknown) -> ProblemAnswer:
    """Not raised but returned by the placement (so the idempotency layer stores it)."""
    return ProblemAnswer(
        504 if error.timed_out else 502,
        "cm-outcome-unknown",
        "CM did not confirm the calls",
        f"{error.reason}. CM may still place the calls: do not send this instruction "
        f"again; watch GET /v1/dtmf-calls/{instruction_id} for callbacks instead.",
        extensions={"instruction-id": instruction_id, "instruction-status": "unknown"},
    )


def _internal(
    detail: str, metric: MetricName | None = None
) -> Callable[[Exception], ProblemAnswer]:
    def build(_: Exception) -> ProblemAnswer:
        reasons: tuple[str, ...] = ("internal-error",) if metric else ()
        return ProblemAnswer(
            500, "internal-error", "Internal error", detail, reasons=reasons, metric=metric
        )

    return build


def _unsupported_media_type(error: UnsupportedMediaType) -> ProblemAnswer:
    return ProblemAnswer(
        415,
        "unsupported-media-type",
        "The body must be JSON",
        str(error),
        headers={"Accept-Post": "application/json"},
        reasons=("unsupported-media-type",),
        metric=_REFUSED,
    )


def placement_problems() -> Catalogue:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    return {
        BadRequest: _unreadable,
        UnsupportedMediaType: _unsupported_media_type,
        InvalidRequest: _invalid,
        InvalidIdempotencyKey: _invalid_key,
        PolicyRefused: _policy,
        CalleeLimitReached: _too_many,
        InstructionAlreadyExists: _exists,
        IdempotencyValidationError: _key_reused,
        IdempotencyAlreadyInProgressError: _in_flight,
        PlacementFailed: _not_placed,
        Exception: _internal(
            "The request failed unexpectedly; it is safe to retry with the same Idempotency-Key.",
            _REFUSED,
        ),
    }


# ---------------------------------------------------------------- GET /v1/dtmf-calls/{id}


def _not_found(error: InstructionNotFound) -> ProblemAnswer:
    return ProblemAnswer(
        404,
        "not-found",
        "No such instruction",
        f"There is no instruction {error.instruction_id!r} (or its retention period has passed).",
    )


def _no_route(_: Exception) -> ProblemAnswer:
    return ProblemAnswer(404, "not-found", "No such instruction", "There is no such resource.")


def read_problems() -> Catalogue:
    return {
        NotFoundError: _no_route,  # a path no route matches (e.g. `//`, `/` in the id)
        InstructionNotFound: _not_found,
        Exception: _internal("The request failed unexpectedly."),
    }


# ---------------------------------------------------------------- POST /v1/callbacks/cm/{id}


_CALLBACK_REFUSED: Final = "CallbacksRefused"


def _forbidden(_: Exception) -> ProblemAnswer:
    detail = "The callback token is missing or not valid."
    return ProblemAnswer(403, "forbidden", "Forbidden", detail, metric="CallbackForbidden")


def _malformed(error: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        400,
        "malformed-callback",
        "The callback body is not a CM dtmf-finished body",
        str(error),
        reasons=("malformed",),
        metric=_CALLBACK_REFUSED,
    )


def _refused_callback(error: CallbackRefused) -> ProblemAnswer:
    return ProblemAnswer(
        404,
        error.reason,
        "Unknown call" if error.reason == "unknown-call" else "Unknown instruction",
        "The callback does not belong to a call this instruction placed; nothing was recorded.",
        reasons=(error.reason,),
        metric=_CALLBACK_REFUSED,
        warning="callback refused",
        log_extra={"reason": error.reason, "call_id": error.call_id},
    )


def callback_problems() -> Catalogue:
    # 500 makes CM (if it retries) deliver again; the write is conditional, so that is safe.
    return {
        CallbackForbidden: _forbidden,
        NotFoundError: _forbidden,  # a malformed path is answered like a wrong token
        BadRequest: _malformed,
        MalformedCallback: _malformed,
        CallbackRefused: _refused_callback,
        Exception: _internal("The callback could not be recorded."),
    }
