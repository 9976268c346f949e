"""In-memory capture of LLM spans, update events and metrics, for tests (rollout-otel's own and its users')."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from . import _attributes as attr
from ._config import resolve_settings
from ._processor import StreamingSpanProcessor
from .trace import LLMSpan, llm


class Capture:
    """Providers wired to in-memory exporters, with the streaming processor configured by `settings`."""

    def __init__(self, *, max_events: int | None = None, **settings: Any) -> None:
        self.settings = resolve_settings(**settings)
        self.span_exporter = InMemorySpanExporter()
        self.log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        limits = SpanLimits(max_events=max_events) if max_events is not None else None
        if limits is None and self.settings.capture_stream_chunks:
            limits = SpanLimits(max_events=SpanLimits.UNSET)
        self.tracer_provider = TracerProvider(span_limits=limits)
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.processor = StreamingSpanProcessor(
            self.settings, logger_provider=self.logger_provider, meter_provider=self.meter_provider
        )
        self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))

    def llm(self, name: str, **kwargs: Any) -> LLMSpan:
        """`trace.llm(...)` on this capture's provider."""
        return llm(name, tracer_provider=self.tracer_provider, **kwargs)

    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended; a span the content worker is still ending is waited for."""
        self.processor.force_flush()
        return list(self.span_exporter.get_finished_spans())

    def span(self, name: str | None = None) -> ReadableSpan:
        """The one finished span (with this name); fails if there is not exactly one."""
        found = [s for s in self.spans() if name is None or s.name == name]
        assert len(found) == 1, f"expected one span named {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]

    def updates(self, span: ReadableSpan | None = None) -> list[ReadableLogRecord]:
        """Update events sent so far (for one span, if given), in the order they were emitted."""
        return self.events(attr.UPDATE_EVENT, span)

    def events(self, event_name: str, span: ReadableSpan | None = None) -> list[ReadableLogRecord]:
        """Log records named `event_name` (`rollout.stream.start`, `.stall`, `.update`), for one span if given."""
        records = [r for r in self.log_exporter.get_finished_logs() if r.log_record.event_name == event_name]
        if span is not None:
            records = [r for r in records if r.log_record.span_id == span.context.span_id]
        return records

    def metrics(self) -> dict[str, Metric]:
        """The metrics recorded so far (cumulative), by name."""
        data = self.metric_reader.get_metrics_data()
        found: dict[str, Metric] = {}
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found[metric.name] = metric
        return found

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


@contextmanager
def capture(**settings: Any) -> Iterator[Capture]:
    """Yield a `Capture` whose settings are given like `Rollout(...)`'s; shut down afterwards."""
    cap = Capture(**settings)
    try:
        yield cap
    finally:
        cap.shutdown()
