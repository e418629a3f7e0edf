"""Hostile review of issue 19: with `KmsKeyArn`, every store of personal data the stack
creates uses the key (docs/operations.md, "Encryption with your own KMS key"), and the
runbook counts them right."""

from __future__ import annotations

import re
from pathlib import Path

from devtools.template import template

ROOT = Path(__file__).resolve().parents[2]
KEY_PROPERTY = {
    "AWS::SQS::Queue": "KmsMasterKeyId",
    "AWS::SecretsManager::Secret": "KmsKeyId",
    "AWS::Logs::LogGroup": "KmsKeyId",
    "AWS::DynamoDB::Table": "SSESpecification",
    "AWS::Events::Archive": "KmsKeyIdentifier",
}


def _stores() -> dict[str, str]:
    return {
        logical_id: resource["Type"]
        for logical_id, resource in template()["Resources"].items()
        # the emulator's test capture queues exist only on the local stack (Condition IsLocal)
        if resource["Type"] in KEY_PROPERTY and resource.get("Condition") != "IsLocal"
    }


def test_every_queue_secret_log_group_table_and_the_archive_takes_the_key() -> None:
    resources = template()["Resources"]
    for logical_id, kind in _stores().items():
        setting = resources[logical_id]["Properties"].get(KEY_PROPERTY[kind])
        assert "KmsKeyArn" in str(setting), logical_id


def test_the_runbook_counts_the_queues_and_secrets_the_key_covers() -> None:
    """docs/operations.md said "the three queues, the three secrets" while the stack has
    seven queues (nine with the sandbox) and four secrets."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Encryption with your own KMS key", 1)[1].split("\n## ", 1)[0]
    kinds = list(_stores().values())
    secrets = kinds.count("AWS::SecretsManager::Secret")
    assert not re.search(r"the (two|three|five|six) secrets", section)
    assert f"the {secrets} secrets" in section or "every secret" in section
    assert not re.search(r"the (two|three|four|five|six) queues", section)


def test_the_readme_exports_table_gives_the_api_execute_arn_the_template_exports() -> None:
    """The README's exports row still showed the REST API's ARN (`{api-id}/v1/*/…`), which
    its own caller-policy section says gets 403 on the HTTP API."""
    value = template()["Outputs"]["ApiExecuteArn"]["Value"]["Fn::Sub"]
    tail = value.split("${Api}", 1)[1]
    readme = (ROOT / "README.md").read_text()
    [row] = [line for line in readme.splitlines() if line.startswith("| `{stack}-ApiExecuteArn`")]
    assert f"{{api-id}}{tail}" in row
    assert "DELETE" in row
