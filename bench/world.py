"""The bench's pretend AWS account and CM, with only the network stubbed.

* AWS is moto, in-process (``mock_aws``): the product's real boto3 clients validate,
  serialise, sign and parse as in Lambda; moto answers in place of the HTTP round trip.
  :class:`NetworkClock` times what moto does (its ``BotocoreStubber.process_request``) so a
  measurement can leave it out: that is the server's work, not ours.
* CM is answered at httpx's transport (``httpx.HTTPTransport.handle_request``) by devtools'
  FakeCm, so the product's real ``httpx.Client`` runs; that answer is timed and left out too.

Handlers are driven only through their public ``handler(event, context)``, configured by the
environment the template gives them: nothing here knows the product's internal names.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.common import (
    REGION,
    BenchError,
    LambdaContext,
    events_file,
    function_environment,
    lambda_runtime_environment,
    template,
)
from devtools.lambdas import http_event

HANDLERS = ("place_call", "get_call", "cm_callback", "publish_results")
PRODUCT_TOKEN = "6f0c4b8e-1f7d-4c2a-9b3e-5d8a7c6e4f21"
SIGNING_SECRET = {"current": "k" * 48, "previous": "p" * 48}


# ---------------------------------------------------------------------------- the network


@dataclass
class NetworkClock:
    """Nanoseconds spent answering in place of the network (moto for AWS, FakeCm for CM):
    wall-clock (``ns``) and this thread's CPU (``cpu_ns``)."""

    ns: int = 0
    cpu_ns: int = 0
    aws_requests: int = 0
    cm_requests: int = 0
    cm_bodies: list[dict[str, Any]] = field(default_factory=list)

    def install(self) -> None:
        import httpx
        from moto.core.botocore_stubber import BotocoreStubber

        from devtools.cm import FakeCm

        clock = self
        answer_aws = BotocoreStubber.process_request
        fake_cm = FakeCm()

        def process_request(stubber: Any, request: Any) -> Any:
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            try:
                return answer_aws(stubber, request)
            finally:
                clock.ns += time.perf_counter_ns() - start
                clock.cpu_ns += time.thread_time_ns() - cpu
                clock.aws_requests += 1

        def answer_cm(request: httpx.Request) -> httpx.Response:  # its body read already
            clock.cm_bodies.append(json.loads(request.content))
            del clock.cm_bodies[:-5]
            return fake_cm(request)

        def handle_request(_transport: Any, request: httpx.Request) -> httpx.Response:
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            try:
                request.read()
                return answer_cm(request)
            finally:
                clock.ns += time.perf_counter_ns() - start
                clock.cpu_ns += time.thread_time_ns() - cpu
                clock.cm_requests += 1

        async def handle_async_request(
            _transport: Any, request: httpx.Request
        ) -> httpx.Response:  # the CM client is async (one deadline for the whole exchange)
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            try:
                await request.aread()
                return answer_cm(request)
            finally:
                clock.ns += time.perf_counter_ns() - start
                clock.cpu_ns += time.thread_time_ns() - cpu
                clock.cm_requests += 1

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]


def measured(
    clock: NetworkClock, handler: Any, event: Any, context: Any
) -> tuple[float, float, Any]:
    """(ms of wall time, ms of CPU, the handler's answer), each less the stubbed network's
    share. The CPU is this thread's (the handler, its event loop and botocore all run in it):
    other processes' load does not inflate it."""
    before, before_cpu = clock.ns, clock.cpu_ns
    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
    response = handler(event, context)
    elapsed, elapsed_cpu = time.perf_counter_ns() - start, time.thread_time_ns() - cpu
    wall = (elapsed - (clock.ns - before)) / 1e6
    return wall, (elapsed_cpu - (clock.cpu_ns - before_cpu)) / 1e6, response


# ---------------------------------------------------------------------------- the account


@dataclass
class World:
    names: dict[str, str]
    dynamodb: Any  # the bench's own client (its own botocore session: warms nothing of ours)


def create_world() -> World:
    """Tables (from the template), secrets, the callback-URL parameter and the bus, in moto.
    The caller has entered ``mock_aws()``. Uses a separate botocore session, so the product's
    default-session caches (service models, endpoints) stay cold."""
    import boto3

    from devtools.template import create_table

    session = boto3.session.Session(region_name=REGION)
    dynamodb = session.client("dynamodb")
    secrets = session.client("secretsmanager")
    create_table(dynamodb, "CallsTable", "calls")
    create_table(dynamodb, "IdempotencyTable", "idempotency")
    create_table(dynamodb, "CampaignsTable", "campaigns")  # the stack's pacing counter (#17)
    token_arn = secrets.create_secret(Name="cm-token", SecretString=PRODUCT_TOKEN)["ARN"]
    signing_arn = secrets.create_secret(
        Name="callback-signing", SecretString=json.dumps(SIGNING_SECRET)
    )["ARN"]
    digits_arn = secrets.create_secret(Name="digits-hash", SecretString=json.dumps(SIGNING_SECRET))[
        "ARN"
    ]
    session.client("events").create_event_bus(Name="results")
    names = {
        "CallsTable": "calls",
        "IdempotencyTable": "idempotency",
        "CampaignsTable": "campaigns",
        "CmProductTokenSecret": token_arn,
        "CallbackSigningSecret": signing_arn,
        "DigitsHashSecret": digits_arn,
        "ResultBus": "results",
    }
    return World(names=names, dynamodb=dynamodb)


def set_environment(names: dict[str, str], folders: tuple[str, ...] = HANDLERS) -> None:
    """The template's environment for these functions (+ what the Lambda runtime sets)."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "POWERTOOLS_")):
            del os.environ[name]
    for folder in folders:
        os.environ.update(function_environment(folder, names))
    os.environ.update(lambda_runtime_environment(folders[0]))
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here
    warnings.filterwarnings("ignore", message="No application metrics to publish")


@contextlib.contextmanager
def aws() -> Iterator[None]:
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}
    )
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    with mock_aws():
        yield


# ---------------------------------------------------------------------------- the stream


def _matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style pattern (the subset the template's FilterCriteria uses)."""
    if isinstance(pattern, list):
        return value in pattern
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            _matches(sub, value.get(key)) for key, sub in pattern.items()
        )
    return bool(pattern == value)


def stream_filters() -> list[Any]:
    res = template()["Resources"]["PublishResultsFunction"]["Properties"]["Events"]
    filters = res["CallChanges"]["Properties"].get("FilterCriteria", {}).get("Filters", [])
    return [json.loads(f["Pattern"]) for f in filters]


def kept_by_filters(records: list[dict[str, Any]], filters: list[Any]) -> list[dict[str, Any]]:
    """The records Lambda's event source mapping would hand the publisher."""
    return [r for r in records if any(_matches(p, r) for p in filters)]


# ---------------------------------------------------------------------------- events


def callee(i: int) -> str:
    return f"+316{12000000 + i:08d}"  # a distinct valid Dutch mobile number per request


def place_event(instruction_id: str, *, key: str | None, number: str) -> dict[str, Any]:
    body = json.loads(events_file("place_call.json")["body"])
    body["instruction-id"] = instruction_id
    body["callee"] = number
    body.pop("callees", None)
    return http_event("place_call.json", body=body, headers=key_header(key))


def key_header(key: str | None) -> dict[str, str]:
    """The sample's headers less its Idempotency-Key, plus ``key`` as one (if any)."""
    return {"Idempotency-Key": key} if key is not None else {}


def callback_event(cm_body: dict[str, Any], call_id: str) -> dict[str, Any]:
    """CM's dtmf-finished callback for a call the product placed (token from its callback-url)."""
    instruction_id = cm_body["instruction-id"]
    token = parse_qs(urlsplit(cm_body["callback-url"]).query)["token"][0]
    body = json.loads(events_file("cm_callback.json")["body"])
    body.update({"call-id": call_id, "instruction-id": instruction_id, "callee": cm_body["callee"]})
    return http_event(
        "cm_callback.json",
        body=body,
        path=f"/callbacks/cm/{instruction_id}",
        path_parameters={"instruction-id": instruction_id},
        query={"token": token},
    )


def get_event(instruction_id: str) -> dict[str, Any]:
    return http_event(
        "get_call.json",
        path=f"/dtmf-calls/{instruction_id}",
        path_parameters={"instruction-id": instruction_id},
    )


def status_of(response: Any) -> int | None:
    return response.get("statusCode") if isinstance(response, dict) else None


def check(label: str, response: Any, expected: int) -> None:
    if status_of(response) != expected:
        body = str(response.get("body") if isinstance(response, dict) else response)[:300]
        raise BenchError(f"{label}: expected HTTP {expected}, got {status_of(response)}: {body}")


def context(folder: str) -> LambdaContext:
    return LambdaContext(function_name=f"dtmf-bench-{folder}")


def load(folder: str) -> ModuleType:
    from devtools.lambdas import load_function

    try:
        return load_function(folder, prefix="bench")
    except Exception as error:
        raise BenchError(f"functions/{folder}/app.py does not load: {error!r}") from error
