"""End-to-end fixtures: the deployed local stack (make e2e / make test bring it up)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from stack_client import LocalStack


class BusEvents:
    """Every DTMF Result the bus delivered, kept by instruction id (tests share one queue)."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._by_instruction: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def _drain(self) -> None:
        for event in self._stack.events():
            self._by_instruction[event["detail"]["instruction-id"]].append(event)

    def for_instruction(
        self, instruction_id: str, count: int, timeout: float = 20, settle: float = 1.5
    ) -> list[dict[str, Any]]:
        """Wait for `count` events, then a little longer to catch any unwanted extra one."""
        deadline = time.monotonic() + timeout
        while len(self._by_instruction[instruction_id]) < count and time.monotonic() < deadline:
            self._drain()
            time.sleep(0.2)
        time.sleep(settle)
        self._drain()
        return list(self._by_instruction[instruction_id])


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    local = LocalStack.load()
    local.reset_simulator()
    yield local
    local.reset_simulator()


@pytest.fixture(scope="session")
def bus(stack: LocalStack) -> BusEvents:
    stack.events()  # drop what earlier runs left
    return BusEvents(stack)


@pytest.fixture
def new_id() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"
