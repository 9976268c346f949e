"""Phoenix and MLflow as processes of their own on 127.0.0.1, each with a temporary SQLite store, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .install import MLFLOW, PHOENIX, Backend, cache_dir, installed

# A cold Phoenix runs its migrations and builds its app for one to two minutes on a busy two-core machine.
HEALTH_TIMEOUT = 300.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (a dual-stack `::` probe for a server that binds every address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::", 0))
    except OSError:
        return False
    return True


@dataclass
class BackendProcess:
    """One backend server: launched at once, waited for later, so two cold starts overlap."""

    backend: Backend
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    port: int
    health_path: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_after: float | None = None  # seconds from launch to the first healthy answer
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """The server's root URL: OTLP/HTTP is at /v1/traces under it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.backend.name}.log"

    def launch(self) -> BackendProcess:
        """Start the process in a session of its own, so that stopping it reaches the workers it forks."""
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        """Poll the health endpoint until it answers 200; raise with the log's tail if the process dies or time runs
        out."""
        assert self.process is not None, "launch() first"
        deadline = self.started_at + timeout
        url = self.base_url + self.health_path
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.backend.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    self.ready_after = time.monotonic() - self.started_at
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.backend.name} not healthy at {url} after {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process's own group (its id), then SIGKILL to what is left after `timeout`."""
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # workers that outlived their parent
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def _base_env() -> dict[str, str]:
    """The environment without any OpenTelemetry or rollout setting of the test run's own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_", "PHOENIX_", "MLFLOW_"))}


def phoenix_process(workdir: Path, root: Path | None = None) -> BackendProcess:
    """Phoenix on loopback with its SQLite database in `workdir`; OTLP over HTTP only (its gRPC server binds `[::]`,
    so the port for it is probed on every address)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    grpc_port = free_port("::") if _ipv6() else free_port("0.0.0.0")
    env = {
        **_base_env(),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    argv = [str(PHOENIX.python(root)), "-m", "phoenix.server.main", "serve"]
    return BackendProcess(PHOENIX, argv, env, workdir, port, "/healthz")


def mlflow_process(workdir: Path, root: Path | None = None) -> BackendProcess:
    """The MLflow tracking server on loopback, one worker, its SQLite store and artifacts in `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        str(MLFLOW.python(root)),
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
        "--workers",
        "1",
    ]
    # Its job runner (online scoring) would start half a dozen consumer processes: not what traces need.
    env = {**_base_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return BackendProcess(MLFLOW, argv, env, workdir, port, "/health")


def missing(backend: Backend) -> str | None:
    """Why `backend` cannot be started here, or None."""
    if installed(backend):
        return None
    return (
        f"{backend.requirement} is not installed in {backend.venv()} (ROLLOUT_BACKENDS_DIR={cache_dir()}); "
        "run `bash tests/backends/install.sh` first"
    )
