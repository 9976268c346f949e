"""Export processors that shut down once: the provider a Rollout added them to may be the user's, and shut it down
again at exit, after Rollout's bounded shutdown gave up on a collector that does not answer. A second shutdown
must not wait on the export the first one left behind, or the exit waits for the exporter's own time-outs."""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


class OnceSpanProcessor(SpanProcessor):
    """A span processor whose shutdown runs once; later calls return at once."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self._shut_down = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.inner.on_end(span)

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class OnceLogRecordProcessor(LogRecordProcessor):
    """A log record processor whose shutdown runs once; later calls return at once."""

    def __init__(self, inner: LogRecordProcessor) -> None:
        self.inner = inner
        self._shut_down = False

    def on_emit(self, log_record: Any) -> None:
        self.inner.on_emit(log_record)

    def shutdown(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))
