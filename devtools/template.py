"""template.yaml read as data, so test and bench tables are created exactly as the template
defines them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form intrinsics (!Ref X → {"Ref": "X"})."""


def _intrinsic(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)  # type: ignore[no-untyped-call]


@cache
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506


def resource(logical_id: str) -> dict[str, Any]:
    return template()["Resources"][logical_id]


def create_table(client: Any, logical_id: str, name: str) -> None:
    """CreateTable (+ TTL) from the template's AWS::DynamoDB::Table properties."""
    props = resource(logical_id)["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if "GlobalSecondaryIndexes" in props:
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    client.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def function_environment(logical_id: str) -> dict[str, Any]:
    globals_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    own = resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_env, **own}
