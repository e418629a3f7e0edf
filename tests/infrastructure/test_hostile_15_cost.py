"""Hostile review of issue 15: the cost model's fixed monthly costs, and the README's figures.

The README said $3.40 a month fixed (2 secrets, 26 alarms) and "Alarms (22)"; the template
has 4 secrets and 31 production alarms, and the model counted the CM sandbox's 4 alarms,
which exist only with CmSandbox=true (never in production).
"""

from __future__ import annotations

import re

from bench.cost import ALARM_PER_MONTH, SECRET_PER_MONTH, fixed_monthly
from devtools.template import ROOT, template

README = (ROOT / "README.md").read_text()


def _production(resource_type: str) -> int:
    return sum(
        1
        for r in template()["Resources"].values()
        if r["Type"] == resource_type and r.get("Condition") != "SandboxOn"
    )


def test_the_fixed_costs_count_only_what_production_deploys() -> None:
    fixed = fixed_monthly()

    assert fixed["CloudWatch alarms"] == _production("AWS::CloudWatch::Alarm") * ALARM_PER_MONTH
    assert fixed["Secrets Manager secrets"] == (
        _production("AWS::SecretsManager::Secret") * SECRET_PER_MONTH
    )


def test_the_readme_states_the_models_fixed_costs() -> None:
    fixed = fixed_monthly()
    total = f"${sum(fixed.values()):.2f}"
    alarms = _production("AWS::CloudWatch::Alarm")
    secrets = _production("AWS::SecretsManager::Secret")

    assert f"+ {total}/month fixed" in README
    assert re.search(
        rf"\{total} \({secrets} secrets \${fixed['Secrets Manager secrets']:.2f}, {alarms} "
        rf"alarms \${fixed['CloudWatch alarms']:.2f}",
        README,
    )
    assert f"- **Alarms** ({alarms}) on every failure" in README
