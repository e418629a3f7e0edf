"""Hostile review of issue 15's log figures ("place-call 635.5 -> 548 log bytes per call").

`bench.requests` measures a cold and a warm lifecycle and halves the sum, so its place-call
figure (548 B, 1.5 lines) counts the cold start's own `ColdStart` EMF document on every
other call. The cost model prices those bytes and lines per call as they are, while it
prices everything else about cold starts at `COLD_START_FRACTION` (1%). So "log bytes per
call" in the README is a 50%-cold-start figure, and the CloudWatch Logs line of the model
carries ~0.49 of a ColdStart document (+ its 26 B event) per call that it should not.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import child_env
from bench.cost import COLD_START_FRACTION
from devtools.template import ROOT


def test_the_log_figures_count_cold_starts_at_the_models_own_rate() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.requests"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    measured = json.loads(done.stdout)
    lines = measured["log_lines_per_lifecycle"]["place_call"]
    # a warm placement writes one line (its EMF document); a cold one a ColdStart document too
    assert lines == 1 + COLD_START_FRACTION, (
        f"place-call's log lines per call are {lines}: a cold start on every other call, "
        f"where the model's cold start fraction is {COLD_START_FRACTION}"
    )
