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


def _hand_on_checkov_skips(source: dict[str, Any], translated: dict[str, Any]) -> None:
    """An AWS::Serverless::Api's `checkov` skips (and `cfn-lint` ignores) also apply to the
    RestApi/Stage SAM makes of it.

    SAM keeps a function's Metadata on its AWS::Lambda::Function, but drops an API's; without
    this, checks on the generated stage could only be skipped outside the template.
    """
    generated = translated.get("Resources", {})
    for api_id, api in source.get("Resources", {}).items():
        metadata = api.get("Metadata", {})
        handed = {k: metadata[k] for k in ("checkov", "cfn-lint") if k in metadata}
        if api.get("Type") != "AWS::Serverless::Api" or not handed:
            continue
        for logical_id, resource in generated.items():
            if logical_id.startswith(api_id) and resource["Type"] in {
                "AWS::ApiGateway::RestApi",
                "AWS::ApiGateway::Stage",
            }:
                resource.setdefault("Metadata", {}).update(handed)


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
    _hand_on_checkov_skips(template, translated)
    Path(destination).write_text(json.dumps(translated, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
