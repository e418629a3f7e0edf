"""`DeadLetters` on the publisher's SQS dead-letter queue (the stream's on-failure queue too).

The publisher's own messages are JSON objects with ``"kind": "dtmf-gateway/set-aside"`` and
the table key of the call (``instruction-id``, ``call-id``), the stream record's sequence
number and the reason; Lambda's on-failure messages on the same queue carry a
``DDBStreamBatchInfo`` instead. `scripts/republish.py` reads both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from dtmf_gateway.domain.calls import iso, utc_now

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from dtmf_gateway.domain.ports import SetAside

SET_ASIDE_KIND = "dtmf-gateway/set-aside"


def letter_body(letter: SetAside, at: str) -> str:
    return json.dumps(
        {
            "kind": SET_ASIDE_KIND,
            "instruction-id": letter.instruction_id,
            "call-id": letter.call_id,
            "stream-record": letter.record_id,
            "reason": letter.reason[:2000],
            "set-aside-at": at,
        }
    )


class SqsDeadLetters:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue = queue_url

    def set_aside(self, letters: Sequence[SetAside]) -> list[int]:
        """One message per letter (set-aside results are rare; one message each keeps the
        grant to sqs:SendMessage); the indexes of those not sent."""
        at = iso(utc_now())
        unkept: list[int] = []
        for index, letter in enumerate(letters):
            try:
                self._sqs.send_message(QueueUrl=self._queue, MessageBody=letter_body(letter, at))
            except (ClientError, BotoCoreError):
                unkept.append(index)
        return unkept
