"""The package's metadata: one version, what the README and CHANGELOG say of it."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib.metadata import metadata, version
from pathlib import Path

import pytest

import rollout_otel

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_has_one_source() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()  # no tomllib: it is 3.11 and later
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.MULTILINE)
    assert 'path = "src/rollout_otel/version.py"' in pyproject
    assert version("rollout-otel") == rollout_otel.__version__


def test_the_changelog_has_an_entry_for_the_version() -> None:
    headings = re.findall(r"^## \[?([0-9][^\]\s]*)\]?", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert rollout_otel.__version__ in headings


def test_the_python_versions_claimed_are_the_ones_tested() -> None:
    claimed = {
        c.rsplit(" ", 1)[1]
        for c in metadata("rollout-otel").get_all("Classifier") or []
        if re.search(r"Python :: 3\.\d+$", c)
    }
    assert claimed == {"3.10", "3.11", "3.12", "3.13"}
    assert metadata("rollout-otel")["Requires-Python"] == ">=3.10"


@pytest.mark.integration
def test_the_wheel_carries_the_version_and_the_entry_points(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rollout_otel-*.whl")
    assert wheel.name.startswith(f"rollout_otel-{rollout_otel.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "rollout_otel/py.typed" in names
    assert "rollout_otel = rollout_otel.distro:RolloutDistro" in entry_points


def test_every_install_hint_the_commands_print_is_one_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    hints = []
    for path in (ROOT / "src" / "rollout_otel").rglob("*.py"):
        hints += re.findall(r"pip install ([a-z0-9_-]+) \(or '\.\[([a-z]+)\]' in the", path.read_text())
    assert {extra for _, extra in hints} >= {"demo", "tail"}
    for package, extra in hints:
        assert f"python -m pip install '.[{extra}]'" in readme, extra  # the README's way from a clone
        extras = re.search(rf"^{extra} = \[(.*?)\]$", (ROOT / "pyproject.toml").read_text(), re.MULTILINE | re.DOTALL)
        assert extras and f'"{package}' in extras.group(1), (package, extra)  # the package the extra brings
    assert "pip install rollout-otel" not in readme.split("## Install", 1)[1].split("\n## ", 1)[0]
