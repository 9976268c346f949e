"""An OTLP receiver on real sockets: OTLP/HTTP (protobuf or JSON, gzip or deflate) and OTLP/gRPC, on loopback.

It answers as a collector does (the OTLP error statuses for bad input, never dying on it) and hands every request,
decoded into records, to `_record`, which a subclass implements: the test suite's sink stores them, `rollout-otel
tail` shows them. Both sides of an exporter's conversation are real, so the production exporters run unmodified.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import logging
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Final

import grpc  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from ._body import BodyTooLarge, MalformedBody, decompress, read_chunked, read_sized
from ._hosts import HostCheck
from ._records import (
    JSON_CONTENT_TYPE,
    PROTOBUF_CONTENT_TYPE,
    SIGNAL_OF_PATH,
    SIGNALS,
    ReceivedLog,
    ReceivedMetric,
    ReceivedRequest,
    ReceivedSpan,
    flatten,
    parse_request,
)

HOST: Final = "127.0.0.1"
GRPC_METHODS: Final = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}
_RESPONSES: Final[dict[str, Any]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
MAX_BODY_BYTES: Final = 64 * 1024 * 1024  # what the local collector accepts too
_log = logging.getLogger(__name__)


class Unavailable(Exception):
    """Raised by `_record` when the request cannot be taken now: HTTP 503 / gRPC UNAVAILABLE, so the sender retries."""


class OtlpReceiver:
    """OTLP/HTTP and OTLP/gRPC on loopback ports; `_record` receives each request's records.

    `accept` leaves signals out, as a trace-only backend does: HTTP answers `refuse_status` for them (Phoenix 405,
    MLflow 404) and gRPC answers UNIMPLEMENTED (no service registered).
    """

    def __init__(
        self,
        *,
        accept: Iterable[str] = SIGNALS,
        refuse_status: int = 405,
        port: int = 0,
        grpc_port: int = 0,
        host: str = HOST,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.accept = frozenset(accept)
        unknown = self.accept - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}; known: {SIGNALS}")
        self.refuse_status = refuse_status
        self.host = host
        self.max_body_bytes = max_body_bytes
        self.host_check = HostCheck(host)
        self._requested_http_port = port
        self._requested_grpc_port = grpc_port
        self._http_server: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc_server: Any = None
        self._grpc_executor: ThreadPoolExecutor | None = None
        self._grpc_port: int | None = None

    # -- what a subclass implements (called on the servers' threads)

    def _record_request(self, request: ReceivedRequest) -> None:
        """A request that was refused (wrong path, signal, content type, bad body): no records."""

    def _record(
        self,
        request: ReceivedRequest,
        spans: Iterable[ReceivedSpan] = (),
        logs: Iterable[ReceivedLog] = (),
        metrics: Iterable[ReceivedMetric] = (),
        *,
        message: Any = None,
    ) -> None:
        """A request that was accepted, with its records and the decoded protobuf `message`.

        Raising `Unavailable` answers 503 (gRPC UNAVAILABLE); any other exception answers 500 (gRPC INTERNAL).
        """

    # -- lifecycle

    def start(self) -> OtlpReceiver:
        """Bind both servers and start serving; returns self for chaining."""
        if self._http_server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        http_server = _HTTPServer(self)
        http_thread = threading.Thread(
            target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-receiver-http", daemon=True
        )
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-receiver-grpc")
        grpc_server = grpc.server(
            executor, options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", self.max_body_bytes)]
        )
        adders: dict[str, Any] = {
            "traces": trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
            "logs": logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
            "metrics": metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
        }
        for signal in SIGNALS:
            if signal in self.accept:
                adders[signal](_servicer(self, signal), grpc_server)
        try:
            host = f"[{self.host}]" if ":" in self.host else self.host
            grpc_port = grpc_server.add_insecure_port(f"{host}:{self._requested_grpc_port}")
            if not grpc_port:
                raise OSError(f"the gRPC server could not bind {self.host}:{self._requested_grpc_port}")
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
        """Stop both servers; safe to call twice."""
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

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses

    @property
    def http_port(self) -> int:
        if self._http_server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        port: int = self._http_server.server_address[1]
        return port

    @property
    def grpc_port(self) -> int:
        if self._grpc_port is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._grpc_port

    @property
    def http_endpoint(self) -> str:
        """Base URL; the SDK's HTTP exporters add `/v1/traces`, `/v1/logs`, `/v1/metrics`."""
        return f"http://{self.host_check.url_host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        """An `http://` URL, which the SDK's gRPC exporters take as insecure."""
        return f"http://{self.host_check.url_host}:{self.grpc_port}"


# --------------------------------------------------------------------------- HTTP


class _HTTPServer(http.server.ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its receiver and can drop keep-alive connections when it stops."""

    daemon_threads = True

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in receiver.host:
            self.address_family = socket.AF_INET6
        super().__init__((receiver.host, receiver._requested_http_port), _HTTPHandler)

    def close_open_connections(self) -> None:
        # Exporters keep connections alive; without this their handler threads would sit in recv() for long.
        with self.connections_lock:
            conns = list(self.open_connections)
            self.open_connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    """`POST /v1/traces`, `/v1/logs`, `/v1/metrics`, with the answers a collector gives to bad requests."""

    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    timeout = 30  # idle keep-alive connections eventually give up
    server: _HTTPServer

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
        """No per-request lines on stderr."""

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return read_chunked(self.rfile, limit)
        return read_sized(self.rfile, self.headers.get("Content-Length"), limit)

    def _reply(self, status: int, body: bytes, content_type: str = PROTOBUF_CONTENT_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status in (400, 413, 421):
            self.send_header("Connection", "close")  # the unread or misframed body cannot be skipped reliably
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        received_at = time.monotonic()
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        path = self.path.split("?", 1)[0]
        if not receiver.host_check.allows(self.headers.get_all("Host") or []):
            # A web page that rebinds a name to this address can post here; its Host header gives it away.
            receiver._record_request(ReceivedRequest("http", path, headers, 0, 0, 0, received_at))
            self._reply(421, b"the Host header does not name this receiver", "text/plain; charset=utf-8")
            return
        try:
            body = self._read_body(receiver.max_body_bytes)
        except BodyTooLarge:
            receiver._record_request(ReceivedRequest("http", path, headers, 0, 0, 0, received_at))
            self._reply(413, f"body over {receiver.max_body_bytes} bytes".encode(), "text/plain; charset=utf-8")
            return
        except (ValueError, OSError) as exc:
            receiver._record_request(ReceivedRequest("http", path, headers, 0, 0, 0, received_at))
            self._reply(400, f"malformed body: {exc}".encode(), "text/plain; charset=utf-8")
            return

        def reject(status: int, message: str) -> None:
            receiver._record_request(ReceivedRequest("http", path, headers, len(body), 0, 0, received_at))
            self._reply(status, message.encode(), "text/plain; charset=utf-8")

        signal = SIGNAL_OF_PATH.get(path)
        if signal is None:
            reject(404, f"unknown OTLP path {path!r}")
            return
        if signal not in receiver.accept:  # a trace-only backend (Phoenix 405, MLflow 404)
            reject(receiver.refuse_status, f"{signal} are not accepted here")
            return
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in (PROTOBUF_CONTENT_TYPE, JSON_CONTENT_TYPE):
            reject(415, f"expected {PROTOBUF_CONTENT_TYPE} or {JSON_CONTENT_TYPE}, got {content_type!r}")
            return
        try:
            payload = decompress(body, headers.get("content-encoding", ""), receiver.max_body_bytes)
        except BodyTooLarge:
            reject(413, f"body decompresses to over {receiver.max_body_bytes} bytes")
            return
        except (MalformedBody, ValueError) as exc:
            reject(400, f"cannot decompress body: {exc}")
            return
        try:
            message = parse_request(signal, payload, content_type)
            spans, logs, metrics = flatten(signal, message, received_at, "http")
        except Exception as exc:  # protobuf and JSON parsers raise their own types
            reject(400, f"cannot decode the request: {exc}")
            return
        count = len(spans) + len(logs) + len(metrics)
        request = ReceivedRequest("http", path, headers, len(body), len(payload), count, received_at)
        try:
            receiver._record(request, spans=spans, logs=logs, metrics=metrics, message=message)
        except Unavailable as exc:
            self._reply(503, str(exc).encode(), "text/plain; charset=utf-8")
            return
        except Exception as exc:
            _log.exception("OTLP receiver: a %s request could not be taken in", signal)
            self._reply(500, f"cannot take the request in: {type(exc).__name__}".encode(), "text/plain; charset=utf-8")
            return
        if content_type == JSON_CONTENT_TYPE:
            self._reply(200, b"{}", JSON_CONTENT_TYPE)
        else:
            self._reply(200, _RESPONSES[signal]().SerializeToString())


# --------------------------------------------------------------------------- gRPC


def _grpc_headers(context: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in context.invocation_metadata():
        # Binary ("-bin") metadata arrives as bytes; report it as on the wire.
        text = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        key = key.lower()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _servicer(receiver: OtlpReceiver, signal: str) -> Any:
    """The gRPC service of one signal, handing its requests to the receiver."""
    bases = {
        "traces": trace_service_pb2_grpc.TraceServiceServicer,
        "logs": logs_service_pb2_grpc.LogsServiceServicer,
        "metrics": metrics_service_pb2_grpc.MetricsServiceServicer,
    }

    def export(self: Any, message: Any, context: Any) -> Any:
        received_at = time.monotonic()
        size = message.ByteSize()
        try:
            spans, logs, metrics = flatten(signal, message, received_at, "grpc")
        except Exception as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode the request: {exc}")
        count = len(spans) + len(logs) + len(metrics)
        request = ReceivedRequest("grpc", GRPC_METHODS[signal], _grpc_headers(context), size, size, count, received_at)
        try:
            receiver._record(request, spans=spans, logs=logs, metrics=metrics, message=message)
        except Unavailable as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except Exception as exc:
            _log.exception("OTLP receiver: a %s request could not be taken in", signal)
            context.abort(grpc.StatusCode.INTERNAL, f"cannot take the request in: {type(exc).__name__}")
        return _RESPONSES[signal]()

    servicer_class = type(f"{signal.capitalize()}Servicer", (bases[signal],), {"Export": export})
    return servicer_class()
