"""`opentelemetry-instrument` support: a distro that sets OTLP defaults and a configurator that adds streaming.

`pip install rollout-otel` then `opentelemetry-instrument python app.py` builds the SDK as OpenTelemetry's own
configurator does, plus the streaming processor and a log pipeline fast enough for update events, and turns on
the `rollout_*` instrumentors. The `ROLLOUT_*` variables apply as they do for `Rollout()`.
"""

from __future__ import annotations

import atexit
import os
from importlib.metadata import EntryPoint
from typing import Any, Final

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util.re import parse_env_headers

from . import _registry
from ._client import LOG_EXPORT_DELAY_MS
from ._config import Settings, settings_from_environment
from ._deadline import run_with_deadline
from ._errors import log_internal_error, logger
from ._export import LogExport, SpanExport
from ._exporters import (
    GuardedLogExporter,
    GuardedMetricExporter,
    GuardedSpanExporter,
    new_failure_count,
)
from ._metrics import bound_series
from ._otel_env import drop_bad_values
from ._processor import StreamingSpanProcessor
from ._sdk_versions import too_old

# Where the OTLP exporter classes live, by protocol: the API key header goes to whichever the SDK picks.
_HTTP_EXPORTERS = (
    ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "OTLPSpanExporter"),
    ("opentelemetry.exporter.otlp.proto.http._log_exporter", "OTLPLogExporter"),
    ("opentelemetry.exporter.otlp.proto.http.metric_exporter", "OTLPMetricExporter"),
)
_GRPC_EXPORTERS = (
    ("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "OTLPSpanExporter"),
    ("opentelemetry.exporter.otlp.proto.grpc._log_exporter", "OTLPLogExporter"),
    ("opentelemetry.exporter.otlp.proto.grpc.metric_exporter", "OTLPMetricExporter"),
)


# Other instrumentations of the providers rollout-otel traces (the official GenAI ones, OpenLLMetry, OpenInference
# all register under the provider's name), and the instrumentor of rollout-otel's that covers each. `botocore` is not
# here: it traces every AWS service, not only Bedrock (README: "Tracing Amazon Bedrock calls").
_OURS_FOR: Final = {
    "openai": "rollout_openai",
    "anthropic": "rollout_anthropic",
    "bedrock": "rollout_bedrock",
    "google-genai": "rollout_google_genai",  # the official instrumentation's name
    "google_genai": "rollout_google_genai",  # OpenInference's
}


class RolloutDistro(BaseDistro):  # type: ignore[misc]
    """Defaults for auto-instrumentation, set only where the user set nothing; one span per LLM call."""

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        """Skip another instrumentation of a provider rollout-otel traces, unless the user keeps both: two of them
        would give every call two spans (`openai.chat.completions` and `chat gpt-4o-mini`)."""
        ours = _OURS_FOR.get(entry_point.name)
        skip = ours is not None and not entry_point.value.startswith("rollout_otel.") and not _keep_both(ours)
        if skip and _we_trace(entry_point.name):
            # A WARNING, so that it shows at the default log level: an instrumentation the user installed is off.
            logger.warning(
                "rollout-otel skips the %r instrumentation (%s): rollout_otel's %s traces those calls, one span each. "
                "ROLLOUT_KEEP_OTHER_INSTRUMENTATIONS=true keeps both",
                entry_point.name,
                entry_point.value.split(":", 1)[0],
                ours,
            )
            return
        super().load_instrumentor(entry_point, **kwargs)

    def _configure(self, **kwargs: Any) -> None:
        drop_bad_values(os.environ)  # one logged line each, and the SDK's default: the program must still run
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        # Update events must be visible within a second; the SDK's default batches logs for a second.
        os.environ.setdefault("OTEL_BLRP_SCHEDULE_DELAY", str(LOG_EXPORT_DELAY_MS))
        settings = settings_from_environment()  # a bad value is logged there, and the default used
        if settings.endpoint_configured:
            # ROLLOUT_ENDPOINT ranks above OTEL_EXPORTER_OTLP_ENDPOINT, as it does for Rollout(); either way the SDK
            # gets the checked base URL (scheme added, a signal path taken off), not the raw text.
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = settings.endpoint
        if settings.capture_stream_chunks:
            # One span event per chunk was asked for: lift the SDK's default limit of 128 unless the user set one.
            os.environ.setdefault("OTEL_SPAN_EVENT_COUNT_LIMIT", "1000000")


_PACKAGE_OF: Final = {
    "bedrock": "botocore",
    "google_genai": "google-genai",
}  # an instrumentation's name -> the package it patches, where they differ


def _we_trace(name: str) -> bool:
    """Whether rollout's instrumentor traces the installed package behind the instrumentation `name` (read from its
    metadata, without importing it); where it cannot (too old), the other instrumentation stays."""
    from importlib.metadata import PackageNotFoundError, version

    package = _PACKAGE_OF.get(name, name)
    try:
        installed = version(package)
    except PackageNotFoundError:
        return True  # not installed: nothing to trace twice
    return not too_old(package, installed)  # a version rollout cannot read counts as traced


def _keep_both(ours: str) -> bool:
    """The user keeps the other instrumentation: by asking, or by turning rollout's own off."""
    disabled = {name.strip() for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")}
    if ours in disabled:
        return True
    keep = os.environ.get("ROLLOUT_KEEP_OTHER_INSTRUMENTATIONS", "").strip().lower()
    if keep and keep not in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        logger.error(
            "ROLLOUT_KEEP_OTHER_INSTRUMENTATIONS=%r is not valid: expected true/false, 1/0, yes/no or on/off. "
            "Using false.",
            keep,
        )
    return keep in ("true", "1", "yes", "on")


def _exporter_args(settings: Settings) -> dict[type, dict[str, Any]]:
    """The API key as an Authorization header, merged with any headers the user configured."""
    if not settings.api_key:
        return {}
    import importlib

    auth = {"authorization": f"Bearer {settings.api_key}"}
    env_headers = parse_env_headers(os.environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""), liberal=True)
    args: dict[type, dict[str, Any]] = {}
    for module, name in (*_HTTP_EXPORTERS, *_GRPC_EXPORTERS):
        try:
            exporter = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        args[exporter] = {"headers": {**env_headers, **auth}}
    return args


# Failed exports of the distro's set-up, for the flush() of a Rollout() made in an instrumented program.
_failures = new_failure_count()


def _span_export_processor(exporter: SpanExporter, *args: Any, **kwargs: Any) -> SpanProcessor:
    limit = settings_from_environment().max_export_bytes
    return SpanExport(GuardedSpanExporter(exporter, _failures, limit), _failures)


def _log_export_processor(exporter: LogRecordExporter, *args: Any, **kwargs: Any) -> LogRecordProcessor:
    delay = float(os.environ.get("OTEL_BLRP_SCHEDULE_DELAY", "").strip() or LOG_EXPORT_DELAY_MS)
    limit = settings_from_environment().max_export_bytes
    return LogExport(GuardedLogExporter(exporter, _failures, limit), _failures, schedule_delay_millis=delay)


EXIT_TIMEOUT = 5.0  # seconds the program's exit may wait for its telemetry, whatever the collector does


def _bound_exit() -> None:
    """The SDK shuts its providers down at exit one after another, each export waiting up to its timeout (10 s) and
    retrying: a collector that does not answer held the exit for tens of seconds. One handler instead shuts all three
    down within EXIT_TIMEOUT together."""
    from opentelemetry import _logs, metrics, trace

    # Logs first: a stream's last update event must reach the collector before its span, as while it ran.
    providers = [_logs.get_logger_provider(), trace.get_tracer_provider(), metrics.get_meter_provider()]
    for provider in providers:
        for attribute in ("_atexit_handler", "_at_exit_handler"):
            handler = getattr(provider, attribute, None)
            if handler is not None:
                atexit.unregister(handler)
                setattr(provider, attribute, None)

    def shut_down_all() -> bool:
        for provider in providers:
            shutdown = getattr(provider, "shutdown", None)
            if callable(shutdown):
                try:
                    shutdown()
                except Exception:
                    log_internal_error("shutting down at exit")
        _failures.report_pending()
        return True

    def at_exit() -> None:
        if not run_with_deadline("exit", shut_down_all, EXIT_TIMEOUT):
            logger.warning("rollout-otel gave up waiting for the exporters after %.0f s at exit", EXIT_TIMEOUT)

    atexit.register(at_exit)


def _guard_metric_exporters() -> None:
    """The configurator builds its metric readers itself: guard the exporter each periodic reader holds, and bound
    the reader's series so that one export fits ROLLOUT_MAX_EXPORT_BYTES, as `Rollout()` does."""
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    for reader in getattr(provider, "_metric_readers", ()):
        exporter = getattr(reader, "_exporter", None)
        if not isinstance(reader, PeriodicExportingMetricReader) or not isinstance(exporter, MetricExporter):
            continue
        limit = settings_from_environment().max_export_bytes
        bound_series(reader, limit)
        if not isinstance(exporter, GuardedMetricExporter):
            reader._exporter = GuardedMetricExporter(exporter, _failures, limit)


class RolloutConfigurator(_OTelSDKConfigurator):
    """OpenTelemetry's SDK set-up, plus the streaming processor and a log pipeline for update events."""

    def _configure(self, **kwargs: Any) -> None:
        settings = settings_from_environment()  # a bad ROLLOUT_* value is logged there, with the defaults used
        processor = StreamingSpanProcessor(settings)  # finds the global LoggerProvider when it first sends
        kwargs["span_processors"] = [processor, *(kwargs.get("span_processors") or [])]
        kwargs.setdefault("export_span_processor", _span_export_processor)
        kwargs.setdefault("export_log_record_processor", _log_export_processor)
        exporter_args = {**_exporter_args(settings), **(kwargs.get("exporter_args_map") or {})}
        if exporter_args:
            kwargs["exporter_args_map"] = exporter_args
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        try:
            _guard_metric_exporters()
        except Exception:
            log_internal_error("guarding the metric exporters")
        try:
            _bound_exit()
        except Exception:
            log_internal_error("bounding the exit")
        from opentelemetry import trace

        _registry.claim(trace.get_tracer_provider(), processor, failures=_failures)  # the SDK shuts it down at exit
        logger.debug("rollout-otel configured the OpenTelemetry SDK for auto-instrumentation")
