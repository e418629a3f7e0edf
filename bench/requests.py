"""AWS requests per call lifecycle (place -> CM callback -> publish), counted against moto.

Run as a child of bench.run (``python -m bench.requests --out FILE``). Tables are created
from template.yaml (devtools/template.py), CM is devtools' FakeCm at httpx's
transport (bench/world.py), the stream batch is diffed from the table (devtools/streams.py) and
filtered with the publisher's FilterCriteria from the template, as Lambda would.

Every botocore client created in this process (the handlers' own, and the ones Powertools
parameters create lazily) gets a ``before-parameter-build`` hook that records service,
operation and parameters while a handler runs (the bench's own setup calls are not counted).
Each function keeps its own Powertools parameter cache, as separate execution environments
do. *cold* = first lifecycle in fresh environments; *warm* = the next one (caches filled).

Also counted: DynamoDB request units (item sizes from the table, +1 WRU per write that
changes a GSI key attribute), EventBridge 64 KB event units, and the bytes each function
writes to stdout (its CloudWatch log volume) at the template's log level (INFO).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import io
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.common import (
    REGION,
    BenchError,
    LambdaContext,
    emit,
    events_file,
    template,
    use_product_paths,
)
from bench.cost import COLD_START_FRACTION
from bench.world import (
    NetworkClock,
    World,
    create_world,
    http_event,
    kept_by_filters,
    key_header,
    load,
    set_environment,
    stream_filters,
)

HANDLERS: tuple[str, ...] = ("place_call", "cm_callback", "publish_results")
DDB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
DDB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
TARGET_MAX_DDB_WRITES = 5
TARGET_PUT_EVENTS_ENTRIES = 1
EVENT_CHUNK = 64 * 1024


# ---------------------------------------------------------------------------- counting


@dataclass
class Request:
    phase: str  # "<function>" or "init:<function>"
    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class Recorder:
    phase: str | None = None
    requests: list[Request] = field(default_factory=list)
    log_bytes: Counter[str] = field(default_factory=Counter)
    log_lines: Counter[str] = field(default_factory=Counter)

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.phase is not None:
            service = model.service_model.service_name
            self.requests.append(Request(self.phase, service, model.name, dict(params)))

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        self.phase = phase
        try:
            yield
        finally:
            self.phase = None


class _CountingStdout(io.TextIOBase):
    """Stands in for stdout: counts what each function writes (its log volume), keeps nothing."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def write(self, s: str) -> int:
        phase = self._recorder.phase or "bench"
        self._recorder.log_bytes[phase] += len(s.encode())
        self._recorder.log_lines[phase] += s.count("\n")
        return len(s)

    def flush(self) -> None:
        return None


def _install_hook(recorder: Recorder) -> None:
    import botocore.session

    original = botocore.session.Session.create_client

    @functools.wraps(original)
    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", recorder.hook)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


# ---------------------------------------------------------------------------- sizes


def attribute_size(value: dict[str, Any]) -> int:  # noqa: PLR0911 - one rule per type
    """DynamoDB's item-size rules for one AttributeValue (close enough for request units)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode()) + attribute_size(v) for k, v in item.items())


def _gsi_key_attributes() -> list[frozenset[str]]:
    """The key attributes of each global secondary index (one set per index)."""
    indexes: list[frozenset[str]] = []
    for res in template()["Resources"].values():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        for index in res["Properties"].get("GlobalSecondaryIndexes", []):
            indexes.append(frozenset(k["AttributeName"] for k in index["KeySchema"]))
    return indexes


def _touches_gsi(req: Request, gsi_keys: list[frozenset[str]]) -> bool:
    """Whether the write also writes an index entry: a PutItem whose item has every key
    attribute of an index (indexes are sparse: an item missing one is not in it), an
    UpdateItem that names a key attribute of one (set or removed)."""
    params = req.params
    if req.operation == "PutItem":
        item = set(params.get("Item", {}))
        return any(keys <= item for keys in gsi_keys)
    if req.operation == "UpdateItem":
        named = set(params.get("ExpressionAttributeNames", {}).values())
        return any(keys & named for keys in gsi_keys)
    return False


# ---------------------------------------------------------------------------- the world


class Environments:
    """One Powertools parameter cache per function, swapped in around its invocations."""

    def __init__(self) -> None:
        from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

        self._live = DEFAULT_PROVIDERS
        self._saved: dict[str, dict[str, Any]] = {}

    @contextlib.contextmanager
    def of(self, folder: str) -> Iterator[None]:
        self._live.clear()
        self._live.update(self._saved.get(folder, {}))
        try:
            yield
        finally:
            self._saved[folder] = dict(self._live)
            self._live.clear()

    def reset(self) -> None:
        self._saved.clear()


# ---------------------------------------------------------------------------- lifecycle


class Lifecycle:
    def __init__(self, recorder: Recorder, envs: Environments) -> None:
        from devtools.streams import StreamReader

        self.recorder = recorder
        self.envs = envs
        self.network = NetworkClock()
        self.network.install()
        self.modules = {}
        for folder in HANDLERS:
            with recorder.during(f"init:{folder}"), envs.of(folder):
                self.modules[folder] = load(folder)
        self.stream = StreamReader("calls", REGION)
        self.filters = stream_filters()
        self.filtered_out = 0

    def _invoke(self, folder: str, event: dict[str, Any]) -> Any:
        with self.recorder.during(folder), self.envs.of(folder):
            return self.modules[folder].handler(event, LambdaContext(function_name=folder))

    def _publish_stream(self) -> int:
        batch = self.stream.next_batch()["Records"]
        kept = kept_by_filters(batch, self.filters)
        self.filtered_out += len(batch) - len(kept)
        if kept:
            result = self._invoke("publish_results", {"Records": kept})
            if result != {"batchItemFailures": []}:
                raise BenchError(f"publish_results failed records: {result}")
        return len(kept)

    def run(self, label: str, *, with_key: bool, explicit_id: bool = True) -> dict[str, Any]:
        """One lifecycle. `explicit_id`: the body names its `instruction-id`; without one
        (and with a key) the id is derived from the key (README: one write fewer)."""
        start = len(self.recorder.requests)
        body = json.loads(events_file("place_call.json")["body"])
        body.pop("instruction-id", None)
        if explicit_id:
            body["instruction-id"] = f"lifecycle-{label}"
        key = f"lifecycle-{label}-key" if with_key else None
        event = http_event("place_call.json", body=body, headers=key_header(key))
        response = self._invoke("place_call", event)
        if response.get("statusCode") != 202:
            raise BenchError(f"place_call answered {response.get('statusCode')}: {response}")
        body["instruction-id"] = json.loads(response["body"])["instruction-id"]
        call = json.loads(response["body"])["calls"][0]
        callback_url = self.network.cm_bodies[-1]["callback-url"]
        token = parse_qs(urlsplit(callback_url).query)["token"][0]
        invocations = {"place_call": 1, "cm_callback": 0, "publish_results": 0}
        invocations["publish_results"] += self._publish_stream() and 1  # placing: nothing

        cb_body = json.loads(events_file("cm_callback.json")["body"])
        cb_body.update({"call-id": call["call-id"], "instruction-id": body["instruction-id"]})
        cb = http_event(
            "cm_callback.json",
            body=cb_body,
            path=f"/callbacks/cm/{body['instruction-id']}",
            path_parameters={"instruction-id": body["instruction-id"]},
            query={"token": token},
        )
        answer = self._invoke("cm_callback", cb)
        invocations["cm_callback"] += 1
        if json.loads(answer.get("body") or "{}").get("status") != "recorded":
            raise BenchError(f"cm_callback did not record the call: {answer}")
        published = self._publish_stream()
        invocations["publish_results"] += 1 if published else 0
        if published != 1:
            raise BenchError(f"{published} stream records reached the publisher, expected 1")
        return {
            "requests": self.recorder.requests[start:],
            "invocations": invocations,
            "instruction_id": body["instruction-id"],
        }


def _index_projections() -> list[tuple[frozenset[str], frozenset[str] | None]]:
    """(key attributes, projected attributes — None: all) of each index of the calls table,
    the table's own key attributes included (an index entry carries them)."""
    table = template()["Resources"]["CallsTable"]["Properties"]
    table_keys = {k["AttributeName"] for k in table["KeySchema"]}
    found: list[tuple[frozenset[str], frozenset[str] | None]] = []
    for index in table.get("GlobalSecondaryIndexes", []):
        keys = frozenset(k["AttributeName"] for k in index["KeySchema"])
        projection = index["Projection"]
        kind = projection["ProjectionType"]
        projected = None if kind == "ALL" else keys | table_keys
        if kind == "INCLUDE" and projected is not None:
            projected |= set(projection.get("NonKeyAttributes", []))
        found.append((keys, projected))
    return found


def _at_cold_rate(
    written: dict[str, tuple[Counter[str], Counter[str]]], kind: int, function: str
) -> float:
    """`function`'s log bytes (`kind` 0) or lines (1) per call: the warm lifecycle's, plus the
    cold one's surplus times `COLD_START_FRACTION` (bench.cost's rate of cold starts)."""
    warm, cold = written["warm"][kind][function], written["cold"][kind][function]
    return warm + COLD_START_FRACTION * (cold - warm)


def _stored(world: World, instruction_id: str) -> dict[str, int]:
    """Bytes the calls table keeps for one instruction: its items and, apart, their global
    secondary index entries (+100 B per item and per entry, DynamoDB's overhead); and the
    sizes the expirer reads per call: the call item (BatchGetItem) and its pending-calls
    entry (the index query)."""
    page = world.dynamodb.query(
        TableName="calls",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"instruction#{instruction_id}"}},
    )
    stored = indexed = call_item = pending_entry = 0
    for item in page["Items"]:
        stored += item_size(item) + 100
        for keys, projected in _index_projections():
            if keys <= set(item):  # sparse: an item without the keys has no entry
                entry = item if projected is None else {k: item[k] for k in projected & set(item)}
                indexed += item_size(entry) + 100
                if "stale-at" in keys:
                    pending_entry = item_size(entry) + 100
        if item["sk"]["S"].startswith("call#"):
            call_item = item_size(item)
    return {
        "stored": stored,
        "indexed": indexed,
        "call_item": call_item,
        "pending_entry": pending_entry,
    }


def _summarise(
    requests: list[Request],
    invocations: dict[str, int],
    world: World,
    gsi_keys: list[frozenset[str]],
) -> dict[str, Any]:
    ops: Counter[str] = Counter()
    per_function: dict[str, Counter[str]] = {}
    wru = rru = 0.0
    ddb_writes = ddb_write_items = ddb_reads = 0
    put_events_entries = put_events_units = 0
    write_detail: list[str] = []
    written_keys: list[str] = []  # the partition key of each single-item write (bench.cost)
    for req in requests:
        name = f"{req.service}:{req.operation}"
        ops[name] += 1
        per_function.setdefault(req.phase, Counter())[name] += 1
        p = req.params
        if req.service == "dynamodb" and req.operation in DDB_WRITES:
            ddb_writes += 1
            if req.operation == "TransactWriteItems":
                ddb_write_items += len(p.get("TransactItems", []))
                wru += 2 * len(p.get("TransactItems", []))  # transactional writes cost double
                continue
            if req.operation == "BatchWriteItem":
                n = sum(len(v) for v in p.get("RequestItems", {}).values())
                ddb_write_items += n
                wru += n
                continue
            ddb_write_items += 1
            key = p.get("Key") or p.get("Item") or {}
            written_keys.append(next(iter(key.get("pk", {}).values()), ""))
            if req.operation == "PutItem":
                size = item_size(p["Item"])
            else:
                found = world.dynamodb.get_item(TableName=p["TableName"], Key=p["Key"])
                size = item_size(found.get("Item", {})) or 1
            units = math.ceil(size / 1024) + (1 if _touches_gsi(req, gsi_keys) else 0)
            wru += units
            write_detail.append(
                f"{req.phase} {req.operation} {p['TableName']}: {size} B -> {units} WRU"
                + (" (incl. 1 GSI)" if _touches_gsi(req, gsi_keys) else "")
            )
        elif req.service == "dynamodb" and req.operation in DDB_READS:
            ddb_reads += 1
            if req.operation == "GetItem":
                found = world.dynamodb.get_item(TableName=p["TableName"], Key=p["Key"])
                units = math.ceil(max(item_size(found.get("Item", {})), 1) / 4096)
                rru += units if p.get("ConsistentRead") else units / 2
            else:
                rru += 1  # a small query/scan page
        elif req.service == "events" and req.operation == "PutEvents":
            for entry in p.get("Entries", []):
                put_events_entries += 1
                size = sum(
                    len(str(entry.get(k, "")).encode()) for k in ("Source", "DetailType", "Detail")
                ) + sum(len(r.encode()) for r in entry.get("Resources", []))
                put_events_units += math.ceil(size / EVENT_CHUNK)
    return {
        "dynamodb_writes": ddb_writes,
        "dynamodb_write_items": ddb_write_items,
        "dynamodb_wru": wru,
        "dynamodb_write_detail": write_detail,
        "dynamodb_written_keys": written_keys,
        "dynamodb_reads": ddb_reads,
        "dynamodb_rru": rru,
        "put_events_calls": ops["events:PutEvents"],
        "put_events_entries": put_events_entries,
        "put_events_units": put_events_units,
        "secrets_get_secret_value": ops["secretsmanager:GetSecretValue"],
        "ssm_get_parameter": ops["ssm:GetParameter"] + ops["ssm:GetParameters"],
        "lambda_invocations": invocations,
        "operations": dict(sorted(ops.items())),
        "by_function": {k: dict(sorted(v.items())) for k, v in sorted(per_function.items())},
    }


def run() -> dict[str, Any]:
    recorder = Recorder()
    real_stdout = sys.stdout
    sys.stdout = _CountingStdout(recorder)
    try:
        return _run(recorder)
    finally:
        sys.stdout = real_stdout


def _run(recorder: Recorder) -> dict[str, Any]:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    _install_hook(recorder)
    gsi_keys = _gsi_key_attributes()
    with mock_aws():
        world = create_world()
        set_environment(world.names, HANDLERS)
        envs = Environments()
        life = Lifecycle(recorder, envs)
        init_requests = [r for r in recorder.requests if r.phase.startswith("init:")]
        scenarios: dict[str, Any] = {}
        written: dict[str, tuple[Counter[str], Counter[str]]] = {}
        for label, with_key in (("cold", True), ("warm", True)):
            bytes_before = Counter(recorder.log_bytes)
            lines_before = Counter(recorder.log_lines)
            out = life.run(f"{label}-key", with_key=with_key)
            scenarios[f"{label}_with_key"] = _summarise(
                out["requests"], out["invocations"], world, gsi_keys
            )
            written[label] = (
                Counter(recorder.log_bytes) - bytes_before,
                Counter(recorder.log_lines) - lines_before,
            )
        # per call: a warm lifecycle's, and a cold start's extra (its ColdStart document) at
        # the cost model's own cold-start rate, as everything else about cold starts
        log_bytes = {fn: _at_cold_rate(written, 0, fn) for fn in HANDLERS}
        log_lines = {fn: _at_cold_rate(written, 1, fn) for fn in HANDLERS}
        stored = _stored(world, "lifecycle-warm-key")
        envs.reset()  # fresh execution environments again
        for label, with_key in (("cold", False), ("warm", False)):
            out = life.run(f"{label}-nokey", with_key=with_key)
            scenarios[f"{label}_without_key"] = _summarise(
                out["requests"], out["invocations"], world, gsi_keys
            )
        stored_by_shape = {
            "with_key": stored,
            "without_key": _stored(world, "lifecycle-warm-nokey"),
        }
        envs.reset()
        # the README's recommended shape: a key and no explicit `instruction-id` (derived id)
        for label in ("cold", "warm"):
            out = life.run(f"{label}-derived", with_key=True, explicit_id=False)
            scenarios[f"{label}_key_derived_id"] = _summarise(
                out["requests"], out["invocations"], world, gsi_keys
            )
        stored_by_shape["key_derived_id"] = _stored(world, out["instruction_id"])
    warm = scenarios["warm_with_key"]
    return {
        "region": REGION,
        "log_level": os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"),
        "init_aws_requests": len(init_requests),
        "scenarios": scenarios,
        "log_bytes_per_lifecycle": log_bytes,
        "log_lines_per_lifecycle": log_lines,
        "stored_bytes_per_lifecycle": stored["stored"],
        "stored_index_bytes_per_lifecycle": stored["indexed"],  # global secondary indexes
        # per request shape (bench.cost prices each): items, then index entries
        "stored_bytes_by_shape": {
            shape: {"stored": v["stored"], "indexed": v["indexed"]}
            for shape, v in stored_by_shape.items()
        },
        # issue 15: what the expirer reads per call (every call's entry, ended or not)
        "expirer_read_bytes_per_call": {
            "call_item": stored["call_item"],
            "pending_entry": stored["pending_entry"],
        },
        "stream_records_filtered_out": life.filtered_out,
        "within_target": {
            "dynamodb_writes": all(
                s["dynamodb_write_items"] <= TARGET_MAX_DDB_WRITES for s in scenarios.values()
            ),
            "put_events_entries": all(
                s["put_events_entries"] == TARGET_PUT_EVENTS_ENTRIES for s in scenarios.values()
            ),
            "warm_secrets_reads": warm["secrets_get_secret_value"] == 0
            and scenarios["warm_without_key"]["secrets_get_secret_value"] == 0,
            "no_aws_at_init": not init_requests,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the results as JSON here (else stdout)")
    args = parser.parse_args()
    use_product_paths()
    try:
        results = run()
    except BenchError as error:
        emit({"error": str(error)}, args.out)
        sys.exit(f"bench.requests: {error}")  # a failure is never mistaken for figures
    emit(results, args.out)


if __name__ == "__main__":
    main()
