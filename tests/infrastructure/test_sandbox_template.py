"""The CM sandbox (CmSandbox=true, issue 14) is off by default, never in prod, and complete
when on: every resource of it under one condition, the stack pointed at it."""

from __future__ import annotations

import tomllib

from devtools.template import ROOT, template

SANDBOX_PREFIX = "CmSandbox"


def _sandbox_resources() -> dict[str, dict[str, object]]:
    return {k: v for k, v in template()["Resources"].items() if k.startswith(SANDBOX_PREFIX)}


def test_the_sandbox_is_off_by_default_and_refused_in_prod() -> None:
    parameters = template()["Parameters"]
    assert parameters["CmSandbox"]["Default"] == "false"
    assert parameters["Environment"]["Default"] == "prod"
    rule = template()["Rules"]["NoCmSandboxInProd"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "CmSandbox"}, "false"]}
    # the condition says it again, for where Rules are not evaluated
    condition = template()["Conditions"]["SandboxOn"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "CmSandbox"}, "true"]} in condition
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "Environment"}, "prod"]}]} in condition


def test_every_sandbox_resource_and_output_exists_only_with_the_sandbox_on() -> None:
    resources = _sandbox_resources()
    assert {
        "CmSandboxApi",
        "CmSandboxFunction",
        "CmSandboxTable",
        "CmSandboxQueue",
        "CmSandboxDLQ",
        "CmSandboxLogGroup",
    } <= set(resources)
    for name, resource in resources.items():
        assert resource.get("Condition") == "SandboxOn", name
    for name, output in template()["Outputs"].items():
        if name.startswith(SANDBOX_PREFIX):
            assert output.get("Condition") == "SandboxOn", name


def test_with_the_sandbox_on_the_stack_places_its_calls_there() -> None:
    variables = template()["Resources"]["PlaceCallFunction"]["Properties"]["Environment"]
    on, off = variables["Variables"]["CM_BASE_URL"]["Fn::If"][1:]
    assert variables["Variables"]["CM_BASE_URL"]["Fn::If"][0] == "SandboxOn"
    assert off == {"Ref": "CmBaseUrl"}
    assert on == template()["Outputs"]["CmSandboxUrl"]["Value"]
    sandbox = template()["Resources"]["CmSandboxFunction"]["Properties"]
    assert sandbox["Environment"]["Variables"]["CM_PRODUCT_TOKEN_SECRET"] == {
        "Ref": "CmProductTokenSecret"
    }
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"], e["Properties"]["Auth"]["Authorizer"])
        for e in sandbox["Events"].values()
        if e["Type"] == "Api"
    }
    assert ("POST", "/voiceapi/v2/DTMF", "NONE") in routes  # the simulator checks the token
    assert {auth for method, path, auth in routes if path.startswith("/_simulator")} == {"AWS_IAM"}


def test_samconfig_names_the_stage_and_never_turns_the_sandbox_on_in_prod() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env, sections in config.items():
        if not isinstance(sections, dict):
            continue
        for command in ("deploy", "sync"):
            overrides = sections.get(command, {}).get("parameters", {}).get("parameter_overrides")
            if overrides is None or env == "local":
                continue
            expected = "Environment=prod" if env == "prod" else "Environment=dev"
            assert expected in overrides.split(), (env, command)
            if env == "prod":
                assert "CmSandbox" not in overrides
