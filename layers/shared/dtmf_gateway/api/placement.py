"""HTTP side of `POST /v1/dtmf-calls`: idempotency around the use case, errors to problems.

Idempotency (Powertools, DynamoDB persistence): the key is the `Idempotency-Key` header scoped
to the calling identity, the payload hash is the canonical request, records live 24 h.
Same key + same body replays the stored response (`Idempotent-Replayed: true`); same key +
other body is 422; same key while the first request runs is 409.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from dtmf_gateway.domain.calls import PlacementResult
from dtmf_gateway.domain.placement import PlacementContext

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.idempotency import IdempotentHookFunction
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from dtmf_gateway.domain.placement import PlaceCalls
    from dtmf_gateway.domain.request import DtmfCallRequest

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces
REPLAYED_HEADER = "Idempotent-Replayed"


class InvalidIdempotencyKey(ValueError):
    pass


def _mark_replayed(response: Any, _record: DataRecord) -> Any:
    if isinstance(response, dict):
        headers = {**response.get("headers", {}), REPLAYED_HEADER: "true"}
        return {**response, "headers": headers}
    return response


class IdempotentPlacement:
    """Runs PlaceCalls at most once per (identity, Idempotency-Key)."""

    def __init__(self, service: PlaceCalls, persistence: DynamoDBPersistenceLayer) -> None:
        self._service = service
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

    def _place_once(self, attempt: dict[str, Any], request: DtmfCallRequest) -> dict[str, Any]:
        context = PlacementContext(owner=attempt["owner"], idempotency_key=attempt["key"])
        return asdict(self._service.place(request, context))

    def place(
        self,
        request: DtmfCallRequest,
        *,
        owner: str,
        idempotency_key: str | None,
        lambda_context: LambdaContext | None,
    ) -> PlacementResult:
        if idempotency_key is None:
            return self._service.place(request, PlacementContext(owner=owner))
        if not IDEMPOTENCY_KEY_PATTERN.fullmatch(idempotency_key):
            raise InvalidIdempotencyKey(
                "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
            )
        if lambda_context is not None:
            self._config.register_lambda_context(lambda_context)
        scope = hashlib.sha256(f"{owner}\n{idempotency_key}".encode()).hexdigest()
        stored = self._once(
            attempt={
                "scope": scope,
                "owner": owner,
                "key": idempotency_key,
                "body": request.canonical_json(),
            },
            request=request,
        )
        return PlacementResult(
            http_status=int(stored["http_status"]),
            body=stored["body"],
            headers=dict(stored.get("headers") or {}),
        )
