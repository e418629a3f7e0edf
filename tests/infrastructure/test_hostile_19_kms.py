"""Hostile review of issue 19: with `KmsKeyArn`, every store of personal data the stack
creates uses the key (docs/operations.md, "Encryption with your own KMS key"), and the
runbook counts them right."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devtools.template import template
from tests.support.iam_policy import translated_template

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


# services whose stores in this stack take the key (the tables and their stream, the queues,
# the secrets, the campaign bucket), as the IAM action prefix and kms:ViaService's name
KEYED_SERVICES = ("dynamodb", "sqs", "secretsmanager", "s3")
# AWS managed policies that reach a keyed store (Lambda's pollers use the function's role)
KEYED_MANAGED_POLICIES = ("AWSLambdaSQSQueueExecutionRole", "AWSLambdaDynamoDBExecutionRole")


def _role_reaches_a_keyed_store(role: dict[str, Any]) -> bool:
    properties = role.get("Properties", {})
    if any(
        name in str(arn)
        for arn in properties.get("ManagedPolicyArns", [])
        for name in KEYED_MANAGED_POLICIES
    ):
        return True
    for policy in properties.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if action.split(":", 1)[0] in KEYED_SERVICES:
                    return True
    return False


def test_every_function_that_reaches_a_keyed_store_may_use_the_key() -> None:
    """Found while adding the recording queue (issue 15): `KmsKeyUsePolicy` listed the roles
    of issue 19's functions only. With `KmsKeyArn` set, the scheduled dial, cancel, list and
    both campaign functions (tables, queues, the campaign bucket) were refused by KMS on their
    first read or write, and no role could reach the campaign bucket's key through S3."""
    resources = translated_template()["Resources"]
    key_use = resources["KmsKeyUsePolicy"]["Properties"]
    listed = {
        ref for entry in key_use["Roles"] for ref in re.findall(r"'Ref': '(\w+Role)'", str(entry))
    }
    reaching = {
        role["Fn::GetAtt"][0]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
        and isinstance(role := resource["Properties"]["Role"], dict)
        and _role_reaches_a_keyed_store(resources[role["Fn::GetAtt"][0]])
    }
    assert len(reaching) >= 14
    assert reaching - listed == set()
    [statement] = key_use["PolicyDocument"]["Statement"]
    via = str(statement["Condition"]["StringEquals"]["kms:ViaService"])
    for service in KEYED_SERVICES:
        assert f"{service}.${{AWS::Region}}.amazonaws.com" in via, service
