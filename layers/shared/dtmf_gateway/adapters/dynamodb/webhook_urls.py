"""`WebhookUrls` on the calls table: an instruction's `webhook-url`, one projected GetItem."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dtmf_gateway.adapters.dynamodb.calls_table import (
    ERASED_AT,
    WEBHOOK_URL_NAMES,
    WEBHOOK_URL_PROJECTION,
    from_item,
    instruction_key,
    webhook_url_of,
)
from dtmf_gateway.domain.webhooks import WebhookTarget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDbWebhookUrls:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        epoch_seconds: Callable[[], float] = time.time,
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._now = epoch_seconds

    def webhook_url(self, instruction_id: str) -> str | None:
        """The instruction's `webhook-url`; None when it has none, is gone or is past its
        retention. A strongly consistent read: the event may follow its write closely."""
        target = self.webhook_target(instruction_id)
        return None if target is None else target.url

    def webhook_target(self, instruction_id: str) -> WebhookTarget | None:
        """The instruction's `webhook-url` and `erased-at` (issue 19), in the same read."""
        found = self._ddb.get_item(
            TableName=self._table,
            Key=instruction_key(instruction_id),
            ProjectionExpression=WEBHOOK_URL_PROJECTION,
            ExpressionAttributeNames=WEBHOOK_URL_NAMES,
            ConsistentRead=True,
        )
        item = found.get("Item")
        if not item:
            return None
        plain = from_item(item)
        url = webhook_url_of(plain, self._now())
        if url is None:
            return None
        erased_at = plain.get(ERASED_AT)
        return WebhookTarget(url, erased_at if isinstance(erased_at, str) else None)
