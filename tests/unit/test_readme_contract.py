"""The README's event reference and outcome table say what the code and the schema do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dtmf_gateway.domain.calls import Outcome

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SCHEMA = json.loads((ROOT / "schemas" / "dtmf-result.v1.json").read_text())


def _section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _first_column_keys(table_text: str) -> set[str]:
    keys: set[str] = set()
    for line in table_text.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            keys.update(re.findall(r"`([a-z-]+)`", cell))
    return keys


def test_event_reference_lists_exactly_the_schema_fields() -> None:
    table = _section("## Result events").split("| `detail` key |", 1)[1].split("\n\n", 1)[0]
    documented = _first_column_keys(table)
    fields = set(SCHEMA["definitions"]["DtmfResult"]["properties"])

    assert documented == fields


def test_outcome_table_lists_every_outcome() -> None:
    documented = _first_column_keys(_section("### Outcomes"))

    assert documented == {o.value for o in Outcome}


def test_there_is_one_event_example_per_outcome_and_each_validates() -> None:
    import jsonschema

    examples = [
        json.loads(line)
        for line in _section("## Result events").splitlines()
        if line.startswith('{"schema-version"')
    ]
    assert sorted(e["outcome"] for e in examples) == sorted(o.value for o in Outcome)
    validator = jsonschema.Draft4Validator(SCHEMA)
    complete = [e for e in examples if "…" not in json.dumps(e, ensure_ascii=False)]
    assert complete, "at least one example is given in full"
    for example in complete:
        validator.validate(
            {"source": "dtmf-gateway", "detail-type": "DTMF Result", "detail": example}
        )
