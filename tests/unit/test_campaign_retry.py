"""The retry delay of a failed campaign message (adapters.campaign_io.retry_delay_seconds)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dtmf_gateway.adapters.campaign_io import (
    RETRY_BASE_SECONDS,
    RETRY_MAX_SECONDS,
    retry_delay_seconds,
)


@given(st.integers(min_value=1, max_value=10_000))
def test_the_delay_grows_and_stays_within_sqs_and_the_visibility_timeout(count: int) -> None:
    delay = retry_delay_seconds(count)

    assert RETRY_BASE_SECONDS <= delay <= RETRY_MAX_SECONDS < 5400  # the queues' timeout
    assert retry_delay_seconds(count + 1) >= delay


def test_the_first_retries_double() -> None:
    assert [retry_delay_seconds(n) for n in range(1, 7)] == [30, 60, 120, 240, 480, 900]
