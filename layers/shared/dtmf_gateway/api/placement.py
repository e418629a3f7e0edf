"""HTTP side of `POST /v1/dtmf-calls`: idempotency around the use case, errors to problems.

Idempotency (Powertools, DynamoDB persistence): the key is the `Idempotency-Key` header scoped
to the calling identity, the payload hash is the canonical request, records live 24 h.
Same key + same body replays the stored response (`Idempotent-Replayed: true`); same key +
other body is 422 — also after a crash left no stored response: the use case binds the key
to the body before CM is called (`PlaceInstruction`); same key while the first request runs
is 409. Without an `instruction-id`
the key also fixes the instruction id (`derived_instruction_id`), so a retry after a crash
that left no stored response meets the reservation (409 `instruction-id-in-use`, Location)
instead of placing again.

CM gets the invocation's remaining time minus RECORDING_RESERVE_SECONDS (capped by the CM
client's configured total): the time left after CM is enough to record the outcome and store
the idempotent response before Lambda stops the function.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from dtmf_gateway.api.catalogues import outcome_unknown
from dtmf_gateway.api.models import JSON, PROBLEM_JSON, dump
from dtmf_gateway.api.problems import InvalidIdempotencyKey
from dtmf_gateway.api.views import placement_accepted
from dtmf_gateway.domain.digits_protection import DigitKeys, canonical_body
from dtmf_gateway.domain.placement import IDEMPOTENCY_TTL, PlacementContext

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.idempotency import IdempotentHookFunction
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dtmf_gateway.domain.placement import PlaceInstruction, PlacementResult
    from dtmf_gateway.domain.ports import DigitKeySource
    from dtmf_gateway.domain.request import DtmfCallRequest

IDEMPOTENCY_TTL_SECONDS = int(IDEMPOTENCY_TTL.total_seconds())
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
REPLAYED_HEADER = "Idempotent-Replayed"
_CONTENT_TYPE = "Content-Type"
#: Seconds kept back from the CM call to record its outcome and store the response.
RECORDING_RESERVE_SECONDS = 2.0


def time_budget(lambda_context: LambdaContext | None) -> float | None:
    """Seconds CM may take in this invocation (None outside Lambda: the client's own limit)."""
    if lambda_context is None:
        return None
    remaining = lambda_context.get_remaining_time_in_millis() / 1000
    return max(0.0, remaining - RECORDING_RESERVE_SECONDS)


@dataclass(frozen=True, slots=True)
class PlacementAnswer:
    """The HTTP answer to a placement: a rendered PlacementAccepted (202) or Problem body.

    `stored()` is what the idempotency layer keeps and `from_stored` what it replays, in the
    record format of round 1 (``http_status``, ``body``, ``headers`` with the problem's
    Content-Type), so records written before a deployment still replay after it.
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    queued_calls: int = 0  # the calls the 202 lists as queued

    @classmethod
    def of(cls, result: PlacementResult) -> PlacementAnswer:
        if result.outcome_unknown is not None:
            problem = outcome_unknown(result.instruction_id, result.outcome_unknown)
            return cls(problem.status, dump(problem.body()), {_CONTENT_TYPE: PROBLEM_JSON})
        return cls(202, dump(placement_accepted(result)), queued_calls=len(result.queued))

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> PlacementAnswer:
        body = stored["body"]
        queued = sum(1 for call in body.get("calls", []) if call["status"] == "queued")
        return cls(int(stored["http_status"]), body, dict(stored.get("headers") or {}), queued)

    def stored(self) -> dict[str, Any]:
        return {"http_status": self.status, "body": self.body, "headers": self.headers}

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


def _mark_replayed(response: Any, _record: DataRecord) -> Any:
    if isinstance(response, dict):
        headers = {**response.get("headers", {}), REPLAYED_HEADER: "true"}
        return {**response, "headers": headers}
    return response


@dataclass(frozen=True, slots=True)
class _FixedKeys:
    keys: DigitKeys

    def digit_keys(self) -> DigitKeys:
        return self.keys


def _previous_keys(
    request: DtmfCallRequest, source: DigitKeySource | None
) -> DigitKeySource | None:
    """The digits keys with `previous` as the current one, when the request's idempotency
    payload depends on them (expected-digits) and a rotation left a previous key."""
    if request.expected_digits is None or source is None:
        return None
    previous = source.digit_keys().previous
    return None if previous is None else _FixedKeys(DigitKeys(previous))


class IdempotentPlacement:
    """Runs PlaceInstruction at most once per (identity, Idempotency-Key) and answers."""

    def __init__(
        self,
        service: PlaceInstruction,
        persistence: DynamoDBPersistenceLayer,
        digit_keys: DigitKeySource | None = None,
    ) -> None:
        self._service = service
        self._digit_keys = digit_keys  # issue 19: expected-digits hashed with a key, not bare
        self._config = IdempotencyConfig(
            event_key_jmespath="scope",
            payload_validation_jmespath="body",
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
            raise_on_no_idempotency_key=True,
            response_hook=cast("IdempotentHookFunction", _mark_replayed),
        )
        self._once: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="attempt",
            config=self._config,
            persistence_store=persistence,
        )(self._place_once)

    def _place_once(
        self, attempt: dict[str, Any], request: DtmfCallRequest, budget: float | None
    ) -> dict[str, Any]:
        context = PlacementContext(
            owner=attempt["owner"], idempotency_key=attempt["key"], time_budget_seconds=budget
        )
        return PlacementAnswer.of(self._service.place(request, context)).stored()

    def answer(
        self,
        request: DtmfCallRequest,
        *,
        owner: str,
        idempotency_key: str | None,
        lambda_context: LambdaContext | None,
    ) -> PlacementAnswer:
        """Place the instruction, or replay the answer stored under the key. Raises what
        PlaceInstruction.place raises, InvalidIdempotencyKey, and Powertools'
        IdempotencyValidationError / IdempotencyAlreadyInProgressError."""
        budget = time_budget(lambda_context)
        if idempotency_key is None:
            context = PlacementContext(owner=owner, time_budget_seconds=budget)
            return PlacementAnswer.of(self._service.place(request, context))
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
            )
        if lambda_context is not None:
            self._config.register_lambda_context(lambda_context)
        scope = hashlib.sha256(f"{owner}\n{idempotency_key}".encode()).hexdigest()
        attempt = {"scope": scope, "owner": owner, "key": idempotency_key}
        try:
            stored = self._once(
                attempt={**attempt, "body": canonical_body(request, self._digit_keys)},
                request=request,
                budget=budget,
            )
        except IdempotencyValidationError:
            # Issue 19: the first attempt may have hashed its expected-digits under the key
            # that is `previous` since a rotation: the same body, recognised under either key.
            before = _previous_keys(request, self._digit_keys)
            if before is None:
                raise
            stored = self._once(
                attempt={**attempt, "body": canonical_body(request, before)},
                request=request,
                budget=budget,
            )
        return PlacementAnswer.from_stored(stored)
