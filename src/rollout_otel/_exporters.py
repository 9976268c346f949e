"""Build the span and log exporters a Settings asks for, each counting its failed exports for `flush()`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from ._config import Settings
from ._errors import log_internal_error


class _FailureCount:
    """Failed exports since the last `take()`; shared by the exporters of one Rollout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0

    def add(self) -> None:
        with self._lock:
            self._failures += 1

    def take(self) -> int:
        with self._lock:
            failures, self._failures = self._failures, 0
            return failures


class CountingSpanExporter(SpanExporter):
    """Delegates to a span exporter and counts the exports that did not succeed."""

    def __init__(self, inner: SpanExporter, failures: _FailureCount) -> None:
        self.inner = inner
        self._failures = failures

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        finally:
            if result is not SpanExportResult.SUCCESS:
                self._failures.add()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    """Delegates to a log record exporter and counts the exports that did not succeed."""

    def __init__(self, inner: LogRecordExporter, failures: _FailureCount) -> None:
        self.inner = inner
        self._failures = failures

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        result = LogRecordExportResult.FAILURE
        try:
            result = self.inner.export(batch)
        finally:
            if result is not LogRecordExportResult.SUCCESS:
                self._failures.add()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class CountingMetricExporter(MetricExporter):
    """Delegates to a metric exporter (keeping its temporality and aggregation) and counts failed exports."""

    def __init__(self, inner: MetricExporter, failures: _FailureCount) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self._failures = failures

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        result = MetricExportResult.FAILURE
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        finally:
            if result is not MetricExportResult.SUCCESS:
                self._failures.add()
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def _headers(settings: Settings, signal: str) -> dict[str, str] | None:
    """The user's OTLP headers (signal-specific first) with the API key's Authorization header on top."""
    if not settings.api_key:
        return None  # the exporter reads the OTEL_* header variables itself
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    return {**parse_env_headers(raw, liberal=True), **settings.export_headers}


def _grpc_args(settings: Settings, signal: str) -> dict[str, Any]:
    args: dict[str, Any] = {"headers": _headers(settings, signal)}
    if settings.endpoint_explicit:  # else the exporter resolves OTEL_EXPORTER_OTLP_{signal}_ENDPOINT and friends
        args["endpoint"] = settings.endpoint
        args["insecure"] = settings.endpoint.startswith("http://")
    return args


def _http_args(settings: Settings, signal: str, path: str) -> dict[str, Any]:
    args: dict[str, Any] = {"headers": _headers(settings, signal)}
    if settings.endpoint_explicit:
        args["endpoint"] = f"{settings.endpoint}/{path}"
    return args


def _otlp_span_exporter(settings: Settings) -> SpanExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(**_grpc_args(settings, "TRACES"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(**_http_args(settings, "TRACES", "v1/traces"))


def _otlp_log_exporter(settings: Settings) -> LogRecordExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return GrpcLogExporter(**_grpc_args(settings, "LOGS"))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return HttpLogExporter(**_http_args(settings, "LOGS", "v1/logs"))


def _otlp_metric_exporter(settings: Settings) -> MetricExporter:
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(**_grpc_args(settings, "METRICS"))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(**_http_args(settings, "METRICS", "v1/metrics"))


def span_exporters(settings: Settings, failures: _FailureCount) -> list[SpanExporter]:
    """The span exporters named by OTEL_TRACES_EXPORTER (OTLP by default)."""
    builders: dict[str, Callable[[Settings], SpanExporter]] = {
        "otlp": _otlp_span_exporter,
        "console": lambda _: ConsoleSpanExporter(),
    }
    return [CountingSpanExporter(builders[name](settings), failures) for name in settings.traces_exporter]


def log_exporters(settings: Settings, failures: _FailureCount) -> list[LogRecordExporter]:
    """The log exporters named by OTEL_LOGS_EXPORTER (OTLP by default), for the update events."""
    builders: dict[str, Callable[[Settings], LogRecordExporter]] = {
        "otlp": _otlp_log_exporter,
        "console": lambda _: ConsoleLogRecordExporter(),
    }
    return [CountingLogExporter(builders[name](settings), failures) for name in settings.logs_exporter]


def metric_exporters(settings: Settings, failures: _FailureCount) -> list[MetricExporter]:
    """The metric exporters named by OTEL_METRICS_EXPORTER (OTLP by default), for the GenAI metrics."""
    builders: dict[str, Callable[[Settings], MetricExporter]] = {
        "otlp": _otlp_metric_exporter,
        "console": lambda _: ConsoleMetricExporter(),
    }
    return [CountingMetricExporter(builders[name](settings), failures) for name in settings.metrics_exporter]


def new_failure_count() -> _FailureCount:
    return _FailureCount()


def run_with_deadline(what: str, func: Callable[[], Any], timeout: float) -> bool:
    """Run `func` on a daemon thread and wait at most `timeout` seconds; True if it finished and returned truthy.

    The SDK's flush and shutdown can block on an export to a collector that does not answer; this keeps
    the caller's wait bounded whatever the exporter does.
    """
    outcome: list[bool] = [False]

    def target() -> None:
        try:
            outcome[0] = bool(func())
        except Exception:
            log_internal_error(what)

    thread = threading.Thread(target=target, name=f"rollout-otel-{what}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no new threads at interpreter shutdown (some Python versions): run it here, unbounded
        target()
        return outcome[0]
    thread.join(max(0.0, timeout))
    return not thread.is_alive() and outcome[0]
