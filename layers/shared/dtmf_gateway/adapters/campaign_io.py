"""The campaign's outside world besides its table: S3 (callee lists, errors, results), SQS
(validation requests, queued rows), EventBridge (campaign events).

`S3CampaignFiles` implements `CampaignFiles`, `SqsRowQueue` `RowQueue`,
`EventBridgeCampaignEvents` `CampaignEvents` (`domain.campaign_ports`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from dtmf_gateway.domain.campaign_events import (
    CALL_NOT_PLACED,
    CAMPAIGN_FINISHED,
    EVENT_SOURCE,
)

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

#: SQS takes at most 10 messages per SendMessageBatch.
_SQS_BATCH = 10
_SEND_ATTEMPTS = 5


class S3CampaignFiles:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_lines(self, key: str, lines: Iterable[str]) -> str:
        body = "".join(f"{line}\n" for line in lines).encode()
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/jsonl"
        )
        return f"s3://{self._bucket}/{key}"

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def lines(self, bucket: str, key: str) -> Iterator[str]:
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise LookupError(key) from None
            raise
        for raw in body.iter_lines():
            yield raw.decode("utf-8-sig", errors="replace")


class SqsValidationRequests:
    """`ValidationRequests` on the control queue (one message per campaign to validate)."""

    def __init__(self, client: SQSClient, control_url: str) -> None:
        self._sqs = client
        self._control = control_url

    def start_validation(self, campaign_id: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._control, MessageBody=json.dumps({"campaign-id": campaign_id})
        )


class SqsRowQueue:
    """`RowQueue` on the rows queue (its consumer's maximum concurrency is the stack's
    placement concurrency)."""

    def __init__(self, client: SQSClient, rows_url: str) -> None:
        self._sqs = client
        self._rows = rows_url

    def send_rows(self, messages: Iterable[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for message in messages:
            batch.append(message)
            if len(batch) == _SQS_BATCH:
                self._send_batch(batch)
                batch = []
        if batch:
            self._send_batch(batch)

    def _send_batch(self, batch: list[dict[str, Any]]) -> None:
        entries = {str(i): json.dumps(m, ensure_ascii=False) for i, m in enumerate(batch)}
        for _ in range(_SEND_ATTEMPTS):
            reply = self._sqs.send_message_batch(
                QueueUrl=self._rows,
                Entries=[{"Id": i, "MessageBody": body} for i, body in entries.items()],
            )
            entries = {f["Id"]: entries[f["Id"]] for f in reply.get("Failed", [])}
            if not entries:
                return
        raise RuntimeError(f"SQS refused {len(entries)} row message(s)")

    def defer(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        self._sqs.send_message(
            QueueUrl=self._rows,
            MessageBody=json.dumps(message, ensure_ascii=False),
            DelaySeconds=max(0, min(900, delay_seconds)),
        )


#: First retry of a failed campaign message, doubled per receive (30, 60, 120, 240 s ...).
RETRY_BASE_SECONDS = 30
#: At most this long (SQS allows up to 12 hours; a row should not wait longer than this).
RETRY_MAX_SECONDS = 900


def retry_delay_seconds(receive_count: int) -> int:
    """Seconds before a failed message's next receive: ``RETRY_BASE_SECONDS`` doubled per
    receive so far (``receive_count`` ≥ 1, SQS's ``ApproximateReceiveCount``), at most
    ``RETRY_MAX_SECONDS``."""
    doublings = max(0, min(receive_count, 16) - 1)
    return int(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**doublings))


class SqsRetryBackoff:
    """A failed campaign message comes back after a short, growing delay instead of the
    queues' visibility timeout (90 minutes: 6 x the worker's 900 s timeout, AWS's advice for
    an SQS event source, which only a crashed invocation now waits out). SQS counts the
    receive as usual, so the queues' redrive to the DLQ is unchanged."""

    def __init__(self, client: SQSClient, queue_urls: Iterable[str]) -> None:
        self._sqs = client
        self._urls = {url.rsplit("/", 1)[-1]: url for url in queue_urls}

    def retry_soon(self, record: Mapping[str, Any]) -> int | None:
        """Shorten the visibility of the SQS event ``record`` (its ``eventSourceARN``,
        ``receiptHandle`` and ``attributes.ApproximateReceiveCount``); the delay in seconds,
        None for a queue this worker does not know. Raises botocore's errors."""
        url = self._urls.get(str(record.get("eventSourceARN", "")).rsplit(":", 1)[-1])
        if url is None:
            return None
        count = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        delay = retry_delay_seconds(count)
        self._sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=str(record["receiptHandle"]), VisibilityTimeout=delay
        )
        return delay


class EventBridgeCampaignEvents:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def _put(self, detail_type: str, detail: Mapping[str, Any], resource: str) -> None:
        reply = self._events.put_events(
            Entries=[
                {
                    "EventBusName": self._bus,
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
                    "Resources": [resource],
                }
            ]
        )
        if reply.get("FailedEntryCount"):
            code = reply["Entries"][0].get("ErrorCode", "unknown")
            raise RuntimeError(f"EventBridge refused {detail_type}: {code}")

    def finished(self, detail: Mapping[str, Any]) -> None:
        self._put(CAMPAIGN_FINISHED, detail, f"urn:dtmf-gateway:campaign:{detail['campaign-id']}")

    def not_placed(self, detail: Mapping[str, Any]) -> None:
        self._put(
            CALL_NOT_PLACED, detail, f"urn:dtmf-gateway:not-placed:{detail['instruction-id']}"
        )
