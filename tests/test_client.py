"""Rollout(): provider set-up, adding to existing providers, flush and shutdown bounded even with a dead collector."""

from __future__ import annotations

import socket
import time

import pytest
from opentelemetry import _logs as otel_logs
from opentelemetry import trace as otel_trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rollout_otel import Rollout, StreamingSpanProcessor, trace
from rollout_otel._config import resolve_settings


def closed_port_endpoint() -> str:
    """An endpoint on loopback where nothing listens: every export is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_installs_its_own_providers_when_none_exist() -> None:
    rollout = Rollout(endpoint=closed_port_endpoint(), service_name="svc")
    try:
        provider = otel_trace.get_tracer_provider()
        assert provider is rollout.tracer_provider
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "svc"
        assert otel_logs.get_logger_provider() is rollout.logger_provider
    finally:
        rollout.shutdown(timeout=1)


def test_adds_to_an_existing_sdk_provider_instead_of_replacing_it() -> None:
    theirs = TracerProvider()
    their_spans = InMemorySpanExporter()
    theirs.add_span_processor(SimpleSpanProcessor(their_spans))
    otel_trace.set_tracer_provider(theirs)
    their_logs = LoggerProvider()
    otel_logs.set_logger_provider(their_logs)

    rollout = Rollout(endpoint=closed_port_endpoint(), stream_preview_chars=2)
    try:
        assert rollout.tracer_provider is theirs
        assert rollout.logger_provider is their_logs
        with trace.llm("a.b", stream=True) as span:
            span.record_chunk("abc")
        (s,) = their_spans.get_finished_spans()
        assert s.attributes["rollout.stream.preview"] == "bc"  # the processor Rollout added claimed it
    finally:
        rollout.shutdown(timeout=1)


def test_capture_stream_chunks_raises_the_event_limit_of_its_own_provider() -> None:
    rollout = Rollout(endpoint=closed_port_endpoint(), capture_stream_chunks=True)
    exporter = InMemorySpanExporter()
    rollout.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with trace.llm("a.b", stream=True) as span:
            for i in range(1_000):
                span.record_chunk(str(i))
        (s,) = exporter.get_finished_spans()
        assert len(s.events) == 1_000
    finally:
        rollout.shutdown(timeout=1)


def test_the_event_limit_the_user_set_is_respected_and_drops_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "10")
    rollout = Rollout(endpoint=closed_port_endpoint(), capture_stream_chunks=True)
    exporter = InMemorySpanExporter()
    rollout.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with trace.llm("a.b", stream=True) as span:
            for i in range(25):
                span.record_chunk(str(i))
        (s,) = exporter.get_finished_spans()
        assert len(s.events) == 10
        assert s.attributes["rollout.stream.chunk_events_dropped"] == 15
    finally:
        rollout.shutdown(timeout=1)


def test_context_manager_shuts_down() -> None:
    with Rollout(endpoint=closed_port_endpoint()) as rollout:
        assert isinstance(rollout.processor, StreamingSpanProcessor)
    assert rollout.flush(timeout=0.1) is False  # closed
    rollout.shutdown()  # a second shutdown is harmless


def test_repr_does_not_show_the_api_key() -> None:
    rollout = Rollout(endpoint=closed_port_endpoint(), api_key="sk-very-secret")
    try:
        assert "sk-very-secret" not in repr(rollout)
        assert "api_key=set" in repr(rollout)
        assert "sk-very-secret" not in str(dict(rollout.tracer_provider.resource.attributes))
    finally:
        rollout.shutdown(timeout=1)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_dead_collector_costs_no_exception_and_no_wait(protocol: str) -> None:
    rollout = Rollout(endpoint=closed_port_endpoint(), protocol=protocol, stream_update_interval=0.05)
    try:
        started = time.monotonic()
        for _ in range(20):
            with trace.llm("a.b", stream=True) as span:
                for i in range(100):
                    span.record_chunk(f"{i} ")
                span.end(usage={"input_tokens": 1, "output_tokens": 100})
        traced = time.monotonic() - started
        # A blocking export to a refused port would retry with backoff for seconds per call.
        # Bounds catch waiting (backoff is seconds per call: tens of seconds here), not a loaded machine's slowness.
        assert traced < 5.0, f"20 traced calls took {traced:.2f} s with a dead collector"

        started = time.monotonic()
        assert rollout.flush(timeout=0.5) is False
        assert time.monotonic() - started < 2.5
    finally:
        started = time.monotonic()
        rollout.shutdown(timeout=1.0)
        assert time.monotonic() - started < 4.0


def test_flush_returns_within_its_timeout_when_the_collector_never_answers() -> None:
    # A listening socket that never accepts: the export hangs until the exporter's own 10 s timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        rollout = Rollout(endpoint=f"http://127.0.0.1:{port}")
        with trace.llm("a.b") as span:
            span.end(output="x")
        started = time.monotonic()
        assert rollout.flush(timeout=0.5) is False
        assert time.monotonic() - started < 4.0  # not the exporter's own 10 s
        started = time.monotonic()
        rollout.shutdown(timeout=0.5)
        assert time.monotonic() - started < 4.0


def test_update_events_name_the_same_service_as_their_spans() -> None:
    from opentelemetry.sdk.resources import Resource

    otel_trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "checkout-api"})))
    rollout = Rollout(endpoint=closed_port_endpoint())
    try:
        assert rollout.logger_provider.resource.attributes["service.name"] == "checkout-api"
    finally:
        rollout.shutdown(timeout=1)


def test_standard_otlp_variables_keep_their_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollout_otel._exporters import new_failure_count, span_exporters

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces.example:4318/v1/traces")
    settings = resolve_settings(api_key="k")
    (http,) = span_exporters(settings, new_failure_count())
    assert http.inner._endpoint == "http://traces.example:4318/v1/traces"  # type: ignore[attr-defined]
    grpc_settings = resolve_settings(api_key="k", protocol="grpc")
    (grpc,) = span_exporters(grpc_settings, new_failure_count())
    assert dict(grpc.inner._headers) == {"x-tenant": "acme", "authorization": "Bearer k"}  # type: ignore[attr-defined]
