"""Rollout() exporting over real sockets: to an OTLP receiver directly (HTTP and gRPC) and through rotel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from genai_content import output_text
from otlp_sink import GRPC_LOGS_METHOD, GRPC_TRACES_METHOD, OtlpSink, ReceivedLog, ReceivedSpan
from rollout_otel import Rollout, trace
from rotel_collector import RotelCollector

pytestmark = pytest.mark.integration
PROTOCOLS = ["http/protobuf", "grpc"]


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


def endpoint_for(sink: OtlpSink, protocol: str) -> str:
    return sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint


def slow_stream(span: trace.LLMSpan, *, chunks: int, seconds: float) -> None:
    """Record `chunks` deltas spread evenly over `seconds`."""
    start = time.monotonic()
    for i in range(chunks):
        span.record_chunk(f"w{i} ")
        delay = start + seconds * (i + 1) / chunks - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def updates_for(sink: OtlpSink, span: ReceivedSpan) -> list[ReceivedLog]:
    return [log for log in sink.logs("rollout.stream.update") if log.span_id == span.span_id]


def assert_updates_arrive_while_the_stream_is_open(sink: OtlpSink, rollout: Rollout) -> None:
    with trace.llm("openai.responses", model="m", stream=True) as span:
        span.record_input({"messages": [{"role": "user", "content": "hi"}]})
        slow_stream(span, chunks=20, seconds=0.5)
        # Still streaming: the first update must already be at the receiver.
        first = sink.wait_for_logs(1, timeout=3, event_name="rollout.stream.update")[0]
        assert not sink.spans(), "the span must not have been exported yet"
        slow_stream(span, chunks=20, seconds=0.5)
        span.end(usage={"input_tokens": 3, "output_tokens": 40}, finish_reason="stop")
    assert rollout.flush(timeout=5)
    (received,) = sink.wait_for_spans(1, timeout=5)
    sent = received.attributes["rollout.stream.updates"]
    # Through a collector, logs and spans travel in separate pipelines: wait for every update to arrive.
    updates = sink.wait_for(lambda: found if len(found := updates_for(sink, received)) >= sent else None)
    assert first in updates
    assert sent == len(updates) >= 3
    assert all(u.trace_id == received.trace_id for u in updates)
    assert [u.attributes["rollout.stream.update.seq"] for u in updates] == list(range(1, len(updates) + 1))
    assert all(u.time_unix_nano < received.end_time_unix_nano for u in updates)
    assert received.attributes["gen_ai.usage.output_tokens"] == 40
    assert output_text(received.attributes) == "".join(f"w{i} " for i in range(20)) * 2
    assert received.attributes["rollout.stream.chunks"] == 40
    assert received.attributes["rollout.stream.end_reason"] == "completed"
    assert received.resource["service.name"] == "export-test"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_updates_reach_the_receiver_before_the_span_ends(sink: OtlpSink, protocol: str) -> None:
    rollout = Rollout(
        endpoint=endpoint_for(sink, protocol), protocol=protocol, stream_update_interval=0.2, service_name="export-test"
    )
    try:
        assert_updates_arrive_while_the_stream_is_open(sink, rollout)
        assert {r.transport for r in sink.requests()} == {"grpc" if protocol == "grpc" else "http"}
    finally:
        rollout.shutdown()


@pytest.mark.parametrize("ingress", PROTOCOLS)
def test_updates_and_span_pass_through_the_rotel_collector(sink: OtlpSink, ingress: str) -> None:
    with RotelCollector(sink.grpc_endpoint) as rotel:
        endpoint = rotel.grpc_endpoint if ingress == "grpc" else rotel.http_endpoint
        rollout = Rollout(endpoint=endpoint, protocol=ingress, stream_update_interval=0.2, service_name="export-test")
        try:
            assert_updates_arrive_while_the_stream_is_open(sink, rollout)
        finally:
            rollout.shutdown()


def test_a_rollout_after_one_was_shut_down_streams_updates_again(sink: OtlpSink) -> None:
    """`with Rollout(): ...` twice in one process: the second one's processor gets the spans, not the dead one."""
    with Rollout(endpoint=sink.http_endpoint, stream_update_interval=5, service_name="export-test"):
        pass
    rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.2, service_name="export-test")
    try:
        assert_updates_arrive_while_the_stream_is_open(sink, rollout)
    finally:
        rollout.shutdown()


def test_update_count_is_bounded_by_duration_not_chunks(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.25)
    try:
        for chunks in (25, 25_000):
            with trace.llm(f"stream.{chunks}", stream=True) as span:
                slow_stream(span, chunks=chunks, seconds=1.0)
        assert rollout.flush(timeout=5)
        spans = sink.wait_for_spans(2, timeout=5)
        counts = {s.name: len(updates_for(sink, s)) for s in spans}
        assert all(3 <= n <= 5 for n in counts.values()), counts
        assert {s.name: s.attributes["rollout.stream.updates"] for s in spans} == counts
    finally:
        rollout.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_two_thousand_chunk_events_arrive_intact(sink: OtlpSink, protocol: str) -> None:
    rollout = Rollout(endpoint=endpoint_for(sink, protocol), protocol=protocol, capture_stream_chunks=True)
    try:
        with trace.llm("a.b", stream=True) as span:
            for i in range(2_000):
                span.record_chunk(f"c{i}·")
        assert rollout.flush(timeout=5)
        (received,) = sink.wait_for_spans(1)
        assert [e.name for e in received.events] == ["rollout.stream.chunk"] * 2_000
        assert [e.attributes for e in received.events] == [
            {"rollout.chunk.index": i, "rollout.chunk.text": f"c{i}·"} for i in range(2_000)
        ]
        assert "rollout.stream.chunk_events_dropped" not in received.attributes
    finally:
        rollout.shutdown()


def _all_values(item: Any) -> Iterator[Any]:
    """Every attribute key and value, event and resource entry of a received span, log or metric, flattened."""
    yield from getattr(item, "attributes", {}).items()
    for point in getattr(item, "points", []):
        yield from point.attributes.items()
    yield from item.resource.items()
    for event in getattr(item, "events", []):
        yield event.name
        yield from event.attributes.items()
    yield getattr(item, "body", None)
    yield item.name if hasattr(item, "name") else item.event_name


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nothing_of_the_content_arrives_when_capture_content_is_off(sink: OtlpSink, protocol: str) -> None:
    secret = "SECRET-CONTENT-7f3a"
    rollout = Rollout(
        endpoint=endpoint_for(sink, protocol),
        protocol=protocol,
        capture_content=False,
        capture_stream_chunks=True,
        stream_update_interval=0.1,
    )
    try:
        with trace.llm("a.b", stream=True) as span:
            span.record_input({"messages": [{"role": "user", "content": secret}]})
            for _ in range(10):
                span.record_chunk(f"{secret} ")
                time.sleep(0.03)
            span.end(output=secret, usage={"input_tokens": 5, "output_tokens": 10})
        assert rollout.flush(timeout=5)
        (received,) = sink.wait_for_spans(1)
        updates = sink.logs("rollout.stream.update")
        assert updates, "counts still go out as update events"
        for item in [received, *updates]:
            assert secret not in repr(list(_all_values(item)))
        assert received.attributes["rollout.stream.chars"] == 10 * len(f"{secret} ")
        assert received.attributes["gen_ai.usage.output_tokens"] == 10
        assert len(received.events) == 10
    finally:
        rollout.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_api_key_arrives_only_as_the_authorization_header(sink: OtlpSink, protocol: str) -> None:
    key = "rk-live-0123456789abcdef"
    rollout = Rollout(endpoint=endpoint_for(sink, protocol), protocol=protocol, api_key=key, stream_update_interval=0.1)
    try:
        with trace.llm("a.b", stream=True) as span:
            span.record_chunk("x")
            time.sleep(0.25)
        assert rollout.flush(timeout=5)
        sink.wait_for_spans(1)
        requests = sink.requests()
        kinds = {r.path for r in requests}
        if protocol == "grpc":
            metrics_method = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
            assert kinds == {GRPC_TRACES_METHOD, GRPC_LOGS_METHOD, metrics_method}
        else:
            assert kinds == {"/v1/traces", "/v1/logs", "/v1/metrics"}
        assert all(r.headers.get("authorization") == f"Bearer {key}" for r in requests)
        for item in [*sink.spans(), *sink.logs(), *sink.metrics()]:
            assert key not in repr(list(_all_values(item)))
        for request in requests:
            assert [name for name, value in request.headers.items() if key in value] == ["authorization"]
    finally:
        rollout.shutdown()


def test_environment_configures_the_export(sink: OtlpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("ROLLOUT_API_KEY", "env-key")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    rollout = Rollout()
    try:
        with trace.llm("a.b") as span:
            span.end(output="ok")
        assert rollout.flush(timeout=5)
        (received,) = sink.wait_for_spans(1)
        assert received.transport == "grpc"
        assert received.resource["service.name"] == "from-env"
        assert sink.requests()[0].headers["authorization"] == "Bearer env-key"
    finally:
        rollout.shutdown()


def test_a_program_that_never_flushes_still_exports_at_exit(sink: OtlpSink, tmp_path: Any) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "from rollout_otel import Rollout, trace\n"
        "Rollout(stream_update_interval=0.05)\n"
        "with trace.llm('openai.chat.completions', stream=True) as span:\n"
        "    span.record_chunk('bye')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    env["ROLLOUT_ENDPOINT"] = sink.http_endpoint
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    (span,) = sink.spans()
    assert output_text(span.attributes) == "bye"
