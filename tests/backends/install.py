"""Install Arize Phoenix and MLflow, each in its own venv outside the repository, for `pytest -m backends`.

Why apart: both are large (hundreds of packages between them) and pin libraries of their own, so they must not
share the project's test venv. The venvs live in `$ROLLOUT_BACKENDS_DIR` (default
`~/.cache/rollout-otel-backends`), outside any clone, so later runs on the same machine reuse them: a venv whose
marker file names the pinned requirement and whose interpreter still runs is kept as it is. Stdlib only; run it
with the Python the backends should use (`python tests/backends/install.py [phoenix] [mlflow]`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = ".rollout-installed"


@dataclass(frozen=True)
class Backend:
    """One backend: the venv it lives in and the pinned requirement installed there."""

    name: str
    requirement: str
    distribution: str

    @property
    def version(self) -> str:
        return self.requirement.split("==", 1)[1]

    def venv(self, root: Path | None = None) -> Path:
        return (root or cache_dir()) / f"{self.name}-venv"

    def python(self, root: Path | None = None) -> Path:
        return self.venv(root) / "bin" / "python"


PHOENIX = Backend("phoenix", "arize-phoenix==20.26.1", "arize-phoenix")
MLFLOW = Backend("mlflow", "mlflow==3.17.2", "mlflow")
BACKENDS = {backend.name: backend for backend in (PHOENIX, MLFLOW)}


def cache_dir() -> Path:
    """Where the venvs live: `$ROLLOUT_BACKENDS_DIR`, else `~/.cache/rollout-otel-backends`."""
    configured = os.environ.get("ROLLOUT_BACKENDS_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "rollout-otel-backends"


def installed(backend: Backend, root: Path | None = None) -> bool:
    """Whether the venv holds the pinned release and its interpreter runs (what a reuse needs)."""
    marker = backend.venv(root) / MARKER
    if not marker.is_file() or marker.read_text().strip() != backend.requirement:
        return False
    check = f"import importlib.metadata as m; assert m.version({backend.distribution!r}) == {backend.version!r}"
    try:
        result = subprocess.run([str(backend.python(root)), "-c", check], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def install(backend: Backend, root: Path | None = None) -> float:
    """Make the backend's venv unless a working one is there; returns the seconds spent (0 when reused)."""
    venv = backend.venv(root)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{backend.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once: the second waits, then reuses the first's venv
        if installed(backend, root):
            print(f"{backend.name}: reusing {venv} ({backend.requirement})", flush=True)
            return 0.0
        started = time.monotonic()
        print(f"{backend.name}: installing {backend.requirement} into {venv}", flush=True)
        shutil.rmtree(venv, ignore_errors=True)  # a half-made or outdated venv is not worth repairing
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(backend.python(root)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, backend.requirement], check=True)
        (venv / MARKER).write_text(backend.requirement + "\n")  # last: its presence means the install finished
        if not installed(backend, root):
            raise SystemExit(f"{backend.name}: installed {backend.requirement} into {venv}, but it does not run")
        took = time.monotonic() - started
        print(f"{backend.name}: installed in {took:.0f} s", flush=True)
        return took


def main(argv: list[str]) -> int:
    names = argv or list(BACKENDS)
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        print(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(BACKENDS)}", file=sys.stderr)
        return 2
    for name in names:
        install(BACKENDS[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
