"""Backends that take only traces (Phoenix, MLflow): one warning per refused signal, then spans alone, flush True."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace

pytestmark = pytest.mark.integration
# (transport, what the backend answers for logs and metrics): Phoenix answers 405 over HTTP and UNIMPLEMENTED over
# gRPC; MLflow answers 404.
BACKENDS = [("http/protobuf", 405), ("http/protobuf", 404), ("grpc", None)]


@pytest.fixture(params=BACKENDS, ids=["http-405", "http-404", "grpc-unimplemented"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[OtlpSink, str, str]]:
    protocol, status = request.param
    with OtlpSink(accept=("traces",), refuse_status=status or 405) as sink:
        endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
        yield sink, endpoint, protocol


def _stream_once(rollout: Rollout, i: int, sink: OtlpSink | None = None) -> None:
    """One stream of a few update intervals (it sends update events, OTLP logs); with `sink`, it stays open until a
    live span of it has arrived (a loaded machine's update thread may come round after 0.2 s)."""
    with trace.llm("openai.chat", model="m", stream=True, tracer_provider=rollout.tracer_provider) as span:
        span.record_chunk(f"chunk {i}")
        time.sleep(0.2)
        if sink is not None:
            span_id = format(span.otel_span.get_span_context().span_id, "016x")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                s.attributes.get("rollout.live") and s.parent_span_id == span_id for s in sink.spans()
            ):
                time.sleep(0.05)
        span.end(usage={"input_tokens": 3, "output_tokens": 1})


def test_rollout_warns_once_per_refused_signal_and_keeps_sending_spans(
    backend: tuple[OtlpSink, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    sink, endpoint, protocol = backend
    caplog.set_level(logging.INFO)
    rollout = Rollout(endpoint=endpoint, protocol=protocol, stream_update_interval=0.05)
    try:
        for round_ in range(3):  # three flushes: the warning must not repeat, and flush must say all went well
            _stream_once(rollout, round_, sink if round_ else None)  # logs are known refused after the first
            assert rollout.flush(timeout=15), caplog.text  # a bound, not a wait: a busy machine needs more than 5 s
    finally:
        rollout.shutdown()
    llm_spans = [s for s in sink.spans() if not s.attributes.get("rollout.live")]
    assert sorted(s.name for s in llm_spans) == ["openai.chat"] * 3
    live = [s for s in sink.spans() if s.attributes.get("rollout.live")]  # once logs are refused (live_spans=auto)
    assert live and {s.parent_span_id for s in live} <= {s.span_id for s in llm_spans[1:]}
    assert sink.logs() == [] and sink.metrics() == []
    ours = [r for r in caplog.records if r.name.startswith("rollout_otel") and r.levelno >= logging.WARNING]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.WARNING], [r.getMessage() for r in ours]
    messages = sorted(r.getMessage() for r in ours)
    assert "OTLP logs" in messages[0] and "OTEL_LOGS_EXPORTER=none" in messages[0]
    assert "OTLP metrics" in messages[1] and "OTEL_METRICS_EXPORTER=none" in messages[1]
    expected = "gRPC UNIMPLEMENTED" if protocol == "grpc" else f"HTTP {sink.refuse_status}"
    assert all(expected in m for m in messages)
    assert all(endpoint.split("//")[1] in m for m in messages)  # the message names the endpoint
    exporter_errors = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert exporter_errors == [], [r.getMessage() for r in exporter_errors]  # one line each, ours, not theirs
    if protocol != "grpc":  # the gRPC server answers a service it lacks before the sink sees the call
        assert len([r for r in sink.requests() if r.path == "/v1/logs"]) == 1  # tried once, then no more


def test_a_backend_that_takes_logs_but_not_metrics_keeps_the_updates(caplog: pytest.LogCaptureFixture) -> None:
    with OtlpSink(accept=("traces", "logs"), refuse_status=404) as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.05)
        try:
            with trace.llm("openai.chat", model="m", stream=True) as span:
                span.record_chunk("a")
                sink.wait_for_logs(1, event_name="rollout.stream.update")
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        assert len(sink.spans()) == 1 and len(sink.logs()) >= 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "rollout_otel" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "OTLP metrics" in warnings[0]


def test_other_refusals_are_failures_that_flush_reports(caplog: pytest.LogCaptureFixture) -> None:
    """Only 404, 405 and UNIMPLEMENTED switch a signal off; a 400 is a failed export, and logs keep being tried."""
    with OtlpSink(accept=("traces",), refuse_status=400) as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, metrics=False, stream_update_interval=0.05)
        try:
            for _ in range(2):
                with trace.llm("openai.chat", model="m", stream=True) as span:
                    span.record_chunk("a")
                    rollout.processor._send_updates()  # one update event, sent now rather than on the next tick
                assert not rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        assert len(sink.spans()) == 2
        assert len([r for r in sink.requests() if r.path == "/v1/logs"]) == 2
    assert "refuses OTLP" not in caplog.text


APP = """
from rollout_otel import trace
with trace.llm("openai.chat", model="m", stream=True) as span:
    for i in range(5):
        span.record_chunk(f"word {i} ")
        import time; time.sleep(0.05)
    span.end(usage={"input_tokens": 3, "output_tokens": 5})
print("done")
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_distro_warns_once_and_exports_spans(tmp_path: Path, protocol: str) -> None:
    with OtlpSink(accept=("traces",), refuse_status=405) as sink:
        script = tmp_path / "app.py"
        script.write_text(textwrap.dedent(APP))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_"))}
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_METRIC_EXPORT_INTERVAL="100",
            ROLLOUT_STREAM_UPDATE_INTERVAL="0.05",
            OTEL_SERVICE_NAME="trace-only",
        )
        result = subprocess.run(
            ["opentelemetry-instrument", sys.executable, str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "done"
        assert [s.name for s in sink.spans() if not s.attributes.get("rollout.live")] == ["openai.chat"]
        assert all(s.name == "openai.chat (live)" for s in sink.spans() if s.attributes.get("rollout.live"))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        refused = [line for line in lines if "refuses OTLP" in line]
        assert len(refused) == 2, result.stderr
        assert any("OTEL_LOGS_EXPORTER=none" in line for line in refused)
        assert any("OTEL_METRICS_EXPORTER=none" in line for line in refused)
        assert not [line for line in lines if "Failed to export" in line], result.stderr


def test_a_refusal_is_seen_even_with_opentelemetry_logging_silenced() -> None:
    """Quieting the exporters' logs is common; the refusal is read from the answer itself, not from a log line."""
    exporter_logger = logging.getLogger("opentelemetry")
    level = exporter_logger.level
    exporter_logger.setLevel(logging.CRITICAL)
    try:
        with OtlpSink(accept=("traces",), refuse_status=405) as sink:
            rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.05)
            try:
                for round_ in range(3):
                    _stream_once(rollout, round_)
                    assert rollout.flush(timeout=5)
            finally:
                rollout.shutdown()
            assert len([r for r in sink.requests() if r.path == "/v1/logs"]) == 1
            assert len([r for r in sink.requests() if r.path == "/v1/metrics"]) == 1
    finally:
        exporter_logger.setLevel(level)
