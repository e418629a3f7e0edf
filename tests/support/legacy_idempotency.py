"""Powertools idempotency records as place-call wrote them until issue 15.

Since issue 15 the instruction is the Idempotency-Key's record and place-call writes nothing
to the idempotency table; records written before the deployment live on for their 24 h, and
erasure (DELETE …/personal-data, scripts/erase_number.py) still scrubs them. Tests of that
path seed such a record with Powertools itself, under the function's old qualified name.
"""

from __future__ import annotations

import hashlib
from typing import Any

from dtmf_gateway.adapters.dynamodb.erasure_store import PLACEMENT_FUNCTION


def legacy_placement_record(aws: Any, owner: str, key: str, answer: dict[str, Any]) -> None:
    """Store `answer` ({"http_status", "body", "headers"}) for (owner, key) the way
    `IdempotentPlacement._place_once` did under Powertools (function name from the
    environment, AWS_LAMBDA_FUNCTION_NAME)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(
        table_name=aws.idempotency_table_name, boto3_client=aws.dynamodb
    )
    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        expires_after_seconds=24 * 3600,
        raise_on_no_idempotency_key=True,
    )

    def place_once(attempt: dict[str, Any]) -> dict[str, Any]:
        return answer

    module, _, qualname = PLACEMENT_FUNCTION.rpartition(".IdempotentPlacement.")
    place_once.__module__ = module
    place_once.__qualname__ = f"IdempotentPlacement.{qualname}"
    scope = hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()
    idempotent_function(
        data_keyword_argument="attempt", config=config, persistence_store=persistence
    )(place_once)(attempt={"scope": scope, "owner": owner, "key": key, "body": "{}"})
