"""A saturated export: more spans and update events than a slow receiver takes. Whatever the queue cannot hold is
dropped, and every drop is counted: what arrived plus what was reported lost is exactly what was sent, the warning
names the count and the setting to raise, and `flush()` says False (DESIGN §10)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LogRecordProcessor

from otlp_sink import OtlpSink, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan
from rollout_otel import Rollout, trace

pytestmark = pytest.mark.integration

THREADS = 8
CALLS = 300  # per thread


class SlowSink(OtlpSink):
    """Takes a tenth of a second per request, as a loaded collector does."""

    def _record(
        self,
        request: ReceivedRequest,
        spans: Iterable[ReceivedSpan] = (),
        logs: Iterable[ReceivedLog] = (),
        metrics: Iterable[ReceivedMetric] = (),
        *,
        message: Any = None,
    ) -> None:
        time.sleep(0.1)
        super()._record(request, spans, logs, metrics, message=message)


@pytest.fixture
def slow_sink() -> Iterator[SlowSink]:
    with SlowSink() as running:
        yield running


def saturate(rollout: Rollout, work: Callable[[int], None], caplog: pytest.LogCaptureFixture) -> tuple[bool, int]:
    """`work` on THREADS threads at once, then a flush: (what the flush said, the count reported lost)."""
    try:
        with caplog.at_level(logging.WARNING, logger="rollout_otel"):
            threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return rollout.flush(timeout=60), rollout._failures.total()
    finally:
        rollout.shutdown(timeout=30)


def dropped(lines: list[str], what: str) -> int:
    """The counts the warnings give for `what` ("span", "update event")."""
    return sum(int(m.group(1)) for line in lines if (m := re.search(rf"dropped (\d+) {what}s?:", line)))


def test_spans_a_saturated_queue_drops_are_each_counted(
    slow_sink: SlowSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    rollout = Rollout(endpoint=slow_sink.http_endpoint, metrics=False)

    def calls(thread: int) -> None:
        for index in range(CALLS):
            with trace.llm("openai.chat") as span:
                span.set_attribute("call", f"{thread}-{index}")
                span.end(output="x")

    flushed, lost = saturate(rollout, calls, caplog)
    received = {s.attributes["call"] for s in slow_sink.spans()}
    assert not flushed and lost > 0  # the test saturated the queue
    assert len(received) + lost == THREADS * CALLS, (len(received), lost)
    lines = [r.getMessage() for r in caplog.records if "OTEL_BSP_MAX_QUEUE_SIZE" in r.getMessage()]
    assert dropped(lines, "span") == lost, lines  # the warnings name the count, and the setting to raise


SATURATING_APP = f"""
import threading
from rollout_otel import trace


def calls(thread):
    for index in range({CALLS}):
        with trace.llm("openai.chat") as span:
            span.set_attribute("call", f"{{thread}}-{{index}}")
            span.end(output="x")


threads = [threading.Thread(target=calls, args=(n,)) for n in range({THREADS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("ran")
"""


def test_under_opentelemetry_instrument_the_drops_are_counted_too(slow_sink: SlowSink, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(SATURATING_APP)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    env = {
        **clean,
        "OTEL_EXPORTER_OTLP_ENDPOINT": slow_sink.http_endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,anthropic",
        "OTEL_BSP_MAX_QUEUE_SIZE": "64",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
    }
    command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(script)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0 and result.stdout.strip() == "ran", result.stderr
    lines = [line for line in result.stderr.splitlines() if "OTEL_BSP_MAX_QUEUE_SIZE" in line]
    lost = dropped(lines, "span")
    assert lost > 0, result.stderr  # the test saturated the queue
    received = {s.attributes["call"] for s in slow_sink.spans()}
    assert len(received) + lost == THREADS * CALLS, (len(received), lost, result.stderr)


class EmittedCount(LogRecordProcessor):
    """Counts the log records emitted (the update events), beside the export."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def on_emit(self, log_record: Any) -> None:
        with self._lock:
            self.count += 1

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_update_events_a_saturated_queue_drops_are_each_counted(
    slow_sink: SlowSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    rollout = Rollout(endpoint=slow_sink.http_endpoint, metrics=False, stream_update_interval=0.05)
    emitted = EmittedCount()
    rollout.logger_provider.add_log_record_processor(emitted)

    def stream(thread: int) -> None:
        with trace.llm("openai.chat", stream=True) as span:
            for _ in range(20):
                span.record_chunk("x")
                time.sleep(0.06)  # an update event per stream and interval

    flushed, lost = saturate(rollout, stream, caplog)
    assert not flushed and lost > 0  # the test saturated the queue
    assert len(slow_sink.logs()) + lost == emitted.count, (len(slow_sink.logs()), lost, emitted.count)
    lines = [r.getMessage() for r in caplog.records if "OTEL_BLRP_MAX_QUEUE_SIZE" in r.getMessage()]
    assert dropped(lines, "update event") == lost, lines
