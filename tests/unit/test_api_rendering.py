"""api/ renders domain results; a replay (issue 15) renders the first answer again."""

from __future__ import annotations

import dataclasses
import json

from dtmf_gateway.api.placement import PlacementAnswer
from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.errors import CmOutcomeUnknown
from dtmf_gateway.domain.placement import PlacementResult


def test_a_replayed_unknown_outcome_is_the_first_answer_marked_replayed() -> None:
    """Issue 15: the replay is rendered from the instruction (no stored response): the same
    problem, status and content type as the first answer, plus `Idempotent-Replayed`."""
    error = CmOutcomeUnknown("CM did not answer in time", timed_out=True)
    first = PlacementAnswer.of(PlacementResult("i-1", outcome_unknown=error))
    again = PlacementAnswer.of(PlacementResult("i-1", outcome_unknown=error, replayed=True))
    response = again.response()

    assert response.status_code == first.status == 504
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Idempotent-Replayed"] == "true"
    assert json.loads(str(response.body)) == first.body
    assert first.body["instruction-status"] == "unknown"
    assert (again.replayed, first.replayed) == (True, False)
    assert again.instruction_id == "i-1"


def test_accepted_lists_refused_callees_and_counts_only_queued_ones() -> None:
    result = PlacementResult(
        "i-1",
        calls=(
            CmQueuedCall("c-1", "+31612345678", success=True),
            CmQueuedCall(None, "+32470123456", success=False, error="not reachable"),
        ),
    )
    answer = PlacementAnswer.of(result)

    assert (answer.status, answer.queued_calls) == (202, 1)
    assert answer.body == {
        "instruction-id": "i-1",
        "status": "queued",
        "calls": [
            {"call-id": "c-1", "callee": "+31612345678", "status": "queued"},
            {
                "call-id": None,
                "callee": "+32470123456",
                "status": "not-placed",
                "error": "not reachable",
            },
        ],
    }
    replayed = PlacementAnswer.of(dataclasses.replace(result, replayed=True))
    assert (replayed.body, replayed.queued_calls) == (answer.body, 1)
