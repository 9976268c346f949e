"""Run the real ``rotel`` collector (from the ``rotel`` PyPI wheel) in tests.

A collector between the SDK and the backend re-encodes, batches and
re-compresses data; only a real one shows whether our telemetry survives that
hop.  The binary is launched directly (not via ``rotel.Client``, which
daemonizes and talks through a shared pid file) so each test owns its own
process, ports and log.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import pytest

__all__ = ["RotelCollector", "RotelStartError", "find_free_port", "rotel_binary", "rotel_unavailable"]

HOST = "127.0.0.1"


def rotel_binary() -> Path | None:
    """Path of the ``rotel-agent`` binary shipped in the ``rotel`` wheel, or None if unavailable."""
    spec = importlib.util.find_spec("rotel")
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if not locations and spec.origin:
        locations = [str(Path(spec.origin).parent)]
    for location in locations:
        candidate = Path(location) / "rotel-agent"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def rotel_unavailable() -> str | None:
    """Why the rotel binary cannot run here, or None: the wheel's binary links against a shared libpython, which
    some interpreters (pyenv builds without --enable-shared) do not have."""
    binary = rotel_binary()
    if binary is None:
        return "the rotel-agent binary is not installed (the 'rotel' package, in the test extra)"
    try:
        probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return f"rotel-agent cannot start: {exc}"
    if probe.returncode != 0:
        return f"rotel-agent cannot start on this interpreter: {probe.stderr.strip()[:200]}"
    return None


def find_free_port() -> int:
    """Ask the kernel for a free 127.0.0.1 port.

    rotel panics when told to listen on port 0, so we have to pick ports
    ourselves; the tiny race with other processes is handled by retrying.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class RotelStartError(RuntimeError):
    """rotel did not come up; the message carries the tail of its log."""


class RotelCollector:
    """A ``rotel-agent`` process receiving OTLP and forwarding it over gRPC.

    Listens for OTLP/gRPC and OTLP/HTTP on two fresh 127.0.0.1 ports and
    exports everything to ``sink_grpc_endpoint`` (typically
    ``OtlpSink.grpc_endpoint``).  Leaving the context sends SIGTERM so rotel
    flushes its batches before the test inspects the sink.
    """

    def __init__(
        self,
        sink_grpc_endpoint: str,
        *,
        batch_timeout: str = "100ms",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        log_dir: Path | None = None,
        binary: Path | None = None,
    ) -> None:
        self.sink_grpc_endpoint = sink_grpc_endpoint
        self.batch_timeout = batch_timeout
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._binary = binary
        self._log_dir = log_dir
        self._owns_log_dir = log_dir is None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._grpc_port: int | None = None
        self._http_port: int | None = None
        self.returncode: int | None = None

    # -- lifecycle

    def command(self, grpc_port: int, http_port: int, pid_file: Path) -> list[str]:
        """The exact argv used to start rotel (handy when a test fails)."""
        binary = self._binary or rotel_binary()
        if binary is None:
            raise RotelStartError("rotel-agent binary not found; is the 'rotel' package installed?")
        return [
            str(binary),
            "start",
            "--otlp-grpc-endpoint",
            f"{HOST}:{grpc_port}",
            "--otlp-http-endpoint",
            f"{HOST}:{http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            self.sink_grpc_endpoint,
            "--otlp-exporter-protocol",
            "grpc",
            "--batch-timeout",
            self.batch_timeout,
            # Only used with --daemon, but keep rotel away from the shared /tmp default.
            "--pid-file",
            str(pid_file),
            *self.extra_args,
        ]

    def start(self, attempts: int = 3) -> RotelCollector:
        """Start rotel and wait until both receivers accept TCP connections.

        Retries with new ports if rotel exits with "Address already in use"
        (a port picked by ``find_free_port`` may have been taken meanwhile).
        """
        if self._proc is not None:
            raise RuntimeError("RotelCollector already started")
        if self._binary is None and (reason := rotel_unavailable()) is not None:
            pytest.skip(reason)
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="rotel-"))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        last_error: RotelStartError | None = None
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(attempt)
                return self
            except RotelStartError as exc:
                last_error = exc
                if self._proc is not None:
                    # Still running but not listening: not a port race, give up.
                    self._terminate()
                    break
                if "address already in use" not in str(exc).lower():
                    break  # bad flags or similar; retrying will not help
        assert last_error is not None
        self.stop()  # the message already holds the log tail; drop temp files
        raise last_error

    def _start_once(self, attempt: int) -> None:
        assert self._log_dir is not None
        grpc_port = find_free_port()
        http_port = find_free_port()
        while http_port == grpc_port:
            http_port = find_free_port()
        log_path = self._log_dir / f"rotel-{attempt}.log"
        argv = self.command(grpc_port, http_port, self._log_dir / "rotel.pid")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
        env["NO_COLOR"] = "1"  # plain log lines in failure messages
        with open(log_path, "wb") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a terminal Ctrl-C is for pytest, not rotel
            )
        self._log_path = log_path
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                self._proc = None
                raise RotelStartError(f"rotel exited with code {code} during startup\n{self.log_tail()}")
            if _port_accepts(grpc_port) and _port_accepts(http_port):
                break
            if time.monotonic() >= deadline:
                self._proc = proc
                raise RotelStartError(
                    f"rotel did not listen on {HOST}:{grpc_port} and {HOST}:{http_port} "
                    f"within {self.startup_timeout}s\n{self.log_tail()}"
                )
            time.sleep(0.02)
        self._proc = proc
        self._grpc_port, self._http_port = grpc_port, http_port

    def stop(self) -> int | None:
        """SIGTERM (so rotel flushes), wait, then SIGKILL; returns the exit code."""
        if self._proc is not None:
            self._terminate()
        if self._owns_log_dir and self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self._log_path = None
        return self.returncode

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.shutdown_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.returncode = proc.returncode
        self._grpc_port = self._http_port = None

    def __enter__(self) -> RotelCollector:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- introspection

    @property
    def running(self) -> bool:
        """True while the rotel process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """Process id of the running rotel-agent."""
        if self._proc is None:
            raise RuntimeError("RotelCollector is not running")
        return self._proc.pid

    @property
    def grpc_port(self) -> int:
        """Port of rotel's OTLP/gRPC receiver."""
        if self._grpc_port is None:
            raise RuntimeError("RotelCollector is not running")
        return self._grpc_port

    @property
    def http_port(self) -> int:
        """Port of rotel's OTLP/HTTP receiver."""
        if self._http_port is None:
            raise RuntimeError("RotelCollector is not running")
        return self._http_port

    @property
    def grpc_endpoint(self) -> str:
        """``http://`` URL for the SDK gRPC exporters (insecure)."""
        return f"http://{HOST}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL; append ``/v1/traces`` or ``/v1/logs`` for the SDK HTTP exporters."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def log_path(self) -> Path | None:
        """rotel's combined stdout/stderr log (removed on stop unless ``log_dir`` was given)."""
        return self._log_path

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines of rotel's output, for assertion messages."""
        if self._log_path is None or not self._log_path.exists():
            return "<no rotel log>"
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
