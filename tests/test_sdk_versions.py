"""The oldest supported provider SDKs: one table, and the README, the pyproject extras and the instrumentors agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rollout_otel import _sdk_versions
from rollout_otel._sdk_versions import OLDEST, oldest, pins, requirement, too_old
from rollout_otel.instrumentation.anthropic import AnthropicInstrumentor
from rollout_otel.instrumentation.bedrock import BedrockInstrumentor
from rollout_otel.instrumentation.google_genai import GoogleGenAIInstrumentor
from rollout_otel.instrumentation.openai import OpenAIInstrumentor

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("openai", "anthropic", "boto3", "botocore", "google-genai")


def load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(path.read_text())  # type: ignore[no-any-return]


def readme_minimums() -> dict[str, str]:
    """`name` >= version (and `a` / `b` >= version) in the Install section's sentence on supported providers."""
    install = ROOT.joinpath("README.md").read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    sentence = " ".join(install.strip().split("\n\n", 1)[0].split())
    found = {}
    for names, version in re.findall(r"((?:`[\w-]+`(?: / )?)+) >= ([\d.]+)", sentence):
        for name in re.findall(r"`([\w-]+)`", names):
            found[name] = version
    return found


def test_readme_names_the_oldest_release_of_every_sdk() -> None:
    assert readme_minimums() == {name: oldest(name) for name in SDKS}


@pytest.mark.parametrize("extra", ["test", "demo", "bench"])
def test_pyproject_extras_ask_for_the_same_oldest_releases(extra: str) -> None:
    requirements = load_toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"][extra]
    bounds = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([\w.]+)", line)
        if match and match.group(1) in SDKS:
            bounds[match.group(1)] = match.group(2)
    assert bounds, f"the {extra} extra names no provider SDK"
    assert bounds == {name: oldest(name) for name in bounds}
    if extra != "demo":  # the demo streams with openai only
        assert set(bounds) == {"openai", "anthropic", "boto3", "google-genai"}


def test_instrumentors_require_the_same_releases() -> None:
    assert OpenAIInstrumentor().instrumentation_dependencies() == ("openai >= " + OLDEST["openai"],)
    assert AnthropicInstrumentor().instrumentation_dependencies() == ("anthropic >= " + OLDEST["anthropic"],)
    assert BedrockInstrumentor().instrumentation_dependencies() == ("botocore >= " + OLDEST["botocore"],)
    assert GoogleGenAIInstrumentor().instrumentation_dependencies() == ("google-genai >= " + OLDEST["google-genai"],)


def test_ci_reads_the_pins_without_importing_rollout() -> None:
    """`.ci/provider-sdks.sh oldest` runs the module as a script before anything is installed."""
    script = Path(_sdk_versions.__file__)
    result = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == pins()
    assert sorted(pin.split("==")[0] for pin in pins()) == sorted(SDKS)
    assert "_sdk_versions.py" in ROOT.joinpath(".ci", "provider-sdks.sh").read_text()


@pytest.mark.parametrize(
    ("package", "version", "old"),
    [
        ("openai", OLDEST["openai"], False),
        ("openai", "3.63.0", False),
        ("openai", "1.66.0", True),
        ("openai", OLDEST["openai"].rsplit(".", 1)[0], True),  # 1.97 is older than 1.97.2
        ("boto3", "1.34.0", True),  # boto3 goes with botocore's release
        ("anthropic", "not-a-version", False),  # unreadable: try, rather than refuse
        ("google-genai", OLDEST["google-genai"] + "rc1", False),
    ],
)
def test_too_old(package: str, version: str, old: bool) -> None:
    assert too_old(package, version) is old


def test_requirement_names_the_package_and_its_oldest_release() -> None:
    assert requirement("boto3") == f"boto3 >= {OLDEST['botocore']}"


@pytest.mark.parametrize(
    ("module", "package", "instrumentor", "patched"),
    [
        ("openai", "openai", OpenAIInstrumentor, "openai.resources.chat.completions.completions:Completions.create"),
        ("anthropic", "anthropic", AnthropicInstrumentor, "anthropic.resources.messages.messages:Messages.create"),
        ("botocore", "botocore", BedrockInstrumentor, "botocore.client:BaseClient._make_api_call"),
        ("google.genai", "google-genai", GoogleGenAIInstrumentor, "google.genai.models:Models.generate_content"),
    ],
)
def test_a_release_older_than_the_oldest_is_left_alone_and_said_so(
    module: str, package: str, instrumentor: Any, patched: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """`opentelemetry-instrument` skips the dependency check: each instrumentor checks the release itself."""
    import importlib

    import wrapt

    monkeypatch.setattr(importlib.import_module(module), "__version__", "0.0.1")
    where, attribute = patched.split(":")
    owner_name, method = attribute.split(".")
    owner = getattr(importlib.import_module(where), owner_name)
    with caplog.at_level("WARNING", logger="rollout_otel"):
        instrumentor().instrument(skip_dep_check=True)
    try:
        assert not isinstance(owner.__dict__.get(method), wrapt.FunctionWrapper)
        assert f"cannot trace {package} 0.0.1" in caplog.text and f"Supported: {requirement(package)}" in caplog.text
    finally:
        instrumentor().uninstrument()
