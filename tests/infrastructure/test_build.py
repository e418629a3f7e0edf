"""`sam build` alone ships bytecode: every artifact is built by scripts/lambda-build/Makefile,
which compiles it (Lambda's code directory and /opt are read-only, so Python cannot cache what
it compiles at import: without .pyc every cold start compiles the layer first)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT, template

RECIPES = ROOT / "scripts" / "lambda-build" / "Makefile"
BUILT = ROOT / ".aws-sam" / "build"
ARTIFACT_TYPES = {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}
# PEP 552 flags: bit 0 = hash-based, bit 1 = check_source. 0b01 = unchecked hash.
UNCHECKED_HASH = 0b01


def _artifacts() -> dict[str, dict[str, object]]:
    return {name: r for name, r in template()["Resources"].items() if r["Type"] in ARTIFACT_TYPES}


def _uncompiled(artifact: Path) -> list[str]:
    """Modules of `artifact` without an up-front unchecked-hash .pyc for this interpreter."""
    tag = sys.implementation.cache_tag
    missing = []
    for source in artifact.rglob("*.py"):
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        if not cached.is_file():
            missing.append(str(source.relative_to(artifact)))
            continue
        header = cached.read_bytes()[:8]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != importlib.util.MAGIC_NUMBER or flags != UNCHECKED_HASH:
            missing.append(f"{source.relative_to(artifact)} (stale or checked .pyc)")
    return missing


def _pyc_count(artifact: Path) -> int:
    return sum(1 for _ in artifact.rglob("*.pyc"))


def test_every_artifact_is_built_by_the_compiling_recipes(tmp_path: Path) -> None:
    for name, resource in _artifacts().items():
        metadata = resource.get("Metadata", {})
        assert isinstance(metadata, dict)
        assert metadata.get("BuildMethod") == "makefile", name
        assert metadata.get("ContextPath") == "scripts/lambda-build", name
        dry_run = subprocess.run(
            ["make", "--dry-run", "--makefile", str(RECIPES), f"build-{name}"],
            cwd=tmp_path,
            env={**os.environ, "ARTIFACTS_DIR": str(tmp_path / "out")},
            check=False,
            capture_output=True,
            text=True,
        )
        assert dry_run.returncode == 0, f"no build-{name} recipe: {dry_run.stderr}"
        assert "compileall" in dry_run.stdout, name


@pytest.mark.parametrize(
    "function",
    sorted(n for n, r in _artifacts().items() if r["Type"] == "AWS::Serverless::Function"),
)
def test_function_recipe_ships_compiled_bytecode(function: str, tmp_path: Path) -> None:
    code_uri = ROOT / str(template()["Resources"][function]["Properties"]["CodeUri"])
    scratch = tmp_path / "scratch"
    # as SAM does: copy the CodeUri to a scratch directory, run the recipe there
    shutil.copytree(code_uri, scratch, ignore=shutil.ignore_patterns("__pycache__"))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    python_dir = str(Path(sys.executable).parent)
    subprocess.run(
        ["make", "--makefile", str(RECIPES), f"build-{function}"],
        cwd=scratch,
        env={
            **os.environ,
            "ARTIFACTS_DIR": str(artifacts),
            "PYTHON": sys.executable,
            "PATH": f"{python_dir}:{os.environ['PATH']}",
        },
        check=True,
        capture_output=True,
    )

    # the handler's module (app.py; cm_sandbox/app.py for Handler cm_sandbox.app.handler)
    handler_module = template()["Resources"][function]["Properties"]["Handler"].rpartition(".")[0]
    assert (artifacts / f"{handler_module.replace('.', '/')}.py").is_file()
    assert _pyc_count(artifacts) >= 1
    assert _uncompiled(artifacts) == []


@pytest.mark.skipif(
    not (BUILT / "template.yaml").is_file(), reason="no sam build output (make build makes one)"
)
def test_the_sam_build_output_is_compiled_for_every_module() -> None:
    """`make build` is a plain `sam build`: its output must hold bytecode for every module."""
    total = 0
    for name in _artifacts():
        artifact = BUILT / name
        assert artifact.is_dir(), name
        assert _uncompiled(artifact) == [], name
        total += _pyc_count(artifact)
    layer = BUILT / "SharedLayer" / "python"
    assert (layer / "dtmf_gateway").is_dir()
    # the layer's third-party packages (the python3.13 builder's set), compiled too
    for package in ("pydantic_core", "httpx", "aws_lambda_powertools", "phonenumbers", "regex"):
        assert _pyc_count(layer / package) > 0, package
    assert total > 1000


def test_the_documented_x86_64_build_cannot_reuse_an_arm64_layer_from_the_cache() -> None:
    """samconfig.toml builds with `cached = true`, and SAM's cache key is the source hash plus
    the build definition's architecture - not the environment. So the README's former
    `DTMF_GATEWAY_ARCHITECTURE=x86_64 sam build`, run after any earlier (arm64) build, printed
    "Valid cache found" and shipped the aarch64 wheels (pydantic_core, regex) to an x86_64
    function: every cold start fails. Passing `Architecture=x86_64` to the build as well makes
    the layer's BuildArchitecture x86_64, a different build definition: SAM rebuilds it."""
    readme = (ROOT / "README.md").read_text()
    description = " ".join(template()["Parameters"]["Architecture"]["Description"].split())
    for text in (" ".join(readme.split()), description):
        commands = re.findall(r"DTMF_GATEWAY_ARCHITECTURE=x86_64 sam build[^`]*", text)
        assert commands, text[:200]
        for command in commands:
            assert "--parameter-overrides Architecture=x86_64" in command, command
