"""Write the DTMF Result event's JSON Schema (draft 4, as the EventBridge schema registry wants)
from the event model to schemas/dtmf-result.v1.json and into template.yaml's ResultSchema.

Run with `make schema` after changing dtmf_gateway.domain.events; a test fails until you do.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "shared"))

from dtmf_gateway.domain.events import DETAIL_TYPE, EVENT_SOURCE, DtmfResultDetail  # noqa: E402
from dtmf_gateway.domain.not_placed import (  # noqa: E402
    NOT_PLACED_DETAIL_TYPE,
    NotPlacedDetail,
)

SCHEMA_FILE = ROOT / "schemas" / "dtmf-result.v1.json"
NOT_PLACED_FILE = ROOT / "schemas" / "dtmf-call-not-placed.v1.json"  # round 2 (#16)
TEMPLATE = ROOT / "template.yaml"
CONTENT_LINE = re.compile(r"^(      Content: ).*$", re.MULTILINE)


def _draft4(node: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12; keep to what draft 4 understands."""
    if isinstance(node, dict):
        out = {k: _draft4(v) for k, v in node.items()}
        if "const" in out:
            out["enum"] = [out.pop("const")]
        if "$ref" in out:
            out["$ref"] = out["$ref"].replace("#/$defs/", "#/definitions/")
        return out
    if isinstance(node, list):
        return [_draft4(v) for v in node]
    return node


def event_schema() -> dict[str, Any]:
    return _envelope(
        DtmfResultDetail,
        "DtmfResult",
        DETAIL_TYPE,
        "urn:dtmf-gateway:schema:dtmf-result:1",
        "DTMF Result event",
        "One per call that ended (finished or expired), on the stack's bus.",
    )


def not_placed_schema() -> dict[str, Any]:
    """Round 2 (#16): the `DTMF Call Not Placed` event."""
    return _envelope(
        NotPlacedDetail,
        "DtmfCallNotPlaced",
        NOT_PLACED_DETAIL_TYPE,
        "urn:dtmf-gateway:schema:dtmf-call-not-placed:1",
        "DTMF Call Not Placed event",
        "One per callee that ended without a CM call (cancelled, deadline passed, refused by "
        "the dialling policy at dial time or by CM), on the stack's bus.",
    )


def _envelope(  # noqa: PLR0917 - one envelope per event, each a one-line call
    model: Any, name: str, detail_type: str, urn: str, title: str, description: str
) -> dict[str, Any]:
    detail = model.model_json_schema(by_alias=True, mode="serialization")
    definitions = detail.pop("$defs", {})
    detail.pop("$id", None)
    definitions[name] = detail
    return _draft4(
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "id": urn,
            "title": title,
            "description": description,
            "type": "object",
            "required": ["source", "detail-type", "detail"],
            "properties": {
                "version": {"type": "string"},
                "id": {"type": "string"},
                "account": {"type": "string"},
                "time": {"type": "string"},
                "region": {"type": "string"},
                "resources": {"type": "array", "items": {"type": "string"}},
                "source": {"type": "string", "enum": [EVENT_SOURCE]},
                "detail-type": {"type": "string", "enum": [detail_type]},
                "detail": {"$ref": f"#/definitions/{name}"},
            },
            "definitions": definitions,
        }
    )


def main() -> None:
    schema = event_schema()
    SCHEMA_FILE.write_text(json.dumps(schema, indent=2) + "\n")
    NOT_PLACED_FILE.write_text(json.dumps(not_placed_schema(), indent=2) + "\n")
    compact = json.dumps(schema, separators=(",", ":")).replace("'", "''")
    text, replaced = CONTENT_LINE.subn(lambda m: f"{m.group(1)}'{compact}'", TEMPLATE.read_text())
    if replaced != 1:
        raise SystemExit(
            "template.yaml must have exactly one `      Content: ` line (ResultSchema)"
        )
    TEMPLATE.write_text(text)
    print(f"wrote {SCHEMA_FILE.relative_to(ROOT)} and the ResultSchema content in template.yaml")


if __name__ == "__main__":
    main()
