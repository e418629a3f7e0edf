"""Warm overhead per request: handlers invoked in-process, every dependency an in-memory fake.

Run as a child of bench.run (``python -m bench.warm --out FILE``) so the handler modules and
their caches belong to this process only. The loaded modules' module-level objects are swapped
for the same objects built with the fakes of tests/fakes.py (``placement``, ``secrets``,
``record_callback``, ``publisher``), so what is timed is the handler, Powertools and the
domain, and no I/O.

Beside each product handler, in the same loop (alternating), a bare Powertools handler with
the same decorators answers the same event with a constant: the difference is what the
product adds. Powertools logs at WARNING and stdout goes to a null sink during the loops, so
printing is not measured (EMF metrics are still serialised; only the write is skipped).

Every request is a new one: its own instruction id, Idempotency-Key and callee number (so
phone-number parsing is not served from the product's cache), as in production.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import importlib.util
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from bench.common import (
    FUNCTIONS_DIR,
    LOOPBACK_ENDPOINT,
    BenchError,
    LambdaContext,
    emit,
    events_file,
    function_environment,
    lambda_runtime_environment,
    summary,
)

TARGET_P99_MS = 2.0
HANDLERS = ("place_call", "cm_callback", "publish_results")


class _NullWriter(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def _environment() -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "POWERTOOLS_")):
            del os.environ[name]
    for folder in HANDLERS:
        os.environ.update(function_environment(folder))
    os.environ.update(lambda_runtime_environment("place_call"))
    os.environ["AWS_ENDPOINT_URL"] = LOOPBACK_ENDPOINT
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def load(folder: str) -> ModuleType:
    """functions/<folder>/app.py under its own module name (three `app`s in one process)."""
    name = f"bench_{folder}_app"
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / folder / "app.py")
    if spec is None or spec.loader is None:
        raise BenchError(f"functions/{folder}/app.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise BenchError(f"functions/{folder}/app.py does not import: {error!r}") from error
    return module


# ---------------------------------------------------------------------------- wiring fakes


class Fakes:
    def __init__(self) -> None:
        from dtmf_gateway.api.placement import IdempotentPlacement
        from dtmf_gateway.domain.callbacks import RecordCallback
        from dtmf_gateway.domain.placement import PlaceInstruction
        from dtmf_gateway.domain.policy import DialPolicy
        from dtmf_gateway.settings import settings
        from tests import fakes

        s = settings()
        self.table = fakes.Table()
        self.cm = fakes.FakeCm()
        self.secrets = fakes.FakeSecrets()
        self.persistence = fakes.InMemoryPersistence()
        self.publisher = fakes.InMemoryPublisher()
        service = PlaceInstruction(
            cm=self.cm,
            store=fakes.InMemoryInstructionStore(
                self.table, retention=s.retention, pending_shards=s.pending_shards
            ),
            callback_urls=fakes.FakeCallbackUrls(self.secrets),
            policy=DialPolicy.from_settings(
                allowed_countries=s.allowed_destination_countries,
                blocked_number_types=s.blocked_number_types,
                allowed_callers=s.allowed_callers,
            ),
        )
        self.placement = IdempotentPlacement(service, self.persistence)  # type: ignore[arg-type]
        self.record_callback = RecordCallback(fakes.InMemoryCallbackStore(self.table))

    def install(self, place: ModuleType, callback: ModuleType, publish: ModuleType) -> None:
        swaps = (
            (place, "placement"),
            (callback, "record_callback"),
            (callback, "secrets"),
            (publish, "publisher"),
        )
        for module, attr in swaps:
            if not hasattr(module, attr):
                raise BenchError(f"{module.__file__} has no module-level `{attr}` to swap")
        place.placement = self.placement
        callback.record_callback = self.record_callback
        callback.secrets = self.secrets
        publish.publisher = self.publisher


@contextlib.contextmanager
def _info_logs() -> Iterator[None]:
    """Production's INFO level for a while: log records formatted, written to a null sink."""
    from dtmf_gateway.observability import logger

    handler = logger.registered_handler
    stream = handler.setStream(_NullWriter())  # type: ignore[attr-defined]
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        yield
    finally:
        logger.setLevel(level)
        handler.setStream(stream)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- bare handlers


def bare_handlers() -> dict[str, Callable[[dict[str, Any], Any], Any]]:
    """Powertools alone: the handlers' decorators around a route that returns a constant."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source

    from dtmf_gateway.observability import logger, metrics

    app = APIGatewayRestResolver(strip_prefixes=["/v1"])

    @app.post("/dtmf-calls")
    def _place() -> Response[str]:
        return Response(202, "application/json", '{"status": "queued"}')

    @app.post("/callbacks/cm/<instruction_id>")
    def _callback(instruction_id: str) -> Response[str]:  # noqa: ARG001 - the route's shape
        return Response(200, "application/json", '{"status": "recorded"}')

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def place(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    @logger.inject_lambda_context
    @metrics.log_metrics
    def callback(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    @metrics.log_metrics
    @logger.inject_lambda_context
    @event_source(data_class=DynamoDBStreamEvent)
    def publish(event: DynamoDBStreamEvent, _context: Any) -> dict[str, Any]:  # noqa: ARG001
        return {"batchItemFailures": []}

    return {"place": place, "callback": callback, "publish": publish}


# ---------------------------------------------------------------------------- events


def _callee(i: int) -> str:
    return f"+316{12000000 + i:08d}"  # a distinct valid Dutch mobile number per request


def place_events(count: int, *, with_key: bool, prefix: str) -> list[dict[str, Any]]:
    sample = events_file("place_call.json")
    body = json.loads(sample["body"])
    out = []
    for i in range(count):
        event = copy.deepcopy(sample)
        body["instruction-id"] = f"{prefix}-{i:06d}"
        body["callee"] = _callee(i)
        event["body"] = json.dumps(body)
        headers = {k: v for k, v in event["headers"].items() if k.lower() != "idempotency-key"}
        if with_key:
            headers["Idempotency-Key"] = f"{prefix}-key-{i:06d}"
        event["headers"] = headers
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        out.append(event)
    return out


def callback_event(instruction_id: str, call_id: str, callee: str) -> dict[str, Any]:
    from dtmf_gateway.domain.signing import callback_token
    from tests.fakes import SIGNING_KEYS

    event = events_file("cm_callback.json")
    body = json.loads(event["body"])
    body.update({"call-id": call_id, "instruction-id": instruction_id, "callee": callee})
    token = callback_token(SIGNING_KEYS, instruction_id)
    event["body"] = json.dumps(body)
    event["path"] = f"/callbacks/cm/{instruction_id}"
    event["pathParameters"] = {"instruction-id": instruction_id}
    event["queryStringParameters"] = {"token": token}
    event["multiValueQueryStringParameters"] = {"token": [token]}
    return event


def stream_event(old: dict[str, Any], new: dict[str, Any], sequence: int) -> dict[str, Any]:
    """One MODIFY record as Lambda delivers it from the table's stream (NEW_AND_OLD_IMAGES)."""
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()

    def image(item: dict[str, Any]) -> dict[str, Any]:
        return {k: ser.serialize(v) for k, v in item.items() if v is not None}

    sample = events_file("publish_results.json")["Records"][1]
    record = copy.deepcopy(sample)
    record["eventID"] = f"bench{sequence:021d}"
    record["dynamodb"].update(
        {
            "Keys": {"pk": {"S": new["pk"]}, "sk": {"S": new["sk"]}},
            "SequenceNumber": str(300000000000000000000 + sequence),
            "NewImage": image(new),
            "OldImage": image(old),
        }
    )
    return {"Records": [record]}


# ---------------------------------------------------------------------------- loops


_PROFILER: list[Any] = []  # a cProfile.Profile while profiling: it sees the handlers only


def _timed(handler: Callable[[Any, Any], Any], event: Any, context: Any) -> tuple[float, Any]:
    if _PROFILER:
        _PROFILER[0].enable()
        response = handler(event, context)
        _PROFILER[0].disable()
        return 0.0, response
    start = time.perf_counter_ns()
    response = handler(event, context)
    return (time.perf_counter_ns() - start) / 1e6, response


def _check(label: str, response: Any, expected: int) -> None:
    status = response.get("statusCode") if isinstance(response, dict) else None
    if status != expected:
        body = str(response.get("body") if isinstance(response, dict) else response)[:300]
        raise BenchError(f"{label}: expected HTTP {expected}, got {status}: {body}")


def _row(product: list[float], bare: list[float]) -> dict[str, Any]:
    p, b = summary(product), summary(bare)
    return {
        "product_ms": p,
        "bare_ms": b,
        "added_p50_ms": p["median"] - b["median"],
        "added_p99_ms": p["p99"] - b["p99"],
        "added_mean_ms": p["mean"] - b["mean"],
    }


def bench_place(
    module: ModuleType, bare: Callable[..., Any], events: list[dict[str, Any]], warmup: int
) -> dict[str, Any]:
    ctx = LambdaContext(function_name="dtmf-bench-PlaceCallFunction")
    product: list[float] = []
    baseline: list[float] = []
    gc.collect()
    for i, event in enumerate(events):
        if i % 2:
            tb, _ = _timed(bare, event, ctx)
            tp, response = _timed(module.handler, event, ctx)
        else:
            tp, response = _timed(module.handler, event, ctx)
            tb, _ = _timed(bare, event, ctx)
        _check("place-call", response, 202)
        if i >= warmup:
            product.append(tp)
            baseline.append(tb)
    return _row(product, baseline)


def bench_callback_publish(
    *,
    callback: ModuleType,
    publish: ModuleType,
    bare: dict[str, Callable[..., Any]],
    fakes: Fakes,
    placed: list[dict[str, Any]],
    warmup: int,
) -> dict[str, dict[str, Any]]:
    """Callback, then the publisher on the stream record that callback produced."""
    cb_ctx = LambdaContext(function_name="dtmf-bench-CmCallbackFunction")
    pub_ctx = LambdaContext(function_name="dtmf-bench-PublishResultsFunction")
    times: dict[str, list[float]] = {k: [] for k in ("cb", "cb_bare", "pub", "pub_bare")}
    calls = {
        item["instruction-id"]: (key, item)
        for key, item in fakes.table.items.items()
        if item.get("record-type") == "call" and item.get("status") == "queued"
    }
    gc.collect()
    for i, placed_event in enumerate(placed):
        instruction_id = json.loads(placed_event["body"])["instruction-id"]
        key, item = calls[instruction_id]
        event = callback_event(instruction_id, item["call-id"], item["callee"])
        old = dict(item)
        if i % 2:
            tb, _ = _timed(bare["callback"], event, cb_ctx)
            tc, response = _timed(callback.handler, event, cb_ctx)
        else:
            tc, response = _timed(callback.handler, event, cb_ctx)
            tb, _ = _timed(bare["callback"], event, cb_ctx)
        _check("callback", response, 200)
        if json.loads(response["body"]).get("status") != "recorded":
            raise BenchError(f"callback: not recorded: {response['body'][:300]}")
        stream = stream_event(old, fakes.table.items[key], i)
        published = len(fakes.publisher.entries)
        if i % 2:
            tpb, _ = _timed(bare["publish"], stream, pub_ctx)
            tpu, result = _timed(publish.handler, stream, pub_ctx)
        else:
            tpu, result = _timed(publish.handler, stream, pub_ctx)
            tpb, _ = _timed(bare["publish"], stream, pub_ctx)
        if result != {"batchItemFailures": []} or len(fakes.publisher.entries) == published:
            raise BenchError(f"publish: the ended call was not published: {result}")
        if i >= warmup:
            times["cb"].append(tc)
            times["cb_bare"].append(tb)
            times["pub"].append(tpu)
            times["pub_bare"].append(tpb)
    both = [a + b for a, b in zip(times["cb"], times["pub"], strict=True)]
    both_bare = [a + b for a, b in zip(times["cb_bare"], times["pub_bare"], strict=True)]
    return {
        "callback": _row(times["cb"], times["cb_bare"]),
        "publish": _row(times["pub"], times["pub_bare"]),
        "callback_plus_publish": _row(both, both_bare),
    }


class _RawBody(io.BytesIO):
    """What botocore reads a response body from (urllib3's ``stream``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def client_overhead(iterations: int = 400) -> dict[str, Any]:
    """CPU of the real clients per request, network replaced by a canned answer: a botocore
    DynamoDB PutItem / EventBridge PutEvents (validation, serialisation, SigV4, parsing), and
    the product's HttpCmClient.place over httpx MockTransport (the cost model adds these to the
    handler times measured with fakes)."""
    import boto3
    import httpx
    from botocore.awsrequest import AWSResponse

    from dtmf_gateway.adapters.cm_client import HttpCmClient
    from dtmf_gateway.domain.request import parse_dtmf_call_request

    def answer(body: bytes) -> Callable[..., AWSResponse]:
        def reply(request: Any, **_: Any) -> AWSResponse:
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "b"}
            return AWSResponse(request.url, 200, headers, _RawBody(body))

        return reply

    endpoint = {"endpoint_url": "https://aws.bench.invalid"}
    ddb = boto3.client("dynamodb", **endpoint)  # type: ignore[call-overload]
    ddb.meta.events.register("before-send", answer(b"{}"))
    events = boto3.client("events", **endpoint)  # type: ignore[call-overload]
    events.meta.events.register(
        "before-send", answer(b'{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}')
    )
    sample = json.loads(events_file("place_call.json")["body"])
    item = {
        "pk": {"S": "instruction#order-7781-pin"},
        "sk": {"S": "instruction"},
        "request": {"S": json.dumps(sample)},
        "status": {"S": "placing"},
        "ttl": {"N": "1797139500"},
    }
    detail = json.dumps({"instruction-id": "order-7781-pin", "digits": "4821", **sample})

    def put_item() -> None:
        ddb.put_item(
            TableName="calls",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR #status = :not_placed",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":not_placed": {"S": "not-placed"}},
        )

    def put_events() -> None:
        events.put_events(
            Entries=[{"Source": "dtmf-gateway", "DetailType": "DTMF Result", "Detail": detail}]
        )

    reply = [
        {
            "type": "call-queued",
            "call-id": "0b9e7d55-31c2-4f0a-a7de-93c4b5e61a20",
            "callee": "+31612345678",
            "success": True,
        }
    ]
    cm = HttpCmClient(
        base_url="https://cm.bench.invalid",
        product_token=lambda: "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21",
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, json=reply)),
    )
    request = parse_dtmf_call_request(sample)
    out: dict[str, Any] = {"iterations": iterations}
    for label, work in (
        ("dynamodb_put_item_ms", put_item),
        ("events_put_events_ms", put_events),
        (
            "cm_client_place_ms",
            lambda: cm.place(
                request, instruction_id="order-7781-pin", callback_url="https://x/y?t=z"
            ),
        ),
    ):
        for _ in range(50):
            work()
        times = []
        for _ in range(iterations):
            start = time.perf_counter_ns()
            work()
            times.append((time.perf_counter_ns() - start) / 1e6)
        out[label] = summary(times)
    return out


def run(iterations: int = 3000, warmup: int = 200) -> dict[str, Any]:
    _environment()
    modules = {folder: load(folder) for folder in HANDLERS}
    fakes = Fakes()
    fakes.install(modules["place_call"], modules["cm_callback"], modules["publish_results"])
    bare = bare_handlers()
    total = iterations + warmup
    keyed = place_events(total, with_key=True, prefix="bench-k")
    unkeyed = place_events(total, with_key=False, prefix="bench-n")
    results: dict[str, Any] = {
        "iterations": iterations,
        "warmup": warmup,
        "target_p99_ms": TARGET_P99_MS,
        "log_level": "WARNING (stdout to a null sink during the loops)",
        "scenarios": {},
    }
    with contextlib.redirect_stdout(_NullWriter()):
        results["scenarios"]["place_call_with_key"] = bench_place(
            modules["place_call"], bare["place"], keyed, warmup
        )
        results["scenarios"]["place_call_without_key"] = bench_place(
            modules["place_call"], bare["place"], unkeyed, warmup
        )
        results["scenarios"].update(
            bench_callback_publish(
                callback=modules["cm_callback"],
                publish=modules["publish_results"],
                bare=bare,
                fakes=fakes,
                placed=keyed,
                warmup=warmup,
            )
        )
        logged = place_events(total, with_key=True, prefix="bench-i")
        with _info_logs():
            results["scenarios_info_logs"] = {
                "place_call_with_key": bench_place(
                    modules["place_call"], bare["place"], logged, warmup
                ),
                **bench_callback_publish(
                    callback=modules["cm_callback"],
                    publish=modules["publish_results"],
                    bare=bare,
                    fakes=fakes,
                    placed=logged,
                    warmup=warmup,
                ),
            }
        results["client_overhead"] = client_overhead()
    if fakes.cm.requests != 3 * total:
        raise BenchError(f"CM was asked {fakes.cm.requests} times for {3 * total} placements")
    sc = results["scenarios"]
    results["within_target"] = {
        "place_call_with_key": sc["place_call_with_key"]["product_ms"]["p99"] <= TARGET_P99_MS,
        "place_call_without_key": sc["place_call_without_key"]["product_ms"]["p99"]
        <= TARGET_P99_MS,
        "callback_plus_publish": sc["callback_plus_publish"]["product_ms"]["p99"] <= TARGET_P99_MS,
    }
    return results


def profile(iterations: int, top: int) -> None:
    """cProfile of the place-call (with key) and callback + publish loops (to stdout)."""
    import cProfile
    import pstats

    _environment()
    modules = {folder: load(folder) for folder in HANDLERS}
    fakes = Fakes()
    fakes.install(modules["place_call"], modules["cm_callback"], modules["publish_results"])
    bare = {k: (lambda _e, _c: None) for k in ("place", "callback", "publish")}
    events = place_events(iterations, with_key=True, prefix="prof")
    out = sys.stdout
    for label, work in (
        (
            "place-call (Idempotency-Key)",
            lambda: bench_place(modules["place_call"], bare["place"], events, 0),
        ),
        (
            "callback + publish",
            lambda: bench_callback_publish(
                callback=modules["cm_callback"],
                publish=modules["publish_results"],
                bare=bare,
                fakes=fakes,
                placed=events,
                warmup=0,
            ),
        ),
    ):
        profiler = cProfile.Profile()
        _PROFILER[:] = [profiler]
        with contextlib.redirect_stdout(_NullWriter()):
            work()
        _PROFILER.clear()
        for order in ("tottime", "cumulative"):
            print(f"\n=== {label}: {iterations} requests, top {top} by {order}", file=out)
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--out", help="write the results as JSON here (else stdout)")
    parser.add_argument("--profile", action="store_true", help="print cProfile tables instead")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.profile:
        profile(args.iterations, args.top)
        return
    try:
        results = run(args.iterations, args.warmup)
    except BenchError as error:
        results = {"error": str(error)}
    emit(results, args.out)


if __name__ == "__main__":
    main()
