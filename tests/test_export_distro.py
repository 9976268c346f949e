"""`opentelemetry-instrument` and multiprocessing: the export bounds and guarantees of `Rollout()` hold there too.

Programs run in subprocesses, as users run them, against a real OTLP receiver (DESIGN §10 and §7).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlp_sink import OtlpSink

pytestmark = pytest.mark.integration

DURATION = "gen_ai.client.operation.duration"


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink(max_body_bytes=4 * 1024 * 1024) as running:
        yield running


def run_app(code: str, tmp_path: Path, env: dict[str, str], *args: str, distro: bool) -> str:
    """Run `code` (under `opentelemetry-instrument` if `distro`); returns its stdout, and fails on a non-zero exit."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    clean["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai,anthropic"
    command = [sys.executable, str(script), *args]
    if distro:
        command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), *command]
    result = subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


MANY_MODELS_APP = """
from rollout_otel import trace

for index in range(100):
    with trace.llm("openai.chat", model=f"model-{index:03d}") as span:
        span.end(output="x", usage={"input_tokens": 3, "output_tokens": 4})
print("ran")
"""


def test_metric_series_are_bounded_under_opentelemetry_instrument(sink: OtlpSink, tmp_path: Path) -> None:
    """The series bound follows ROLLOUT_MAX_EXPORT_BYTES (16 series at the smallest setting) however the SDK was set
    up; the calls past it are counted in the SDK's overflow series, not lost."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_LOGS_EXPORTER": "none",
        "ROLLOUT_MAX_EXPORT_BYTES": "65536",
    }
    assert run_app(MANY_MODELS_APP, tmp_path, env, distro=True).strip() == "ran"
    sink.wait_for(lambda: sink.metrics(DURATION), timeout=15)
    points = [p for m in sink.metrics(DURATION) for p in m.points]
    series = {tuple(sorted(p.attributes.items())) for p in points}
    assert len(series) <= 16 + 1, len(series)  # and the overflow series
    assert any(p.attributes.get("otel.metric.overflow") for p in points)
    assert sum(p.count for p in points) == 100  # every call is counted, in its series or in the overflow
