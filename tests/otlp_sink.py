"""The test suite's OTLP sink: the receiver rollout-otel ships (`rollout_otel._receiver`), storing what it gets.

Tests that only use in-memory exporters never exercise encoding, compression, headers or the network path.
``OtlpSink`` listens on real sockets (OTLP/HTTP with protobuf or JSON bodies *and* OTLP/gRPC) so the production
exporters run unmodified, and keeps everything it receives as plain records, so tests can make exact assertions
without touching protobuf types. It decodes with the same code as `rollout-otel tail`: one decoder to trust.

Typical use::

    with OtlpSink() as sink:
        exporter = OTLPSpanExporter(endpoint=f"{sink.http_endpoint}/v1/traces")
        ...
        [span] = sink.wait_for_spans(1)
        assert span.attributes == {"k": "v"}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rollout_otel._receiver import (
    GRPC_METHODS,
    SIGNALS,
    OtlpReceiver,
    ReceivedEvent,
    ReceivedLog,
    ReceivedMetric,
    ReceivedPoint,
    ReceivedRequest,
    ReceivedSpan,
    decode_any_value,
    decode_attributes,
)

__all__ = [
    "GRPC_LOGS_METHOD",
    "GRPC_TRACES_METHOD",
    "SIGNALS",
    "OtlpSink",
    "ReceivedEvent",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedPoint",
    "ReceivedRequest",
    "ReceivedSpan",
    "decode_any_value",
    "decode_attributes",
]

T = TypeVar("T")
GRPC_TRACES_METHOD = GRPC_METHODS["traces"]
GRPC_LOGS_METHOD = GRPC_METHODS["logs"]


class OtlpSink(OtlpReceiver):
    """OTLP/HTTP + OTLP/gRPC receiver on ephemeral 127.0.0.1 ports that keeps what it receives.

    Both transports feed the same ordered, thread-safe record lists, so one sink serves exporters of either
    protocol (and collectors forwarding to it).
    """

    def __init__(
        self,
        *,
        accept: Iterable[str] = SIGNALS,
        refuse_status: int = 405,
        port: int = 0,
        grpc_port: int = 0,
        max_body_bytes: int | None = None,
    ) -> None:
        limits = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
        super().__init__(accept=accept, refuse_status=refuse_status, port=port, grpc_port=grpc_port, **limits)
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._logs: list[ReceivedLog] = []
        self._metrics: list[ReceivedMetric] = []
        self._requests: list[ReceivedRequest] = []

    def __enter__(self) -> OtlpSink:
        self.start()
        return self

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
        *,
        message: Any = None,
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
