"""`opentelemetry-instrument` support: a distro that sets OTLP defaults and a configurator that adds streaming.

`pip install rollout-otel` then `opentelemetry-instrument python app.py` builds the SDK as OpenTelemetry's own
configurator does, plus the streaming processor and a log pipeline fast enough for update events, and turns on
the `rollout_*` instrumentors. The `ROLLOUT_*` variables apply as they do for `Rollout()`.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.re import parse_env_headers

from . import _registry
from ._client import LOG_EXPORT_DELAY_MS
from ._config import Settings, settings_from_environment
from ._errors import log_internal_error, logger
from ._exporters import GuardedLogExporter, GuardedMetricExporter, GuardedSpanExporter
from ._otel_env import drop_bad_values
from ._processor import StreamingSpanProcessor

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


class RolloutDistro(BaseDistro):  # type: ignore[misc]
    """Defaults for auto-instrumentation, set only where the user set nothing."""

    def _configure(self, **kwargs: Any) -> None:
        drop_bad_values(os.environ)  # one logged line each, and the SDK's default: the program must still run
        os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        # Update events must be visible within a second; the SDK's default batches logs for a second.
        os.environ.setdefault("OTEL_BLRP_SCHEDULE_DELAY", str(LOG_EXPORT_DELAY_MS))
        rollout_endpoint = os.environ.get("ROLLOUT_ENDPOINT", "").strip()
        if rollout_endpoint:
            # ROLLOUT_ENDPOINT ranks above OTEL_EXPORTER_OTLP_ENDPOINT, as it does for Rollout().
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = rollout_endpoint
        if settings_from_environment().capture_stream_chunks:
            # One span event per chunk was asked for: lift the SDK's default limit of 128 unless the user set one.
            os.environ.setdefault("OTEL_SPAN_EVENT_COUNT_LIMIT", "1000000")


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


def _span_export_processor(exporter: SpanExporter, *args: Any, **kwargs: Any) -> SpanProcessor:
    return BatchSpanProcessor(GuardedSpanExporter(exporter, None))


def _log_export_processor(exporter: LogRecordExporter, *args: Any, **kwargs: Any) -> LogRecordProcessor:
    delay = float(os.environ.get("OTEL_BLRP_SCHEDULE_DELAY") or LOG_EXPORT_DELAY_MS)
    return BatchLogRecordProcessor(GuardedLogExporter(exporter, None), schedule_delay_millis=delay)


def _guard_metric_exporters() -> None:
    """The configurator builds its metric readers itself: guard the exporter each periodic reader holds."""
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    for reader in getattr(provider, "_metric_readers", ()):
        exporter = getattr(reader, "_exporter", None)
        if not isinstance(reader, PeriodicExportingMetricReader) or not isinstance(exporter, MetricExporter):
            continue
        if not isinstance(exporter, GuardedMetricExporter):
            reader._exporter = GuardedMetricExporter(exporter, None)


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
        from opentelemetry import trace

        _registry.claim(trace.get_tracer_provider(), processor)  # the SDK shuts it down at exit
        logger.debug("rollout-otel configured the OpenTelemetry SDK for auto-instrumentation")
