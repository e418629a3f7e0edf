"""`make bench`: cold init, warm overhead, AWS requests per call, cost per 1M calls, package
sizes. Prints one table and writes the same figures as JSON (bench/results/latest.json).

    python -m bench.run [--runs N] [--json PATH] [--only cold,warm,requests,cost,sizes]

A benchmark prints numbers: nothing here asserts on times. Targets are marked ✓/✗.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, ROOT, BenchError, child_env, write_json
from bench.cost import REQUEST_SHAPES, TARGET_USD_PER_MILLION, TRAFFIC

SECTIONS = ("cold", "warm", "requests", "cost", "sizes")


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _child(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m bench.<module>` in a fresh process; its JSON comes back through a file."""
    with tempfile.TemporaryDirectory(prefix="dtmf-bench-") as tmp:
        out = Path(tmp) / "out.json"
        proc = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", f"bench.{module}", "--out", str(out), *args],
            env=child_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise BenchError(f"bench.{module} failed: {lines[-1] if lines else proc.returncode}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _guard(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    _log(f"{name} ...")
    try:
        result = work()
    except BenchError as error:
        result = {"error": str(error)}
    except Exception as error:  # noqa: BLE001 - one broken section must not hide the others
        result = {"error": f"{type(error).__name__}: {error}"}
    result["seconds"] = round(time.perf_counter() - start, 1)
    _log(
        f"{name} done in {result['seconds']} s"
        + (f": {result['error']}" if "error" in result else "")
    )
    return result


# ---------------------------------------------------------------------------- the table


def _ok(flag: bool | None) -> str:
    return "✓" if flag else "✗"


def _ms(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.3f}"


def _mb(n: float) -> str:
    return f"{n / 1_048_576:,.2f} MB" if n >= 1_048_576 else f"{n / 1024:,.1f} KB"


def _spread(s: dict[str, float]) -> str:
    return f"{_ms(s['median'])} [{_ms(s['p10'])}-{_ms(s['p90'])}]"


def _pair(entry: dict[str, Any], kind: str) -> str:
    fn = entry.get(f"function_{kind}_ms", {}).get("median", float("nan"))
    floor = entry.get(f"floor_{kind}_ms", {}).get("median", float("nan"))
    return f"{_ms(fn)}/{_ms(floor)}"


def _cold_table(cold: dict[str, Any]) -> list[str]:
    out = [
        f"1. COLD INIT per function from {cold.get('artifact')} (ms, in-child: first bootstrap"
        f" line -> end of module exec; median [p10-p90] of {cold.get('runs')} rotating runs)",
        "   floor = same third-party modules + same AWS clients (+ httpx's default TLS context"
        " when the function makes one at load) only; hello = a bare Powertools handler (Logger,"
        " Metrics, HTTP API resolver). The artifact ships bytecode (make build).",
        f"   native extensions from the dev venv (artifact is arm64):"
        f" {', '.join(cold.get('native_from_venv', [])) or 'none'}",
        f"   {'function':<17} {'function init':>20} {'floor init':>20} {'hello init':>18}"
        f" {'fn/floor':>8} {'per-round p10-p90':>17} {'fn/hello':>8}  ≤1.10x",
    ]
    for fn, e in cold.get("functions", {}).items():
        if "error" in e:
            out.append(f"   {fn:<17} ERROR: {e['error']}")
            continue
        rr = e["ratio_rounds"]
        out.append(
            f"   {fn:<17} {_spread(e['function_init_ms']):>20} {_spread(e['floor_init_ms']):>20}"
            f" {_spread(e['hello_init_ms']):>18} {e['ratio']:>8.2f}"
            f" {f'{rr["p10"]:.2f}-{rr["p90"]:.2f}':>17} {e['ratio_hello']:>8.2f}"
            f"  {_ok(e['ratio'] <= cold['target_ratio'])}"
        )
        if "ratio_cpu" in e:  # CPU time over the same span: what other processes' load spares
            rc = e["ratio_cpu_rounds"]
            out.append(
                f"   {'  same, CPU ms':<17} {_spread(e['function_init_cpu_ms']):>20}"
                f" {_spread(e['floor_init_cpu_ms']):>20} {_spread(e['hello_init_cpu_ms']):>18}"
                f" {e['ratio_cpu']:>8.2f} {f'{rc["p10"]:.2f}-{rc["p90"]:.2f}':>17}"
                f" {e['ratio_cpu_hello']:>8.2f}  {_ok(e['ratio_cpu'] <= cold['target_ratio'])}"
            )
        if e.get("floor_https_context"):  # the ratio against the floor without that context
            ra = e["ratio_cpu_aws_floor_rounds"]
            out.append(
                f"   {'  CPU, floor w/o TLS context':<38}"
                f" {e['floor_https_cpu_ms']['median']:>7.1f} ms less:"
                f" {e['ratio_cpu_aws_floor']:>32.2f} {f'{ra["p10"]:.2f}-{ra["p90"]:.2f}':>17}"
            )
    out.append(
        "   floor contents: "
        + "; ".join(
            f"{fn} {e['third_party_modules']} modules of {len(e['third_party_packages'])}"
            f" packages + {'/'.join(e['aws_clients']) or 'no'} client"
            + (" + httpx TLS context" if e.get("floor_https_context") else "")
            for fn, e in cold.get("functions", {}).items()
            if "third_party_modules" in e
        )
    )
    return out


def _warm_table(warm: dict[str, Any]) -> list[str]:
    names = {
        "place_call_with_key": "place-call, with Idempotency-Key",
        "place_call_without_key": "place-call, no key",
        "callback": "callback",
        "publish": "publish (1 stream record)",
        "callback_plus_publish": "callback + publish",
        "get_call": "get-call (GET polling)",
    }
    out = [
        f"2. WARM OVERHEAD per request (ms, wall less the stubbed network, and CPU;"
        f" {warm.get('iterations')}"
        f" lifecycles after {warm.get('warmup')} warm-up; {warm.get('adapters')};"
        f" log level {warm.get('log_level')})",
        f"   {'scenario':<34} {'product p50/p99/mean':>24} {'bare Powertools p50/p99':>24}"
        f" {'added p50/p99':>15} {'added CPU p50/p99':>18}  CPU p99≤3ms",
    ]
    for key, label in names.items():
        s = warm.get("scenarios", {}).get(key)
        if not s:
            continue
        p, b = s["product_ms"], s["bare_ms"]
        target = warm.get("within_target", {}).get(key)
        product = f"{_ms(p['median'])} / {_ms(p['p99'])} / {_ms(p['mean'])}"
        out.append(
            f"   {label:<34} {product:>24}"
            f" {_ms(b['median']) + ' / ' + _ms(b['p99']):>24}"
            f" {_ms(s['added_p50_ms']) + ' / ' + _ms(s['added_p99_ms']):>15}"
            f" {_ms(s['added_cpu_p50_ms']) + ' / ' + _ms(s['added_cpu_p99_ms']):>18}"
            f"  {'' if target is None else _ok(target)}"
        )
    out.append(
        f"   stubbed network time left out: {warm.get('stubbed_network_s')} s over"
        f" {warm.get('aws_requests')} AWS and {warm.get('cm_requests')} CM requests"
    )
    first = warm.get("first")
    if first and "functions" in first:
        out.append(
            f"   FIRST REQUEST in a new environment (after init; fresh interpreter each, median"
            f" [p10-p90] of {first['runs']}; ≤{first['target_ms']:g} ms of CPU for place-call"
            f" {_ok(first.get('within_target'))}, wall {_ok(first.get('within_target_wall'))}):"
        )
        for fn, e in first["functions"].items():
            load_cpu = f" (CPU {_spread(e['init_cpu_ms'])})" if "init_cpu_ms" in e else ""
            out.append(
                f"   {fn:<17} first {_spread(e['first_ms']):>20} (CPU {_spread(e['first_cpu_ms'])})"
                f"   second {_spread(e['second_ms']):>18} (CPU {_spread(e['second_cpu_ms'])})"
                f"   module load {_spread(e['init_in_process_ms'])}{load_cpu}"
            )
    elif first:
        out.append(f"   FIRST REQUEST: ERROR: {first.get('error')}")
    out += _snapstart_rows(warm.get("first_snapstart"))
    return out


def _snapstart_rows(snap: dict[str, Any] | None) -> list[str]:
    """The first request after a SnapStart restore, beside the restore hook's own CPU (its
    secret reads) and the before-snapshot hook's (priming, once per published version)."""
    if not snap:
        return []
    if "functions" not in snap:
        return [f"   FIRST REQUEST, SnapStart: ERROR: {snap.get('error')}"]
    out = [
        f"   FIRST REQUEST after a SnapStart restore (CPU, median [p10-p90] of {snap['runs']};"
        " the after-restore hook runs before it, in every new environment):"
    ]
    for fn, e in snap["functions"].items():
        out.append(
            f"   {fn:<17} first {_spread(e['first_cpu_ms']):>20}"
            f"   after-restore hook {_spread(e['after_restore_cpu_ms'])}"
            f"   second {_spread(e['second_cpu_ms'])}"
            f"   before-snapshot hook {_spread(e['before_snapshot_cpu_ms'])}"
        )
    return out


def _requests_table(req: dict[str, Any]) -> list[str]:
    sc = req.get("scenarios", {})
    cols = ("cold_with_key", "warm_with_key", "cold_without_key", "warm_without_key")
    heads = ("cold+key", "warm+key", "cold,no key", "warm,no key")
    tgt = req.get("within_target", {})
    rows: list[tuple[str, str, str]] = [
        (
            "DynamoDB writes (items)",
            "dynamodb_write_items",
            f"≤5 {_ok(tgt.get('dynamodb_writes'))}",
        ),
        ("  write request units", "dynamodb_wru", ""),
        ("DynamoDB reads", "dynamodb_reads", ""),
        ("  read request units", "dynamodb_rru", ""),
        ("PutEvents entries", "put_events_entries", f"=1 {_ok(tgt.get('put_events_entries'))}"),
        (
            "Secrets Manager GetSecretValue",
            "secrets_get_secret_value",
            f"0 warm {_ok(tgt.get('warm_secrets_reads'))}",
        ),
        ("SSM GetParameter", "ssm_get_parameter", ""),
    ]
    out = [
        "3. AWS REQUESTS per call lifecycle (place -> CM callback -> publish; moto, botocore"
        " before-parameter-build hook)",
        f"   {'':<31}" + "".join(f"{h:>12}" for h in heads) + "   target",
    ]
    for label, key, target in rows:
        vals = "".join(f"{sc.get(c, {}).get(key, float('nan')):>12g}" for c in cols)
        out.append(f"   {label:<31}{vals}   {target}")
    warm = sc.get("warm_with_key", {})
    out.append(
        "   per function (warm+key): "
        + "; ".join(
            f"{fn}: " + ", ".join(f"{op.split(':')[1]}x{n}" for op, n in ops.items())
            for fn, ops in warm.get("by_function", {}).items()
        )
    )
    out.append("   writes (warm+key): " + "; ".join(warm.get("dynamodb_write_detail", [])))
    out.append(
        f"   AWS requests at module load: {req.get('init_aws_requests')}"
        f" {_ok(tgt.get('no_aws_at_init'))}; stream records the FilterCriteria dropped:"
        f" {req.get('stream_records_filtered_out')}; log bytes per call at INFO: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in req.get("log_bytes_per_lifecycle", {}).items())
    )
    return out


def _cost_table(cost: dict[str, Any]) -> list[str]:
    sc = cost.get("scenarios", {})
    names = list(sc)
    out = [
        f"4. COST per 1M calls (USD; {cost.get('region')} list prices as of"
        f" {cost.get('prices_as_of')} (from AWS pricing pages, not fetched live);"
        " telephony excluded)",
        f"   {'':<36}"
        + "".join(f"{sc[n]['api'].upper() + ', ' + sc[n]['traffic']:>30}" for n in names),
    ]
    for i, line in enumerate(sc[names[0]]["usd_per_million_calls"] if names else []):
        values = [list(sc[n]["usd_per_million_calls"].values())[i] for n in names]
        label = line.replace("REST ", "").replace("HTTP ", "")
        out.append(f"   {label:<36}" + "".join(f"{v:>30.2f}" for v in values))
    out.append(
        f"   {'TOTAL (target ≤ $12)':<36}"
        + "".join(f"{f'{sc[n]["total"]:.2f} ' + _ok(sc[n]['within_target']):>30}" for n in names)
    )
    deployed = cost.get("deployed_api", "http")
    for shape, totals in cost.get("totals_by_shape", {}).items():
        label = f"   TOTAL, {deployed.upper()}, {REQUEST_SHAPES.get(shape, shape)}"
        out.append(
            f"{label}: "
            + ", ".join(
                f"{TRAFFIC[name]['label']} {v:.2f} {_ok(v <= TARGET_USD_PER_MILLION)}"
                for name, v in totals.items()
            )
        )
    out.append(
        f"   {'+ fixed monthly costs, per 1M calls':<36}"
        + "".join(f"{sc[n]['fixed_usd_per_million_calls']:>30.2f}" for n in names)
    )
    out.append(
        f"   {'+ each GET poll per call':<36}"
        + "".join(f"{sc[n]['usd_per_million_polls']:>30.2f}" for n in names)
    )
    fixed = cost.get("fixed_usd_per_month", {})
    out.append(
        f"   fixed monthly: ${sum(fixed.values()):.2f} ("
        + ", ".join(f"{k} ${v:.2f}" for k, v in fixed.items())
        + f"); the template deploys a {cost.get('deployed_api', '?').upper()} API today"
    )
    a = cost.get("assumptions", {})
    for n in names:
        notes = sc[n]["notes"]
        out.append(
            f"   {n}: Lambda billed ms {notes['lambda_billed_ms']}, X-Ray sampled"
            f" {notes['xray_sampled_fraction']:.0%} ({notes['xray_traces_per_call']:.2f}"
            f" traces/call, ${notes['xray_usd_if_enabled']:.2f} per 1M calls if"
            f" EnableTracing=true), {notes['log_bytes_per_call']:,.0f} log bytes/call,"
            f" {notes['secret_reads_per_call']:.4f} secret reads/call"
        )
    out.append(
        f"   assumptions: {a.get('io_ms_per_aws_request'):g} ms per AWS request, CM"
        f" {a.get('cm_ms_per_request'):g} ms, handler CPU x {a.get('cpu_scale', 0):.1f} (256 MB ="
        f" 0.145 vCPU), 256 MB, stream batch {a.get('stream_batch_records')} records,"
        f" {a.get('cold_start_fraction', 0):.0%} cold starts (INIT billed), secrets refetched"
        f" every {a.get('secrets_max_age_s')} s per environment, X-Ray {a.get('xray_sampling')},"
        f" items kept {a.get('days_retained')} days"
    )
    return out


def _sizes_table(sizes: dict[str, Any]) -> list[str]:
    out = [
        "5. PACKAGE SIZES after `make build` (.aws-sam/build)",
        f"   {'artifact':<20} {'unzipped':>12} {'zipped':>12} {'files':>7} {'.py/.pyc':>11}",
    ]
    for kind in ("layers", "functions"):
        for name, e in sizes.get(kind, {}).items():
            if "error" in e:
                out.append(f"   {name:<20} ERROR: {e['error']}")
                continue
            mark = ""
            if kind == "layers":
                mark = f"  ≤30 MB {_ok(e['unzipped_bytes'] <= sizes['target_layer_bytes'])}"
            out.append(
                f"   {name:<20} {_mb(e['unzipped_bytes']):>12} {_mb(e['zipped_bytes']):>12}"
                f" {e['files']:>7} {str(e['py_files']) + '/' + str(e['pyc_files']):>11}{mark}"
            )
            if "largest" in e:
                out.append(
                    f"   {'':<20} built for {e['architecture']}; largest: "
                    + ", ".join(f"{k} {_mb(v)}" for k, v in e["largest"].items())
                )
    return out


def _targets(results: dict[str, Any]) -> list[str]:
    cold, warm = results.get("cold", {}), results.get("warm", {})
    req, cost, sizes = (
        results.get("requests", {}),
        results.get("cost", {}),
        results.get("sizes", {}),
    )
    rows = []
    if "functions" in cold:
        pc = cold["functions"].get("place_call", {})
        if "ratio_cpu" in pc:  # issue 15's goal: place-call, on the CPU clock
            rows.append(
                ("place-call cold init / floor ≤ 1.10 (CPU, median)", pc["ratio_cpu"] <= 1.10)
            )
        rows.append(
            (
                "cold init ≤ 1.10 x floor (median), every function (beyond issue 15's goal)",
                cold.get("all_within_target"),
            )
        )
        if "ratio_rounds" in pc:
            rows.append(
                ("place-call cold init / floor p90 ≤ 1.20", pc["ratio_rounds"]["p90"] <= 1.20)
            )
    if "within_target" in warm:
        wt = warm["within_target"]
        rows.append(
            ("warm added CPU p99 ≤ 3 ms, place-call (with key)", wt.get("place_call_with_key"))
        )
        rows.append(
            ("warm added CPU p99 ≤ 3 ms, place-call (no key)", wt.get("place_call_without_key"))
        )
    if "within_target" in warm.get("first", {}):
        rows.append(
            ("first request ≤ 8 ms of CPU, place-call (median)", warm["first"]["within_target"])
        )
    if "within_target" in warm.get("first_snapstart", {}):
        rows.append(
            (
                "first request ≤ 8 ms of CPU after a SnapStart restore, place-call (median)",
                warm["first_snapstart"]["within_target"],
            )
        )
    if "within_target" in req:
        rt = req["within_target"]
        rows.append(("≤ 5 DynamoDB writes per lifecycle", rt.get("dynamodb_writes")))
        rows.append(("exactly 1 PutEvents entry per lifecycle", rt.get("put_events_entries")))
        rows.append(("0 Secrets Manager reads when warm", rt.get("warm_secrets_reads")))
    for sc in cost.get("scenarios", {}).values():
        rows.append(
            (f"≤ $12 per 1M calls ({sc['api'].upper()}, {sc['traffic']})", sc.get("within_target"))
        )
    if "within_target" in sizes:
        rows.append(("layer ≤ 30 MB unzipped", sizes.get("within_target")))
    return ["TARGETS"] + [f"   {_ok(flag)} {label}" for label, flag in rows]


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        f"dtmf-gateway bench — {meta['started']} — Python {meta['python']} on {meta['machine']},"
        f" {meta['cpus']} CPUs, load average {meta['load_before']} -> {meta['load_after']}",
        "",
    ]
    builders = {
        "cold": _cold_table,
        "warm": _warm_table,
        "requests": _requests_table,
        "cost": _cost_table,
        "sizes": _sizes_table,
    }
    for section, build in builders.items():
        data = results.get(section)
        if data is None:
            continue
        if "error" in data:
            out.append(f"{section.upper()}: ERROR: {data['error']}")
        else:
            try:
                out.extend(build(data))
            except (KeyError, TypeError, ValueError) as error:
                out.append(f"{section.upper()}: cannot tabulate ({error!r})")
        out.append("")
    out.extend(_targets(results))
    return "\n".join(out)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dtmf-gateway benchmarks (make bench)")
    parser.add_argument("--runs", type=int, default=20, help="cold-init runs per function")
    parser.add_argument("--iterations", type=int, default=1000, help="warm lifecycles")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up lifecycles")
    parser.add_argument("--first-runs", type=int, default=10, help="first-request samples")
    parser.add_argument("--api", choices=("rest", "http"), default="http", help="cost: API type")
    parser.add_argument("--polls", type=float, default=0.0, help="cost: GETs per call")
    parser.add_argument("--json", default=str(RESULTS_DIR / "latest.json"))
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {SECTIONS}")

    results: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_before": round(os.getloadavg()[0], 2),
            "sections": only,
        }
    }
    previous: dict[str, Any] = {}
    json_path = Path(args.json)
    if json_path.exists():
        try:
            previous = json.loads(json_path.read_text())
        except ValueError:
            previous = {}

    if "cold" in only:
        from bench import cold

        results["cold"] = _guard("cold init", lambda: cold.run(args.runs, log=_log))
    if "warm" in only:
        results["warm"] = _guard(
            "warm overhead",
            lambda: _child(
                "warm", "--iterations", str(args.iterations), "--warmup", str(args.warmup)
            ),
        )
        if args.first_runs and "error" not in results["warm"]:
            results["warm"]["first"] = _guard(
                "first request", lambda: _child("warm", "--first-runs", str(args.first_runs))
            )
            results["warm"]["first_snapstart"] = _guard(
                "first request, SnapStart",
                lambda: _child("warm", "--first-runs", str(args.first_runs), "--snapstart"),
            )
    if "requests" in only or ("cost" in only and "requests" not in previous):
        results["requests"] = _guard("AWS requests", lambda: _child("requests"))
    if "cost" in only:
        from bench import cost

        def inputs(name: str) -> dict[str, Any] | None:
            data = results.get(name) or previous.get(name)
            return None if data is None or "error" in data else data

        def compute() -> dict[str, Any]:
            req, warm = inputs("requests"), inputs("warm")
            if req is None or warm is None:
                raise BenchError("cost needs the requests and warm sections (run them first)")
            return cost.run(req, warm, inputs("cold"), api=args.api, polls=args.polls)

        results["cost"] = _guard("cost", compute)
    if "sizes" in only:
        from bench import sizes

        results["sizes"] = _guard("package sizes", sizes.run)

    results["meta"]["load_after"] = round(os.getloadavg()[0], 2)
    text = table(results)
    print(text)
    # sections not run this time keep their previous figures (cost reads them next time)
    kept = {k: v for k, v in previous.items() if k in SECTIONS and k not in results}
    write_json(json_path, {**kept, **results, "table": text.splitlines()})
    _log(f"figures written to {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
