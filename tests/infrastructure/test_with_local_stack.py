"""scripts/with-local-stack (what `make e2e` and `make e2e-sandbox` run) leaves a developer's
running local stack as it found it: up, and deployed the way it was (with or without the CM
sandbox). Run against a stand-in for `scripts/local_stack.py` that records what it is asked."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.template import ROOT

FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for `.venv/bin/python scripts/local_stack.py <command> [--sandbox]`
cd "$(dirname "$0")/../.."
echo "$*" >> calls.log
case "$2" in
  status)
    [ -f running ] || exit 1
    printf '{\\n  "api-url": "http://127.0.0.1:4566",\\n  "sandbox": %s\\n}\\n' "$(cat mode)" ;;
  up)
    touch running
    if [ "${3:-}" = --sandbox ]; then echo true > mode; else echo false > mode; fi ;;
  down) rm -f running mode ;;
esac
"""


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "with-local-stack", tmp_path / "scripts")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def _run(tree: Path, sandbox: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX"}
    if sandbox is not None:
        env["SANDBOX"] = sandbox
    subprocess.run([str(tree / "scripts" / "with-local-stack"), "true"], env=env, check=True)
    return (tree / "calls.log").read_text().splitlines()


@pytest.mark.parametrize(("running", "wanted"), [("false", "1"), ("true", None)])
def test_a_running_stack_is_left_deployed_as_it_was(
    tmp_path: Path, running: str, wanted: str | None
) -> None:
    tree = _tree(tmp_path)
    (tree / "running").touch()
    (tree / "mode").write_text(running + "\n")

    _run(tree, wanted)

    assert (tree / "running").exists(), "the developer's stack was brought down"
    assert (tree / "mode").read_text().strip() == running, "the developer's stack was switched"


def test_a_stack_it_started_is_brought_down(tmp_path: Path) -> None:
    tree = _tree(tmp_path)

    calls = _run(tree, "1")

    assert calls[-2:] == ["scripts/local_stack.py up --sandbox", "scripts/local_stack.py down"]
    assert not (tree / "running").exists()


def test_sandbox_0_is_not_the_sandbox(tmp_path: Path) -> None:
    tree = _tree(tmp_path)

    calls = _run(tree, "0")

    assert "scripts/local_stack.py up" in calls
