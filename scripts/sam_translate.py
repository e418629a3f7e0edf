"""Translate template.yaml to plain CloudFormation offline, so cfn-lint sees what SAM generates.

`sam validate --lint` lints the SAM template itself and misses mistakes inside Globals and event
configurations (a bad !Ref in Globals, a bad !GetAtt in an EventBridgeRule DLQ). Linting the
translated template catches them. Runs with the SAM CLI venv's interpreter (aws-sam-translator).

Usage: python scripts/sam_translate.py template.yaml out.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflineManagedPolicies:
    """Managed-policy name lookup without calling IAM (the template only uses policy ARNs)."""

    def load(self) -> dict[str, str]:
        return {}


def main(source: str, destination: str) -> None:
    template: dict[str, Any] = yaml_parse(Path(source).read_text())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                # what `sam package` would put there
                properties[key] = f"s3://artifacts/{value.strip('/').replace('/', '_')}.zip"
    translated = transform(template, {}, OfflineManagedPolicies())
    Path(destination).write_text(json.dumps(translated, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
