"""Self-tests for the OTLP test helpers, driven by the real SDK OTLP exporters.

If the sink decoded something wrongly, every integration test built on it
would assert against garbage, so it is checked here against known input:
SDK -> sink directly (HTTP, HTTP+gzip/deflate, gRPC) and SDK -> rotel -> sink.
"""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AnyValue, AttributeValue

from otlp_sink import GRPC_LOGS_METHOD, GRPC_TRACES_METHOD, OtlpSink, ReceivedEvent
from rotel_collector import RotelCollector

SERVICE = "otlp-sink-selftest"
HEADER = ("x-sink-test", "hello-sink")

SPAN_ATTRIBUTES: dict[str, AttributeValue] = {
    "str": "value",
    "int": 42,
    "float": 1.5,
    "bool": True,
    "strs": ("a", "b"),
    "ints": (1, 2, 3),
}
EVENT_ATTRIBUTES: dict[str, AttributeValue] = {"delta": "hel", "n": 3}
LOG_ATTRIBUTES: dict[str, AttributeValue] = {"gen_ai.system": "test", "count": 7, "ok": False}
LOG_BODY: AnyValue = {"message": "hi", "parts": ["x", 1]}


@dataclass
class Emitted:
    """What the SDK was asked to send, for comparing with what arrived."""

    trace_id: str
    parent_span_id: str
    child_span_id: str
    event_time: int


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as s:
        yield s


def _exporters(transport: str, base: str) -> tuple[SpanExporter, LogRecordExporter]:
    headers = {HEADER[0]: HEADER[1]}
    if transport.startswith("http"):
        compression = {
            "http": Compression.NoCompression,
            "http-gzip": Compression.Gzip,
            "http-deflate": Compression.Deflate,
        }[transport]
        return (
            HttpSpanExporter(f"{base}/v1/traces", headers=headers, timeout=5, compression=compression),
            HttpLogExporter(f"{base}/v1/logs", headers=headers, timeout=5, compression=compression),
        )
    grpc_compression = grpc.Compression.Gzip if transport == "grpc-gzip" else grpc.Compression.NoCompression
    return (
        GrpcSpanExporter(base, insecure=True, headers=headers, timeout=5, compression=grpc_compression),
        GrpcLogExporter(base, insecure=True, headers=headers, timeout=5, compression=grpc_compression),
    )


def _emit(span_exporter: SpanExporter, log_exporter: LogRecordExporter) -> Emitted:
    """Send a parent span, a child span with events, and a log inside the child, then shut down."""
    resource = Resource.create({"service.name": SERVICE})
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    try:
        tracer = tracer_provider.get_tracer("sink.selftest", "1.2.3")
        logger = logger_provider.get_logger("sink.selftest.logs", "4.5.6")
        with tracer.start_as_current_span("parent") as parent:
            with tracer.start_as_current_span("child", kind=SpanKind.CLIENT, attributes=SPAN_ATTRIBUTES) as child:
                child.add_event("first", EVENT_ATTRIBUTES, timestamp=1_700_000_000_000_000_001)
                child.add_event("second")
                child.set_status(Status(StatusCode.ERROR, "boom"))
                logger.emit(
                    event_name="sink.test.event",
                    body=LOG_BODY,
                    attributes=LOG_ATTRIBUTES,
                    severity_number=SeverityNumber.WARN,
                    severity_text="WARN",
                    timestamp=1_700_000_000_000_000_123,
                )
            child_ctx = child.get_span_context()
            parent_ctx = parent.get_span_context()
    finally:
        tracer_provider.shutdown()
        logger_provider.shutdown()
    return Emitted(
        trace_id=f"{child_ctx.trace_id:032x}",
        parent_span_id=f"{parent_ctx.span_id:016x}",
        child_span_id=f"{child_ctx.span_id:016x}",
        event_time=1_700_000_000_000_000_001,
    )


def _assert_received(sink: OtlpSink, emitted: Emitted, transport: str, *, direct: bool = True) -> None:
    """Exact check of the decoded data; ``transport`` is how the *sink* received it.

    ``direct`` means no collector in between, so arrival order is the export order.
    """
    spans = sink.wait_for_spans(2, timeout=5)
    if not direct:
        spans = sorted(spans, key=lambda s: s.name)
    assert [s.name for s in spans] == ["child", "parent"]  # SimpleSpanProcessor exports on end
    child, parent = spans

    assert parent.trace_id == child.trace_id == emitted.trace_id
    assert parent.span_id == emitted.parent_span_id
    assert parent.parent_span_id is None
    assert child.span_id == emitted.child_span_id
    assert child.parent_span_id == emitted.parent_span_id
    assert child.kind == 3  # SPAN_KIND_CLIENT
    assert parent.kind == 1  # SPAN_KIND_INTERNAL
    assert child.attributes == {
        "str": "value",
        "int": 42,
        "float": 1.5,
        "bool": True,
        "strs": ["a", "b"],
        "ints": [1, 2, 3],
    }
    assert len(child.events) == 2
    assert child.events[0] == ReceivedEvent("first", EVENT_ATTRIBUTES, emitted.event_time)
    name, attributes, ts = child.events[1]
    assert (name, attributes) == ("second", {})
    assert child.start_time_unix_nano <= ts <= child.end_time_unix_nano
    assert (child.status_code, child.status_message) == (2, "boom")  # STATUS_CODE_ERROR
    assert (parent.status_code, parent.status_message) == (0, "")
    assert parent.start_time_unix_nano <= child.start_time_unix_nano
    assert child.end_time_unix_nano <= parent.end_time_unix_nano
    assert child.scope_name == "sink.selftest"
    assert child.scope_version == "1.2.3"
    assert child.resource["service.name"] == SERVICE
    assert child.resource["telemetry.sdk.language"] == "python"
    assert {s.transport for s in spans} == {transport}

    [log] = sink.wait_for_logs(1, timeout=5)
    assert log.event_name == "sink.test.event"
    assert log.body == LOG_BODY
    assert log.attributes == LOG_ATTRIBUTES
    assert log.trace_id == emitted.trace_id
    assert log.span_id == emitted.child_span_id
    assert log.time_unix_nano == 1_700_000_000_000_000_123
    assert log.observed_time_unix_nano > 0
    assert (log.severity_number, log.severity_text) == (SeverityNumber.WARN.value, "WARN")
    assert log.scope_name == "sink.selftest.logs"
    assert log.scope_version == "4.5.6"
    assert log.resource["service.name"] == SERVICE
    assert log.transport == transport
    if direct:
        # The log is emitted inside the child, which is exported only when it ends.
        assert log.received_at <= child.received_at <= parent.received_at


@pytest.mark.parametrize("transport", ["http", "http-gzip", "http-deflate", "grpc", "grpc-gzip"])
def test_sdk_exporters_to_sink(sink: OtlpSink, transport: str) -> None:
    base = sink.http_endpoint if transport.startswith("http") else sink.grpc_endpoint
    emitted = _emit(*_exporters(transport, base))
    wire = "http" if transport.startswith("http") else "grpc"
    _assert_received(sink, emitted, wire)

    requests = sink.requests()
    assert [r.item_count for r in requests] == [1, 1, 1]  # log, child span, parent span
    assert {r.transport for r in requests} == {wire}
    for request in requests:
        assert request.headers[HEADER[0]] == HEADER[1]
        assert request.payload_size > 0
    if wire == "http":
        assert [r.path for r in requests] == ["/v1/logs", "/v1/traces", "/v1/traces"]
        assert {r.headers["content-type"] for r in requests} == {"application/x-protobuf"}
        encoding = transport.partition("-")[2]
        assert {r.headers.get("content-encoding", "") for r in requests} == {encoding}
        if encoding:
            assert all(r.body_size != r.payload_size for r in requests)
    else:
        assert [r.path for r in requests] == [GRPC_LOGS_METHOD, GRPC_TRACES_METHOD, GRPC_TRACES_METHOD]


def test_http_edge_cases(sink: OtlpSink) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sink.http_port, timeout=5)
    try:
        ok_body = gzip.compress(trace_service_pb2.ExportTraceServiceRequest().SerializeToString())
        cases = [
            ("/v1/profiles", b"", {}, 404),
            ("/v1/traces", b"\xff\xff\xff", {}, 400),
            ("/v1/traces", b"not gzip", {"Content-Encoding": "gzip"}, 400),
            ("/v1/traces", b"{}", {"Content-Type": "text/plain"}, 415),
            ("/v1/traces", b"{not json", {"Content-Type": "application/json"}, 400),
            ("/v1/traces", ok_body, {"Content-Encoding": "gzip"}, 200),
        ]
        for path, body, extra, expected in cases:
            headers = {"Content-Type": "application/x-protobuf", **extra}
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            assert response.status == expected, (path, extra, payload)
        assert response.getheader("Content-Type") == "application/x-protobuf"
        assert trace_service_pb2.ExportTraceServiceResponse.FromString(payload) is not None

        # Chunked bodies (no Content-Length) are accepted too.
        conn.request(
            "POST",
            "/v1/traces",
            body=iter([ok_body[:5], ok_body[5:]]),
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    assert sink.spans() == []
    assert [r.path for r in sink.requests()] == ["/v1/profiles"] + ["/v1/traces"] * 6


def test_otlp_json_bodies_with_hex_ids(sink: OtlpSink) -> None:
    """OTLP/HTTP JSON, as the spec writes it (hex trace and span ids, camelCase), decodes like protobuf."""
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "openai.chat",
                                "kind": 3,
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    conn = http.client.HTTPConnection("127.0.0.1", sink.http_port, timeout=5)
    try:
        conn.request("POST", "/v1/traces", body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert (response.status, response.getheader("Content-Type"), response.read()) == (
            200,
            "application/json",
            b"{}",
        )
    finally:
        conn.close()
    (span,) = sink.spans()
    assert (span.trace_id, span.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert span.attributes == {"gen_ai.request.model": "m"} and span.resource["service.name"] == "json-app"


def test_oversized_bodies_get_413_and_the_receiver_goes_on() -> None:
    with OtlpSink() as small:
        small.max_body_bytes = 1024
        conn = http.client.HTTPConnection("127.0.0.1", small.http_port, timeout=5)
        try:
            conn.request("POST", "/v1/traces", body=b"x" * 4096, headers={"Content-Type": "application/x-protobuf"})
            assert conn.getresponse().status == 413
        finally:
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", small.http_port, timeout=5)
        try:
            empty = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
            conn.request("POST", "/v1/traces", body=empty, headers={"Content-Type": "application/x-protobuf"})
            assert conn.getresponse().status == 200
        finally:
            conn.close()


def test_wait_for_reports_what_arrived_and_clear(sink: OtlpSink) -> None:
    emitted = _emit(*_exporters("http", sink.http_endpoint))
    assert sink.wait_for(lambda: sink.spans(name="child"))[0].span_id == emitted.child_span_id
    assert sink.logs(event_name="nope") == []

    with pytest.raises(AssertionError, match=r"3 span\(s\).*'child', 'parent'.*'sink.test.event'"):
        sink.wait_for_spans(3, timeout=0.1)

    sink.clear()
    assert (sink.spans(), sink.logs(), sink.requests()) == ([], [], [])
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s"):
        sink.wait_for_logs(1, timeout=0.05)


def test_stop_is_idempotent_and_data_stays_readable() -> None:
    sink = OtlpSink().start()
    _emit(*_exporters("grpc", sink.grpc_endpoint))
    sink.stop()
    sink.stop()
    assert len(sink.spans()) == 2
    with pytest.raises(RuntimeError):
        _ = sink.http_endpoint


@pytest.mark.integration
@pytest.mark.parametrize("ingress", ["http", "http-gzip", "grpc"])
def test_sdk_through_rotel_to_sink(sink: OtlpSink, ingress: str) -> None:
    with RotelCollector(sink.grpc_endpoint) as rotel:
        base = rotel.http_endpoint if ingress.startswith("http") else rotel.grpc_endpoint
        emitted = _emit(*_exporters(ingress, base))
        # rotel batches for 100 ms; wait while it is still running to prove it forwards on its own.
        sink.wait_for_spans(2, timeout=5)
        sink.wait_for_logs(1, timeout=5)
    assert rotel.returncode == 0

    _assert_received(sink, emitted, "grpc", direct=False)
    requests = sink.requests()
    assert {r.path for r in requests} <= {GRPC_TRACES_METHOD, GRPC_LOGS_METHOD}
    assert sum(r.item_count for r in requests) == 3
