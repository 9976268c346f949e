"""Build the exporters a Settings asks for, each guarded: failed exports counted for `flush()`, refused signals off."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from ._config import DEFAULT_MAX_EXPORT_BYTES, Settings
from ._errors import log_internal_error, logger
from ._export import (
    DropCount,
    SizedSend,
    connect_promptly,
    fit_log,
    fit_span,
    log_size,
    logs_bound,
    logs_framing,
    new_channel,
    span_size,
    spans_bound,
    spans_framing,
    split_metrics,
)


class _Exporting(threading.local):
    """The guarded exporter whose export is running on this thread, for the rejection filter to report to."""

    current: _GuardedExport | None = None


_exporting = _Exporting()
# The statuses a trace-only backend answers for signals it does not take (Phoenix: 405 and UNIMPLEMENTED; MLflow: 404).
_REJECTING_HTTP_STATUSES = frozenset({404, 405})
_SWITCH_OFF = {"logs": "OTEL_LOGS_EXPORTER=none", "metrics": "OTEL_METRICS_EXPORTER=none"}
_WHAT = {"traces": "spans", "logs": "update events (OTLP logs)", "metrics": "metrics"}
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


class _ExporterLogFilter(logging.Filter):
    """Takes the OTLP exporters' own lines about a failed export (one per retry, a few per batch) off the log while
    a guarded export runs on this thread: the guard says it once per signal, with the endpoint and the fix.

    A line about a refused signal (404, 405, UNIMPLEMENTED) also marks the guard, for when its transport could not
    be watched. Only lines about the guard's own signal count; anything else passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        guard = _exporting.current
        if guard is None:
            return True
        message = str(record.msg)
        if not message.startswith(("Failed to export", "Transient error")):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if not {str(arg) for arg in args[:2]} & set(_SIGNAL_WORDS[guard.signal]):
            return True
        how = _rejection(record)
        if how is not None:
            guard.mark_rejected(how)
        guard.problem = guard.problem or _reason(record)
        return False


def _reason(record: logging.LogRecord) -> str:
    """What went wrong, from an exporter's line: its error, without the exporter's own phrasing around it."""
    args = record.args if isinstance(record.args, tuple) else ()
    message = str(record.msg)
    if message.startswith("Transient error") and args:
        reason = str(args[0])
    elif message.startswith("Failed to export") and len(args) >= 3:
        reason = str(args[-1])  # the reason (HTTP) or the error details (gRPC)
    else:
        reason = record.getMessage()
    return reason if len(reason) <= 240 else reason[:240] + "..."


def _install_log_filter() -> None:
    for name in _EXPORTER_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _ExporterLogFilter) for f in target.filters):
            # First: the SDK's DuplicateFilter drops a second "Failed to export" within 20 s by its format string
            # alone, so a refused metrics export right after a refused logs export would never reach this filter.
            target.filters.insert(0, _ExporterLogFilter())


# Modules an exporter imports on its first request rather than when it is made (the HTTP transport's `requests` reads
# ~/.netrc on each request and imports `netrc` the first time). A module a background export is importing when the
# program forks stays locked in the child for good, so a pool worker's first export hung: they are imported with the
# set-up instead, on the thread that makes it.
_FIRST_REQUEST_IMPORTS: Final = ("netrc",)


def _import_ahead() -> None:
    for name in _FIRST_REQUEST_IMPORTS:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _refused(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) is a refused connection: nothing listens at the endpoint."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, ConnectionRefusedError) or "Connection refused" in str(error):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


class _ConnectionRefused(ConnectionError):
    """Raised in the exporter's place for a refused connection: retrying with backoff cannot help, and at exit it
    would hold the program for seconds."""


def _watch_transport(guard: _GuardedExport, inner: Any) -> None:
    """See each answer the endpoint gives the exporter (an HTTP status, a gRPC code), whatever the logging set-up,
    and make a refused connection fail at once instead of being retried.

    The OTLP exporters keep their transport in `_client`: an HTTP client whose `_submit` returns the status (or the
    error), or a gRPC stub whose `Export` raises the code. Where neither is found, the log filter alone detects.
    """
    client: Any = getattr(inner, "_client", None)
    submit = getattr(client, "_submit", None)
    if callable(submit):

        def watched_submit(*args: Any, **kwargs: Any) -> Any:
            result = submit(*args, **kwargs)
            status = getattr(result, "status_code", None)
            guard.status = status
            if status == 413:
                guard.too_large = True
            if status in _REJECTING_HTTP_STATUSES:
                guard.mark_rejected(f"HTTP {status}")
            error = getattr(result, "error", None)
            if status is None and isinstance(error, BaseException):
                if _refused(error):
                    guard.refused = True
                    raise _ConnectionRefused(str(error))
                if _no_http_answer(error):  # a gRPC port, most likely: retrying with backoff cannot help
                    raise _ConnectionRefused("the endpoint closed the connection without an HTTP answer")
            return result

        client._submit = watched_submit
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
                name = getattr(code(), "name", None) if callable(code) else None
                if name == "UNIMPLEMENTED":
                    guard.mark_rejected("gRPC UNIMPLEMENTED")
                elif name == "RESOURCE_EXHAUSTED" and _says_too_large(error):
                    guard.too_large = True  # split and sent again: retrying the same request cannot help
                    raise _final_rpc_error(error) from error
                elif name == "UNAVAILABLE" and _refused(error):
                    guard.refused = True
                    with contextlib.suppress(Exception):  # the next export tries the receiver at once
                        new_channel(inner)
                    raise _final_rpc_error(error) from error
                elif name == "UNAVAILABLE" and _not_grpc(error):  # an HTTP port: retrying cannot help
                    raise _final_rpc_error(error) from error
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


def _new_connections_in_child(inner: Any) -> None:
    """A forked child gives the HTTP exporter's session fresh connection pools, and opens its own connections.

    Otherwise parent and child write to one inherited keep-alive socket: their requests interleave, the receiver
    answers 400, and both lose what they sent. The pools are replaced, not closed: closing takes their locks, which
    a parent thread may have held at the fork.
    """
    client: Any = getattr(inner, "_client", None)
    session = getattr(getattr(client, "_transport", None), "_session", None) or getattr(inner, "_session", None)
    if not isinstance(getattr(session, "adapters", None), dict) or not hasattr(os, "register_at_fork"):
        return
    weak_session = weakref.ref(session)

    def new_pools_in_child() -> None:
        found = weak_session()
        if found is None:
            return
        for prefix, adapter in list(found.adapters.items()):
            with contextlib.suppress(Exception):  # an adapter that cannot be made again keeps its pools
                found.adapters[prefix] = type(adapter)()

    os.register_at_fork(after_in_child=new_pools_in_child)


def _no_http_answer(error: BaseException) -> bool:
    text = repr(error)
    return any(sign in text for sign in ("RemoteDisconnected", "BadStatusLine", "Connection aborted", "reset by peer"))


def _says_too_large(error: BaseException) -> bool:
    details = str(getattr(error, "details", lambda: "")()).lower()
    return "larger than" in details or "too large" in details or "exceeds" in details


def _not_grpc(error: BaseException) -> bool:
    details = str(getattr(error, "details", lambda: "")())
    return "HTTP/2" in details or "SETTINGS frame" in details or "Trying to connect an http1.x server" in details


def _final_rpc_error(error: BaseException) -> BaseException:
    """The failure as an RpcError whose code the gRPC exporter does not retry (UNAVAILABLE it retries for seconds)."""
    import grpc  # type: ignore[import-untyped]

    details = str(getattr(error, "details", lambda: error)())

    class FinalRpcError(grpc.RpcError):  # type: ignore[misc]
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.FAILED_PRECONDITION

        def details(self) -> str:
            return details

        def trailing_metadata(self) -> tuple[()]:
            return ()

    return FinalRpcError(details)


# Endpoints already reported as unreachable: one line for all the signals sent there, until one export succeeds.
_unreachable: set[str] = set()
_unreachable_lock = threading.Lock()


def _base_url(endpoint: str) -> str:
    """The scheme, host and port of an endpoint, without the signal's path."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else endpoint


class _GuardedExport:
    """What the three guarded exporters share: requests that fit `max_bytes` (split again when the receiver says
    "too large"), lost items counted for `flush()` and its warning, and a signal the endpoint refuses switched off
    with one warning (trace-only backends answer OTLP logs and metrics with 404, 405 or UNIMPLEMENTED).
    """

    signal = ""

    def __init__(self, inner: Any, drops: DropCount | None, max_bytes: int = DEFAULT_MAX_EXPORT_BYTES) -> None:
        self.inner = inner
        self._drops = drops
        self.max_bytes = max_bytes
        self.rejected: str | None = None  # how the endpoint refused this signal
        self.refused = False  # nothing listened at the endpoint, this request
        self.too_large = False  # the endpoint refused this request for its size (HTTP 413, RESOURCE_EXHAUSTED)
        self.problem: str | None = None  # the exporter's own account of this request's failure
        self.status: int | None = None  # the HTTP status of this request's last answer
        self.switched_off = False
        self._failing = False  # this exporter's line about a failure was logged, and no export has succeeded since
        self._lost_in_streak = 0  # items lost since the last export that succeeded
        _install_log_filter()
        _import_ahead()
        try:
            connect_promptly(inner)
        except Exception:
            log_internal_error("preparing an exporter's gRPC channel")
        try:
            _watch_transport(self, inner)
        except Exception:
            log_internal_error("watching an exporter's answers")
        try:
            _new_connections_in_child(inner)
        except Exception:
            log_internal_error("preparing an exporter for forked children")

    def mark_rejected(self, how: str) -> None:
        """The endpoint answered as one that does not take this signal; only logs and metrics are switched off for
        it: a traces endpoint that answers 404 is misconfigured or not up yet, and its spans are counted as lost."""
        if self.signal in _SWITCH_OFF:
            self.rejected = how

    def _attempt(self, export: Callable[[], Any], success: Any) -> bool:
        """One request; True if it succeeded, or if the signal is refused here (dropped on purpose)."""
        if self.switched_off or self.rejected is not None:
            return True
        self.refused, self.too_large, self.problem, self.status = False, False, None, None
        previous, _exporting.current = _exporting.current, self
        try:
            result = export()
        finally:
            _exporting.current = previous
        return result is success or (self.rejected is not None and self.signal in _SWITCH_OFF)

    def _guarded(self, send_all: Callable[[], int], success: Any, failure: Any) -> Any:
        """Run `send_all` (which returns how many items were lost) and account for its outcome."""
        if self.switched_off:
            return success  # dropped on purpose: the endpoint does not take this signal
        lost = send_all()
        if self.rejected is not None and self.signal in _SWITCH_OFF:
            self._switch_off()
            return success
        if lost:
            first = self._lost_in_streak == 0
            self._lost_in_streak += lost
            if first:
                self._report_failure()  # its line says they are dropped: the count follows a minute later
            if self._drops is not None:
                self._drops.add(self.signal, "refused", lost, announced=first)
            return failure
        if self._lost_in_streak:
            with _unreachable_lock:
                _unreachable.discard(_base_url(self._endpoint()))
            if self._failing:
                logger.warning(
                    "rollout-otel exports %s to %s again; %d were dropped while it failed",
                    _WHAT[self.signal],
                    self._endpoint(),
                    self._lost_in_streak,
                )
            self._failing, self._lost_in_streak = False, 0
        return success

    def _endpoint(self) -> str:
        return str(getattr(self.inner, "_endpoint", None) or "the OTLP endpoint")

    def _report_failure(self) -> None:
        """One line per signal while exports fail, instead of the exporter's line per retry; one line per endpoint
        when nothing listens there at all."""
        if self._failing:
            return
        if self.refused:
            base = _base_url(self._endpoint())
            with _unreachable_lock:
                said = base in _unreachable
                _unreachable.add(base)
            self._failing = not said
            if not said:
                logger.warning(
                    "rollout-otel: nothing listens at %s (connection refused); telemetry is dropped. Run "
                    "`rollout-otel tail` to see traces without a collector, set ROLLOUT_ENDPOINT to yours, or set "
                    "OTEL_TRACES_EXPORTER=none (and OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER) to silence this",
                    base,
                )
            return
        self._failing = True
        logger.warning(
            "rollout-otel could not export %s to %s (%s); they are dropped, and exports go on. %s",
            _WHAT[self.signal],
            self._endpoint(),
            self.problem or (f"HTTP {self.status}" if self.status else "the exporter gave no reason"),
            _likely_fix(self.problem or "", self.status),
        )

    def _switch_off(self) -> None:
        self.switched_off = True
        if self._drops is not None:
            self._drops.refused.add(self.signal)
        logger.warning(
            "%s refuses OTLP %s (%s): it accepts only some signals, as trace-only backends do. rollout-otel stops "
            "sending %s there; spans are not affected. Set %s to stop trying.",
            self._endpoint(),
            self.signal,
            self.rejected,
            self.signal,
            _SWITCH_OFF[self.signal],
        )


def _likely_fix(problem: str, status: int | None) -> str:
    """The usual cause of a failed export, from what the endpoint answered."""
    if "HTTP/2" in problem or "SETTINGS frame" in problem:
        return (
            "The endpoint speaks OTLP over HTTP, not gRPC: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, or point "
            "at the collector's gRPC port (4317 by default)"
        )
    if "without an HTTP answer" in problem:
        return (
            "The endpoint closed the connection without an HTTP answer, as a gRPC port does: set "
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc, or point at the collector's HTTP port (4318 by default)"
        )
    if status == 404:
        return "Nothing answers at that path: ROLLOUT_ENDPOINT is the base URL (http://host:4318), without /v1/..."
    if status in (401, 403):
        return "The endpoint refused the credentials: check ROLLOUT_API_KEY or OTEL_EXPORTER_OTLP_HEADERS"
    if status == 413:
        return "The endpoint takes smaller requests: lower ROLLOUT_MAX_EXPORT_BYTES to its limit"
    if "timed out" in problem.lower() or "timeout" in problem.lower() or "DEADLINE_EXCEEDED" in problem:
        return "The endpoint did not answer in time: is it overloaded, or behind a proxy that holds requests?"
    return "Check that it is an OTLP receiver and that ROLLOUT_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL match it"


class GuardedSpanExporter(_GuardedExport, SpanExporter):
    """Sends spans in requests that fit, through a span exporter, and counts the spans it could not send."""

    signal = "traces"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        sized: SizedSend[ReadableSpan] = SizedSend(
            self.max_bytes,
            span_size,
            spans_framing,
            fit_span,
            lambda part: self._attempt(lambda: self.inner.export(part), SpanExportResult.SUCCESS),
            lambda: self.too_large,
            spans_bound,
        )
        return self._guarded(  # type: ignore[no-any-return]
            lambda: sized.send_all(spans), SpanExportResult.SUCCESS, SpanExportResult.FAILURE
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class GuardedLogExporter(_GuardedExport, LogRecordExporter):
    """Sends log records in requests that fit; counts the records it could not send, and stops if the endpoint
    refuses logs."""

    signal = "logs"

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        sized: SizedSend[ReadableLogRecord] = SizedSend(
            self.max_bytes,
            log_size,
            logs_framing,
            fit_log,
            lambda part: self._attempt(lambda: self.inner.export(part), LogRecordExportResult.SUCCESS),
            lambda: self.too_large,
            logs_bound,
        )
        return self._guarded(  # type: ignore[no-any-return]
            lambda: sized.send_all(batch), LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE
        )

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


class GuardedMetricExporter(_GuardedExport, MetricExporter):
    """Sends metrics in requests that fit, through a metric exporter (keeping its temporality and aggregation);
    counts the points it could not send, and stops if the endpoint refuses metrics."""

    signal = "metrics"

    def __init__(
        self, inner: MetricExporter, drops: DropCount | None, max_bytes: int = DEFAULT_MAX_EXPORT_BYTES
    ) -> None:
        MetricExporter.__init__(
            self,
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        _GuardedExport.__init__(self, inner, drops, max_bytes)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        def send(data: MetricsData, limit: int, depth: int) -> int:
            parts, lost = split_metrics(data, limit)
            for part in parts:
                if self._attempt(
                    lambda: self.inner.export(part, timeout_millis=timeout_millis, **kwargs),  # noqa: B023
                    MetricExportResult.SUCCESS,
                ):
                    continue
                if self.too_large and depth < 6:
                    lost += send(part, max(1024, limit // 2), depth + 1)
                else:
                    lost += _points_in(part)
            return lost

        return self._guarded(  # type: ignore[no-any-return]
            lambda: send(metrics_data, self.max_bytes, 0), MetricExportResult.SUCCESS, MetricExportResult.FAILURE
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def _points_in(data: MetricsData) -> int:
    return sum(
        len(getattr(metric.data, "data_points", ()))
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )


def _headers(settings: Settings, signal: str) -> dict[str, str] | None:
    """The user's OTLP headers (signal-specific first) with the API key's Authorization header on top."""
    if not settings.api_key:
        return None  # the exporter reads the OTEL_* header variables itself
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_HEADERS") or os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    return {**parse_env_headers(raw, liberal=True), **settings.export_headers}


def _our_endpoint(settings: Settings, signal: str) -> bool:
    """Whether rollout gives the exporter its endpoint: the one it resolved and checked (scheme added, signal path
    taken off), unless a signal's own OTEL_EXPORTER_OTLP_{signal}_ENDPOINT says otherwise."""
    if settings.endpoint_explicit:
        return True
    return settings.endpoint_configured and not os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip()


def _grpc_args(settings: Settings, signal: str) -> dict[str, Any]:
    args: dict[str, Any] = {"headers": _headers(settings, signal)}
    if _our_endpoint(settings, signal):
        args["endpoint"] = settings.endpoint
        args["insecure"] = settings.endpoint.startswith("http://")
    return args


def _http_args(settings: Settings, signal: str, path: str) -> dict[str, Any]:
    args: dict[str, Any] = {"headers": _headers(settings, signal)}
    if _our_endpoint(settings, signal):
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


def span_exporters(settings: Settings, drops: DropCount) -> list[SpanExporter]:
    """The span exporters named by OTEL_TRACES_EXPORTER (OTLP by default)."""
    builders: dict[str, Callable[[Settings], SpanExporter]] = {
        "otlp": _otlp_span_exporter,
        "console": lambda _: ConsoleSpanExporter(),
    }
    limit = settings.max_export_bytes
    return [GuardedSpanExporter(builders[name](settings), drops, limit) for name in settings.traces_exporter]


def log_exporters(settings: Settings, drops: DropCount) -> list[LogRecordExporter]:
    """The log exporters named by OTEL_LOGS_EXPORTER (OTLP by default), for the update events."""
    builders: dict[str, Callable[[Settings], LogRecordExporter]] = {
        "otlp": _otlp_log_exporter,
        "console": lambda _: ConsoleLogRecordExporter(),
    }
    limit = settings.max_export_bytes
    return [GuardedLogExporter(builders[name](settings), drops, limit) for name in settings.logs_exporter]


def metric_exporters(settings: Settings, drops: DropCount) -> list[MetricExporter]:
    """The metric exporters named by OTEL_METRICS_EXPORTER (OTLP by default), for the GenAI metrics."""
    builders: dict[str, Callable[[Settings], MetricExporter]] = {
        "otlp": _otlp_metric_exporter,
        "console": lambda _: ConsoleMetricExporter(),
    }
    limit = settings.max_export_bytes
    return [GuardedMetricExporter(builders[name](settings), drops, limit) for name in settings.metrics_exporter]


def new_failure_count() -> DropCount:
    """The count of lost items one set-up's exports share."""
    return DropCount()
