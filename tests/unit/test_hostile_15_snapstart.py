"""Hostile review of issue 15: SnapStart's hooks in every function SnapStart=true snapshots.

The template turns SnapStart on for four functions (place-call, get-call, cm-callback and
erase-personal-data); the README promises that `random`'s state is reseeded after every
restore. The hooks were registered only as a side effect of building the secrets cache or the
CM client, so get-call and erase-personal-data, whose init builds neither, registered nothing
and every environment resumed from their snapshot drew the same `random` sequence (botocore's
retry jitter). `gateway.lambda_handler` now installs them in every API function.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from devtools.lambdas import load_function
from devtools.template import ROOT, template

SNAPSHOTTED = sorted(
    resource["Properties"]["CodeUri"].strip("/").split("/")[-1]
    for resource in template()["Resources"].values()
    if resource["Type"] == "AWS::Serverless::Function"
    and "SnapStart" in resource.get("Properties", {})
)


def test_the_readme_names_every_function_snapstart_applies_to() -> None:
    section = (ROOT / "README.md").read_text().split("### SnapStart (opt-in)", 1)[1][:600]
    named = section.split("):", 1)[0]
    assert sorted(n.strip().replace("-", "_") for n in named.split("(", 1)[1].split(",")) == (
        SNAPSHOTTED
    )


def _restored_draws(after: Callable[[], None]) -> list[float]:
    random.seed(15)  # the state the snapshot froze
    frozen = random.getstate()
    draws = []
    for _ in range(2):  # two environments resumed from the same snapshot
        random.setstate(frozen)
        after()
        draws.append(random.random())
    return draws


@pytest.mark.parametrize("function", SNAPSHOTTED)
def test_every_snapshotted_function_reseeds_random_after_a_restore(
    runtime: dict[str, list[Callable[[], None]]],
    function_env: Any,
    function: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaign_settings = ("CAMPAIGNS_TABLE_NAME", "CAMPAIGN_BUCKET", "CAMPAIGN_CONTROL_QUEUE_URL")
    for name in (*campaign_settings, "EVENT_BUS_NAME"):
        monkeypatch.setenv(name, "unused-by-init")  # the campaigns function's own settings
    load_function(function)
    assert runtime["after"], f"{function} registered no after-restore hook"
    [after] = runtime["after"]

    draws = _restored_draws(after)

    assert draws[0] != draws[1]
