"""The campaign body, rows and pacing windows: pure domain, no AWS."""

from __future__ import annotations

from typing import Any

import pytest

from dtmf_gateway.domain.campaign_use_cases import pacing_window
from dtmf_gateway.domain.campaigns import (
    Row,
    RowErrors,
    RowValidator,
    ValidRow,
    fill,
    parse_campaign_request,
    rows_of_csv,
    rows_of_jsonl,
)
from dtmf_gateway.domain.errors import InvalidRequest
from dtmf_gateway.domain.policy import DialPolicy

TEMPLATE = {
    "caller": "+31201234567",
    "prompt": "Hello {{name}}, type your PIN.",
    "valid-prompt": "Thank you, {{ name }}.",
    "min-digits": 4,
    "max-digits": 4,
}
POLICY = DialPolicy.from_settings(
    allowed_countries="NL", blocked_number_types="default", allowed_callers=""
)


def problems(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as refused:
        parse_campaign_request(body, max_calls_per_second=10, default_calls_per_second=1)
    return {p.field: p.message for p in refused.value.problems}


def test_every_malformed_part_is_named_at_once() -> None:
    found = problems(
        {
            "campaign-id": "x" * 41,
            "instruction": {**TEMPLATE, "callees": ["+31612345678"], "instruction-id": "a"},
            "callees": [{"callee": "+31612345678"}],
            "callees-s3-uri": "s3://b/k.csv",
            "calls-per-second": 0.05,
            "max-concurrent-calls": 0,
            "skip-invalid-rows": "yes",
        }
    )
    assert set(found) == {
        "campaign-id",
        "instruction.callees",
        "instruction.instruction-id",
        "callees",
        "calls-per-second",
        "max-concurrent-calls",
        "skip-invalid-rows",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"callees": [{"callee": "+31612345678"}] * 10_001}, "callees"),
        ({}, "callees"),
        ({"callees-s3-uri": "https://b/k"}, "callees-s3-uri"),
        ({"callees": [{"callee": "+31612345678"}], "calls-per-second": 11}, "calls-per-second"),
        ({"callees": [{"callee": "+31612345678"}], "callee": "+31612345678"}, "callee"),
    ],
)
def test_each_body_rule(body: dict[str, Any], field: str) -> None:
    assert field in problems({"instruction": TEMPLATE, **body})


def test_a_template_no_row_can_mend_is_refused_at_once() -> None:
    found = problems(
        {"instruction": {**TEMPLATE, "min-digits": 6}, "callees": [{"callee": "+31612345678"}]}
    )
    assert list(found) == ["instruction.max-digits"]  # the model names the pair so


def test_instruction_keys_beside_the_template_apply_to_every_row() -> None:
    request = parse_campaign_request(
        {"instruction": TEMPLATE, "max-attempts": 2, "callees": [{"callee": "+31612345678"}]},
        max_calls_per_second=10,
        default_calls_per_second=1,
    )
    assert request.instruction["max-attempts"] == 2
    assert request.calls_per_second == 1 and request.max_concurrent_calls == 50


def test_placeholders_are_filled_and_missing_ones_named() -> None:
    assert fill("Hi {{name}} and {{ other }}", {"name": "Ann"}) == (
        "Hi Ann and {{ other }}",
        ["other"],
    )


def test_a_row_becomes_the_validated_instruction_of_a_single_post() -> None:
    validator = RowValidator(TEMPLATE, "c", POLICY)
    ok = validator.check(Row(1, "+31 6 1234 5678", {"p": "1"}, {"name": "Ann"}))
    assert ok == ValidRow(1, "+31612345678", {"p": "1"}, {"name": "Ann"})
    duplicate = validator.check(Row(2, "+31 612 345 678", None, {"name": "Bob"}))
    assert isinstance(duplicate, ValidRow) and duplicate.duplicate_of == 1
    refused = validator.check(Row(3, "+32470123456", None, {"name": "Eve"}))
    assert isinstance(refused, RowErrors)
    assert refused.line()["errors"][0]["field"] == "callee"
    missing = validator.check(Row(4, "+31687654321", None, {"nom": "x"}, ("extra",)))
    assert isinstance(missing, RowErrors)
    assert {p.field for p in missing.problems} == {"extra", "variables.name"}


def test_csv_and_json_lines_rows() -> None:
    csv_rows = list(rows_of_csv(["callee,name,metadata.patient\n", "+31612345678,Ann,p-1\n"]))
    assert csv_rows == [Row(1, "+31612345678", {"patient": "p-1"}, {"name": "Ann"})]
    lines = ['{"callee": "+31612345678"}', "", "not json", "[1]"]
    assert [(r.number, r.unknown) for r in rows_of_jsonl(lines)] == [
        (1, ()),
        (2, ("(json)",)),
        (3, ("(row)",)),
    ]


@pytest.mark.parametrize(
    ("rate", "window"), [(8, (1, 8)), (2.5, (1, 2)), (1, (1, 1)), (0.5, (2, 1)), (0.3, (4, 1))]
)
def test_pacing_windows_never_exceed_the_rate(rate: float, window: tuple[int, int]) -> None:
    assert pacing_window(rate) == window
    seconds, calls = window
    assert calls / seconds <= rate
