"""`make load`: a bounded load test on the running local stack (loopback only).

    python scripts/load_test.py [--calls 500] [--rate 20] [--workers 8] [--time-scale 0.0005]

Places `--calls` instructions (one callee each) through the API at a set rate, with the CM
simulator at a high time scale (each call rings, is answered and typed in a few real ms),
then reads the result bus the way the end-to-end tests do (the local capture queue) until
every instruction's DTMF Result arrived or `--timeout` passed, and a little longer to catch
duplicates. Prints achieved calls/s (submitted, and end to end to the bus) and the POST
latency, and exits 1 unless every call was accepted and its result reached the bus exactly
once: one result event (one event id) per call — a copy of the same event delivered again
(EventBridge delivers at least once; the outbox re-publishes an event under its own id after
a crash) is counted and reported, not a second result. Bounded in count and time; stops by
itself. What it measures is our code *and* the emulator (ministack runs every Lambda as a
local process): compare runs on the same machine.

Each client behaves as the README tells a client to: every POST carries an `Idempotency-Key`
(the instruction id), and an answer that does not settle the request — no answer in time,
`429`, `409 request-in-progress`, `5xx` — is retried with the same key and body after a
backoff, for up to `--patience` seconds. A retry therefore tests the guarantee instead of
hiding a failure: a retried call still has to be accepted once and reach the bus exactly
once. A warm-up of `--warmup` instructions (not counted; default two per environment, sent
`--concurrency` at a time, their results awaited on the bus) first starts every environment
the run may use, so the figures are not the cold starts of a handful of local processes.

The emulator runs every execution environment as a local process, on whatever CPU the machine
has left. Two things it does not share with Lambda are adjusted for the run, and put back
afterwards:

- **Environments.** Unbounded, a burst starts more local processes than a small machine can
  bring up, so each API function is capped at `--concurrency` environments (Lambda's
  PutFunctionConcurrency): beyond it the emulator throttles as AWS does at a function's
  reserved concurrency, with `429` to the client (retried with the same key) and to CM's
  callbacks (CM delivers again). The warm-up starts all of them before the counted run.
- **Time** (opt-in, `--function-timeout N`). A Lambda environment has its own CPU; the
  emulator's share two shared cores, so on a loaded machine an invocation's wall-clock runs
  past the function's timeout (10-15 s). The emulator then kills the worker and the next
  invocation starts it cold again — more CPU spent starting processes, slower invocations,
  more kills (measured: 183 cold starts and 80 killed invocations for 500 calls). A
  place-call killed between its reservation and the CM call is the README's one "at most
  once" case: the instruction placed nothing, the retry is `409 instruction-id-in-use`, and
  that call never has a result. With `--function-timeout N` each API function's alias `live`
  points, for the run, at a version whose timeout is N s, so the emulator's slowness makes
  slow calls instead of killed ones; but a stalled invocation then holds one of the capped
  environments for up to N s, and on the loaded machine that run went slower still (README,
  `make load`), so it is not the default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from stack_client import PIN_DIALOGUE, LocalStack

CALLER = "+31201234567"
CAPPED = ("PlaceCallFunction", "CmCallbackFunction", "GetCallFunction")
# A POST is settled by any answer but these (and no answer at all), which the README tells a
# client to retry with the same key: too many requests, the first attempt still running, 5xx.
RETRIED = frozenset({429, 500, 502, 503, 504})
IN_PROGRESS = "urn:dtmf-gateway:problem:request-in-progress"


def instruction(instruction_id: str, callee: str) -> dict[str, Any]:
    return {
        "instruction-id": instruction_id,
        "callee": callee,
        "caller": CALLER,
        "prompt": "Please type your four digit PIN, then press hash.",
        **PIN_DIALOGUE,
        "metadata": {"suite": "load"},
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p / 100))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="instructions per second")
    parser.add_argument("--workers", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--concurrency", type=int, default=3, help="environments per function")
    parser.add_argument("--time-scale", type=float, default=0.0005)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the results")
    parser.add_argument(
        "--patience", type=float, default=300, help="seconds a POST is retried (same key)"
    )
    parser.add_argument(
        "--function-timeout",
        type=int,
        default=0,
        help="API functions' timeout for the run (0: the template's)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="uncounted instructions first, sent --concurrency at a time (default 2 rounds)",
    )
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.calls <= 5000 or args.rate <= 0:
        parser.error("--calls must be 1-5000 and --rate > 0")
    if args.warmup is None:
        args.warmup = 2 * args.concurrency

    stack = LocalStack.load()
    lambdas = stack.client("lambda")
    names = {logical_id: stack.function_name(logical_id) for logical_id in CAPPED}
    before = {
        name: lambdas.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        )
        for name in names.values()
    }
    # the run changes the simulator's time scale and callback retries: a stack that was
    # already running (scripts/with-local-stack leaves it up) gets its settings back
    simulator_before = stack.simulator("GET", "/_simulator/settings").json()
    for name in names.values():
        lambdas.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=args.concurrency
        )
    try:
        with _patient(lambdas, list(names.values()), args.function_timeout):
            return _run(stack, args)
    finally:
        stack.simulator_settings(**simulator_before)
        for name, reserved in before.items():
            if reserved is None:
                lambdas.delete_function_concurrency(FunctionName=name)
            else:
                lambdas.put_function_concurrency(
                    FunctionName=name, ReservedConcurrentExecutions=reserved
                )


@contextmanager
def _patient(lambdas: Any, names: list[str], seconds: int) -> Iterator[None]:
    """Point each function's alias `live` (what the API invokes) at a new version whose
    timeout is ``seconds``; afterwards the alias is put back and the version deleted."""
    changed: list[tuple[str, str, str, int]] = []  # name, old version, new version, timeout
    try:
        for name in names:
            before = lambdas.get_function_configuration(FunctionName=name)["Timeout"]
            if before >= seconds:
                continue
            old = lambdas.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
            lambdas.update_function_configuration(FunctionName=name, Timeout=seconds)
            lambdas.get_waiter("function_updated_v2").wait(FunctionName=name)
            new = lambdas.publish_version(FunctionName=name)["Version"]
            changed.append((name, old, new, before))
            lambdas.update_alias(FunctionName=name, Name="live", FunctionVersion=new)
        yield
    finally:
        for name, old, new, before in changed:
            lambdas.update_alias(FunctionName=name, Name="live", FunctionVersion=old)
            lambdas.update_function_configuration(FunctionName=name, Timeout=before)
            lambdas.delete_function(FunctionName=name, Qualifier=new)


def _run(stack: LocalStack, args: argparse.Namespace) -> int:  # noqa: PLR0915
    """The run itself, with the functions capped."""
    stack.reset_simulator()
    # CM waits seconds between callback retries; at a high time scale the simulator's waits
    # shrink to milliseconds, so a briefly slow emulator would lose callbacks CM would deliver:
    # first retry after a real 0.2 s (the wait doubles each time), up to 12 retries (~14 min).
    stack.simulator_settings(
        **{
            "time-scale": args.time_scale,
            "callback-retries": 12,
            "retry-backoff-ms": round(200 / max(args.time_scale, 1e-6)),
        }
    )
    stack.events()  # drop what earlier runs left on the capture queue
    run = uuid.uuid4().hex[:8]
    ids = [f"load-{run}-{i:05d}" for i in range(args.calls)]
    statuses: Counter[int] = Counter()
    retried: Counter[str] = Counter()  # why a POST was sent again: a status, or "no answer"
    latencies: list[float] = []
    lock = threading.Lock()

    def post(instruction_id: str, callee: str) -> tuple[int, list[str]]:
        """The final status of one instruction's POST, and why each retry was made."""
        reasons: list[str] = []
        give_up = time.monotonic() + args.patience
        attempt = 0
        while time.monotonic() < give_up:
            if attempt:
                time.sleep(min(8.0, 0.5 * 2**attempt))
            attempt += 1
            try:
                response = stack.api(
                    "POST",
                    "/v1/dtmf-calls",
                    instruction(instruction_id, callee),
                    {"Idempotency-Key": instruction_id},
                )
            except Exception as error:  # noqa: BLE001 - no answer: retried, then counted
                reasons.append(f"no answer ({type(error).__name__})")
                continue
            in_progress = response.status_code == 409 and IN_PROGRESS in response.text
            if response.status_code not in RETRIED and not in_progress:
                return response.status_code, reasons
            reasons.append(str(response.status_code))
        return 0, reasons

    def place(i: int, due: float) -> None:
        time.sleep(max(0.0, due - time.monotonic()))
        start = time.monotonic()
        status, reasons = post(ids[i], f"+316{20000000 + i:08d}")
        with lock:
            statuses[status] += 1
            retried.update(reasons)
            latencies.append(time.monotonic() - start)

    # the warm-up: every environment the run may use, started (--concurrency at a time) and
    # its results through to the bus, so the counted run starts warm
    warm = [f"load-{run}-warmup-{i}" for i in range(args.warmup)]
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        warmed = list(
            pool.map(lambda i: post(warm[i], f"+316{29000000 + i:08d}")[0], range(len(warm)))
        )
    if any(status != 202 for status in warmed):
        print(f"[load] warm-up POSTs answered {warmed}: is the stack up?", flush=True)
        return 1
    pending, deadline = set(warm), time.monotonic() + args.timeout
    while pending and time.monotonic() < deadline:
        pending -= {event["detail"]["instruction-id"] for event in stack.events(wait=1)}
    load_before = os.getloadavg()

    print(
        f"[load] {args.calls} calls at {args.rate:g}/s with {args.workers} clients,"
        f" {args.concurrency} environments per API function,"
        f" simulator time scale {args.time_scale:g}",
        flush=True,
    )
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for i in range(args.calls):
            pool.submit(place, i, started + i / args.rate)
    submitted = time.monotonic()

    wanted = set(ids)
    seen: Counter[str] = Counter()  # distinct result events (ids) per instruction
    event_ids: set[str] = set()
    redelivered = 0  # the same event again: EventBridge and the outbox deliver at least once
    foreign = 0

    def count(event: dict[str, Any]) -> bool:
        """Count one captured event; True when it is a new result of the run."""
        nonlocal redelivered, foreign
        instruction_id = event["detail"]["instruction-id"]
        if instruction_id not in wanted:
            foreign += instruction_id not in warm
            return False
        if event["id"] in event_ids:
            redelivered += 1
            return False
        event_ids.add(event["id"])
        seen[instruction_id] += 1
        return True

    last_new = submitted
    deadline = submitted + args.timeout
    while time.monotonic() < deadline and not wanted <= set(seen):
        for event in stack.events():
            if count(event):
                last_new = time.monotonic()
        time.sleep(0.2)
    time.sleep(3)  # catch a late duplicate
    for event in stack.events():
        count(event)
    load_after = os.getloadavg()

    accepted = statuses.get(202, 0)
    missing = sorted(wanted - set(seen))
    duplicated = sorted(i for i, n in seen.items() if n > 1)
    figures = {
        "calls": args.calls,
        "rate_asked": args.rate,
        "workers": args.workers,
        "environments_per_function": args.concurrency,
        "time_scale": args.time_scale,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "retries": dict(retried.most_common()),
        "submit_seconds": round(submitted - started, 2),
        "submitted_per_s": round(args.calls / (submitted - started), 1),
        "end_to_end_seconds": round(last_new - started, 2),
        "results_per_s": round(len(seen) / (last_new - started), 1) if seen else 0.0,
        "post_latency_ms": {
            "p50": round(statistics.median(latencies) * 1000),
            "p90": round(percentile(latencies, 90) * 1000),
            "p99": round(percentile(latencies, 99) * 1000),
            "max": round(max(latencies) * 1000),
        },
        "results_on_bus": sum(seen.values()),
        "instructions_with_a_result": len(seen),
        "missing": len(missing),
        "duplicated": len(duplicated),
        "same_event_redelivered": redelivered,
        "other_events": foreign,
        "function_timeout_s": args.function_timeout,
        "load_average_1_5_15": {
            "before": [round(x, 1) for x in load_before],
            "after": [round(x, 1) for x in load_after],
        },
    }
    ok = accepted == args.calls and not missing and not duplicated
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"[load] {'OK' if ok else 'FAILED'}: {accepted}/{args.calls} accepted,"
        f" {len(seen)} results on the bus ({len(missing)} missing, {len(duplicated)} more than"
        f" once, {redelivered} redelivered copies of an event); submitted"
        f" {figures['submitted_per_s']}/s, end to end {figures['results_per_s']} calls/s"
        f" (load average {load_before[0]:.1f} → {load_after[0]:.1f})",
        flush=True,
    )
    if missing:
        print(f"[load] first missing: {', '.join(missing[:5])}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
