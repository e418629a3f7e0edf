"""The problem catalogue of each route: every error the API answers, decided once.

A function's catalogue is built by a function so that each Lambda imports only the exception
types it can meet (the idempotency ones pull in Powertools' idempotency package). How each
answer is counted and logged is part of its entry (`metric`, `reasons`, `warning`): the
metric names are the operators' contract (docs/operations.md). Each builder declares example
errors (`documented`) from which `scripts/generate_openapi.py` builds the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import quote

from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from dtmf_gateway.api.body import BadRequest, UnsupportedMediaType
from dtmf_gateway.api.problems import (
    CallbackForbidden,
    CallbackRefused,
    Catalogue,
    InvalidIdempotencyKey,
    ProblemAnswer,
    documented,
)
from dtmf_gateway.domain.errors import (
    CalleeLimitReached,
    CmOutcomeUnknown,
    FieldProblem,
    IdempotencyKeyReused,
    InstructionAlreadyExists,
    InstructionNotFound,
    InvalidListQuery,
    InvalidRequest,
    MalformedCallback,
    PlacementFailed,
    PolicyRefused,
    PolicyViolation,
    RequestInProgress,
    StackAtLimit,
)
from dtmf_gateway.observability import MetricName

# ---------------------------------------------------------------- POST /v1/dtmf-calls

_REFUSED: Final = "RequestsRefused"
_EXAMPLE_ID: Final = "order-7781-pin"


@documented(BadRequest("the body is not valid JSON: Expecting value at line 1, column 1"))
def _unreadable(error: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        400,
        "bad-request",
        "The request body could not be read",
        str(error),
        reasons=("unreadable-body",),
        metric=_REFUSED,
    )


@documented(
    InvalidRequest(
        [
            FieldProblem("min-digits", "must be at most max-digits (4), got 6"),
            FieldProblem("voice.volume", "must be between -4 and 4, got 9"),
        ]
    )
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


@documented(InvalidIdempotencyKey("must be 1 to 255 printable ASCII characters, no spaces"))
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


@documented(
    PolicyRefused(
        [
            PolicyViolation(
                "destination-country-not-allowed",
                "callee",
                "calls to JP (+81) are not allowed by this service",
            )
        ]
    )
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


@documented(CalleeLimitReached(["callee"], limit=3, retry_after_seconds=1260))
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


@documented(InstructionAlreadyExists(_EXAMPLE_ID))
def _exists(error: InstructionAlreadyExists) -> ProblemAnswer:
    if error.foreign:  # another principal's: no Location the caller could not read (404)
        return ProblemAnswer(
            409,
            "instruction-id-in-use",
            "The instruction-id is already in use",
            f"instruction-id {error.instruction_id!r} is taken (instruction ids are unique "
            "across the gateway, whoever placed them): nothing was placed. Send a new "
            "instruction-id, e.g. a UUID.",
            extensions={"instruction-id": error.instruction_id},
            reasons=("instruction-id-in-use",),
            metric=_REFUSED,
        )
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


@documented(Exception("the payload does not match the stored one"))
def _key_reused(_: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        422,
        "idempotency-key-reused",
        "The Idempotency-Key was used with a different body",
        "An Idempotency-Key identifies one instruction: use a new key for a different body.",
        reasons=("idempotency-key-reused",),
        metric=_REFUSED,
    )


@documented(Exception("the first request is still running"))
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


@documented(
    PlacementFailed(_EXAMPLE_ID, "CM answered 400: invalid caller", unreachable=False),
    PlacementFailed(_EXAMPLE_ID, "could not connect to CM", unreachable=True),
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
    """Not raised but returned by the placement (so the idempotency layer stores it); see
    `OUTCOME_UNKNOWN_EXAMPLES` for the answers it can give."""
    return ProblemAnswer(
        504 if error.timed_out else 502,
        "cm-outcome-unknown",
        "CM did not confirm the calls",
        f"{error.reason}. CM may still place the calls: do not send this instruction "
        f"again; watch GET /v1/dtmf-calls/{instruction_id} for callbacks instead.",
        extensions={"instruction-id": instruction_id, "instruction-status": "unknown"},
    )


#: The errors `outcome_unknown` answers (502 and 504), for the OpenAPI document.
OUTCOME_UNKNOWN_EXAMPLES: Final = (
    CmOutcomeUnknown("CM answered 503", timed_out=False),
    CmOutcomeUnknown("CM did not answer within 8 seconds", timed_out=True),
)


def _internal(
    detail: str, metric: MetricName | None = None
) -> Callable[[Exception], ProblemAnswer]:
    @documented(Exception("an unexpected failure"))
    def build(_: Exception) -> ProblemAnswer:
        reasons: tuple[str, ...] = ("internal-error",) if metric else ()
        return ProblemAnswer(
            500, "internal-error", "Internal error", detail, reasons=reasons, metric=metric
        )

    return build


@documented(UnsupportedMediaType("Content-Type text/plain is not JSON: send application/json"))
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


@documented(StackAtLimit(calls=3, limit=50))
def _stack_at_limit(error: StackAtLimit) -> ProblemAnswer:
    return ProblemAnswer(
        429,
        "rate-limited",
        "The service is placing its most calls this second",
        f"This instruction's {error.calls} call(s) do not fit in this second's "
        f"{error.limit:g} calls per second of the service; nothing was placed. Retry after "
        f"{error.retry_after_seconds} s (the same Idempotency-Key places it).",
        headers={"Retry-After": str(error.retry_after_seconds)},
        reasons=("rate-limited",),
        metric=_REFUSED,
    )


def placement_problems() -> Catalogue:
    return {
        BadRequest: _unreadable,
        UnsupportedMediaType: _unsupported_media_type,
        InvalidRequest: _invalid,
        InvalidIdempotencyKey: _invalid_key,
        PolicyRefused: _policy,
        CalleeLimitReached: _too_many,
        StackAtLimit: _stack_at_limit,
        InstructionAlreadyExists: _exists,
        IdempotencyKeyReused: _key_reused,
        RequestInProgress: _in_flight,
        PlacementFailed: _not_placed,
        Exception: _internal(
            "The request failed unexpectedly; it is safe to retry with the same Idempotency-Key.",
            _REFUSED,
        ),
    }


# ---------------------------------------------------------------- GET /v1/dtmf-calls/{id}


@documented(InstructionNotFound(_EXAMPLE_ID))
def _not_found(error: InstructionNotFound) -> ProblemAnswer:
    return ProblemAnswer(
        404,
        "not-found",
        "No such instruction",
        f"There is no instruction {error.instruction_id!r} (or its retention period has passed).",
    )


@documented(NotFoundError())
def _no_route_for_id(_: Exception) -> ProblemAnswer:
    return _not_found(InstructionNotFound("(not an instruction-id)"))


def read_problems() -> Catalogue:
    return {
        InstructionNotFound: _not_found,
        # a path Powertools' router cannot match (`//`, `/` or control characters in the id):
        # no such instruction, not a 500 (found by the fuzz gate and the hostile review)
        NotFoundError: _no_route_for_id,
        Exception: _internal("The request failed unexpectedly."),
    }


# ---------------------------------------------------------------- GET /v1/dtmf-calls (#16)


@documented(InvalidListQuery([FieldProblem("limit", "must be a whole number from 1 to 100")]))
def _invalid_query(error: InvalidListQuery) -> ProblemAnswer:
    fields = ", ".join(p.field for p in error.problems)
    return ProblemAnswer(
        422,
        "invalid-request",
        "The query is not valid",
        f"{len(error.problems)} query parameter(s) are not valid: {fields}",
        extensions={"errors": [{"field": p.field, "message": p.message} for p in error.problems]},
        reasons=("invalid-request",),
        metric=_REFUSED,
    )


def list_problems() -> Catalogue:
    return {
        InvalidListQuery: _invalid_query,
        Exception: _internal("The request failed unexpectedly."),
    }


# ---------------------------------------------------------------- POST /v1/callbacks/cm/{id}


_CALLBACK_REFUSED: Final = "CallbacksRefused"


@documented(CallbackForbidden())
def _forbidden(_: Exception) -> ProblemAnswer:
    detail = "The callback token is missing or not valid."
    return ProblemAnswer(403, "forbidden", "Forbidden", detail, metric="CallbackForbidden")


@documented(MalformedCallback("call-id: is required"))
def _malformed(error: Exception) -> ProblemAnswer:
    return ProblemAnswer(
        400,
        "malformed-callback",
        "The callback body is not a CM dtmf-finished body",
        str(error),
        reasons=("malformed",),
        metric=_CALLBACK_REFUSED,
    )


_CALLBACK_MISMATCH: Final = "callee-mismatch"


@documented(
    CallbackRefused("unknown-instruction", "a7bd3b2e-2a6f-4c3e-9c1f-0d7e5f2b8a11"),
    CallbackRefused("unknown-call", "a7bd3b2e-2a6f-4c3e-9c1f-0d7e5f2b8a11"),
    CallbackRefused(_CALLBACK_MISMATCH, "a7bd3b2e-2a6f-4c3e-9c1f-0d7e5f2b8a11"),
)
def _refused_callback(error: CallbackRefused) -> ProblemAnswer:
    if error.reason == _CALLBACK_MISMATCH:  # the call is stored, for another callee: 409
        status, title = 409, "Callee mismatch"
        detail = (
            "The callback names another callee than the call it is for; nothing was recorded "
            "and the call keeps waiting for its own callback."
        )
    else:
        status = 404
        title = "Unknown call" if error.reason == "unknown-call" else "Unknown instruction"
        detail = (
            "The callback does not belong to a call this instruction placed; nothing was recorded."
        )
    return ProblemAnswer(
        status,
        error.reason,
        title,
        detail,
        reasons=(error.reason,),
        metric=_CALLBACK_REFUSED,
        warning="callback refused",
        log_extra={"reason": error.reason, "call_id": error.call_id},
    )


def callback_problems() -> Catalogue:
    # 500 makes CM (if it retries) deliver again; the write is conditional, so that is safe.
    return {
        CallbackForbidden: _forbidden,
        NotFoundError: _forbidden,  # a path the router cannot match: no token can be valid
        BadRequest: _malformed,
        MalformedCallback: _malformed,
        CallbackRefused: _refused_callback,
        Exception: _internal("The callback could not be recorded."),
    }


# ---------------------------------------------------------------- /v1/dtmf-campaigns (issue 17)


def campaign_request_problems() -> Catalogue:
    """What a campaign request shares with `POST /v1/dtmf-calls`: reading the body (400,
    415), the 422 listing every field or naming the Idempotency-Key, and the catch-all 500
    (the campaign routes add their own 404 and 409 in `api.campaigns`)."""
    return {
        BadRequest: _unreadable,
        UnsupportedMediaType: _unsupported_media_type,
        InvalidRequest: _invalid,
        InvalidIdempotencyKey: _invalid_key,
        Exception: _internal("The request failed unexpectedly."),
    }
