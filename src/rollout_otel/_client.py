"""`Rollout`: wires the streaming processor and OTLP export into the global (or given) SDK providers."""

from __future__ import annotations

import atexit
import os
import weakref
from types import TracebackType
from typing import TypeVar

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import _registry
from ._config import Settings, resolve_settings
from ._errors import logger
from ._exporters import log_exporters, metric_exporters, new_failure_count, run_with_deadline, span_exporters
from ._processor import StreamingSpanProcessor
from ._wrap import wrap

_C = TypeVar("_C")

# Update events must be visible within a second, so logs are flushed far more often than the SDK's 1 s.
LOG_EXPORT_DELAY_MS = 250
DEFAULT_TIMEOUT = 5.0


# Meter providers a Rollout made and then shut down: one may still be the global provider, but it records nothing.
_retired_meter_providers: weakref.WeakSet[MeterProvider] = weakref.WeakSet()


class Rollout:
    """Sets up tracing for LLM calls: the streaming processor plus OTLP export of spans and update events.

    If an SDK TracerProvider (or LoggerProvider) is already installed globally, Rollout adds to it;
    otherwise it installs its own. It patches nothing: `wrap()` or an instrumentor does.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        endpoint: str | None = None,
        protocol: str | None = None,
        service_name: str | None = None,
        capture_content: bool | None = None,
        capture_stream_chunks: bool | None = None,
        stream_preview_chars: int | None = None,
        stream_update_interval: float | None = None,
        max_content_bytes: int | None = None,
        anthropic_sdk_spans: bool | None = None,
        metrics: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        logger_provider: LoggerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        """Resolve the settings (argument > environment > default) and start exporting.

        Args:
            api_key: sent as `Authorization: Bearer <key>` on exports (`ROLLOUT_API_KEY`).
            endpoint: OTLP endpoint (`ROLLOUT_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT`).
            protocol: "http/protobuf" (default) or "grpc" (`OTEL_EXPORTER_OTLP_PROTOCOL`).
            service_name: resource `service.name` (`OTEL_SERVICE_NAME`); defaults to the program name.
            capture_content: record input, output, preview and chunk text (`ROLLOUT_CAPTURE_CONTENT`).
            capture_stream_chunks: one span event per chunk (`ROLLOUT_CAPTURE_STREAM_CHUNKS`).
            stream_preview_chars: size of the rolling preview; 0 turns it off (`ROLLOUT_STREAM_PREVIEW_CHARS`).
            stream_update_interval: seconds between update events of one stream (`ROLLOUT_STREAM_UPDATE_INTERVAL`).
            max_content_bytes: cap, in UTF-8 bytes, of each content attribute and the preview; longer content is
                cut so that it stays valid JSON, and the span says so (`ROLLOUT_MAX_CONTENT_BYTES`, default 750,000).
            anthropic_sdk_spans: keep the anthropic SDK's own span of each call rollout traces, nested under
                rollout's; off by default, so each call has one span (`ROLLOUT_ANTHROPIC_SDK_SPANS`).
            metrics: record the GenAI client metrics (duration, time to first chunk, time per output chunk,
                token usage) and export them (`ROLLOUT_METRICS`; `OTEL_METRICS_EXPORTER=none` keeps them local).
            tracer_provider: use this provider instead of the global one.
            logger_provider: use this provider for update events instead of the global one.
            meter_provider: use this provider for metrics instead of the global one.

        Raises:
            RolloutConfigError: a setting has a value that cannot be used; the message says which and why.
        """
        self.settings: Settings = resolve_settings(
            api_key=api_key,
            endpoint=endpoint,
            protocol=protocol,
            service_name=service_name,
            capture_content=capture_content,
            capture_stream_chunks=capture_stream_chunks,
            stream_preview_chars=stream_preview_chars,
            stream_update_interval=stream_update_interval,
            max_content_bytes=max_content_bytes,
            anthropic_sdk_spans=anthropic_sdk_spans,
            metrics=metrics,
        )
        self._closed = False
        self._failures = new_failure_count()
        self.tracer_provider = tracer_provider or self._global_tracer_provider()
        self.logger_provider = logger_provider or self._global_logger_provider()
        existing = _registry.configured(self.tracer_provider)
        self._owns_setup = existing is None
        self._span_exports: list[BatchSpanProcessor] = []
        self._log_exports: list[BatchLogRecordProcessor] = []
        self.meter_provider: MeterProvider | None = None
        self._owns_meter_provider = False
        if existing is not None:
            # opentelemetry-instrument (or an earlier Rollout) already exports through rollout-otel: adding a
            # second processor and exporter would send every span twice.
            logger.info("rollout-otel is already set up on this tracer provider; Rollout() reuses that set-up")
            if existing.settings != self.settings:
                logger.warning(
                    "Rollout() found rollout-otel already set up on this tracer provider with other settings; "
                    "those stay in force (create one Rollout per process)"
                )
            self.processor = existing
        else:
            if self.settings.metrics:
                self.meter_provider = meter_provider or self._global_meter_provider()
            self.processor = StreamingSpanProcessor(
                self.settings, logger_provider=self.logger_provider, meter_provider=self.meter_provider
            )
            self.tracer_provider.add_span_processor(self.processor)
            self._span_exports = [BatchSpanProcessor(e) for e in span_exporters(self.settings, self._failures)]
            for span_export in self._span_exports:
                self.tracer_provider.add_span_processor(span_export)
            self._log_exports = [
                BatchLogRecordProcessor(exporter, schedule_delay_millis=LOG_EXPORT_DELAY_MS)
                for exporter in log_exporters(self.settings, self._failures)
            ]
            for log_export in self._log_exports:
                self.logger_provider.add_log_record_processor(log_export)
            _registry.claim(self.tracer_provider, self.processor)
        atexit.register(self._shutdown_at_exit)

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"Rollout(endpoint={s.endpoint!r}, protocol={s.protocol!r}, service_name={s.service_name!r}, "
            f"api_key={'set' if s.api_key else None})"
        )

    # -- providers ------------------------------------------------------------------------------------------

    def _resource(self) -> Resource:
        name = self.settings.service_name
        return Resource.create({SERVICE_NAME: name} if name else {})

    def _span_limits(self) -> SpanLimits:
        if self.settings.capture_stream_chunks and "OTEL_SPAN_EVENT_COUNT_LIMIT" not in os.environ:
            # One event per chunk was asked for: the default limit of 128 would silently drop most of them.
            return SpanLimits(max_events=SpanLimits.UNSET)
        return SpanLimits()

    def _global_tracer_provider(self) -> TracerProvider:
        current = otel_trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        if not isinstance(current, otel_trace.ProxyTracerProvider):
            logger.warning(
                "The global tracer provider is a %s, not an SDK TracerProvider; rollout-otel exports through "
                "a provider of its own, used by trace.llm(tracer_provider=...) and Rollout.wrap()",
                type(current).__name__,
            )
            return self._new_tracer_provider()
        provider = self._new_tracer_provider()
        otel_trace.set_tracer_provider(provider)
        return provider

    def _new_tracer_provider(self) -> TracerProvider:
        # Rollout's own atexit shutdown is bounded; the SDK's is not, so it is left out.
        return TracerProvider(resource=self._resource(), span_limits=self._span_limits(), shutdown_on_exit=False)

    def _global_logger_provider(self) -> LoggerProvider:
        current = otel_logs.get_logger_provider()
        if isinstance(current, LoggerProvider):
            return current
        # Update events must name the same service as their spans: share the tracer provider's resource.
        resource = getattr(self.tracer_provider, "resource", None) or self._resource()
        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        if isinstance(current, ProxyLoggerProvider):
            otel_logs.set_logger_provider(provider)
        return provider

    def _global_meter_provider(self) -> MeterProvider:
        """The installed SDK MeterProvider (its readers export), else one of rollout's with OTLP export.

        A provider an earlier Rollout installed and shut down cannot be uninstalled (the global is set once), nor
        given new readers: the new Rollout records through a fresh provider of its own instead.
        """
        current = otel_metrics.get_meter_provider()
        if isinstance(current, MeterProvider) and current not in _retired_meter_providers:
            logger.info("rollout-otel records its metrics through the MeterProvider already installed")
            return current
        readers = [
            PeriodicExportingMetricReader(exporter) for exporter in metric_exporters(self.settings, self._failures)
        ]
        resource = getattr(self.tracer_provider, "resource", None) or self._resource()
        provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
        self._owns_meter_provider = True
        if isinstance(current, _ProxyMeterProvider):  # none installed yet: this one becomes the global provider
            otel_metrics.set_meter_provider(provider)
        return provider

    # -- lifecycle ------------------------------------------------------------------------------------------

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Export everything recorded so far; returns whether it all reached the collector within `timeout`."""
        if self._closed:
            return False
        self._failures.take()  # failures from before this flush are not this flush's business

        def flush_all() -> bool:
            if not self._owns_setup:  # the set-up belongs to someone else: flush their providers
                meters = self.processor.meter_provider or otel_metrics.get_meter_provider()
                flushed = [self.tracer_provider.force_flush(), self.logger_provider.force_flush()]
                if self.settings.metrics and isinstance(meters, MeterProvider):
                    flushed.append(meters.force_flush())
                return all(flushed)
            spans = [p.force_flush() for p in self._span_exports]
            logs = [p.force_flush() for p in self._log_exports]
            metrics = [self.meter_provider.force_flush()] if self.meter_provider is not None else []
            return all(spans + logs + metrics)

        finished = run_with_deadline("flush", flush_all, timeout)
        return finished and self._failures.take() == 0

    def shutdown(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Flush and stop exporting; returns within `timeout` seconds even if the collector does not answer."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._shutdown_at_exit)
        if not self._owns_setup:
            return
        _registry.forget(self.tracer_provider)

        def shutdown_all() -> bool:
            self.processor.shutdown()
            for span_export in self._span_exports:
                span_export.shutdown()  # type: ignore[no-untyped-call]
            for log_export in self._log_exports:
                log_export.shutdown()  # type: ignore[no-untyped-call]
            if self._owns_meter_provider and self.meter_provider is not None:
                _retired_meter_providers.add(self.meter_provider)
                self.meter_provider.shutdown()
            return True

        if not run_with_deadline("shutdown", shutdown_all, timeout):
            logger.warning("rollout-otel shutdown gave up after %.1f s; unsent telemetry was dropped", timeout)

    def wrap(self, client: _C) -> _C:
        """Trace every LLM call made through `client` with this Rollout's providers; returns the same client."""
        return wrap(client, tracer_provider=self.tracer_provider)

    def _shutdown_at_exit(self) -> None:
        self.shutdown(DEFAULT_TIMEOUT)

    def __enter__(self) -> Rollout:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
