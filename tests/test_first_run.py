"""A first run without a collector, or with the endpoint set wrong: fast exit, one clear line, the likely fix.

Programs run in subprocesses, as a user runs them. The bounds are on the exit alone (from the script's last line to
the process's end, on the system-wide monotonic clock), not on interpreter start-up, which a loaded 2-core machine
can stretch several-fold; what bounds the exit is waiting, not computing. The real figures are in
benchmarks/RESULTS-startup.md and the README.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlp_sink import OtlpSink

pytestmark = pytest.mark.integration

APP = """
import time
from rollout_otel import Rollout, trace
{setup}
with trace.llm("openai.chat", stream=True) as span:
    span.record_chunk("hello")
print("done", time.monotonic())
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where something accepts connections and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield int(silent.getsockname()[1])


def run(tmp_path: Path, env: dict[str, str], *, distro: bool, setup: str = "Rollout()") -> tuple[float, str, str]:
    """Run the app; returns the seconds from its last line to its exit, its stdout and its stderr."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP.format(setup="" if distro else setup)))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    clean["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai,anthropic"
    command = ["opentelemetry-instrument", sys.executable, str(script)] if distro else [sys.executable, str(script)]
    result = subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60)
    exited = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux: comparable with the child's reading
    assert result.returncode == 0, result.stderr
    word, last_line = result.stdout.split()
    assert word == "done"
    return exited - float(last_line), result.stdout, result.stderr


@pytest.mark.parametrize("distro", [False, True], ids=["Rollout", "opentelemetry-instrument"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_no_collector_exits_at_once_with_one_short_line(tmp_path: Path, distro: bool, protocol: str) -> None:
    port = free_port()  # nothing listens there
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
    elapsed, _, stderr = run(tmp_path, env, distro=distro)
    # No wait (a refusal is final): tens of milliseconds when the machine is idle, seconds when it is very loaded,
    # and never the 5 s that retrying until the exit bound would take.
    assert elapsed < 4.5, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # one line for the endpoint, whichever signals had something to send
    (line,) = lines
    assert "nothing listens at" in line and "(connection refused)" in line
    assert "`rollout-otel tail`" in line and "OTEL_TRACES_EXPORTER=none" in line and "ROLLOUT_ENDPOINT" in line
    assert "repository" not in line and len(line) < 300
    assert "Transient error" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("distro", [False, True], ids=["Rollout", "opentelemetry-instrument"])
def test_a_collector_that_never_answers_holds_the_exit_five_seconds_at_most(
    tmp_path: Path, silent_port: int, distro: bool
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent_port}"}
    elapsed, _, stderr = run(tmp_path, env, distro=distro)
    assert elapsed < 8.0, stderr  # the 5 s bound, plus the SDK's shutdown
    assert "Transient error" not in stderr


def test_an_endpoint_given_with_the_signal_path_is_used_as_its_base(tmp_path: Path) -> None:
    with OtlpSink() as sink:
        env = {"ROLLOUT_ENDPOINT": f"{sink.http_endpoint}/v1/traces"}
        _, _, stderr = run(tmp_path, env, distro=False)
        assert [s.name for s in sink.wait_for_spans(1)] == ["openai.chat"]
        assert "ends with /v1/traces" in stderr and f"uses {sink.http_endpoint}" in stderr


def test_grpc_sent_to_the_http_port_names_the_fix(tmp_path: Path) -> None:
    with OtlpSink() as sink:
        endpoint = sink.http_endpoint
        env = {"ROLLOUT_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        _, _, stderr = run(tmp_path, env, distro=False)
    spans_line = next(line for line in stderr.splitlines() if "could not export spans" in line)
    assert endpoint.split("//")[1] in spans_line
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in spans_line
    assert all(line.startswith("rollout-otel ") for line in stderr.splitlines() if line.strip())  # no SDK lines


def test_http_sent_to_the_grpc_port_names_the_fix(tmp_path: Path) -> None:
    with OtlpSink() as sink:
        env = {"ROLLOUT_ENDPOINT": sink.grpc_endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        _, _, stderr = run(tmp_path, env, distro=False)
    spans_line = next(line for line in stderr.splitlines() if "could not export spans" in line)
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in spans_line and "4318" in spans_line, stderr


def test_an_export_that_recovers_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from rollout_otel import Rollout, trace

    port = free_port()
    rollout = Rollout(endpoint=f"http://127.0.0.1:{port}", metrics=False)
    try:
        for _ in range(2):  # still down the second time: no second line
            with trace.llm("openai.chat") as span:
                span.end(output="lost")
            assert not rollout.flush(timeout=5)
        with OtlpSink(port=port) as sink:
            with trace.llm("openai.chat") as span:
                span.end(output="arrives")
            assert rollout.flush(timeout=5)
            assert [s.name for s in sink.wait_for_spans(1)] == ["openai.chat"]
    finally:
        rollout.shutdown(timeout=1)
    down = [r for r in caplog.records if "nothing listens at" in r.getMessage()]
    again = [r for r in caplog.records if "exports spans to" in r.getMessage() and "again" in r.getMessage()]
    assert len(down) == 1 and len(again) == 1


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "ROLLOUT_ENDPOINT"])
@pytest.mark.parametrize("distro", [False, True], ids=["Rollout", "opentelemetry-instrument"])
def test_any_endpoint_variable_is_used_as_checked(tmp_path: Path, variable: str, distro: bool) -> None:
    """Whichever variable names the endpoint, the exporters get the checked base URL: signal path off, scheme on."""
    with OtlpSink() as sink:
        bare = sink.http_endpoint.removeprefix("http://")
        for given in (f"{sink.http_endpoint}/v1/traces/", bare):
            sink.clear()
            run(tmp_path, {variable: given}, distro=distro)
            assert [s.name for s in sink.wait_for_spans(1)] == ["openai.chat"], given


def test_two_rollouts_and_a_silent_collector_still_exit_within_the_bound(tmp_path: Path, silent_port: int) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent_port}"}
    elapsed, _, stderr = run(tmp_path, env, distro=False, setup="library = Rollout()\napplication = Rollout()")
    assert elapsed < 8.0, stderr  # one 5 s bound for the shared set-up, not one per Rollout (that would be 10 s)
