"""Hostile review of issue 15, as a newcomer: the README's command for the log figures.

README "Performance and cost": "the log figures alone: `python -m bench.requests`". Run as
written (from the repository root, with the project's virtualenv), it measures nothing: the
section cannot import the product (`No module named 'dtmf_gateway'`: only `bench.run` sets the
children's PYTHONPATH) and it still exits 0, printing an `error` object where the figures
should be — a script or CI step running it takes the failure for a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from devtools.template import ROOT


def test_the_readmes_bench_requests_command_measures_or_fails_loudly() -> None:
    assert "`python -m bench.requests`" in (ROOT / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.requests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = " ".join(done.stdout.split())
    failed = done.returncode != 0
    measured = output.startswith("{") and "error" not in json.loads(output)
    assert failed or measured, f"exit 0 with: {output[:200]}"
    assert measured, f"the README's command does not measure: {output[:200]}"
