#!/usr/bin/env python3
"""Re-publish stored results as `DTMF Result` events: idempotent, dry-run unless --apply.

Every event is built from the calls table exactly as the publisher builds it, with the same
`resources` id (`urn:dtmf-gateway:result:{instruction-id}:{call-id}`, `:revision:<n>` added for
a correction: `adapters.eventbridge.result_urn`) and the same detail, so
consumers that deduplicate on it see a repeat, never a second result. Calls past their
retention are skipped (they are gone).

    # what the publisher's dead-letter queue holds, and what would be published
    scripts/republish.py --stack dtmf-gateway-prod dlq
    # publish them, and delete each message once its results are on the bus
    scripts/republish.py --stack dtmf-gateway-prod dlq --apply
    # every call that ended in a time range (ISO-8601 UTC, `finished-at`), e.g. after an outage
    scripts/republish.py --stack dtmf-gateway-prod range \\
        --since 2026-11-29T05:00:00Z --until 2026-11-29T06:00:00Z --apply

The dead-letter queue holds two kinds of message: the publisher's own (a result it could not
publish as it was, with its table key and reason) and Lambda's on-failure records of the
stream (stream positions only: their records are read back from the stream, or after its 24
hours matched by the time of their arrival, ±5 minutes; see docs/operations.md for what is
kept and reported). A stored callee that is not E.164 (written before the gateway normalised CM's
echo) is repaired from the instruction's own callees; anything else that still makes no
valid event is reported and its message kept. A call whose instruction's personal data was
erased is published without it, as the publisher publishes it (issue 19: the instruction's
`erased-at` is read first, strongly consistent). Needs dynamodb:GetItem/BatchGetItem/Scan on
the table, dynamodb:GetShardIterator/GetRecords on its stream,
events:PutEvents on the bus, sqs:ReceiveMessage/DeleteMessage/ChangeMessageVisibility on
the queue (and
cloudformation:DescribeStacks with --stack). AWS_ENDPOINT_URL points it at the local stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "shared"))

import boto3  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from dtmf_gateway.adapters.dead_letters import SET_ASIDE_KIND  # noqa: E402
from dtmf_gateway.adapters.dynamodb.calls_table import (  # noqa: E402
    CALL_RECORD,
    FINISHED_AT,
    RECORD_TYPE,
    STATUS,
    call_from_item,
    call_key,
    from_item,
    ids_of_call_key,
    instruction_from_item,
    instruction_key,
    is_call_sk,
    is_key_claim,
)
from dtmf_gateway.adapters.dynamodb.correction_store import scan_calls  # noqa: E402
from dtmf_gateway.adapters.dynamodb.erasure_marks import DynamoDbErasureMarks  # noqa: E402
from dtmf_gateway.adapters.dynamodb.stream import (  # noqa: E402
    UndecodableStreamRecord,
    change_of,
    reaches_publisher,
)
from dtmf_gateway.adapters.eventbridge import EventBridgeResultPublisher, result_urn  # noqa: E402
from dtmf_gateway.domain.callees import matching_callee  # noqa: E402
from dtmf_gateway.domain.calls import CallStatus, iso, utc_now  # noqa: E402
from dtmf_gateway.domain.erased_results import as_published, erasure_marks_of  # noqa: E402
from dtmf_gateway.domain.events import DtmfResultDetail, detail_from_call  # noqa: E402
from dtmf_gateway.domain.not_placed import newly_unplaced  # noqa: E402
from dtmf_gateway.domain.publishing import NOT_PLACED_LETTER_CALL_ID  # noqa: E402
from dtmf_gateway.domain.stored import StoredCall  # noqa: E402

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodbstreams.client import DynamoDBStreamsClient
    from mypy_boto3_sqs.client import SQSClient

STREAM_MARGIN = timedelta(minutes=5)  # stream arrival vs. the call's finished-at
HIDDEN_SECONDS = 300  # how long a run keeps the messages it read from other readers
MAX_MESSAGES = 100  # messages a run reads at most (--max-messages): read within HIDDEN_SECONDS
STREAM_PAGES = 20  # GetRecords pages read at most for one on-failure record's batch
NO_STREAM_CLIENT = "no stream client"
LAST_NOT_REACHED = "the batch's last record was not reached"
# Why a stream read failed, when matching by time is the way left (DynamoDB Streams API
# reference, GetShardIterator/GetRecords errors): the records are past the stream's 24 hours,
# the stream is gone, this run may not read it, or the record names no valid stream position
# (the service's ValidationException, botocore's ParamValidationError, fields missing, not
# numbers, or backwards). A stream read that did not reach the batch's last record (STREAM_PAGES
# pages, or a closed shard's end) keeps the message: the stream was readable, and matching by
# time could take a busy window for the batch. Any other error passes
# (throttled by the shard's read limit, which Lambda's own reader shares; an iterator past its
# 15 minutes; a server error; no connection): the message is kept for the next run, never
# matched by time.
UNREADABLE_STREAM = frozenset(
    {
        "TrimmedDataAccessException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "ParamValidationError",
        "KeyError",
        "TypeError",
        "ValueError",
        NO_STREAM_CLIENT,
    }
)


@dataclass
class Plan:
    """What a run found: events to publish, calls skipped and why, messages to delete."""

    details: dict[str, DtmfResultDetail] = field(default_factory=dict)  # by resources id
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # messages whose results are all in the plan: id -> newest receipt handle (deleted once
    # their own events reached the bus), and the resources ids each stands for
    messages: dict[str, str] = field(default_factory=dict)
    covers: dict[str, set[str]] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)  # resources ids planned, in order
    # every message read: its id -> its newest receipt handle
    seen: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)  # receipt handles deleted
    more: bool = False  # the run stopped at its --max-messages: more may be on the queue


class Table:
    def __init__(
        self, client: DynamoDBClient, name: str, streams: DynamoDBStreamsClient | None = None
    ) -> None:
        self._ddb = client
        self._name = name
        self.streams = streams  # reads an on-failure record's batch back from the stream
        # issue 19: the publisher's own read of the instructions' erasure marks
        self.erasures = DynamoDbErasureMarks(client, name)

    def call(self, instruction_id: str, call_id: str) -> StoredCall | None:
        item = self._ddb.get_item(
            TableName=self._name, Key=call_key(instruction_id, call_id), ConsistentRead=True
        ).get("Item")
        return call_from_item(from_item(item)) if item else None

    def callees(self, instruction_id: str) -> tuple[str, ...]:
        item = from_item(
            self._ddb.get_item(
                TableName=self._name, Key=instruction_key(instruction_id), ConsistentRead=True
            ).get("Item")
            or {}
        )
        if not item or is_key_claim(item):  # a key claim at the slot is no instruction
            return ()
        # an erased callee is None: nothing to match
        return tuple(c for c in instruction_from_item(item).callees if c is not None)

    def ended_between(self, since: str, until: str) -> Iterator[StoredCall]:
        """Calls that ended with `since` <= finished-at <= `until` (ISO strings compare in
        time order). A scan: an operator's tool, paid per table size."""
        return scan_calls(
            self._ddb,
            self._name,
            "#rt = :call AND #fin BETWEEN :since AND :until AND #status IN (:finished, :expired)",
            {"#rt": RECORD_TYPE, "#fin": FINISHED_AT, "#status": STATUS},
            {
                ":call": CALL_RECORD,
                ":since": since,
                ":until": until,
                ":finished": CallStatus.FINISHED.value,
                ":expired": CallStatus.EXPIRED.value,
            },
        )


def _repaired(call: StoredCall, table: Table) -> StoredCall:
    """The call with its callee in the instruction's own E.164 form, when it can be told."""
    own = matching_callee(table.callees(call.instruction_id), call.callee)
    return replace(call, callee=own) if own else call


def plan_call(plan: Plan, call: StoredCall | None, table: Table, now: datetime) -> bool:
    """Add the call's event to the plan; False when it cannot be published (reported)."""
    if call is None:
        plan.skipped.append("not stored (deleted or never written)")
        return True
    name = f"{call.instruction_id}/{call.call_id}"
    if not call.ended:
        plan.skipped.append(f"{name}: not ended")
        return True
    if call.hold is not None:  # held (awaiting its placement) or set aside: never published
        plan.skipped.append(f"{name}: {call.hold}, not published")
        return True
    if call.gone(now):
        plan.skipped.append(f"{name}: past retention")
        return True
    # issue 19: a call item may still hold the numbers and digits after its instruction was
    # erased (domain.erased_results); published as the publisher publishes it, without them
    call = as_published(call, erasure_marks_of([call], table.erasures))
    try:
        detail = detail_from_call(call)
    except ValidationError:
        try:
            detail = detail_from_call(_repaired(call, table))
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
            plan.problems.append(f"{name}: no valid event ({fields})")
            return False
    urn = result_urn(detail)
    plan.details[urn] = detail
    plan.added.append(urn)
    return True


def plan_range(table: Table, since: str, until: str, now: datetime, plan: Plan) -> int:
    """Add every call that ended in [since, until] to the plan: how many there were."""
    found = 0
    for call in table.ended_between(since, until):
        plan_call(plan, call, table, now)
        found += 1
    return found


def _arrival(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def moment(text: str) -> str:
    """An ISO-8601 argument as the table's UTC timestamp text (no offset given: UTC)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time such as 2026-11-29T05:00:00Z"
        ) from None
    return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def plan_dead_letters(
    sqs: SQSClient,
    queue_url: str,
    table: Table,
    now: datetime,
    plan: Plan,
    *,
    limit: int = MAX_MESSAGES,
) -> Plan:
    """Up to ``limit`` messages of the queue into ``plan``, each planned once per run.

    A message read is hidden for HIDDEN_SECONDS (`plan.seen` holds it as it is read, so a
    run that stops half-way can still show it again). A run reads at most ``limit``: the
    hiding time must outlast the run's reading (each on-failure record costs stream and
    table reads, a trimmed one a table scan), else the first messages come back before the
    last are read and the run reads the queue round and round. A message that comes back
    all the same (SQS's at-least-once receive, or a slow run) is not planned again: its
    newest receipt handle replaces the old, as DeleteMessage needs the newest; a receive of
    nothing but such messages ends the reading. `plan.more` says the run stopped before the
    queue was empty: run again. The last, empty receive long-polls (1 s), so every SQS server was
    asked before the run ends."""
    handles = plan.seen
    while len(handles) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, limit - len(handles)),
            VisibilityTimeout=HIDDEN_SECONDS,
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not messages:
            return plan
        if all(m.get("MessageId") and str(m["MessageId"]) in handles for m in messages):
            # only messages read before: the hiding time ran out before the run read on to
            # the rest; reading further would go round the same ones
            plan.more = True
        for message in messages:
            handle = message["ReceiptHandle"]
            # SQS always names a message; one that does not is taken as its own (never as
            # another nameless one received again)
            message_id = str(message.get("MessageId") or f"receipt {handle}")
            if message_id in handles:  # read before in this run: the newest handle counts
                if message_id in plan.messages:
                    plan.messages[message_id] = handle
            else:
                start = len(plan.added)
                if plan_message(plan, message, table, now):
                    plan.messages[message_id] = handle
                plan.covers[message_id] = set(plan.added[start:])
            handles[message_id] = handle
        if plan.more:
            return plan
    plan.more = True
    return plan


def plan_message(plan: Plan, message: Any, table: Table, now: datetime) -> bool:
    """Add one DLQ message's results to the plan. True when they are all in it (the message
    may be deleted once they reached the bus); False when it is reported (`plan.problems`)
    and must be kept."""
    name = f"message {message.get('MessageId')}"
    try:
        body = json.loads(message.get("Body") or "")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        plan.problems.append(f"{name}: not understood (not a JSON object), kept")
        return False
    if body.get("kind") == SET_ASIDE_KIND:
        instruction_id, call_id = body.get("instruction-id"), body.get("call-id")
        if not (isinstance(instruction_id, str) and isinstance(call_id, str)):
            plan.problems.append(f"{name}: a set-aside letter without its table key, kept")
            return False
        if call_id == NOT_PLACED_LETTER_CALL_ID:
            plan.problems.append(
                f"{name}: a DTMF Call Not Placed event of {instruction_id} that could not be "
                f"published ({body.get('reason')}); this tool re-publishes DTMF Result events "
                "only: kept (see docs/operations.md)"
            )
            return False
        return plan_call(plan, table.call(instruction_id, call_id), table, now)
    info = body.get("DDBStreamBatchInfo")
    if isinstance(info, dict):
        return _plan_stream_batch(plan, name, info, table, now)
    plan.problems.append(f"{name}: not understood, kept")
    return False


def _plan_stream_batch(
    plan: Plan, name: str, info: dict[str, Any], table: Table, now: datetime
) -> bool:
    """Lambda's on-failure record of a stream batch. Its records are read back from the
    stream (shard and sequence numbers, within the stream's 24 hours): of the records in
    that range, those the publisher's filter lets through (`reaches_publisher`: the others
    were never the batch's) are planned — each call as it is stored now; an instruction's
    change that made a `DTMF Call Not Placed` is reported and the message kept. A read that
    fails for a passing reason (throttled, an expired iterator, a server error), or does not
    reach the batch's last record, keeps the message. When the stream cannot be read
    (trimmed, gone, no access, a malformed stream position),
    the calls that ended in the time of its arrival ±STREAM_MARGIN stand in, and the
    message is kept unless that finds at least as many calls as the batch had records: a
    correction keeps the `finished-at` of the call it corrects (scripts/rederive.py), so it
    is not found by time."""
    records, why = _stream_records(table.streams, info)
    if records is not None:
        return _plan_batch_records(plan, name, records, table, now)
    if why == LAST_NOT_REACHED:
        plan.problems.append(
            f"{name}: {why} in {STREAM_PAGES} pages of the stream. {_by_hand(info)}"
        )
        return False
    if why not in UNREADABLE_STREAM:
        plan.problems.append(
            f"{name}: its batch could not be read from the stream now ({why}); kept: run "
            "again (see docs/operations.md)"
        )
        return False
    try:
        since = iso(_arrival(info["approximateArrivalOfFirstRecord"]) - STREAM_MARGIN)
        until = iso(_arrival(info["approximateArrivalOfLastRecord"]) + STREAM_MARGIN)
    except (KeyError, TypeError, ValueError, AttributeError):
        plan.problems.append(f"{name}: an on-failure record without its times ({why}), kept")
        return False
    plan.skipped.append(f"{name}: the stream was not read ({why}); matched by time")
    problems = len(plan.problems)
    found = plan_range(table, since, until, now, plan)
    size = info.get("batchSize")
    valid = isinstance(size, int) and not isinstance(size, bool) and size >= 1
    if not valid or found < size:
        had = f"had {size} record(s)" if valid else f"gives no batchSize ({size!r})"
        plan.problems.append(
            f"{name}: its stream batch {had}, {found} call(s) ended between {since} and "
            f"{until}: a correction or a not-placed event is not found by time. {_by_hand(info)}"
        )
        return False
    return len(plan.problems) == problems


def _by_hand(info: dict[str, Any]) -> str:
    """What an operator does with an on-failure record the tool keeps unread."""
    return (
        f"Kept: read shard {info.get('shardId')}, sequence numbers "
        f"{info.get('startSequenceNumber')} to {info.get('endSequenceNumber')}, from the "
        "stream and re-publish their calls (see docs/operations.md)"
    )


def _plan_batch_records(
    plan: Plan, name: str, records: list[dict[str, Any]], table: Table, now: datetime
) -> bool:
    """Plan the records of a batch's range that reached the publisher; False when one of
    them is reported (never with a key that is not a call's or an instruction's: a counter's
    holds a phone number)."""
    problems = len(plan.problems)
    for record in records:
        if not reaches_publisher(record):
            continue  # filtered out by the event source mapping: never the batch's
        try:
            keys = record["dynamodb"]["Keys"]
            call_ids = ids_of_call_key(keys) if is_call_sk(str(keys["sk"]["S"])) else None
        except (KeyError, TypeError, AttributeError):
            plan.problems.append(
                f"{name}: its batch holds a stream record without a table key of the calls "
                f"table (sequence number {record['dynamodb'].get('SequenceNumber')}): kept"
            )
            continue
        if call_ids is not None:
            plan_call(plan, table.call(*call_ids), table, now)
            continue
        try:
            change = change_of(record)
        except UndecodableStreamRecord:
            change = None
        instruction = change.new_instruction if change else None
        if instruction is None:
            plan.problems.append(
                f"{name}: its batch holds a record that is neither a call's nor a scheduled "
                f"instruction's (sequence number {record['dynamodb'].get('SequenceNumber')}): "
                "kept"
            )
        elif newly_unplaced(change.old_instruction if change else None, instruction):
            plan.problems.append(
                f"{name}: its batch holds a DTMF Call Not Placed of {instruction.instruction_id}"
                "; this tool re-publishes DTMF Result events only: kept (see "
                "docs/operations.md)"
            )
    return len(plan.problems) == problems


def _stream_records(
    streams: DynamoDBStreamsClient | None, info: dict[str, Any]
) -> tuple[list[dict[str, Any]] | None, str]:
    """The stream records from the batch's first sequence number to its last, in order
    (None when they cannot all be read, and why: an error code, or a sentence)."""
    if streams is None:
        return None, NO_STREAM_CLIENT
    try:
        records = _read_batch(streams, info)
    except ClientError as error:
        return None, error.response.get("Error", {}).get("Code", "error")
    except (BotoCoreError, KeyError, TypeError, ValueError) as error:
        return None, type(error).__name__
    if records is None:
        return None, LAST_NOT_REACHED
    return records, ""


def _read_batch(
    streams: DynamoDBStreamsClient, info: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """GetShardIterator at the batch's first sequence number, then GetRecords (at most
    STREAM_PAGES pages) up to its last; None when the pages, or a closed shard, ran out
    before it. Sequence numbers are compared as numbers (their digit counts differ).

    Raises ValueError for a record whose first sequence number is after its last, and what
    the client raises."""
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    if first > last:
        raise ValueError("the batch's first sequence number is after its last")
    iterator: str | None = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=str(info["startSequenceNumber"]),
    )["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(STREAM_PAGES):
        if iterator is None:
            return None  # a closed shard's end, and the batch's last record not on it
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page.get("Records", []):
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > last:
                return records
            if sequence >= first:
                records.append(dict(record))
            if sequence == last:  # the batch's last record: often the shard's newest too
                return records
        iterator = page.get("NextShardIterator")
    return None


def apply(
    plan: Plan, publisher: EventBridgeResultPublisher, sqs: SQSClient | None, queue_url: str
) -> list[str]:
    """Publish the plan's events; delete each message whose own events all got through (a
    message standing for an event the bus did not take is kept, the others are not held
    by it). The failures, as text."""
    details = list(plan.details.values())
    failed = publisher.publish(details)
    unpublished = {result_urn(details[f.index]) for f in failed}
    if sqs is not None:
        for message_id, handle in plan.messages.items():
            if plan.covers.get(message_id, set()) & unpublished:
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
            plan.deleted.append(handle)
    return [f"{details[f.index].call_id}: {f.reason}" for f in failed]


def show_again(sqs: SQSClient, queue_url: str, handles: list[str]) -> None:
    """Make the messages a run read and did not delete visible again at once (else they
    stay hidden for HIDDEN_SECONDS: the next run, or the console, would see an empty
    queue). A handle SQS no longer takes (the message deleted by another reader) is
    said on stderr; the others are still shown again."""
    for handle in handles:
        try:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            print(f"note: a message read could not be shown again ({code})", file=sys.stderr)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _stack_outputs(stack: str) -> dict[str, str]:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stack", help="read the names below from this stack's outputs")
    parser.add_argument("--table", help="the calls table (output TableName)")
    parser.add_argument("--bus", help="the result bus (output EventBusName)")
    parser.add_argument("--queue-url", help="the publisher's DLQ (output PublishResultsDLQUrl)")
    parser.add_argument("--apply", action="store_true", help="publish (default: dry run)")
    # `--apply` also after the source (`dlq --apply`), as operators type it mid-incident; the
    # suppressed default keeps a `--apply` given before the source
    applying = argparse.ArgumentParser(add_help=False)
    applying.add_argument(
        "--apply", action="store_true", default=argparse.SUPPRESS, help="publish (default: dry run)"
    )
    sub = parser.add_subparsers(dest="source", required=True)
    dlq = sub.add_parser(
        "dlq", parents=[applying], help="the messages on the publisher's dead-letter queue"
    )
    dlq.add_argument(
        "--max-messages",
        type=_positive,
        default=MAX_MESSAGES,
        help=f"read at most this many messages in one run (default {MAX_MESSAGES}); run "
        f"again for more. Each is hidden from other readers for {HIDDEN_SECONDS} s while "
        "the run reads on: more than a run reads in that time come back and are read again",
    )
    span = sub.add_parser("range", parents=[applying], help="every call that ended in a time range")
    span.add_argument(
        "--since", required=True, type=moment, help="ISO-8601 UTC, e.g. 2026-11-29T05:00:00Z"
    )
    span.add_argument("--until", required=True, type=moment, help="ISO-8601 UTC")
    args = parser.parse_args(argv)
    if args.source == "range" and args.since > args.until:
        parser.error(f"--since {args.since} is after --until {args.until}")
    try:
        return _republish(args, parser)
    except (BotoCoreError, ClientError) as error:  # a wrong name, no credentials, no access
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def _republish(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = _stack_outputs(args.stack) if args.stack else {}
    table_name = args.table or out.get("TableName")
    bus = args.bus or out.get("EventBusName")
    queue_url = args.queue_url or out.get("PublishResultsDLQUrl") or ""
    if not table_name or not bus or (args.source == "dlq" and not queue_url):
        parser.error("give --stack, or --table, --bus (and --queue-url for dlq)")
    if args.source != "dlq":
        table = Table(boto3.client("dynamodb"), table_name)
        plan = Plan()
        plan_range(table, args.since, args.until, utc_now(), plan)
        return _report_and_apply(args, plan, bus, None, "")
    table = Table(boto3.client("dynamodb"), table_name, boto3.client("dynamodbstreams"))
    sqs = boto3.client("sqs")
    plan = Plan()
    try:
        plan_dead_letters(sqs, queue_url, table, utc_now(), plan, limit=args.max_messages)
        return _report_and_apply(args, plan, bus, sqs, queue_url)
    finally:  # whatever happened, nothing the run read and did not delete stays hidden
        show_again(sqs, queue_url, [h for h in plan.seen.values() if h not in set(plan.deleted)])


def _report_and_apply(
    args: argparse.Namespace, plan: Plan, bus: str, sqs: SQSClient | None, queue_url: str
) -> int:
    for line in plan.skipped:
        print(f"skip     {line}")
    for line in plan.problems:
        print(f"PROBLEM  {line}")
    for urn in plan.details:
        print(f"{'publish ' if args.apply else 'would    '} {urn}")
    if plan.more:
        print(
            f"more     this run stopped after {len(plan.seen)} message(s) (at most "
            f"{args.max_messages}, --max-messages; messages read come back after "
            f"{HIDDEN_SECONDS} s): more may be waiting, run again"
        )
    if not args.apply:
        print(f"dry run: {len(plan.details)} event(s) would be published; --apply to publish")
        return 1 if plan.problems else 0
    failures = apply(plan, EventBridgeResultPublisher(boto3.client("events"), bus), sqs, queue_url)
    for line in failures:
        print(f"FAILED   {line}")
    print(f"published {len(plan.details) - len(failures)} event(s), {len(failures)} failed")
    return 1 if failures or plan.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
