"""`Rollout`: wires the streaming processor and OTLP export into the global (or given) SDK providers."""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

from opentelemetry import _logs as otel_logs
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry._logs._internal import ProxyLoggerProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from . import _registry
from ._config import Settings, resolve_settings
from ._deadline import SharedRun, run_with_deadline
from ._errors import log_internal_error, logger
from ._export import LogExport, SpanExport
from ._exporters import log_exporters, metric_exporters, new_failure_count, span_exporters
from ._metrics import series_limits
from ._once import OnceLogRecordProcessor, OnceSpanProcessor
from ._processor import StreamingSpanProcessor
from ._wrap import wrap

_C = TypeVar("_C")

# Update events must be visible within a second, so logs are flushed far more often than the SDK's 1 s.
LOG_EXPORT_DELAY_MS = 250
DEFAULT_TIMEOUT = 5.0


# Meter providers a Rollout made and then shut down: one may still be the global provider, but it records nothing.
_retired_meter_providers: weakref.WeakSet[MeterProvider] = weakref.WeakSet()


def _warn_if_key_sent_in_clear(settings: Settings) -> None:
    """An API key over plain http to another host can be read on the way: say so once, the user may mean it."""
    if not settings.api_key or not settings.endpoint.startswith("http://"):
        return
    host = urlsplit(settings.endpoint).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return
    logger.warning(
        "rollout-otel sends the API key over plain http:// to %s, where it can be read on the way; use https://",
        host,
    )


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
        max_export_bytes: int | None = None,
        live_spans: str | None = None,
        stall_after: float | None = None,
        openai_include_usage: bool | None = None,
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
            max_export_bytes: the largest OTLP request sent, in bytes; batches are split to fit, and a receiver's
                "too large" answer splits them again (`ROLLOUT_MAX_EXPORT_BYTES`, default 4,000,000).
            live_spans: also show open streams as spans, for backends that take no logs: "auto" (where the
                endpoint refuses logs), "on" or "off" (`ROLLOUT_LIVE_SPANS`).
            stall_after: seconds without a chunk before a `rollout.stream.stall` event; 0 turns them off
                (`ROLLOUT_STALL_AFTER`, default 10).
            openai_include_usage: ask OpenAI chat streams for usage when the caller did not; the caller's stream
                stays as it would have been (`ROLLOUT_OPENAI_INCLUDE_USAGE`).
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
            max_export_bytes=max_export_bytes,
            live_spans=live_spans,
            stall_after=stall_after,
            openai_include_usage=openai_include_usage,
        )
        _warn_if_key_sent_in_clear(self.settings)
        self._closed = False
        self._exiting = False
        self._failures = new_failure_count()
        self._drops_seen = 0  # lost items counted at the end of the previous flush
        self._flushes = SharedRun("flush", self._flush_all)  # concurrent flushes share one in flight
        self.tracer_provider = tracer_provider or self._global_tracer_provider()
        self.logger_provider = logger_provider or self._global_logger_provider()
        existing = _registry.configured(self.tracer_provider)
        self._owns_setup = existing is None
        self._span_exports: list[OnceSpanProcessor] = []
        self._log_exports: list[OnceLogRecordProcessor] = []
        self.meter_provider: MeterProvider | None = None
        self._owns_meter_provider = False
        self._setup: _registry.SharedSetup | None
        if existing is not None:
            # opentelemetry-instrument (or an earlier Rollout) already exports through rollout-otel: adding a
            # second processor and exporter would send every span twice. Join it instead.
            logger.info("rollout-otel is already set up on this tracer provider; Rollout() joins that set-up")
            existing.join()
            self._setup = existing
            self.processor = existing.processor
            if existing.failures is not None:  # its exporters count their losses there: this flush sees them
                self._failures = existing.failures
                self._drops_seen = self._failures.total()
            self._apply_strictest_content_setting()
        else:
            self._set_up(meter_provider)
            self._setup = _registry.claim(
                self.tracer_provider, self.processor, self._shut_down_exports, failures=self._failures
            )
        atexit.register(self._shutdown_at_exit)

    def _set_up(self, meter_provider: MeterProvider | None) -> None:
        """The streaming processor and the OTLP exports of spans, update events and metrics."""
        if self.settings.metrics:
            self.meter_provider = meter_provider or self._global_meter_provider()
        self.processor = StreamingSpanProcessor(
            self.settings, logger_provider=self.logger_provider, meter_provider=self.meter_provider
        )
        self.tracer_provider.add_span_processor(self.processor)
        self._span_exports = [
            OnceSpanProcessor(SpanExport(e, self._failures)) for e in span_exporters(self.settings, self._failures)
        ]
        for span_export in self._span_exports:
            self.tracer_provider.add_span_processor(span_export)
        delay = int(
            os.environ.get("OTEL_BLRP_SCHEDULE_DELAY", "").strip() or LOG_EXPORT_DELAY_MS
        )  # checked with the settings
        self._log_exports = [
            OnceLogRecordProcessor(LogExport(exporter, self._failures, schedule_delay_millis=delay))
            for exporter in log_exporters(self.settings, self._failures)
        ]
        for log_export in self._log_exports:
            self.logger_provider.add_log_record_processor(log_export)

    def _apply_strictest_content_setting(self) -> None:
        """Joining a set-up: a user who turns content capture off must never find content exported."""
        current = self.processor.settings
        if current.capture_content and not self.settings.capture_content:
            self.processor.settings = replace(current, capture_content=False)
            logger.warning(
                "Rollout(capture_content=False) joined a rollout-otel set-up that captured content: content "
                "capture is now off for every LLM span it traces (the strictest setting wins)"
            )
        elif current != replace(self.settings, capture_content=current.capture_content):
            logger.warning(
                "Rollout() joined a rollout-otel set-up made with other settings; those stay in force, but for "
                "content capture, where the strictest wins (create one Rollout per process)"
            )

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
            PeriodicExportingMetricReader(exporter, cardinality_limits=series_limits(self.settings.max_export_bytes))
            for exporter in metric_exporters(self.settings, self._failures)
        ]
        resource = getattr(self.tracer_provider, "resource", None) or self._resource()
        provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
        self._owns_meter_provider = True
        if isinstance(current, _ProxyMeterProvider):  # none installed yet: this one becomes the global provider
            otel_metrics.set_meter_provider(provider)
        return provider

    # -- lifecycle ------------------------------------------------------------------------------------------

    def flush(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Export everything recorded so far; returns whether it all reached the collector within `timeout`, and
        nothing was lost (a full queue, a refused request) since the previous flush."""
        if self._closed:
            return False
        seen = self._drops_seen  # what the previous flush already reported
        finished = self._flushes.run(timeout)
        total = self._failures.total()
        self._drops_seen = max(self._drops_seen, total)
        return finished and total == seen

    def _flush_all(self) -> bool:
        if not self._owns_setup:  # the set-up belongs to someone else: flush their providers
            meters = self.processor.meter_provider or otel_metrics.get_meter_provider()
            flushed = [self.tracer_provider.force_flush(), self.logger_provider.force_flush()]
            if self.settings.metrics and isinstance(meters, MeterProvider):
                flushed.append(meters.force_flush())
            return all(flushed)
        ended = self.processor.force_flush()  # spans the content worker is ending, before they are exported
        spans = [ended] + [p.force_flush() for p in self._span_exports]
        logs = [p.force_flush() for p in self._log_exports]
        metrics = [self.meter_provider.force_flush()] if self.meter_provider is not None else []
        return all(spans + logs + metrics)

    def shutdown(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Flush and stop exporting; returns within `timeout` seconds even if the collector does not answer.

        A set-up other Rollouts (or opentelemetry-instrument) share stays up until its last user shuts down: this
        one's telemetry is flushed now, and the exports stop with the last.
        """
        if self._closed:
            return
        atexit.unregister(self._shutdown_at_exit)
        last = self._setup.leave() if self._setup is not None else self._shut_down_exports
        if last is None:
            if not self._exiting:  # at exit the last user's shutdown flushes it all, within the one bound
                self.flush(timeout)
            self._closed = True
            return
        self._closed = True
        _registry.forget(self.tracer_provider)
        if not run_with_deadline("shutdown", lambda: last() or True, timeout):
            logger.warning("rollout-otel shutdown gave up after %.1f s; unsent telemetry was dropped", timeout)

    def _shut_down_exports(self) -> None:
        """Shut down what this Rollout set up; each step on its own, so the exporters are flushed whatever fails."""
        steps: list[tuple[str, Callable[[], object]]] = [("the streaming processor", self.processor.shutdown)]
        # Update events before spans: a stream's last update reaches the collector before its span, as it ran.
        steps += [("a log export", export.shutdown) for export in self._log_exports]
        steps += [("a span export", export.shutdown) for export in self._span_exports]
        if self._owns_meter_provider and self.meter_provider is not None:
            _retired_meter_providers.add(self.meter_provider)
            steps.append(("the meter provider", self.meter_provider.shutdown))
        steps.append(("reporting losses", self._failures.report_pending))
        for what, step in steps:
            try:
                step()
            except Exception:
                log_internal_error(f"shutting down {what}")

    def wrap(self, client: _C) -> _C:
        """Trace every LLM call made through `client` with this Rollout's providers; returns the same client."""
        return wrap(client, tracer_provider=self.tracer_provider)

    def _shutdown_at_exit(self) -> None:
        self._exiting = True
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
