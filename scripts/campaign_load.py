"""`make campaign-load`: one campaign of many rows through the running local stack.

    python scripts/campaign_load.py [--rows 10000] [--rate 20] [--concurrent 200]
                                    [--time-scale 0.0005] [--timeout 3600] [--json FILE]

Writes a CSV of `--rows` distinct callees to the stack's campaign bucket, scripts the CM
simulator (high time scale: each call rings, is answered and typed in a few real ms; every
10th callee does not answer), starts one campaign at `--rate` calls per second and
`--concurrent` calls in progress, and follows it to its end. Then it reports:

- rows/s (rows over the time from the campaign's start to its finish),
- peak placements per second, from the simulator's own call times, against the rate,
- peak calls in progress (placed, result not yet recorded), from the campaign's results,
  against `--concurrent`,
- the exact counts, checked: every row ended, exactly one CM call per row, the outcome
  counts equal what the simulator was scripted to do, one `DTMF Campaign Finished`.

Exits 1 unless every check holds. Loopback only; what it measures is our code *and* the
emulator (ministack runs every Lambda as a local process).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

from stack_client import PIN_DIALOGUE, LocalStack

TEMPLATE = {
    "caller": "+31201234567",
    "prompt": "Hello {{name}}, please type your four digit PIN, then press hash.",
    **PIN_DIALOGUE,
    "metadata": {"suite": "campaign-load"},
}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def peak_in_progress(lines: list[dict[str, Any]]) -> int:
    """Most calls between their queueing and their result at any one moment."""
    edges: list[tuple[datetime, int]] = []
    for line in lines:
        if line.get("queued-at") and line.get("finished-at"):
            edges += [(_moment(line["queued-at"]), 1), (_moment(line["finished-at"]), -1)]
    peak = current = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        current += step
        peak = max(peak, current)
    return peak


def main() -> int:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--concurrent", type=int, default=200)
    parser.add_argument("--time-scale", type=float, default=0.0005)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if not 1 <= args.rows <= 100_000:
        parser.error("--rows must be 1-100000")

    stack = LocalStack.load()
    stack.reset_simulator()
    stack.simulator_settings(
        **{
            "time-scale": args.time_scale,
            "callback-retries": 12,
            "retry-backoff-ms": round(200 / max(args.time_scale, 1e-6)),
        }
    )
    base = random.randint(10, 99)  # noqa: S311 - distinct callees per run
    callees = [f"+3161{base}{n:05d}" for n in range(args.rows)]
    unanswered = set(callees[9::10])
    for number in callees:
        if number in unanswered:
            stack.script_callee(number, pickup="no-answer")
        else:
            stack.script_callee(number, pickup="answer", keys=["4821#"])
    key = f"lists/load-{base}-{args.rows}.csv"
    body = "callee,name,metadata.n\n" + "".join(
        f"{c},P{n},{n}\n" for n, c in enumerate(callees, start=1)
    )
    stack.client("s3").put_object(Bucket=stack.campaign_bucket, Key=key, Body=body.encode())
    stack.events(output="LocalCampaignEventCaptureQueueUrl")  # drop what earlier runs left
    campaign_id = f"load-{base}-{random.randint(0, 10**6)}"  # noqa: S311

    started = time.monotonic()
    created = stack.api(
        "POST",
        "/v1/dtmf-campaigns",
        {
            "campaign-id": campaign_id,
            "instruction": TEMPLATE,
            "callees-s3-uri": f"s3://{stack.campaign_bucket}/{key}",
            "calls-per-second": args.rate,
            "max-concurrent-calls": args.concurrent,
        },
    )
    if created.status_code != 202:
        print(f"campaign refused: {created.status_code} {created.text}")
        return 1
    view: dict[str, Any] = {}
    last = ""
    while time.monotonic() - started < args.timeout:
        try:
            view = stack.api("GET", f"/v1/dtmf-campaigns/{campaign_id}").json()
        except httpx.TimeoutException:
            # a progress poll, not a check: the emulator runs every Lambda on this machine,
            # and under load a GET can wait behind the campaign's own invocations
            print(f"{time.monotonic() - started:7.1f}s (progress poll timed out; polling on)")
            time.sleep(5)
            continue
        progress = f"{view['status']} {view['counts']}"
        if progress != last:
            print(f"{time.monotonic() - started:7.1f}s {progress}", flush=True)
            last = progress
        if view["status"] in ("finished", "failed", "cancelled") and view.get("finished-at"):
            break
        time.sleep(5)
    elapsed = time.monotonic() - started

    calls = [c for c in stack.simulator_calls() if str(c["instruction-id"]).startswith(campaign_id)]
    per_second = Counter(_moment(str(c["created-at"])).replace(microsecond=0) for c in calls)
    results_uri = view.get("results-uri") or ""
    lines: list[dict[str, Any]] = []
    if results_uri:
        bucket, _, rkey = results_uri.removeprefix("s3://").partition("/")
        text = stack.client("s3").get_object(Bucket=bucket, Key=rkey)["Body"].read().decode()
        lines = [json.loads(line) for line in text.splitlines()]
    finished_events = [
        e
        for e in stack.events(wait=2, output="LocalCampaignEventCaptureQueueUrl")
        if e["detail"].get("campaign-id") == campaign_id
        and e["detail-type"] == "DTMF Campaign Finished"
    ]
    started_at, finished_at = view.get("started-at"), view.get("finished-at")
    run_seconds = (
        (_moment(finished_at) - _moment(started_at)).total_seconds()
        if started_at and finished_at
        else elapsed
    )
    counts = view.get("counts", {})
    expected = {
        "rows": args.rows,
        "invalid-rows": 0,
        "placed": args.rows,
        "finished": args.rows,
        "input-received": args.rows - len(unanswered),
        "unanswered": len(unanswered),
    }
    figures = {
        "rows": args.rows,
        "status": view.get("status"),
        "seconds": round(run_seconds, 1),
        "rows-per-second": round(args.rows / run_seconds, 2) if run_seconds else None,
        "rate-limit": args.rate,
        "peak-placements-per-second": max(per_second.values(), default=0),
        "concurrent-limit": args.concurrent,
        "peak-calls-in-progress": peak_in_progress(lines),
        "cm-calls": len(calls),
        "distinct-callees-called": len({c["callee"] for c in calls}),
        "counts": counts,
        "results-lines": len(lines),
        "finished-events": len(finished_events),
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    checks = {
        "finished": view.get("status") == "finished",
        "exact counts": {k: counts.get(k, 0) for k in expected} == expected,
        "one CM call per row": len(calls) == args.rows == len({c["callee"] for c in calls}),
        "one results line per row": sorted(line["row"] for line in lines)
        == list(range(1, args.rows + 1)),
        "rate held": figures["peak-placements-per-second"] <= int(args.rate),
        "concurrency held": figures["peak-calls-in-progress"] <= args.concurrent,
        "one Finished event": len(finished_events) == 1,
    }
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
