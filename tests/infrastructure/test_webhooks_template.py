"""The template's webhook and cross-account parts (issue 18): what a deployment accepts, where
result events go, the per-host lanes, and whom the bus policy lets in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devtools.template import template

RESOURCES: dict[str, Any] = template()["Resources"]
PARAMETERS: dict[str, Any] = template()["Parameters"]


def _props(name: str) -> dict[str, Any]:
    props: dict[str, Any] = RESOURCES[name]["Properties"]
    return props


def test_loopback_and_http_webhooks_are_refused_outside_the_local_emulator() -> None:
    rule = template()["Rules"]["WebhookLoopbackOnlyLocally"]

    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "LocalEmulator"}, "false"]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Equals": [{"Ref": "WebhookAllowLoopback"}, "false"]
    }
    for function in ("PlaceCallFunction", "DeliverWebhooksFunction"):
        variables = _props(function)["Environment"]["Variables"]
        assert variables["WEBHOOK_ALLOW_LOOPBACK"] == {
            "Fn::If": ["LoopbackWebhooks", "true", "false"]
        }
        assert variables["ALLOWED_WEBHOOK_HOSTS"] == {"Ref": "AllowedWebhookHosts"}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("hooks.example.com", True),
        ("hooks.example.com,api.example.org", True),
        ("https://hooks.example.com", False),
        ("hooks.example.com, api.example.org", False),
        ("hooks.example.com:8443", False),
    ],
)
def test_allowed_webhook_hosts_are_plain_host_names(value: str, accepted: bool) -> None:
    pattern = PARAMETERS["AllowedWebhookHosts"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


def test_every_result_detail_type_goes_to_the_webhook_queue_with_a_dead_letter_queue() -> None:
    rule = _props("WebhookRule")
    [target] = rule["Targets"]

    assert rule["EventBusName"] == {"Ref": "ResultBus"}
    assert rule["EventPattern"]["detail-type"] == ["DTMF Result", "DTMF Call Not Placed"]
    assert target["Arn"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["WebhookDLQ", "Arn"]}


def test_attempts_run_one_at_a_time_per_lane_from_a_fifo_queue() -> None:
    lanes = _props("WebhookLanes")
    events = _props("DeliverWebhooksFunction")["Events"]

    assert lanes["FifoQueue"] is True
    assert _props("WebhookLanesDLQ")["FifoQueue"] is True  # a FIFO queue's DLQ is FIFO
    assert events["Attempts"]["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookLanes", "Arn"]}
    assert events["Attempts"]["Properties"]["BatchSize"] == 1
    assert events["Deliveries"]["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    variables = _props("DeliverWebhooksFunction")["Environment"]["Variables"]
    assert variables["WEBHOOK_CONCURRENCY_PER_HOST"] == {"Ref": "WebhookConcurrencyPerHost"}


def test_the_bus_policy_exists_only_when_asked_and_each_consumer_manages_its_own_rules() -> None:
    policy = _props("ResultBus")["Policy"]
    condition, document, absent = policy["Fn::If"]
    statements = [s["Fn::If"] for s in document["Statement"]]

    assert condition == "HasBusConsumers"
    assert absent == {"Ref": "AWS::NoValue"}
    assert [s[0] for s in statements] == ["HasBusConsumerAccounts", "HasBusConsumerOrganization"]
    accounts, organization = (s[1] for s in statements)
    assert accounts["Principal"] == {"AWS": {"Ref": "BusConsumerAccounts"}}
    assert organization["Condition"]["StringEquals"] == {
        "aws:PrincipalOrgID": {"Ref": "BusConsumerOrganization"}
    }
    for statement in (accounts, organization):
        assert statement["Condition"]["StringEqualsIfExists"] == {
            "events:creatorAccount": "${aws:PrincipalAccount}"
        }
        assert "events:PutEvents" not in statement["Action"]  # consumers never publish here
