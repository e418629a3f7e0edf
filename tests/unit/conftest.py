"""Fixtures the unit tests share."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator

import pytest

from dtmf_gateway import snapstart
from tests.conftest import _reset_caches


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Callable[[], None]]]]:
    """A SnapStart init: the env var Lambda sets, the runtime's hook module (a stand-in that
    records what is registered), and empty hook registries."""
    registered: dict[str, list[Callable[[], None]]] = {"before": [], "after": []}
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = registered["before"].append  # type: ignore[attr-defined]
    module.register_after_restore = registered["after"].append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    for registry in ("_installed", "_prime", "_forget", "_refresh"):
        monkeypatch.setattr(snapstart, registry, [])
    _reset_caches()
    yield registered
    _reset_caches()
