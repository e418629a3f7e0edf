"""The CM simulator as an AWS Lambda (``CmSandbox=true``): same validation, scripts, magic
numbers and call flow as the process simulator (``cm_simulator.core``), without threads.

* State lives in a DynamoDB table of its own: one item per callee script (with its call
  count, counted atomically for ``per-call``), per call, and for the run-time settings.
* A call's whole course is known when it is accepted (``cm_simulator.flow.simulate`` is
  pure): the record stores its timeline in epoch milliseconds (simulated ms x time scale)
  and a read shows the states and events reached by then (``queued`` → … → ``finished``).
* The callback is an SQS message delayed until the call ends (``DelaySeconds``, up to 900 s);
  the function, triggered by the queue, POSTs it. A failed POST is retried by sending the
  message again, delayed by the retry backoff; after the last attempt the call is
  ``callback-failed``. Messages whose call was reset away are dropped (``aborted``).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from cm_simulator.core import (
    RunSettings,
    callback_body,
    check_settings,
    new_record,
    queued_item,
)
from cm_simulator.delivery import USER_AGENT, DeliveryMode
from cm_simulator.flow import Matcher, simulate
from cm_simulator.scripts import (
    DEFAULT_BEHAVIOUR,
    MAGIC_NUMBERS,
    CalleeScript,
    ScriptedCall,
    ScriptError,
    parse_number,
    parse_script,
    resolve,
)
from cm_simulator.state import now_iso
from cm_simulator.validation import Instruction, normalize_number

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_sqs.client import SQSClient

VERSION = "0.1.0-lambda"
SQS_MAX_DELAY_SECONDS = 900
SCRIPT = "script#"
CALL = "call#"
SETTINGS = "settings"
#: Items expire a week after they were written (the table's TTL attribute).
TTL_SECONDS = 7 * 24 * 3600
#: A script is one DynamoDB item (400 KB at most) and a call's item holds its entry twice
#: (the resolved script and the callback body with ``callback-extra``): a larger script is a
#: 400, not a 500 from DynamoDB on the PUT or on every call to that number.
MAX_SCRIPT_BYTES = 64 * 1024


class Clock(Protocol):
    def __call__(self) -> float: ...


@dataclass(frozen=True)
class Queued:
    reply: list[dict[str, object]]
    delay_seconds: float  # the longest reply-delay/-drip of the scripted callees


def _ms(clock: Clock) -> int:
    return int(clock() * 1000)


class SandboxState:
    """The sandbox's DynamoDB table (key ``pk``): scripts, calls, settings."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, initial: RunSettings, clock: Clock
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._initial = initial
        self._clock = clock

    def _expiry(self) -> dict[str, Any]:
        return {"N": str(int(self._clock()) + TTL_SECONDS)}

    # settings ----------------------------------------------------------------------------
    def settings(self) -> RunSettings:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": SETTINGS}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return replace(self._initial)
        data = json.loads(item["value"]["S"])
        return RunSettings(
            data["time-scale"],
            data["callback-retries"],
            DeliveryMode(data["delivery"]),
            data["retry-backoff-ms"],
        )

    def save_settings(self, settings: RunSettings) -> None:
        self._put(SETTINGS, {"value": {"S": json.dumps(settings.to_json())}})

    # scripts -----------------------------------------------------------------------------
    def set_script(self, number: str, script: CalleeScript) -> None:
        self._put(
            SCRIPT + number,
            {"value": {"S": json.dumps(script.to_json())}, "count": {"N": "0"}},
        )

    def delete_script(self, number: str) -> bool:
        answer = self._ddb.delete_item(
            TableName=self._table, Key={"pk": {"S": SCRIPT + number}}, ReturnValues="ALL_OLD"
        )
        return "Attributes" in answer

    def scripts(self) -> dict[str, tuple[CalleeScript, int]]:
        return {
            item["pk"]["S"].removeprefix(SCRIPT): (
                parse_script(json.loads(item["value"]["S"])),
                int(item["count"]["N"]),
            )
            for item in self._scan(SCRIPT)
        }

    def next_call(self, number: str) -> ScriptedCall | None:
        """Count one more call to ``number`` (atomically) and return its script's entry."""
        try:
            item = self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": SCRIPT + number}},
                UpdateExpression="ADD #count :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return None
        count = int(item["count"]["N"])
        script = parse_script(json.loads(item["value"]["S"]))
        return ScriptedCall(script.entry_for(count), count)

    # calls -------------------------------------------------------------------------------
    def add_call(self, record: Mapping[str, object], timeline: list[dict[str, object]]) -> None:
        self._put(
            CALL + str(record["call-id"]),
            {
                "record": {"S": json.dumps(record)},
                "timeline": {"S": json.dumps(timeline)},
                "callbacks": {"L": []},
                "created": {"N": str(_ms(self._clock))},
            },
        )

    def call_item(self, call_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": CALL + call_id}}, ConsistentRead=True
        ).get("Item")
        return item

    def record_attempt(
        self, call_id: str, attempt: Mapping[str, object], state: str | None
    ) -> None:
        """Append a delivery attempt; set the final delivery state (a delivered call stays
        delivered whatever a later copy does)."""
        names = {"#callbacks": "callbacks"}
        values: dict[str, Any] = {":attempt": {"L": [{"S": json.dumps(attempt)}]}}
        update = "SET #callbacks = list_append(#callbacks, :attempt)"
        if state is not None:
            names["#delivery"] = "delivery"
            values[":state"] = {"S": state}
            kept = ":state" if state == "callback-delivered" else "if_not_exists(#delivery, :state)"
            update += f", #delivery = {kept}"
        # reset meanwhile: the call is gone
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": CALL + call_id}},
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def call_items(self) -> list[dict[str, Any]]:
        return sorted(self._scan(CALL), key=lambda item: int(item["created"]["N"]))

    def reset(self) -> None:
        keys = [item["pk"]["S"] for item in self._scan("")]
        for start in range(0, len(keys), 25):
            self._ddb.batch_write_item(
                RequestItems={
                    self._table: [
                        {"DeleteRequest": {"Key": {"pk": {"S": key}}}}
                        for key in keys[start : start + 25]
                    ]
                }
            )

    def _put(self, key: str, attributes: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={"pk": {"S": key}, "expires-at": self._expiry(), **attributes},
        )

    def _scan(self, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = self._ddb.scan(**kwargs)
            items += [i for i in page["Items"] if i["pk"]["S"].startswith(prefix)]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ProductToken:
    """The stack's CM product token (its ``CmProductTokenSecret``): the only token the sandbox
    accepts. Read on every check, so a rotation applies at once."""

    def __init__(self, client: SecretsManagerClient, secret_id: str) -> None:
        self._secrets = client
        self._secret_id = secret_id

    def matches(self, token: str | None) -> bool:
        """Whether ``token`` (an ``X-CM-PRODUCTTOKEN`` header value) is the stack's token,
        compared as the process simulator does: case-insensitive, surrounding blanks ignored."""
        if not token:
            return False
        expected = self._secrets.get_secret_value(SecretId=self._secret_id)["SecretString"]
        return hmac.compare_digest(token.strip().lower(), expected.strip().lower())


class DeliveryQueue:
    """The SQS queue that brings each callback back to the function when it is due."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, message: Mapping[str, object], delay_seconds: float) -> None:
        delay = min(SQS_MAX_DELAY_SECONDS, max(0, math.ceil(delay_seconds)))
        self._sqs.send_message(
            QueueUrl=self._url, MessageBody=json.dumps(message), DelaySeconds=delay
        )


def view(item: Mapping[str, Any], now_ms: int) -> dict[str, object]:
    """The call record as it stands at ``now_ms``: the timeline's steps reached so far, then
    the delivery attempts and the delivery's final state."""
    record: dict[str, object] = json.loads(item["record"]["S"])
    for step in json.loads(item["timeline"]["S"]):
        if step["at-ms"] > now_ms:
            break
        record.update(step.get("changes", {}))
        for key in ("events", "attempts"):
            if key in step:
                items = record[key]
                if isinstance(items, list):
                    items.append(step[key])
    record["callbacks"] = [json.loads(c["S"]) for c in item.get("callbacks", {}).get("L", [])]
    delivery = item.get("delivery", {}).get("S")
    if delivery and record["state"] == "finished":
        record["state"] = delivery
    return record


class Sandbox:
    """The scripting backend (``cm_simulator.core.Backend``) and the DTMF endpoint's
    queueing, over :class:`SandboxState` and :class:`DeliveryQueue`."""

    def __init__(
        self,
        state: SandboxState,
        queue: DeliveryQueue,
        http: httpx.Client,
        matcher: Matcher,
        *,
        max_callees: int,
        clock: Clock = time.time,
    ) -> None:
        self.state = state
        self.queue = queue
        self.http = http
        self.matcher = matcher
        self.max_callees = max_callees
        self.clock = clock

    # Backend ------------------------------------------------------------------------------
    def info(self) -> dict[str, object]:
        return {
            "name": "cm-simulator",
            "version": VERSION,
            "endpoint": "POST /voiceapi/v2/DTMF",
            "settings": self.settings(),
            "max-callees": self.max_callees,
            "default-behaviour": DEFAULT_BEHAVIOUR.value,
            "magic-numbers": {number: b.value for number, b in MAGIC_NUMBERS.items()},
            "scripted-callees": {n: s.to_json() for n, s in self.scripted_callees().items()},
            "calls": len(self.state.call_items()),
        }

    def find_calls(self, filters: Mapping[str, str]) -> list[dict[str, object]]:
        now = _ms(self.clock)
        records = [view(item, now) for item in self.state.call_items()]
        return [r for r in records if all(str(r.get(k)) == v for k, v in filters.items())]

    def call(self, call_id: str) -> dict[str, object] | None:
        item = self.state.call_item(call_id)
        return view(item, _ms(self.clock)) if item is not None else None

    def scripted_callees(self) -> dict[str, CalleeScript]:
        return {number: script for number, (script, _) in self.state.scripts().items()}

    def describe_callee(self, number: str) -> dict[str, object]:
        normalized = parse_number(number)
        scripts = self.state.scripts()
        if normalized in scripts:
            script, count = scripts[normalized]
            return {
                "callee": normalized,
                "source": "script",
                **script.to_json(),
                "call-count": count,
            }
        if normalized in MAGIC_NUMBERS:
            behaviour = MAGIC_NUMBERS[normalized].value
            return {"callee": normalized, "source": "magic", "behaviour": behaviour}
        return {"callee": normalized, "source": "default", "behaviour": DEFAULT_BEHAVIOUR.value}

    def set_script(self, number: str, script: CalleeScript) -> None:
        size = len(json.dumps(script.to_json()).encode())
        if size > MAX_SCRIPT_BYTES:
            message = f"The sandbox stores scripts of at most {MAX_SCRIPT_BYTES} bytes of JSON"
            raise ScriptError({"$": [f"{message}; this one has {size}."]})
        self.state.set_script(number, script)

    def delete_script(self, number: str) -> bool:
        return self.state.delete_script(number)

    def reset(self) -> None:
        self.state.reset()

    def settings(self) -> dict[str, object]:
        return self.state.settings().to_json()

    def update_settings(self, changes: object) -> dict[str, object]:
        updated = check_settings(changes, self.state.settings())
        self.state.save_settings(updated)
        return updated.to_json()

    # POST /voiceapi/v2/DTMF ---------------------------------------------------------------
    def queue_instruction(self, instruction: Instruction) -> Queued:
        """Record every call with its timeline and schedule its callback; the reply."""
        settings = self.state.settings()
        call_settings = instruction.call_settings()
        reply: list[dict[str, object]] = []
        delay = 0.0
        finished: list[tuple[float, str]] = []  # (seconds until the callback, call-id)
        for entry in instruction.callees:
            call_id = str(uuid.uuid4())
            number = normalize_number(entry.number)
            scripted = self.state.next_call(number) if entry.dialable else None
            if scripted is not None:
                wire = scripted.entry.wire
                delay = max(delay, wire.reply_delay_seconds or 0.0, wire.reply_drip_seconds or 0.0)
            reply.append(queued_item(call_id, instruction, entry, scripted))
            record = new_record(call_id, instruction, entry)
            if not entry.dialable:
                self.state.add_call(record, [])
                continue
            resolved = resolve(entry.number, scripted, call_settings, self.matcher)
            record["script"] = resolved.to_json()
            outcome = simulate(resolved.script, call_settings, self.matcher)
            start = _ms(self.clock)
            timeline: list[dict[str, object]] = []
            simulated = 0
            for step in outcome.steps:
                simulated += step.after_ms
                at = start + int(simulated * settings.time_scale)
                moment: dict[str, object] = {
                    "at-ms": at,
                    "events": {
                        "at": _iso(at),
                        "simulated-ms": simulated,
                        "event": step.kind,
                        "text": step.text,
                    },
                }
                if step.state:
                    moment["changes"] = {"state": step.state}
                if step.attempt is not None:
                    moment["attempts"] = step.attempt.to_json()
                timeline.append(moment)
            end = start + int(outcome.duration_ms * settings.time_scale)
            has_url = instruction.callback_url is not None
            timeline.append(
                {
                    "at-ms": end,
                    "changes": {
                        "state": "finished" if has_url else "no-callback",
                        "digits": outcome.digits,
                        "result": outcome.result.to_json(),
                        "callback-body": callback_body(
                            call_id, instruction, entry.number, resolved, outcome
                        ),
                        "finished-at": _iso(end),
                    },
                }
            )
            self.state.add_call(record, timeline)
            if has_url:
                finished.append(((end - start) / 1000, call_id))
        self._schedule(finished, settings)
        return Queued(reply, delay)

    def _schedule(self, finished: list[tuple[float, str]], settings: RunSettings) -> None:
        copies = 2 if settings.delivery is DeliveryMode.DUPLICATE else 1
        if settings.delivery is DeliveryMode.OUT_OF_ORDER and len(finished) > 1:
            # held until every call ended, then last callee first
            last = max(seconds for seconds, _ in finished)
            ids = [call_id for _, call_id in reversed(finished)]
            self.queue.send({"calls": ids, "copy": 1, "attempt": 1}, last)
            return
        for seconds, call_id in finished:
            for copy in range(1, copies + 1):
                self.queue.send({"calls": [call_id], "copy": copy, "attempt": 1}, seconds)

    # callbacks ----------------------------------------------------------------------------
    def deliver(self, message: Mapping[str, Any]) -> None:
        """POST the callbacks a queue message names, in its order; retry the failed ones."""
        settings = self.state.settings()
        attempt, copy = int(message["attempt"]), int(message["copy"])
        for call_id in message["calls"]:
            item = self.state.call_item(call_id)
            if item is None:
                continue  # reset: aborted without a callback
            record = view(item, 2**62)  # the whole call: its callback body and URL
            status, error = self._post(str(record["callback-url"]), record["callback-body"])
            ok = status is not None and 200 <= status < 300
            last = attempt > settings.callback_retries
            state = "callback-delivered" if ok else ("callback-failed" if last else None)
            self.state.record_attempt(
                call_id,
                {
                    "attempt": attempt,
                    "copy": copy,
                    "status": status,
                    "error": error,
                    "at": now_iso(),
                },
                state,
            )
            if not ok and not last:
                backoff_ms = settings.retry_backoff_ms * (1 << (attempt - 1))
                self.queue.send(
                    {"calls": [call_id], "copy": copy, "attempt": attempt + 1},
                    backoff_ms / 1000 * settings.time_scale,
                )

    def _post(self, url: str, body: object) -> tuple[int | None, str | None]:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        try:
            status = self.http.post(url, content=data, headers=headers).status_code
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return status, None if 200 <= status < 300 else f"HTTP {status}"


def _iso(epoch_ms: int) -> str:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
