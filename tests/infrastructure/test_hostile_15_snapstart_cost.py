"""Hostile review of issue 15: the README's SnapStart cache figure.

README "SnapStart (opt-in)": "a cache charge of $0.0000015046 per GB-second for each version
with SnapStart while it is active (256 MB: about $0.98 a month per function version, ~$6.90
for the seven)". The seven are not all 256 MB: CampaignsFunction has MemorySize 512, so its
cache costs twice as much and the seven cost ~$7.91 a month per deployed version, not ~$6.90.
A reader sizing the opt-in from the README under-counts it by ~15%.
"""

from __future__ import annotations

import re

from devtools.template import ROOT, template

README = (ROOT / "README.md").read_text()
CACHE_PER_GB_SECOND = 0.0000015046  # the README's price
SECONDS_PER_MONTH = 730 * 3600  # the README's $0.98 for 256 MB is a 730-hour month


def test_the_readme_prices_the_seven_snapstart_caches_at_their_own_memory() -> None:
    resources = template()["Resources"]
    default_mb = template()["Globals"]["Function"]["MemorySize"]
    snapstarted = [
        r["Properties"].get("MemorySize", default_mb)
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function" and "SnapStart" in r["Properties"]
    ]
    assert len(snapstarted) == 7
    monthly = sum(mb / 1024 * SECONDS_PER_MONTH * CACHE_PER_GB_SECOND for mb in snapstarted)

    found = re.search(r"~\$(\d+\.\d\d) for the seven", README)
    assert found is not None
    assert abs(float(found[1]) - monthly) < 0.15, (
        f"README says ~${found[1]} for the seven; their memory sizes {sorted(snapstarted)} "
        f"cost ${monthly:.2f} a month"
    )
