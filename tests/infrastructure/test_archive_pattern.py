"""The archive's event pattern (issue 19): `ArchiveEvents=without-digits` archives only events
whose `digits` are null. The archive is not deployed on the local stack (IsRealAws), so its
pattern is checked here on a rule of moto's EventBridge (an archive matches events exactly as
a rule does): what the rule routes to a queue is what the archive would keep."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools.template import template

REGION = "eu-west-1"


def _patterns() -> dict[str, Any]:
    pattern = template()["Resources"]["ResultArchive"]["Properties"]["EventPattern"]
    condition, without_digits, every = pattern["Fn::If"]
    assert condition == "ArchiveWithoutDigits"
    return {"without-digits": without_digits, "all": every}


def _routed(pattern: dict[str, Any], digits: str | None) -> bool:
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name="results")
    queue = sqs.create_queue(QueueName="archive")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="archive", EventBusName="results", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="archive", EventBusName="results", Targets=[{"Id": "q", "Arn": arn}])
    detail = {"call-id": "c", "outcome": "input-received", "digits": digits}
    events.put_events(
        Entries=[
            {
                "Source": "dtmf-gateway",
                "DetailType": "DTMF Result",
                "Detail": json.dumps(detail),
                "EventBusName": "results",
            }
        ]
    )
    return bool(sqs.receive_message(QueueUrl=queue).get("Messages"))


@pytest.mark.parametrize(
    ("mode", "digits", "archived"),
    [
        ("without-digits", None, True),
        ("without-digits", "1234", False),
        ("all", None, True),
        ("all", "1234", True),
    ],
)
def test_the_archive_keeps_digits_only_when_asked_to(
    mode: str, digits: str | None, archived: bool
) -> None:
    with mock_aws():
        assert _routed(_patterns()[mode], digits) is archived
