"""Cold init per function against its floor, in fresh interpreters.

*function*: a fresh interpreter imports the handler module (``app``, with the function folder
and the layer on the path, as in Lambda) and runs everything the module runs at load.
*floor*: a fresh interpreter imports exactly the third-party modules the handler module ended
up importing (the same ``sys.modules`` keys, found by a probe run) and creates the same AWS
clients, nothing else. The two alternate (ABBA) to cancel drift. Times are taken inside the
child from the first line of a tiny bootstrap (bench/cold_child.py) to the end of module
execution, and around the whole subprocess (interpreter start-up and exit included).

The path is Lambda's, not the dev venv's: ``python -S`` (no site-packages) with
``PYTHONPATH = functions/<name> : layers/shared : <layer deps> : <runtime deps>``, where
<layer deps> links the distributions of layers/shared/requirements.txt and <runtime deps>
boto3 and its dependencies (Lambda's runtime provides them). Dev-only packages (click,
pygments, ...) that some libraries import when present are therefore absent, as in Lambda.
AWS points at a dead loopback port, so an AWS call at module load would fail loudly.

``no_pyc``: the same pair without bytecode caches for the layer and the function. `sam build`
ships no ``__pycache__`` and /opt and /var/task are read-only, so in Lambda every layer and
function module is compiled from source at each cold start (the runtime's boto3 has its
bytecode, so it keeps it here too).
"""

from __future__ import annotations

import json
import os
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
    FUNCTIONS_DIR,
    LAYER_DIR,
    LOOPBACK_ENDPOINT,
    BenchError,
    function_environment,
    functions,
    lambda_runtime_environment,
    summary,
)

CHILD = Path(__file__).with_name("cold_child.py")
MARK = "BENCH-RESULT "
TARGET_RATIO = 1.15
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


class LambdaPaths:
    """The directories a child's PYTHONPATH is made of (with and without bytecode)."""

    def __init__(self, tmp: Path, *, no_pyc: bool) -> None:
        layer_names = _requirement_names((LAYER_DIR / "requirements.txt").read_text())
        runtime = _closure(RUNTIME_PROVIDED)
        runtime_keys = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in runtime}
        # the layer's list is fully pinned (its own dependencies included)
        layer = [
            metadata.distribution(name)
            for name in layer_names
            if re.sub(r"[-_.]+", "-", name).lower() not in runtime_keys
        ]
        self.layer_deps = _site(tmp / "layer-deps", layer, copy=False)
        self.runtime_deps = _site(tmp / "runtime-deps", runtime, copy=False)
        self.bare: Path | None = None
        if no_pyc:
            self.bare = tmp / "no-pyc"
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            _site(self.bare / "layer", layer, copy=True)
            shutil.copytree(
                LAYER_DIR / "dtmf_gateway", self.bare / "layer" / "dtmf_gateway", ignore=ignore
            )
            for folder in functions():
                shutil.copytree(FUNCTIONS_DIR / folder, self.bare / "fn" / folder, ignore=ignore)

    def path(self, folder: str) -> list[Path]:
        return [FUNCTIONS_DIR / folder, LAYER_DIR, self.layer_deps, self.runtime_deps]

    def path_without_bytecode(self, folder: str) -> list[Path]:
        assert self.bare is not None  # noqa: S101 - only called when built
        return [self.bare / "fn" / folder, self.bare / "layer", self.runtime_deps]


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


def _measure_pair(
    env: dict[str, str], floor_args: list[str], runs: int, flags: tuple[str, ...] = ()
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        k: [] for k in ("fn", "fn_ready", "fn_wall", "floor", "floor_ready", "floor_wall")
    }
    failed_imports: list[str] = []
    # one discarded run each (page cache; bytecode written where that is allowed)
    _run(["function"], env, flags=flags)
    _run(floor_args, env, flags=flags)
    for i in range(runs):
        for which in ("fn", "floor") if i % 2 == 0 else ("floor", "fn"):
            r = _run(["function"] if which == "fn" else floor_args, env, flags=flags)
            samples[which].append(r["init_ms"])
            samples[f"{which}_ready"].append(r["ready_ms"])
            samples[f"{which}_wall"].append(r["wall_ms"])
            failed_imports = r.get("failed_imports", failed_imports)
    fn, floor = summary(samples["fn"]), summary(samples["floor"])
    fn_wall, floor_wall = summary(samples["fn_wall"]), summary(samples["floor_wall"])
    return {
        "function_init_ms": fn,
        "function_ready_ms": summary(samples["fn_ready"]),
        "function_wall_ms": fn_wall,
        "floor_init_ms": floor,
        "floor_ready_ms": summary(samples["floor_ready"]),
        "floor_wall_ms": floor_wall,
        "ratio": fn["median"] / floor["median"],
        "ratio_wall": fn_wall["median"] / floor_wall["median"],
        "added_ms": fn["median"] - floor["median"],
        "floor_failed_imports": failed_imports,
    }


def run(runs: int = 15, no_pyc_runs: int = 3, log: Callable[[str], None] = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "runs": runs,
        "no_pyc_runs": no_pyc_runs,
        "target_ratio": TARGET_RATIO,
        "functions": {},
    }
    with tempfile.TemporaryDirectory(prefix="dtmf-bench-cold-") as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        paths = LambdaPaths(tmp, no_pyc=no_pyc_runs > 0)
        for folder in functions():
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
            floor_args = ["floor", ",".join(modules["modules"]), ",".join(clients["clients"])]
            entry.update(
                {
                    "third_party_modules": len(modules["modules"]),
                    "third_party_packages": modules["top_level"],
                    "first_party_modules": len(modules["first_party"]),
                    "aws_clients": [c.partition("@")[0] for c in clients["clients"]],
                }
            )
            try:
                entry.update(_measure_pair(env, floor_args, runs))
                if no_pyc_runs > 0:
                    env_bare = _env(folder, paths.path_without_bytecode(folder), home)
                    env_bare["PYTHONDONTWRITEBYTECODE"] = "1"
                    entry["no_pyc"] = _measure_pair(env_bare, floor_args, no_pyc_runs, ("-B",))
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
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-pyc-runs", type=int, default=3)
    args = parser.parse_args()
    print(
        json.dumps(
            run(args.runs, args.no_pyc_runs, log=lambda m: print(m, file=sys.stderr)), indent=2
        )
    )
