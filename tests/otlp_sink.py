"""A real, in-process OTLP receiver for integration tests.

Tests that only use in-memory exporters never exercise encoding, compression,
headers or the network path.  ``OtlpSink`` listens on real sockets (OTLP/HTTP
with protobuf bodies *and* OTLP/gRPC) so the production exporters run
unmodified, and flattens everything it receives into plain dataclasses so
tests can make exact assertions without touching protobuf types.

Typical use::

    with OtlpSink() as sink:
        exporter = OTLPSpanExporter(endpoint=f"{sink.http_endpoint}/v1/traces")
        ...
        [span] = sink.wait_for_spans(1)
        assert span.attributes == {"k": "v"}
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.server
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

__all__ = [
    "GRPC_LOGS_METHOD",
    "GRPC_TRACES_METHOD",
    "OtlpSink",
    "ReceivedEvent",
    "ReceivedLog",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_any_value",
    "decode_attributes",
]

T = TypeVar("T")

HOST = "127.0.0.1"
TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
METRICS_PATH = "/v1/metrics"
SIGNALS = ("traces", "logs", "metrics")
_SIGNAL_OF_PATH = {TRACES_PATH: "traces", LOGS_PATH: "logs", METRICS_PATH: "metrics"}
GRPC_TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GRPC_LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"

# Python value an OTLP ``AnyValue`` decodes to.
PyValue = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None


# --------------------------------------------------------------------------- records


class ReceivedEvent(NamedTuple):
    """A span event; a tuple so tests may compare against ``(name, attrs, ts)``."""

    name: str
    attributes: dict[str, Any]
    time_unix_nano: int


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived on the wire, decoded to plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: int
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    status_code: int
    status_message: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str
    scope_version: str = ""


@dataclass(frozen=True)
class ReceivedLog:
    """One log record as it arrived; ``trace_id``/``span_id`` are None when unset."""

    event_name: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    time_unix_nano: int
    observed_time_unix_nano: int
    severity_number: int
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str
    severity_text: str = ""
    scope_version: str = ""


@dataclass(frozen=True)
class ReceivedPoint:
    """One metric data point: a sum's `value`, or a histogram's count, sum and buckets."""

    attributes: dict[str, Any]
    value: float | int | None = None
    count: int = 0
    sum: float = 0.0
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class ReceivedMetric:
    """One metric of one export, with its points; `kind` is "histogram", "sum" or "gauge"."""

    name: str
    unit: str
    description: str
    kind: str
    points: list[ReceivedPoint]
    is_monotonic: bool
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str


@dataclass(frozen=True)
class ReceivedRequest:
    """One export call, so tests can check headers, batching and compression.

    ``body_size`` is the number of body bytes on the wire (compressed, for HTTP;
    gRPC decompresses before we see it, so there it equals ``payload_size``).
    ``payload_size`` is the size of the serialized, uncompressed protobuf and
    ``item_count`` the number of spans or log records it carried (0 if rejected).
    """

    transport: str
    path: str
    headers: dict[str, str]
    body_size: int
    payload_size: int = 0
    item_count: int = 0
    received_at: float = field(default=0.0)


# --------------------------------------------------------------------------- decoding


def decode_any_value(value: common_pb2.AnyValue) -> PyValue:
    """Turn an OTLP ``AnyValue`` into the Python value the SDK was given."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    result: PyValue = getattr(value, kind)
    return result


def decode_attributes(attributes: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    """Decode repeated ``KeyValue`` into a dict (later duplicates win, as in the SDK)."""
    return {kv.key: decode_any_value(kv.value) for kv in attributes}


def _hex_or_none(raw: bytes) -> str | None:
    # All-zero / empty ids mean "not set" in OTLP.
    return raw.hex() if raw and any(raw) else None


def _resource_dict(resource: resource_pb2.Resource) -> dict[str, Any]:
    return decode_attributes(resource.attributes)


def _flatten_spans(
    request: trace_service_pb2.ExportTraceServiceRequest, received_at: float, transport: str
) -> list[ReceivedSpan]:
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _resource_dict(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=_hex_or_none(span.parent_span_id),
                        kind=span.kind,
                        attributes=decode_attributes(span.attributes),
                        events=[
                            ReceivedEvent(e.name, decode_attributes(e.attributes), e.time_unix_nano)
                            for e in span.events
                        ],
                        status_code=span.status.code,
                        status_message=span.status.message,
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        resource=dict(resource),
                        scope_name=scope_spans.scope.name,
                        scope_version=scope_spans.scope.version,
                        received_at=received_at,
                        transport=transport,
                    )
                )
    return out


def _flatten_logs(
    request: logs_service_pb2.ExportLogsServiceRequest, received_at: float, transport: str
) -> list[ReceivedLog]:
    out: list[ReceivedLog] = []
    for resource_logs in request.resource_logs:
        resource = _resource_dict(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                out.append(
                    ReceivedLog(
                        event_name=record.event_name,
                        body=decode_any_value(record.body) if record.HasField("body") else None,
                        attributes=decode_attributes(record.attributes),
                        trace_id=_hex_or_none(record.trace_id),
                        span_id=_hex_or_none(record.span_id),
                        time_unix_nano=record.time_unix_nano,
                        observed_time_unix_nano=record.observed_time_unix_nano,
                        severity_number=record.severity_number,
                        severity_text=record.severity_text,
                        resource=dict(resource),
                        scope_name=scope_logs.scope.name,
                        scope_version=scope_logs.scope.version,
                        received_at=received_at,
                        transport=transport,
                    )
                )
    return out


def _flatten_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest, received_at: float, transport: str
) -> list[ReceivedMetric]:
    out: list[ReceivedMetric] = []
    for resource_metrics in request.resource_metrics:
        resource = _resource_dict(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data") or ""
                points: list[ReceivedPoint] = []
                monotonic = False
                if kind == "histogram":
                    for p in metric.histogram.data_points:
                        points.append(
                            ReceivedPoint(
                                decode_attributes(p.attributes),
                                count=p.count,
                                sum=p.sum,
                                bucket_counts=tuple(p.bucket_counts),
                                explicit_bounds=tuple(p.explicit_bounds),
                            )
                        )
                elif kind in ("sum", "gauge"):
                    data = getattr(metric, kind)
                    monotonic = kind == "sum" and data.is_monotonic
                    for p in data.data_points:
                        value = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                        points.append(ReceivedPoint(decode_attributes(p.attributes), value=value))
                out.append(
                    ReceivedMetric(
                        name=metric.name,
                        unit=metric.unit,
                        description=metric.description,
                        kind=kind,
                        points=points,
                        is_monotonic=monotonic,
                        resource=dict(resource),
                        scope_name=scope_metrics.scope.name,
                        received_at=received_at,
                        transport=transport,
                    )
                )
    return out


def _decompress(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding``; raises ValueError for codings we do not speak."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped, but some clients send raw deflate.
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


# --------------------------------------------------------------------------- HTTP


class _SinkHTTPServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its sink and can drop keep-alive connections."""

    daemon_threads = True

    def __init__(self, sink: OtlpSink) -> None:
        self.sink = sink
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__((HOST, sink._requested_http_port), _OtlpHTTPHandler)

    def close_open_connections(self) -> None:
        # Exporters keep connections alive; without this their handler threads
        # would sit in recv() long after the test finished.
        with self.connections_lock:
            conns = list(self.open_connections)
            self.open_connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _OtlpHTTPHandler(http.server.BaseHTTPRequestHandler):
    """OTLP/HTTP protobuf endpoint for ``/v1/traces`` and ``/v1/logs``."""

    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    timeout = 30  # idle keep-alive connections eventually give up
    server: _SinkHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.open_connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr logging; tests assert on ``requests()`` instead."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # CRLF after chunk data
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes, content_type: str = PROTOBUF_CONTENT_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self._read_body()
        received_at = time.monotonic()
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        path = self.path.split("?", 1)[0]
        sink = self.server.sink

        def reject(status: int, message: str) -> None:
            sink._record_request(ReceivedRequest("http", path, headers, len(body), 0, 0, received_at))
            self._reply(status, message.encode(), "text/plain; charset=utf-8")

        if path not in (TRACES_PATH, LOGS_PATH, METRICS_PATH):
            reject(404, f"unknown OTLP path {path!r}")
            return
        if _SIGNAL_OF_PATH[path] not in sink.accept:  # a trace-only backend (Phoenix 405, MLflow 404)
            reject(sink.refuse_status, f"{_SIGNAL_OF_PATH[path]} are not accepted here")
            return
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != PROTOBUF_CONTENT_TYPE:
            reject(415, f"only {PROTOBUF_CONTENT_TYPE} is supported, got {content_type!r}")
            return
        try:
            payload = _decompress(body, headers.get("content-encoding", ""))
        except (ValueError, OSError, EOFError, zlib.error) as exc:
            reject(400, f"cannot decompress body: {exc}")
            return

        metrics: list[ReceivedMetric] = []
        try:
            if path == TRACES_PATH:
                spans = _flatten_spans(
                    trace_service_pb2.ExportTraceServiceRequest.FromString(payload), received_at, "http"
                )
                logs: list[ReceivedLog] = []
                response = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            elif path == METRICS_PATH:
                spans, logs = [], []
                metrics = _flatten_metrics(
                    metrics_service_pb2.ExportMetricsServiceRequest.FromString(payload), received_at, "http"
                )
                response = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
            else:
                spans = []
                logs = _flatten_logs(logs_service_pb2.ExportLogsServiceRequest.FromString(payload), received_at, "http")
                response = logs_service_pb2.ExportLogsServiceResponse().SerializeToString()
        except Exception as exc:  # protobuf raises its own DecodeError type
            reject(400, f"cannot decode protobuf: {exc}")
            return
        count = len(spans) + len(logs) + len(metrics)
        request = ReceivedRequest("http", path, headers, len(body), len(payload), count, received_at)
        sink._record(request, spans=spans, logs=logs, metrics=metrics)
        self._reply(200, response)


# --------------------------------------------------------------------------- gRPC


def _grpc_headers(context: grpc.ServicerContext) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata():
        # Binary ("-bin") metadata arrives as bytes; report it as on the wire.
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        key = key.lower()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


class _TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received_at = time.monotonic()
        size = request.ByteSize()
        spans = _flatten_spans(request, received_at, "grpc")
        self._sink._record(
            ReceivedRequest("grpc", GRPC_TRACES_METHOD, _grpc_headers(context), size, size, len(spans), received_at),
            spans=spans,
        )
        return trace_service_pb2.ExportTraceServiceResponse()


class _MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        received_at = time.monotonic()
        size = request.ByteSize()
        method = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        metrics = _flatten_metrics(request, received_at, "grpc")
        self._sink._record(
            ReceivedRequest("grpc", method, _grpc_headers(context), size, size, len(metrics), received_at),
            metrics=metrics,
        )
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(
        self, request: logs_service_pb2.ExportLogsServiceRequest, context: grpc.ServicerContext
    ) -> logs_service_pb2.ExportLogsServiceResponse:
        received_at = time.monotonic()
        size = request.ByteSize()
        logs = _flatten_logs(request, received_at, "grpc")
        self._sink._record(
            ReceivedRequest("grpc", GRPC_LOGS_METHOD, _grpc_headers(context), size, size, len(logs), received_at),
            logs=logs,
        )
        return logs_service_pb2.ExportLogsServiceResponse()


# --------------------------------------------------------------------------- sink


class OtlpSink:
    """OTLP/HTTP + OTLP/gRPC receiver on ephemeral 127.0.0.1 ports.

    Both transports feed the same ordered, thread-safe record lists, so one
    sink serves exporters of either protocol (and collectors forwarding to it).
    """

    def __init__(self, *, accept: Iterable[str] = SIGNALS, refuse_status: int = 405, port: int = 0) -> None:
        """`accept` leaves out signals to act as a trace-only backend does: HTTP answers `refuse_status` for them
        (Phoenix 405, MLflow 404) and gRPC answers UNIMPLEMENTED (no service registered)."""
        self.accept = frozenset(accept)
        unknown = self.accept - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}; known: {SIGNALS}")
        self.refuse_status = refuse_status
        self._requested_http_port = port  # 0: any free port
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._logs: list[ReceivedLog] = []
        self._metrics: list[ReceivedMetric] = []
        self._requests: list[ReceivedRequest] = []
        self._http_server: _SinkHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc_server: grpc.Server | None = None
        self._grpc_executor: ThreadPoolExecutor | None = None
        self._grpc_port: int | None = None

    # -- lifecycle

    def start(self) -> OtlpSink:
        """Bind both servers and start serving; returns self for chaining."""
        if self._http_server is not None:
            raise RuntimeError("OtlpSink already started")
        http_server = _SinkHTTPServer(self)
        http_thread = threading.Thread(
            target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-sink-http", daemon=True
        )
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-sink-grpc")
        grpc_server = grpc.server(executor, options=[("grpc.so_reuseport", 0)])
        if "traces" in self.accept:
            trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceServicer(self), grpc_server)
        if "logs" in self.accept:
            logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_LogsServicer(self), grpc_server)
        if "metrics" in self.accept:
            metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_MetricsServicer(self), grpc_server)
        try:
            grpc_port = grpc_server.add_insecure_port(f"{HOST}:0")
            if not grpc_port:
                raise RuntimeError("gRPC server could not bind a port on 127.0.0.1")
            grpc_server.start()
        except BaseException:
            http_server.server_close()
            grpc_server.stop(None)
            executor.shutdown(wait=False)
            raise
        http_thread.start()
        self._http_server, self._http_thread = http_server, http_thread
        self._grpc_server, self._grpc_port = grpc_server, grpc_port
        self._grpc_executor = executor
        return self

    def stop(self) -> None:
        """Stop both servers; safe to call twice. Recorded data stays readable."""
        http_server, self._http_server = self._http_server, None
        grpc_server, self._grpc_server = self._grpc_server, None
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
            http_server.close_open_connections()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        if grpc_server is not None:
            grpc_server.stop(grace=0.5).wait(timeout=5)
        if self._grpc_executor is not None:
            # grpc.Server does not own its executor; without this its threads linger.
            self._grpc_executor.shutdown(wait=False)
            self._grpc_executor = None
        self._grpc_port = None

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses

    @property
    def http_port(self) -> int:
        """Port of the OTLP/HTTP server."""
        if self._http_server is None:
            raise RuntimeError("OtlpSink is not running")
        port: int = self._http_server.server_address[1]
        return port

    @property
    def grpc_port(self) -> int:
        """Port of the OTLP/gRPC server."""
        if self._grpc_port is None:
            raise RuntimeError("OtlpSink is not running")
        return self._grpc_port

    @property
    def http_endpoint(self) -> str:
        """Base URL; append ``/v1/traces`` or ``/v1/logs`` for the SDK HTTP exporters."""
        return f"http://{HOST}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """``http://`` URL, which the SDK gRPC exporters treat as insecure."""
        return f"http://{HOST}:{self.grpc_port}"

    # -- recording (called from server threads)

    def _record_request(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record(
        self,
        request: ReceivedRequest,
        spans: Iterable[ReceivedSpan] = (),
        logs: Iterable[ReceivedLog] = (),
        metrics: Iterable[ReceivedMetric] = (),
    ) -> None:
        # One lock hold per request keeps a request's items contiguous and in order.
        with self._lock:
            self._requests.append(request)
            self._spans.extend(spans)
            self._logs.extend(logs)
            self._metrics.extend(metrics)

    # -- queries

    def spans(self, name: str | None = None) -> list[ReceivedSpan]:
        """Snapshot of received spans in arrival order, optionally only those named ``name``."""
        with self._lock:
            spans = list(self._spans)
        return spans if name is None else [s for s in spans if s.name == name]

    def logs(self, event_name: str | None = None) -> list[ReceivedLog]:
        """Snapshot of received log records, optionally filtered by ``event_name``."""
        with self._lock:
            logs = list(self._logs)
        return logs if event_name is None else [r for r in logs if r.event_name == event_name]

    def metrics(self, name: str | None = None) -> list[ReceivedMetric]:
        """Snapshot of received metrics (one entry per metric per export), optionally only those named ``name``."""
        with self._lock:
            metrics = list(self._metrics)
        return metrics if name is None else [m for m in metrics if m.name == name]

    def requests(self) -> list[ReceivedRequest]:
        """Snapshot of every export request (including rejected ones) in arrival order."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget everything received so far (servers keep running)."""
        with self._lock:
            self._spans.clear()
            self._logs.clear()
            self._metrics.clear()
            self._requests.clear()

    # -- waiting

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,
        interval: float = 0.02,
        *,
        description: str | None = None,
    ) -> T:
        """Poll ``predicate`` until truthy and return its value.

        Exports are asynchronous (batch processors, collectors in between), so
        tests must wait rather than assert immediately.  On timeout raises
        AssertionError describing what *was* received.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                what = description or getattr(predicate, "__name__", repr(predicate))
                raise AssertionError(
                    f"timed out after {timeout:.2f}s waiting for {what}; last value {value!r}; {self.summary()}"
                )
            time.sleep(interval)

    def wait_for_spans(self, n: int, timeout: float = 10.0, *, name: str | None = None) -> list[ReceivedSpan]:
        """Wait until at least ``n`` spans (named ``name``, if given) arrived; return them all."""
        label = f"{n} span(s)" + (f" named {name!r}" if name is not None else "")
        return self.wait_for(
            lambda: spans if len(spans := self.spans(name)) >= n else None,
            timeout,
            description=label,
        )

    def wait_for_logs(self, n: int, timeout: float = 10.0, *, event_name: str | None = None) -> list[ReceivedLog]:
        """Wait until at least ``n`` log records (with ``event_name``, if given) arrived."""
        label = f"{n} log record(s)" + (f" with event_name {event_name!r}" if event_name is not None else "")
        return self.wait_for(
            lambda: logs if len(logs := self.logs(event_name)) >= n else None,
            timeout,
            description=label,
        )

    def summary(self) -> str:
        """One-line description of what arrived, for assertion messages."""
        with self._lock:
            span_names = [s.name for s in self._spans]
            log_names = [r.event_name or repr(r.body) for r in self._logs]
            requests = [(r.transport, r.path, r.item_count) for r in self._requests]
        return (
            f"received {len(span_names)} span(s) {_short(span_names)}, "
            f"{len(log_names)} log(s) {_short(log_names)}, "
            f"{len(requests)} request(s) {_short(requests)}"
        )


def _short(items: list[Any], limit: int = 20) -> str:
    if len(items) <= limit:
        return repr(items)
    return repr(items[:limit])[:-1] + f", ... +{len(items) - limit} more]"
