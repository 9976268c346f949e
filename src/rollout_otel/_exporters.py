"""Build the exporters a Settings asks for, each guarded: failed exports counted for `flush()`, refused signals off."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from ._config import Settings
from ._errors import log_internal_error, logger


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


class _Exporting(threading.local):
    """The guarded exporter whose export is running on this thread, for the rejection filter to report to."""

    current: _GuardedExport | None = None


_exporting = _Exporting()
# The statuses a trace-only backend answers for signals it does not take (Phoenix: 405 and UNIMPLEMENTED; MLflow: 404).
_REJECTING_HTTP_STATUSES = frozenset({404, 405})
_SWITCH_OFF = {"logs": "OTEL_LOGS_EXPORTER=none", "metrics": "OTEL_METRICS_EXPORTER=none"}
# The loggers the OTLP exporters report a failed export on.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
)


def _rejection(record: logging.LogRecord) -> str | None:
    """How the endpoint refused the signal, if `record` is an exporter's report of a 404, 405 or UNIMPLEMENTED."""
    if record.levelno < logging.ERROR or not str(record.msg).startswith("Failed to export"):
        return None
    for arg in record.args if isinstance(record.args, tuple) else ():
        if isinstance(arg, int) and not isinstance(arg, bool) and arg in _REJECTING_HTTP_STATUSES:
            return f"HTTP {arg}"
        if getattr(arg, "name", None) == "UNIMPLEMENTED":
            return "gRPC UNIMPLEMENTED"
    return None


# How each exporter names its signal in its log lines.
_SIGNAL_WORDS: Final = {"traces": ("traces", "spans"), "logs": ("logs",), "metrics": ("metrics",)}


class _RejectionFilter(logging.Filter):
    """Keeps the exporter's own error about a refused signal out of the log (the guard says it once, with the fix),
    and marks the guard, for when the transport could not be watched. Only the guarded exporter exporting on this
    thread, and only a line about its own signal, count."""

    def filter(self, record: logging.LogRecord) -> bool:
        guard = _exporting.current
        if guard is None or guard.signal not in _SWITCH_OFF:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if not args or str(args[0]) not in _SIGNAL_WORDS[guard.signal]:
            return True
        how = _rejection(record)
        if how is None:
            return True
        guard.rejected = how
        return False


def _install_rejection_filter() -> None:
    for name in _EXPORTER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _RejectionFilter) for f in target.filters):
            # First: the SDK's DuplicateFilter drops a second "Failed to export" within 20 s by its format string
            # alone, so a refused metrics export right after a refused logs export would never reach this filter.
            target.filters.insert(0, _RejectionFilter())


def _watch_transport(guard: _GuardedExport, inner: Any) -> None:
    """See each answer the endpoint gives the exporter (an HTTP status, a gRPC code), whatever the logging set-up.

    The OTLP exporters keep their transport in `_client`: an HTTP client whose `export` returns the status, or a
    gRPC stub whose `Export` raises the code. Where neither is found, the log filter alone detects a refusal.
    """
    client: Any = getattr(inner, "_client", None)
    http_export = getattr(client, "export", None)
    if callable(http_export):

        def watched_http(*args: Any, **kwargs: Any) -> Any:
            result = http_export(*args, **kwargs)
            status = getattr(result, "status_code", None)
            if status in _REJECTING_HTTP_STATUSES:
                guard.rejected = f"HTTP {status}"
            return result

        client.export = watched_http
        return
    initialize = getattr(inner, "_initialize_channel_and_stub", None)

    def watch_stub() -> None:
        stub: Any = getattr(inner, "_client", None)
        grpc_export = getattr(stub, "Export", None)
        if not callable(grpc_export) or getattr(grpc_export, "_rollout_watched", False):
            return

        def watched_grpc(*args: Any, **kwargs: Any) -> Any:
            try:
                return grpc_export(*args, **kwargs)
            except Exception as error:
                code = getattr(error, "code", None)
                if callable(code) and getattr(code(), "name", None) == "UNIMPLEMENTED":
                    guard.rejected = "gRPC UNIMPLEMENTED"
                raise

        watched_grpc._rollout_watched = True  # type: ignore[attr-defined]
        stub.Export = watched_grpc

    watch_stub()
    if callable(initialize):

        def reinitialize(*args: Any, **kwargs: Any) -> Any:  # the exporter makes a new stub after UNAVAILABLE
            result = initialize(*args, **kwargs)
            watch_stub()
            return result

        inner._initialize_channel_and_stub = reinitialize


class _GuardedExport:
    """What the three guarded exporters share: failures counted for `flush()`, and a signal the endpoint refuses
    switched off with one warning (trace-only backends answer OTLP logs and metrics with 404, 405 or UNIMPLEMENTED).
    """

    signal = ""

    def __init__(self, inner: Any, failures: _FailureCount | None) -> None:
        self.inner = inner
        self._failures = failures
        self.rejected: str | None = None
        self.switched_off = False
        _install_rejection_filter()
        if self.signal in _SWITCH_OFF:
            try:
                _watch_transport(self, inner)
            except Exception:
                log_internal_error("watching an exporter's answers")

    def _guarded(self, export: Callable[[], Any], success: Any) -> Any:
        if self.switched_off:
            return success  # dropped on purpose: the endpoint does not take this signal
        result = None
        previous, _exporting.current = _exporting.current, self
        try:
            result = export()
        finally:
            _exporting.current = previous
            if self.rejected is not None:
                self._switch_off()
                result = success
            elif result is not success and self._failures is not None:
                self._failures.add()
        return result

    def _switch_off(self) -> None:
        self.switched_off = True
        endpoint = getattr(self.inner, "_endpoint", None) or "the OTLP endpoint"
        logger.warning(
            "%s refuses OTLP %s (%s): it accepts only some signals, as trace-only backends do. rollout-otel stops "
            "sending %s there; spans are not affected. Set %s to stop trying.",
            endpoint,
            self.signal,
            self.rejected,
            self.signal,
            _SWITCH_OFF[self.signal],
        )


class GuardedSpanExporter(_GuardedExport, SpanExporter):
    """Delegates to a span exporter and counts the exports that did not succeed."""

    signal = "traces"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._guarded(lambda: self.inner.export(spans), SpanExportResult.SUCCESS)  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class GuardedLogExporter(_GuardedExport, LogRecordExporter):
    """Delegates to a log record exporter; counts failed exports and stops if the endpoint refuses logs."""

    signal = "logs"

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self._guarded(lambda: self.inner.export(batch), LogRecordExportResult.SUCCESS)  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class GuardedMetricExporter(_GuardedExport, MetricExporter):
    """Delegates to a metric exporter (keeping its temporality and aggregation); counts failed exports and stops
    if the endpoint refuses metrics."""

    signal = "metrics"

    def __init__(self, inner: MetricExporter, failures: _FailureCount | None) -> None:
        MetricExporter.__init__(
            self,
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        _GuardedExport.__init__(self, inner, failures)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self._guarded(  # type: ignore[no-any-return]
            lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
            MetricExportResult.SUCCESS,
        )

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
    return [GuardedSpanExporter(builders[name](settings), failures) for name in settings.traces_exporter]


def log_exporters(settings: Settings, failures: _FailureCount) -> list[LogRecordExporter]:
    """The log exporters named by OTEL_LOGS_EXPORTER (OTLP by default), for the update events."""
    builders: dict[str, Callable[[Settings], LogRecordExporter]] = {
        "otlp": _otlp_log_exporter,
        "console": lambda _: ConsoleLogRecordExporter(),
    }
    return [GuardedLogExporter(builders[name](settings), failures) for name in settings.logs_exporter]


def metric_exporters(settings: Settings, failures: _FailureCount) -> list[MetricExporter]:
    """The metric exporters named by OTEL_METRICS_EXPORTER (OTLP by default), for the GenAI metrics."""
    builders: dict[str, Callable[[Settings], MetricExporter]] = {
        "otlp": _otlp_metric_exporter,
        "console": lambda _: ConsoleMetricExporter(),
    }
    return [GuardedMetricExporter(builders[name](settings), failures) for name in settings.metrics_exporter]


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


class SharedRun:
    """Runs `func` on one daemon thread at a time: a call while a run is in flight waits for that run.

    A flush against a collector that never answers blocks its thread; repeated or concurrent flushes must share it
    rather than leave one blocked thread behind per call.
    """

    def __init__(self, what: str, func: Callable[[], Any]) -> None:
        self._what = what
        self._func = func
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._outcome: list[bool] = [False]

    def run(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the run in flight (or a new one); True if it finished truthy."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                outcome: list[bool] = [False]

                def target() -> None:
                    try:
                        outcome[0] = bool(self._func())
                    except Exception:
                        log_internal_error(self._what)

                thread = threading.Thread(target=target, name=f"rollout-otel-{self._what}", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no new threads (a pids limit, interpreter shutdown): run it here, unbounded
                    target()
                    return outcome[0]
                self._thread, self._outcome = thread, outcome
            thread, outcome = self._thread, self._outcome
        thread.join(max(0.0, timeout))
        return not thread.is_alive() and outcome[0]
