"""api/ renders domain results; idempotency records of round 1 still replay unchanged."""

from __future__ import annotations

import json

from dtmf_gateway.api.placement import PlacementAnswer
from dtmf_gateway.domain.calls import CmQueuedCall
from dtmf_gateway.domain.errors import CmOutcomeUnknown
from dtmf_gateway.domain.placement import PlacementResult

ROUND_1_RECORD = {  # what round 1 stored for an ambiguous CM answer (asdict(PlacementResult))
    "http_status": 504,
    "body": {
        "type": "urn:dtmf-gateway:problem:cm-outcome-unknown",
        "title": "CM did not confirm the calls",
        "status": 504,
        "detail": "CM did not answer in time. CM may still place the calls: …",
        "instruction-id": "i-1",
        "instruction-status": "unknown",
    },
    "headers": {"Content-Type": "application/problem+json", "Idempotent-Replayed": "true"},
}


def test_a_round_1_record_replays_as_it_was_answered() -> None:
    answer = PlacementAnswer.from_stored(ROUND_1_RECORD)
    response = answer.response()

    assert response.status_code == 504
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Idempotent-Replayed"] == "true"
    assert json.loads(str(response.body)) == ROUND_1_RECORD["body"]
    assert answer.replayed
    assert answer.instruction_id == "i-1"


def test_what_is_stored_now_is_the_round_1_format() -> None:
    unknown = PlacementResult("i-1", outcome_unknown=CmOutcomeUnknown("no answer", timed_out=True))
    stored = PlacementAnswer.of(unknown).stored()

    assert set(stored) == {"http_status", "body", "headers"}
    assert stored["http_status"] == 504
    assert stored["headers"] == {"Content-Type": "application/problem+json"}
    assert stored["body"]["type"] == "urn:dtmf-gateway:problem:cm-outcome-unknown"
    assert stored["body"]["instruction-status"] == "unknown"


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
    assert PlacementAnswer.from_stored(answer.stored()).queued_calls == 1
