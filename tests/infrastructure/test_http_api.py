"""The API is an HTTP API whose routes are declared one by one (template.yaml, "API").

What a caller would notice if a route were declared differently: a client route without IAM
answers strangers; a route the stage's settings do not name is throttled at the client rate;
an access log with the path or query string keeps CM's callback tokens for LogRetentionDays.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from typing import Any

import pytest

from devtools.template import ROOT, template

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"

PUBLIC_ROUTES = {
    "POST /v1/dtmf-calls": "AWS_IAM",
    "GET /v1/dtmf-calls/{instruction-id}": "AWS_IAM",
    "POST /v1/callbacks/cm/{instruction-id}": "NONE",
}


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"] for name, r in template()["Resources"].items() if r["Type"] == kind
    }


def _ref(value: Any) -> str:
    """The logical id an !Ref (X or X.Alias) / !GetAtt / !Sub "integrations/${X}" names."""
    if "Ref" in value:
        return str(value["Ref"]).removesuffix(".Alias")
    if "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    match = re.fullmatch(r"(?:integrations/)?\$\{(\w+)(?:\.Arn)?\}(?::live)?", value["Fn::Sub"])
    assert match, value
    return match[1]


def test_the_public_routes_and_their_authorization() -> None:
    routes = _of_type("AWS::ApiGatewayV2::Route")

    declared = {r["RouteKey"]: r["AuthorizationType"] for r in routes.values()}

    # A route added later is IAM-authorised: only CM's callback may go without.
    assert {k: v for k, v in declared.items() if k in PUBLIC_ROUTES} == PUBLIC_ROUTES
    assert {k for k, v in declared.items() if v != "AWS_IAM"} == {
        "POST /v1/callbacks/cm/{instruction-id}"
    }


def test_every_route_reaches_a_payload_2_function_that_lets_this_api_invoke_it() -> None:
    resources = template()["Resources"]
    integrations = _of_type("AWS::ApiGatewayV2::Integration")
    permitted = {
        _ref(p["FunctionName"])
        for p in _of_type("AWS::Lambda::Permission").values()
        if p["Principal"] == "apigateway.amazonaws.com" and "${Api}" in p["SourceArn"]["Fn::Sub"]
    }

    for name, route in _of_type("AWS::ApiGatewayV2::Route").items():
        integration = integrations[_ref(route["Target"])]
        assert integration["IntegrationType"] == "AWS_PROXY", name
        assert integration["PayloadFormatVersion"] == "2.0", name
        function = _ref(integration["IntegrationUri"])
        assert resources[function]["Type"] == "AWS::Serverless::Function", name
        assert function in permitted, f"{function} has no permission for the API to invoke it"


def test_the_stage_names_only_routes_that_exist_and_waits_for_all_of_them() -> None:
    stage = template()["Resources"]["ApiStage"]
    routes = _of_type("AWS::ApiGatewayV2::Route")

    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True
    assert set(stage["Properties"]["RouteSettings"]) <= {r["RouteKey"] for r in routes.values()}
    assert set(stage["DependsOn"]) == set(routes)


def test_the_access_log_never_holds_the_callback_token_or_the_instruction_id() -> None:
    log_format = template()["Resources"]["ApiStage"]["Properties"]["AccessLogSettings"]["Format"]
    variables = set(re.findall(r"\$context\.[\w.]+", log_format))

    # $context.path / http path / querystring would carry ?token=… and the id; routeKey does not
    assert "$context.routeKey" in variables
    assert not {v for v in variables if re.search(r"path|query|uri", v, re.IGNORECASE)}


def test_the_client_policy_resource_matches_the_routes() -> None:
    outputs = template()["Outputs"]
    arn = outputs["ApiExecuteArn"]["Value"]["Fn::Sub"]

    # execute-api ARNs of an HTTP API: {api}/{stage}/{METHOD}/{path}, stage $default; the
    # output grants exactly the signed routes (every AWS_IAM route, never the callback's)
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/"
    assert arn.startswith(prefix)
    pattern = arn.removeprefix(prefix)
    resources = template()["Resources"].values()
    routes = [r["Properties"] for r in resources if r["Type"] == "AWS::ApiGatewayV2::Route"]
    for route in routes:
        method, path = route["RouteKey"].split(" ", 1)
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        granted = fnmatch.fnmatchcase(f"$default/{method}{concrete}", pattern)
        assert granted == (route["AuthorizationType"] == "AWS_IAM"), route["RouteKey"]


def test_snapstart_is_opt_in_and_the_api_invokes_what_it_snapshots() -> None:
    """SnapStart applies to published versions only: the API must invoke the alias, or a
    SnapStart=true stack would still run init on $LATEST for every new environment."""
    resources = template()["Resources"]
    assert template()["Parameters"]["SnapStart"]["Default"] == "false"

    for integration in _of_type("AWS::ApiGatewayV2::Integration").values():
        function = _ref(integration["IntegrationUri"])
        properties = resources[function]["Properties"]
        assert integration["IntegrationUri"] == {"Fn::Sub": f"${{{function}.Arn}}:live"}
        assert properties["AutoPublishAlias"] == "live"
        assert properties["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}
        }


def test_sam_local_start_api_maps_every_route_to_its_function() -> None:
    """README, "`sam local`": `sam local start-api` serves the routes. With the integrations
    naming `!Ref X.Alias`, SAM CLI found every route but no function for any of them (hostile
    review of issue 15): every request to localhost:3000 failed."""
    if not SAM_PYTHON.exists():
        pytest.skip("SAM CLI venv missing (make install creates .tools/sam)")
    script = (
        "import json\n"
        "from samcli.lib.providers.api_provider import ApiProvider\n"
        "from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider\n"
        "stacks, _ = SamLocalStackProvider.get_stacks('template.yaml')\n"
        "print(json.dumps([[m, r.path, r.function_name, r.payload_format_version]"
        " for r in ApiProvider(stacks).api.routes for m in r.methods]))\n"
    )
    out = subprocess.run(
        [str(SAM_PYTHON), "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    served = {
        f"{m} {path}": (function, version)
        for m, path, function, version in json.loads(out.stdout.strip().splitlines()[-1])
    }

    integrations = _of_type("AWS::ApiGatewayV2::Integration")
    expected = {
        key: (_ref(integrations[_ref(target)]["IntegrationUri"]), "2.0")
        for key, target in (
            (r["RouteKey"], r["Target"]) for r in _of_type("AWS::ApiGatewayV2::Route").values()
        )
    }
    assert served == expected
