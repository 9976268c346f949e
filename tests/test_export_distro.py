"""`opentelemetry-instrument` and multiprocessing: the export bounds and guarantees of `Rollout()` hold there too.

Programs run in subprocesses, as users run them, against a real OTLP receiver (DESIGN §10 and §7).
"""

from __future__ import annotations

import contextlib
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


POOL_METRICS_APP = """
import multiprocessing, os, sys
from rollout_otel import trace

if os.environ.get("USE_ROLLOUT") == "1":
    from rollout_otel import Rollout
    rollout = Rollout()  # at import: spawn and forkserver workers import this module too


def work(index):
    with trace.llm("pool.task", model=f"task-{index}") as span:
        span.end(output=f"task {index}", usage={"input_tokens": 3, "output_tokens": 4})
    return os.getpid()


def four(first):
    for index in range(first, first + 4):
        work(index)


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    if sys.argv[2] == "pool":
        with context.Pool(2) as pool:  # leaving it terminates the workers at once
            pids = pool.map(work, range(8))
    else:  # two children of four calls each, ending normally (os._exit: exit handlers do not run there)
        children = [context.Process(target=four, args=(first,)) for first in (0, 4)]
        for child in children:
            child.start()
        for child in children:
            child.join()
        pids = [child.pid for child in children]
    print("done", len(set(pids)))
"""


@pytest.mark.parametrize(
    ("method", "kind", "distro"),
    [
        *((method, "pool", distro) for method in ("fork", "forkserver", "spawn") for distro in (False, True)),
        ("fork", "process", False),
        ("spawn", "process", True),
    ],
)
def test_multiprocessing_children_export_their_metrics_too(
    sink: OtlpSink, tmp_path: Path, method: str, kind: str, distro: bool
) -> None:
    """A child's metrics leave before it ends, as its spans do: a pool worker's after each call (the pool stops it
    with SIGTERM once the results are in, long before the metric reader's minute), another child's as it ends."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_LOGS_EXPORTER": "none",
        "USE_ROLLOUT": "0" if distro else "1",
    }
    assert run_app(POOL_METRICS_APP, tmp_path, env, method, kind, distro=distro).startswith("done")
    assert len(sink.wait_for_spans(8, name="pool.task", timeout=15)) == 8

    def models() -> set[str]:
        return {str(p.attributes.get("gen_ai.request.model")) for m in sink.metrics(DURATION) for p in m.points}

    with contextlib.suppress(AssertionError):  # the program has ended: what was sent is in, or nearly
        sink.wait_for(lambda: len(models()) >= 8 or None, timeout=5)
    assert models() == {f"task-{index}" for index in range(8)}
