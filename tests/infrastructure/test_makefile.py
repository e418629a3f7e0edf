"""The Makefile's venv stamps: a venv is rebuilt when its pinned list changes, never merely
because the list's file is newer than the venv (a fresh checkout or another worktree sharing
the venvs through symlinks: `rm -rf .venv` deletes the link and reinstalls from scratch)."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from devtools.template import ROOT

STAMPS = {
    "requirements/dev.txt": ".venv/.installed-{}",
    "requirements/sam.txt": ".tools/sam/.installed-{}",
    "requirements/ministack.txt": ".tools/ministack/.installed-{}",
    "requirements/checkov.txt": ".tools/checkov/.installed-{}",
}


def _stamp(requirements: str) -> str:
    digest = hashlib.sha1((ROOT / requirements).read_bytes()).hexdigest()[:12]  # noqa: S324
    return STAMPS[requirements].format(digest)


@pytest.mark.parametrize("requirements", sorted(STAMPS))
def test_a_newer_requirements_file_with_the_same_pins_rebuilds_nothing(requirements: str) -> None:
    stamp = _stamp(requirements)
    if not (ROOT / stamp).exists():
        pytest.skip(f"{stamp} not installed here")

    # -W: as if the file had just been touched (checked out again, another worktree)
    dry_run = subprocess.run(
        ["make", "-n", "-W", requirements, stamp],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "rm -rf" not in dry_run and "pip install" not in dry_run, dry_run


def test_changed_pins_name_another_stamp() -> None:
    """The hash in the stamp's name is what rebuilds a venv whose list changed."""
    makefile = (ROOT / "Makefile").read_text()

    for requirements in STAMPS:
        assert f"$(shell cat {requirements} | sha1sum | cut -c1-12)" in makefile
