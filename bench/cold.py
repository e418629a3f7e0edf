"""Cold init per function against its floor and a bare Powertools handler, in fresh interpreters,
from the built artifact (`make build`: .aws-sam/build, bytecode included).

*function*: a fresh interpreter imports the handler module (``app``, from
.aws-sam/build/<Function>/ with the built layer's python/ on the path, as in Lambda) and runs
everything the module runs at load.
*floor*: a fresh interpreter imports exactly the third-party modules the handler module ended
up importing (the same ``sys.modules`` keys, found by a probe run) and creates the same AWS
clients, nothing else — and, when the handler module made an HTTPS client's TLS context at load
(httpx's default one: certifi's CA bundle parsed into an ``ssl.SSLContext``, what every
``httpx.Client()`` builds), that context too (``httpx.create_ssl_context()``, no product code):
the same kind of dependency cost as an AWS client. Since 2026-11-30 (issue 15); the ratio
against the floor without it (the AWS clients alone, as before) is reported beside it
(``ratio_cpu_aws_floor``: each floor run's CPU less the time it spent on that context).
*Without the collector*: a function whose init pauses CPython's cyclic collector (it imports
``dtmf_gateway.init_begins`` first; since 2026-11-30) gets a floor that pauses it too, so the
ratio compares like with like; the function's own init CPU (``function_init_cpu_ms``) shows
what the pause saves.
*hello*: a bare Powertools handler (Logger, Metrics, the HTTP API resolver, one route answering a
constant): the least any handler in this style costs.
The three rotate (function, floor, hello; then the next order) to cancel drift. Times are
taken inside the child from the first line of a tiny bootstrap (bench/cold_child.py) to the
end of module execution, and around the whole subprocess (start-up and exit included); the
same span is also taken in CPU time (``time.process_time``), which other processes' load does
not inflate, and every ratio is given on both clocks.

The path is Lambda's, not the dev venv's: ``python -S`` (no site-packages) with
``PYTHONPATH = <built function> : <native overrides> : <built layer>/python : <runtime deps>``.
The artifact is built for the template's architecture (arm64); on another machine its two
compiled extensions (pydantic_core, regex) cannot load, so <native overrides> links the dev
venv's wheels of the same versions in front of them (checked). <runtime deps> links boto3 and
its dependencies (Lambda's runtime provides them). Dev-only packages that some libraries
import when present are absent, as in Lambda. AWS points at a dead loopback port, so an AWS
call at module load would fail loudly.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.common import (
    BUILD_DIR,
    LOOPBACK_ENDPOINT,
    BenchError,
    function_environment,
    functions,
    lambda_runtime_environment,
    summary,
    template,
)

CHILD = Path(__file__).with_name("cold_child.py")
MARK = "BENCH-RESULT "
TARGET_RATIO = 1.10  # issue 15: median of >= 20 runs
TARGET_RATIO_P90 = 1.20
HTTPS_CLIENT = "https@httpx"  # cold_child.HTTPS: the floor builds httpx's default TLS context
GC_PAUSED = "gc-paused"  # cold_child.PAUSED: the floor runs without the cyclic collector
INIT_WITHOUT_GC = "dtmf_gateway.init_begins"  # the module that pauses it for the init
RUNTIME_PROVIDED = ("boto3",)  # the Lambda Python runtime ships boto3 and its dependencies


# ---------------------------------------------------------------------------- Lambda's path


def _requirement_names(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"(?m)^\s*([A-Za-z0-9_.-]+)\s*==", text)]


def _closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The distributions and everything they require (environment markers evaluated)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        dist = metadata.distribution(name)
        seen[key] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _entries(dist: metadata.Distribution) -> set[str]:
    """Top-level names a distribution installs (packages, modules, extension files, dist-info)."""
    tops = set()
    for file in dist.files or ():
        top = file.parts[0]
        if top in ("..", "__pycache__", "bin") or top.endswith(".data"):
            continue
        tops.add(top)
    return tops


def _site(into: Path, dists: Iterable[metadata.Distribution], *, copy: bool) -> Path:
    """A site directory with the distributions' files: symlinks, or copies without bytecode."""
    into.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for dist in dists:
        for top in _entries(dist):
            source = Path(str(dist.locate_file(top)))
            target = into / top
            if target.exists() or not source.exists():
                continue
            if not copy:
                target.symlink_to(source)
            elif source.is_dir():
                shutil.copytree(source, target, ignore=ignore)
            else:
                shutil.copy2(source, target)
    return into


def _layer_logical_id() -> str:
    for logical_id, res in template()["Resources"].items():
        if res.get("Type") == "AWS::Serverless::LayerVersion":
            return str(logical_id)
    raise BenchError("the template has no layer")


def _loadable_here(package: Path) -> bool:
    """False when the package holds a compiled extension built for another machine."""
    here = platform.machine().lower()
    return all(here in so.name.lower() for so in package.rglob("*.so"))


class LambdaPaths:
    """The directories a child's PYTHONPATH is made of, from the built artifact."""

    def __init__(self, tmp: Path) -> None:
        self.layer = BUILD_DIR / _layer_logical_id() / "python"
        if not self.layer.is_dir():
            raise BenchError(f"{self.layer} not found: run `make build` first")
        runtime = _closure(RUNTIME_PROVIDED)
        self.runtime_deps = _site(tmp / "runtime-deps", runtime, copy=False)
        self.native = tmp / "native"
        self.native.mkdir()
        self.replaced: list[str] = []
        for package in sorted(p for p in self.layer.iterdir() if p.is_dir()):
            if package.name.endswith(".dist-info") or _loadable_here(package):
                continue
            built = next(self.layer.glob(f"{package.name}-*.dist-info"), None)
            dist = metadata.distribution(package.name)
            if built is None or not built.name.startswith(f"{package.name}-{dist.version}."):
                raise BenchError(
                    f"{package.name}: the artifact's version differs from the venv's {dist.version}"
                )
            (self.native / package.name).symlink_to(Path(str(dist.locate_file(package.name))))
            self.replaced.append(f"{package.name}=={dist.version}")

    def path(self, folder: str) -> list[Path]:
        return [BUILD_DIR / functions()[folder], self.native, self.layer, self.runtime_deps]


# ---------------------------------------------------------------------------- children


def _env(folder: str, python_path: list[Path], home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": LOOPBACK_ENDPOINT,
        "PYTHONPATH": os.pathsep.join(str(p) for p in python_path),
        "PYTHONHASHSEED": "0",
    }
    env.update(lambda_runtime_environment(folder))
    env.update(function_environment(folder))
    return env


def _run(args: list[str], env: dict[str, str], *, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """One child: its in-child init time, the wall time until it reported (spawn, start-up,
    init) and the whole wall time (module teardown at exit included)."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-S", "-P", *flags, str(CHILD), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert proc.stdout is not None  # noqa: S101 - we asked for the pipe
        result: dict[str, Any] | None = None
        for line in proc.stdout:
            if line.startswith(MARK):
                ready_ms = (time.perf_counter() - start) * 1000
                result = json.loads(line[len(MARK) :])
        code = proc.wait(timeout=120)
        wall_ms = (time.perf_counter() - start) * 1000
        if code != 0 or result is None:
            errors.seek(0)
            lines = [line for line in errors.read().strip().splitlines() if line.strip()]
            raise BenchError(lines[-1] if lines else f"exit status {code}")
    result["ready_ms"] = ready_ms
    result["wall_ms"] = wall_ms
    return result


KINDS = ("fn", "floor", "hello")


def _measure(env: dict[str, str], floor_args: list[str], runs: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        f"{k}{x}": [] for k in KINDS for x in ("", "_cpu", "_ready", "_wall")
    }
    https_cpu: list[float] = []  # the floor's TLS context (0 when the handler makes none)
    failed_imports: list[str] = []
    args = {"fn": ["function"], "floor": floor_args, "hello": ["hello"]}
    for kind in KINDS:  # one discarded run each (page cache)
        _run(args[kind], env)
    for i in range(runs):
        order = KINDS[i % 3 :] + KINDS[: i % 3]
        for kind in order if i % 2 == 0 else tuple(reversed(order)):
            r = _run(args[kind], env)
            samples[kind].append(r["init_ms"])
            samples[f"{kind}_cpu"].append(r["init_cpu_ms"])
            samples[f"{kind}_ready"].append(r["ready_ms"])
            samples[f"{kind}_wall"].append(r["wall_ms"])
            failed_imports = r.get("failed_imports", failed_imports)
            if kind == "floor":
                https_cpu.append(r.get("https_cpu_ms", 0.0))
    names = {"fn": "function", "floor": "floor", "hello": "hello"}
    out: dict[str, Any] = {}
    for kind, name in names.items():
        out[f"{name}_init_ms"] = summary(samples[kind])
        out[f"{name}_init_cpu_ms"] = summary(samples[f"{kind}_cpu"])
        out[f"{name}_ready_ms"] = summary(samples[f"{kind}_ready"])
        out[f"{name}_wall_ms"] = summary(samples[f"{kind}_wall"])
    fn, floor, hello = (summary(samples[k]) for k in KINDS)
    # the ratio's spread: per-round ratios (each round has one run of each, close in time)
    ratios = [f / fl for f, fl in zip(samples["fn"], samples["floor"], strict=True)]
    fn_cpu, floor_cpu, hello_cpu = (summary(samples[f"{k}_cpu"]) for k in KINDS)
    out.update(
        {
            "ratio": fn["median"] / floor["median"],
            "ratio_rounds": summary(ratios),
            "ratio_hello": fn["median"] / hello["median"],
            "added_ms": fn["median"] - floor["median"],
            # the same ratios on CPU time (this process's own work: what a loaded machine's
            # other processes do not inflate), beside the wall-clock ones above
            "ratio_cpu": fn_cpu["median"] / floor_cpu["median"],
            "ratio_cpu_rounds": summary(
                [f / fl for f, fl in zip(samples["fn_cpu"], samples["floor_cpu"], strict=True)]
            ),
            "ratio_cpu_hello": fn_cpu["median"] / hello_cpu["median"],
            "added_cpu_ms": fn_cpu["median"] - floor_cpu["median"],
            "floor_failed_imports": failed_imports,
            # the floor's TLS context, and the CPU ratio against the floor without it
            "floor_https_cpu_ms": summary(https_cpu),
            "ratio_cpu_aws_floor": fn_cpu["median"]
            / summary([f - h for f, h in zip(samples["floor_cpu"], https_cpu, strict=True)])[
                "median"
            ],
            "ratio_cpu_aws_floor_rounds": summary(
                [
                    f / (fl - h)
                    for f, fl, h in zip(
                        samples["fn_cpu"], samples["floor_cpu"], https_cpu, strict=True
                    )
                ]
            ),
        }
    )
    return out


def run(
    runs: int = 20, log: Callable[[str], None] = print, only: Iterable[str] = ()
) -> dict[str, Any]:
    """Every function's cold init (or only the folders named in ``only``)."""
    chosen = set(only)
    results: dict[str, Any] = {
        "runs": runs,
        "target_ratio": TARGET_RATIO,
        "target_ratio_p90": TARGET_RATIO_P90,
        "artifact": str(BUILD_DIR.relative_to(BUILD_DIR.parents[1])),
        "functions": {},
    }
    with tempfile.TemporaryDirectory(prefix="dtmf-bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        paths = LambdaPaths(tmp)
        results["native_from_venv"] = paths.replaced
        for folder in functions():
            if chosen and folder not in chosen:
                continue
            log(f"cold init: {folder}")
            entry: dict[str, Any] = {}
            results["functions"][folder] = entry
            env = _env(folder, paths.path(folder), home)
            try:
                modules = _run(["probe-modules"], env)
                clients = _run(["probe-clients"], env)
            except BenchError as error:
                entry["error"] = f"the handler module does not import: {error}"
                continue
            # a function whose init runs without the cyclic collector (it imports
            # `dtmf_gateway.init_begins` first) gets a floor without it too: like with like
            paused = INIT_WITHOUT_GC in modules["first_party"]
            floor_args = [
                "floor",
                ",".join(modules["modules"]),
                ",".join(clients["clients"]),
                GC_PAUSED if paused else "",
            ]
            entry.update(
                {
                    "third_party_modules": len(modules["modules"]),
                    "third_party_packages": modules["top_level"],
                    "first_party_modules": len(modules["first_party"]),
                    "aws_clients": [
                        c.partition("@")[0] for c in clients["clients"] if c != HTTPS_CLIENT
                    ],
                    "floor_https_context": HTTPS_CLIENT in clients["clients"],
                    "init_without_gc": paused,
                }
            )
            try:
                entry.update(_measure(env, floor_args, runs))
            except BenchError as error:
                entry["error"] = str(error)
    measured = [e for e in results["functions"].values() if "ratio" in e]
    results["all_within_target"] = len(measured) == len(results["functions"]) and all(
        e["ratio"] <= TARGET_RATIO for e in measured
    )
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated function folders")
    args = parser.parse_args()
    only = [f for f in args.only.split(",") if f]
    print(json.dumps(run(args.runs, log=lambda m: print(m, file=sys.stderr), only=only), indent=2))
