"""The README's field table and error table for `POST /v1/dtmf-calls` say what the OpenAPI
document (schemas/openapi.json, generated from the model and the problem catalogue) says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dtmf_gateway.domain.request_limits import REFUSED_KEYS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
OPENAPI = json.loads((ROOT / "schemas" / "openapi.json").read_text())
PLACE = OPENAPI["paths"]["/v1/dtmf-calls"]["post"]
PROBLEM_PREFIX = "urn:dtmf-gateway:problem:"


def _table(after: str) -> list[list[str]]:
    """The rows (cells) of the first table after the line starting with `after`."""
    text = README[README.index(after) :]
    lines = text[text.index("\n|") + 1 :].splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[2:]  # header and rule


def test_the_field_table_lists_exactly_the_request_fields_and_the_refused_keys() -> None:
    rows = _table("**Fields**")
    documented = {key for row in rows for key in re.findall(r"`([a-z-]+)`", row[0])}
    schema = OPENAPI["components"]["schemas"]["DtmfCallRequest"]

    assert documented == set(schema["properties"]) | set(REFUSED_KEYS)
    required = {
        key for row in rows if "required" in row[1] for key in re.findall(r"`([a-z-]+)`", row[0])
    }
    assert set(schema["required"]) <= required


def _documented_answers() -> tuple[set[tuple[int, str]], set[int]]:
    problems: set[tuple[int, str]] = set()
    gateway: set[int] = set()
    for status, response in PLACE["responses"].items():
        content = response["content"]
        if "application/problem+json" in content:
            schema = content["application/problem+json"]["schema"]["allOf"][1]
            for problem_type in schema["properties"]["type"]["enum"]:
                problems.add((int(status), problem_type.removeprefix(PROBLEM_PREFIX)))
        elif int(status) < 300:
            problems.add((int(status), "—"))
        if "application/json" in content and int(status) >= 400:
            gateway.add(int(status))
    return problems, gateway


def test_the_error_table_lists_exactly_the_documented_statuses_and_types() -> None:
    problems: set[tuple[int, str]] = set()
    gateway: set[int] = set()
    for status_cell, type_cell, _ in _table("**Every response you can get**"):
        statuses = {int(s) for s in status_cell.split("/")}
        if type_cell == "(API Gateway)":
            gateway |= statuses
            continue
        slug = type_cell.strip("`")
        problems |= {(status, slug) for status in statuses}

    assert (problems, gateway) == _documented_answers()
