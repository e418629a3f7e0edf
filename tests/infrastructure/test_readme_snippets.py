"""Every README snippet that can be checked without AWS refers to real things: YAML parses and
imports only exports the stack has, commands name real functions, sample files and routes."""

from __future__ import annotations

import re

import yaml

from devtools.template import ROOT, _CfnLoader, template

README = (ROOT / "README.md").read_text()
RUNBOOK = (ROOT / "docs" / "operations.md").read_text()
STACK = "dtmf-gateway-prod"


def _blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def _exports() -> set[str]:
    names = set()
    for name, output in template()["Outputs"].items():
        export = output.get("Export")
        if export:
            assert export["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}, name
            names.add(name)
    return names


def _routes() -> set[tuple[str, str]]:
    """(METHOD, /v1/...) of the product's HTTP API (not the CM sandbox's own, CmSandbox=true)."""
    routes = set()
    for resource in template()["Resources"].values():
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            method, path = resource["Properties"]["RouteKey"].split(" ", 1)
            routes.add((method.upper(), path))
    return routes


def _route_matches(method: str, path: str) -> bool:
    for known_method, known_path in _routes():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", known_path)
        if known_method == method and re.fullmatch(pattern, path):
            return True
    return False


def _functions() -> set[str]:
    return {
        n for n, r in template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }


def test_yaml_snippets_parse_and_import_only_real_exports() -> None:
    blocks = _blocks("yaml")
    assert len(blocks) >= 2
    imported = set()
    for block in blocks:
        parsed = yaml.load(block, Loader=_CfnLoader)  # noqa: S506
        assert parsed
        imported |= set(re.findall(r"ImportValue': '([\w-]+)'", str(parsed)))
    assert imported
    for name in imported:
        assert name.startswith(f"{STACK}-"), name
        assert name.removeprefix(f"{STACK}-") in _exports(), name


def test_exports_table_lists_exactly_the_exports() -> None:
    table = README.split("## Exports", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `\{stack\}-(\w+)`", table, flags=re.MULTILINE))
    assert documented == _exports()
    assert {
        "EventBusName",
        "EventBusArn",
        "ApiUrl",
        "ApiExecuteArn",
        "ResultSchemaName",
    } <= documented


def test_execute_arn_export_covers_the_signed_routes_only() -> None:
    arn = template()["Outputs"]["ApiExecuteArn"]["Value"]["Fn::Sub"]
    resource = arn.split("${Api}/$default/", 1)[1]
    pattern = "^" + re.escape(resource).replace(r"\*", ".*") + "$"
    for method, path in _routes():
        signed = not path.startswith("/v1/callbacks/")
        assert bool(re.match(pattern, f"{method}/{path.lstrip('/')}")) is signed, (method, path)


def test_curl_and_python_examples_use_real_routes() -> None:
    text = README + RUNBOOK
    calls = re.findall(r"curl [^\n]*?-X (\w+) \"\$API_URL(/v1/[^\"]+)\"", text)
    calls += re.findall(r'stack\.api\("(\w+)", "(/v1/[^"]+)"', text)
    assert len(calls) >= 2
    for method, path in calls:
        assert _route_matches(method, path), (method, path)
    for path in re.findall(r"localhost:3000(/[\w/-]+)", text):  # sam local start-api
        assert any(_route_matches(m, path) for m in ("GET", "POST")), path


def test_sam_commands_name_real_functions_and_samples() -> None:
    text = README + RUNBOOK
    invoked = re.findall(r"sam local invoke (\w+) -e (events/[\w.]+)", text)
    assert invoked
    for function, sample in invoked:
        assert function in _functions()
        assert (ROOT / sample).is_file()
    logged = re.findall(r"sam logs [^\n]*?-n (\w+)", text)
    assert logged
    assert set(logged) <= _functions()
    for env_file in re.findall(r"--env-vars (\S+)", text):
        assert (ROOT / env_file).is_file()


def test_exports_table_gives_the_execute_arn_the_template_exports() -> None:
    """Hostile review of issue 15: the table still gave the REST API's ARN
    (`{api-id}/v1/*/dtmf-calls*`), which the README itself says gets `403` on the HTTP API,
    and named POST and GET only while the export also grants the erase route (DELETE)."""
    table = README.split("## Exports", 1)[1].split("\n## ", 1)[0]
    [row] = [line for line in table.splitlines() if line.startswith("| `{stack}-ApiExecuteArn`")]
    documented = re.findall(r"`(arn:[^`]+)`", row)
    exported = template()["Outputs"]["ApiExecuteArn"]["Value"]["Fn::Sub"]
    expected = (
        exported.replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "{region}")
        .replace("${AWS::AccountId}", "{account}")
        .replace("${Api}", "{api-id}")
    )
    assert documented == [expected]
    for method in {method for method, path in _routes() if not path.startswith("/v1/callbacks/")}:
        assert method in row, method


def test_the_curl_example_says_where_its_url_comes_from() -> None:
    """Hostile review of issue 15: the first curl example used `$API_URL`, which nothing in
    the README set; a newcomer who ran `make demo` and pasted it got `curl: (3) URL rejected`."""
    block = next(b for b in _blocks("sh") if '"$API_URL/v1/dtmf-calls"' in b)  # the first
    assignment = block.index("API_URL=")
    assert assignment < block.index('"$API_URL/v1/dtmf-calls"')
    assert ".local/stack.json" in block


def test_the_readme_names_the_local_iam_gap_for_non_sigv4_authorization() -> None:
    """Hostile review of issue 15: ministack lets any non-SigV4 `Authorization` header through
    an AWS_IAM route; the README's 'IAM is enforced locally' must say so while the expected
    failures in tests/e2e/test_hostile_15_e2e.py stand."""
    section = README.split("**IAM is enforced locally.**", 1)[1].split("\n### ", 1)[0]
    assert "not SigV4" in section
    assert "test_hostile_15_e2e.py" in section
