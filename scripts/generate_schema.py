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

from dtmf_gateway.domain.campaign_events import (  # noqa: E402
    CALL_NOT_PLACED,
    CAMPAIGN_FINISHED,
    CallNotPlacedDetail,
    CampaignFinishedDetail,
)
from dtmf_gateway.domain.events import DETAIL_TYPE, EVENT_SOURCE, DtmfResultDetail  # noqa: E402

SCHEMA_FILE = ROOT / "schemas" / "dtmf-result.v1.json"
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


#: The other events' schemas (issue 17): file, detail model, detail-type, urn, description.
OTHER_EVENTS: tuple[tuple[str, Any, str, str, str], ...] = (
    (
        "dtmf-campaign-finished.v1.json",
        CampaignFinishedDetail,
        CAMPAIGN_FINISHED,
        "dtmf-campaign-finished",
        "One per campaign, when it reaches finished, cancelled or failed.",
    ),
    (
        "dtmf-call-not-placed.v1.json",
        CallNotPlacedDetail,
        CALL_NOT_PLACED,
        "dtmf-call-not-placed",
        "One per callee that ended without any CM call.",
    ),
)


def event_schema(
    model: Any = DtmfResultDetail,
    detail_type: str = DETAIL_TYPE,
    urn: str = "dtmf-result",
    description: str = "One per call that ended (finished or expired), on the stack's bus.",
) -> dict[str, Any]:
    detail = model.model_json_schema(by_alias=True, mode="serialization")
    definitions = detail.pop("$defs", {})
    detail.pop("$id", None)
    name = str(detail.get("title", "Detail"))
    definitions[name] = detail
    return _draft4(
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "id": f"urn:dtmf-gateway:schema:{urn}:1",
            "title": f"{detail_type} event",
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
    for file, model, detail_type, urn, description in OTHER_EVENTS:
        other = event_schema(model, detail_type, urn, description)
        (SCHEMA_FILE.parent / file).write_text(json.dumps(other, indent=2) + "\n")
    schema = event_schema()
    SCHEMA_FILE.write_text(json.dumps(schema, indent=2) + "\n")
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
