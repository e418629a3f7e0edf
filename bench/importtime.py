"""What the product itself adds to a cold start: ``python -X importtime`` of each handler module
against its floor (same Lambda-like path as bench.cold), median self time per module.

    python -m bench.importtime [--runs 5] [function ...]

"product-only" modules are those the handler imports and the floor does not (first-party
modules, and the standard-library modules only the product needs). A module's *self* time
includes its module-level code: pydantic model building, compiled patterns, and (for ``app``)
the wiring calls that build clients and policies at load. Diagnostic only: not part of
`make bench`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.cold import CHILD, LambdaPaths, _env, _run
from bench.common import functions

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _importtime(args: list[str], env: dict[str, str]) -> tuple[dict[str, int], dict[str, Any]]:
    proc = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-P", "-X", "importtime", str(CHILD), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = {m.group(4): int(m.group(1)) for m in _LINE.finditer(proc.stderr)}
    result = (
        json.loads(proc.stdout.split("BENCH-RESULT ", 1)[1])
        if "BENCH-RESULT " in proc.stdout
        else {}
    )
    return names, result


def analyse(folder: str, paths: LambdaPaths, home: Path, runs: int) -> dict[str, Any]:
    env = _env(folder, paths.path(folder), home)
    modules = _run(["probe-modules"], env)
    clients = _run(["probe-clients"], env)
    floor_args = ["floor", ",".join(modules["modules"]), ",".join(clients["clients"])]
    fn_runs = [_importtime(["function"], env)[0] for _ in range(runs)]
    floor_out = [_importtime(floor_args, env) for _ in range(runs)]
    floor_runs = [names for names, _ in floor_out]
    clients_ms = statistics.median(result.get("clients_ms", 0.0) for _, result in floor_out)
    floor_names = set().union(*floor_runs)
    names = set().union(*fn_runs)
    medians = {name: statistics.median(r.get(name, 0) for r in fn_runs) / 1000 for name in names}
    only = {n: ms for n, ms in medians.items() if n not in floor_names}
    return {
        "product_only_ms": sum(only.values()),
        "product_only_modules": len(only),
        "top": sorted(only.items(), key=lambda kv: -kv[1]),
        "floor_clients_ms": clients_ms,
    }


BREAKDOWN_CHILD = Path(__file__).with_name("importtime_child.py")


def breakdown(folder: str, paths: LambdaPaths, home: Path, runs: int) -> dict[str, Any]:
    """Median time `import app` spends inside each kind of load-time work (wrapped calls)."""
    env = _env(folder, paths.path(folder), home)
    samples: list[dict[str, Any]] = []
    for _ in range(runs):
        proc = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-S", "-P", str(BREAKDOWN_CHILD)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        samples.append(json.loads(proc.stdout.split("BENCH-RESULT ", 1)[1]))
    labels = set().union(*(s["spent_ms"] for s in samples))
    return {
        "import_app_ms": statistics.median(s["total_ms"] for s in samples),
        "kinds": {
            label: {
                "ms": statistics.median(s["spent_ms"].get(label, 0.0) for s in samples),
                "calls": max(s["calls"].get(label, 0) for s in samples),
            }
            for label in sorted(labels)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--breakdown", action="store_true", help="also time load-time work by kind")
    args = parser.parse_args()
    chosen = args.functions or list(functions())
    with tempfile.TemporaryDirectory(prefix="dtmf-bench-importtime-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "home").mkdir()
        paths = LambdaPaths(tmp)
        for folder in chosen:
            result = analyse(folder, paths, tmp / "home", args.runs)
            print(
                f"\n{folder}: product-only imports {result['product_only_ms']:.1f} ms"
                f" ({result['product_only_modules']} modules), median self time of {args.runs}"
                " runs:"
            )
            for name, ms in result["top"][: args.top]:
                print(f"  {ms:7.2f} ms  {name}")
            if result["floor_clients_ms"]:
                print(
                    f"  (the floor spends {result['floor_clients_ms']:.1f} ms creating the same"
                    " AWS clients (and TLS context) outside any import: part of `app`'s self time"
                    " above)"
                )
            if args.breakdown:
                parts = breakdown(folder, paths, tmp / "home", args.runs)
                print(
                    f"  load-time work inside `import app` ({parts['import_app_ms']:.0f} ms with"
                    " the floor's modules already imported):"
                )
                for label, kind in sorted(parts["kinds"].items(), key=lambda kv: -kv[1]["ms"]):
                    print(f"  {kind['ms']:7.2f} ms  {label} ({kind['calls']} calls)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
