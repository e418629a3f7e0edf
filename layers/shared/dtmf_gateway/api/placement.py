"""HTTP side of `POST /v1/dtmf-calls`: the Idempotency-Key, the use case, its answer.

Idempotency (issue 15: the instruction is the key's record, `domain.placement_replay` says
why this is not Powertools' idempotency utility any more): the key is the `Idempotency-Key`
header scoped to the calling identity and bound to the canonical body for 24 h, durably and
before CM is called (the reservation of the id derived from the key, or with an explicit
`instruction-id` a key claim). Same key + same body answers as the first request did
(`Idempotent-Replayed: true`), rendered from the stored instruction; same key + other body is
422; same key while the first request may still run is 409 `request-in-progress`, and after
that request died unanswered 409 `instruction-id-in-use` with its Location.

CM gets the invocation's remaining time minus RECORDING_RESERVE_SECONDS (capped by the CM
client's configured total): the time left after CM is enough to record the outcome before
Lambda stops the function.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import Response

from dtmf_gateway.api.catalogues import outcome_unknown
from dtmf_gateway.api.models import JSON, PROBLEM_JSON, PlacementAccepted, QueuedCall, dump
from dtmf_gateway.api.problems import InvalidIdempotencyKey
from dtmf_gateway.domain.calls import CallStatus, InstructionStatus
from dtmf_gateway.domain.placement import PlacementContext

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dtmf_gateway.domain.calls import CmQueuedCall
    from dtmf_gateway.domain.placement import PlaceInstruction, PlacementResult
    from dtmf_gateway.domain.request import DtmfCallRequest

IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
REPLAYED_HEADER = "Idempotent-Replayed"
_CONTENT_TYPE = "Content-Type"
#: Seconds kept back from the CM call to record its outcome and store the response.
RECORDING_RESERVE_SECONDS = 2.0


def checked_idempotency_key(value: str | None) -> str | None:
    """The `Idempotency-Key` header as given (None when absent); raises InvalidIdempotencyKey
    unless it is 1 to 255 printable ASCII characters without spaces (both POST routes)."""
    if value is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise InvalidIdempotencyKey(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
        )
    return value


def time_budget(lambda_context: LambdaContext | None) -> float | None:
    """Seconds CM may take in this invocation (None outside Lambda: the client's own limit)."""
    if lambda_context is None:
        return None
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    return max(0.0, remaining - RECORDING_RESERVE_SECONDS)


def _queued_call(reply: CmQueuedCall) -> QueuedCall:
    # CM's replies are rendered as received, not validated: failing once CM has queued calls
    # would invite a retry that rings people twice.
    if reply.success and reply.call_id:
        return QueuedCall.model_construct(
            call_id=reply.call_id,
            callee=reply.callee,  # type: ignore[arg-type]  # None only if CM left it out
            status=CallStatus.QUEUED.value,
        )
    return QueuedCall.model_construct(
        call_id=reply.call_id,
        callee=reply.callee,  # type: ignore[arg-type]
        status=InstructionStatus.NOT_PLACED.value,
        error=reply.error or "CM did not queue this call",
    )


def placement_accepted(result: PlacementResult) -> PlacementAccepted:
    """202: every callee in the instruction's order, queued or refused by CM (or, round 2,
    scheduled)."""
    if result.scheduled:
        return scheduled_accepted(result)
    return PlacementAccepted.model_construct(
        instruction_id=result.instruction_id,
        status=InstructionStatus.QUEUED.value,
        calls=[_queued_call(r) for r in result.calls],
    )


def scheduled_accepted(result: PlacementResult) -> PlacementAccepted:
    """202 of a scheduled instruction: each callee `scheduled` (or already `not-placed`:
    its next allowed moment is past `not-after`), none placed yet."""
    return PlacementAccepted(
        instruction_id=result.instruction_id,
        status="scheduled",
        calls=[
            QueuedCall(
                call_id=None,
                callee=entry.callee,
                status="scheduled" if entry.waiting else "not-placed",
                scheduled_for=entry.scheduled_for if entry.waiting else None,
                **({} if entry.waiting else {"error": entry.reason}),
            )
            for entry in result.scheduled
        ],
    )


@dataclass(frozen=True, slots=True)
class PlacementAnswer:
    """The HTTP answer to a placement: a rendered PlacementAccepted (202) or Problem body,
    `Idempotent-Replayed: true` among its headers when it is an earlier request's answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    queued_calls: int = 0  # the calls the 202 lists as queued

    @classmethod
    def of(cls, result: PlacementResult) -> PlacementAnswer:
        replayed = {REPLAYED_HEADER: "true"} if result.replayed else {}
        if result.outcome_unknown is not None:
            problem = outcome_unknown(result.instruction_id, result.outcome_unknown)
            headers = {_CONTENT_TYPE: PROBLEM_JSON, **replayed}
            return cls(problem.status, dump(problem.body()), headers)
        accepted = dump(placement_accepted(result))
        return cls(202, accepted, replayed, queued_calls=len(result.queued))

    @property
    def instruction_id(self) -> str | None:
        return cast("str | None", self.body.get("instruction-id"))

    @property
    def replayed(self) -> bool:
        return REPLAYED_HEADER in self.headers

    def response(self) -> Response[str]:
        headers = {k: v for k, v in self.headers.items() if k != _CONTENT_TYPE}
        return Response(
            status_code=self.status,
            content_type=self.headers.get(_CONTENT_TYPE, JSON),
            body=json.dumps(self.body),
            headers=headers or None,
        )


class IdempotentPlacement:
    """Runs PlaceInstruction at most once per (identity, Idempotency-Key) and answers."""

    def __init__(self, service: PlaceInstruction) -> None:
        self._service = service

    def answer(
        self,
        request: DtmfCallRequest,
        *,
        owner: str,
        idempotency_key: str | None,
        lambda_context: LambdaContext | None,
    ) -> PlacementAnswer:
        """Place the instruction, or answer as the earlier request with this key did. Raises
        what PlaceInstruction.place raises (RequestInProgress, IdempotencyKeyReused,
        InstructionAlreadyExists among them) and InvalidIdempotencyKey."""
        checked_idempotency_key(idempotency_key)
        context = PlacementContext(
            owner=owner,
            idempotency_key=idempotency_key,
            time_budget_seconds=time_budget(lambda_context),
            invocation_seconds=None
            if lambda_context is None
            else lambda_context.get_remaining_time_in_millis() / 1000,
        )
        return PlacementAnswer.of(self._service.place(request, context))
