"""Fixtures for the CM simulator tests: a running simulator, a callback receiver."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from cm_simulator import Simulator

from .helpers import FAST, TOKEN, Receiver


@pytest.fixture(scope="session", autouse=True)
def _sandbox_logs_stay_out_of_the_product_log() -> Iterator[None]:
    """The simulator logs typed keys (it is a sandbox); keep them out of the root logger
    that the product's log-hygiene checks read."""
    sim_logger = logging.getLogger("cm_simulator")
    previous = sim_logger.propagate
    sim_logger.propagate = False
    yield
    sim_logger.propagate = previous


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture(scope="session")
def session_sim() -> Iterator[Simulator]:
    with Simulator(host="127.0.0.1", port=0, product_tokens=[TOKEN], time_scale=FAST) as sim:
        yield sim


@pytest.fixture
def sim(session_sim: Simulator) -> Iterator[Simulator]:
    """The shared simulator, reset before and after each test."""
    session_sim.reset()
    yield session_sim
    session_sim.reset()


@pytest.fixture(scope="session")
def session_client(session_sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=session_sim.url, headers={"X-CM-PRODUCTTOKEN": TOKEN}, trust_env=False
    ) as c:
        yield c


@pytest.fixture
def client(sim: Simulator, session_client: httpx.Client) -> httpx.Client:
    """An HTTP client for the (freshly reset) shared simulator, sending the product token."""
    return session_client


@pytest.fixture(scope="session")
def anonymous_client(session_sim: Simulator) -> Iterator[httpx.Client]:
    """An HTTP client for the shared simulator without a product token."""
    with httpx.Client(base_url=session_sim.url, trust_env=False) as c:
        yield c


@pytest.fixture
def cb_path() -> str:
    """A callback path unique to the test."""
    return f"/cb/{uuid.uuid4().hex}"
