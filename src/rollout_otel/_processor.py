"""The streaming SpanProcessor: live previews and update events for open streams, chunk events on request."""

from __future__ import annotations

import os
import threading
import weakref
from time import monotonic_ns, time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import trace as otel_trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from . import _attributes as attr
from ._claim import starting_llm_span
from ._config import Settings, settings_from_environment
from ._content import preview
from ._errors import log_internal_error
from ._safe import encodable, utf8_size
from ._ticker import Ticker
from .version import __version__

if TYPE_CHECKING:
    from .trace import LLMSpan


class _Watch:
    """What the processor remembers about one open stream: a weak reference and what it last reported."""

    __slots__ = ("closed", "identity", "in_flight", "last_chunks", "lock", "ref", "seq")

    def __init__(self, llm: LLMSpan) -> None:
        self.ref = weakref.ref(llm)
        self.identity = llm._identity()
        self.lock = threading.Lock()
        self.last_chunks = 0
        self.seq = 0
        self.closed = False
        self.in_flight: threading.Event | None = None  # set when the update being sent has been handed over


class StreamingSpanProcessor(SpanProcessor):
    """Gives LLM spans their settings and sends `rollout.stream.update` log records while streams are open.

    Cadence: one background thread wakes every `stream_update_interval` while any stream is open and
    sends one update per stream that received chunks since its last update, so a stream gets about
    duration / interval updates however many chunks it has. Nothing runs per chunk unless
    `capture_stream_chunks` asks for a span event per chunk. Spans that are not LLM spans cost one
    context-variable lookup in `on_start`.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        logger_provider: LoggerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.settings = settings or settings_from_environment()
        self.meter_provider = meter_provider  # where the LLM spans it claims record metrics; None: the global one
        provider = logger_provider or get_logger_provider()
        self._logger = provider.get_logger(attr.INSTRUMENTATION_NAME, __version__)
        # Re-entrant: a garbage-collected LLMSpan may end (and unwatch) on the update thread itself.
        self._lock = threading.RLock()
        self._open: dict[int, _Watch] = {}
        self._live: weakref.WeakSet[LLMSpan] = weakref.WeakSet()
        self._shutdown = False
        self._ticker = Ticker(self.settings.stream_update_interval, self._send_updates, "rollout-otel-updates")
        if hasattr(os, "register_at_fork"):
            weak_self = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (method := weak_self()) and method())

    # -- SpanProcessor --------------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        llm = starting_llm_span.get()
        if llm is None:
            return
        claimed = llm._processor
        if claimed is not None and (self._shutdown or not claimed._shutdown):
            return  # the first live processor wins; one shut down gives way to a later Rollout's
        llm._processor = self  # even after shutdown: its settings (capture_content above all) still apply
        llm._settings = self.settings
        llm._on_chunk = self._add_chunk_event if llm._stream and self.settings.capture_stream_chunks else None
        self._live.add(llm)  # ended as abandoned at shutdown if still open; dropped in a forked child

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        """End the LLM spans still open as `abandoned` (exported with what they gathered), then stop the updates.

        Never raises: the exporters that come after this processor must still be flushed.
        """
        try:
            self._end_open_spans()
        except Exception:
            log_internal_error("ending the LLM spans still open at shutdown")
        self._shutdown = True
        try:
            self._ticker.shutdown()
        except Exception:
            log_internal_error("stopping the update thread")
        with self._lock:
            watches = list(self._open.values())
            self._open.clear()
        for watch in watches:
            with watch.lock:
                watch.closed = True

    def _end_open_spans(self) -> None:
        for llm in list(self._live):
            if llm.is_recording and llm._processor is self:
                llm._abandon()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # -- called by LLMSpan ----------------------------------------------------------------------------------

    def watch(self, llm: LLMSpan) -> None:
        """Start sending updates for a stream that just opened."""
        if self._shutdown:
            return
        with self._lock:
            self._open[id(llm)] = _Watch(llm)
        self._ticker.wake()

    def unwatch(self, llm: LLMSpan) -> None:
        """The stream is ending: no update may follow; settle its update count."""
        with self._lock:
            watch = self._open.pop(id(llm), None)
        if watch is not None:
            with watch.lock:
                watch.closed = True
                llm._updates = watch.seq
                in_flight = watch.in_flight
            if in_flight is not None:
                # Let an update already counted reach the log pipeline before the span does, but never wait
                # long: a slow synchronous log exporter must not hold up the caller's end().
                in_flight.wait(_IN_FLIGHT_WAIT)

    def _add_chunk_event(self, llm: LLMSpan, index: int, delta: str | None) -> None:
        """One span event per chunk, while the events fit the span-size budget; past it, counted as dropped."""
        text = encodable(delta) if delta and self.settings.capture_content else ""
        size = _CHUNK_EVENT_BYTES + (utf8_size(text) if text else 0)
        if llm._event_bytes + size > self.settings.max_content_bytes:
            llm._events_dropped += 1
            return
        llm._event_bytes += size
        attributes: dict[str, Any] = {attr.CHUNK_INDEX: index}
        if self.settings.capture_content:
            attributes[attr.CHUNK_TEXT] = text
        llm._span.add_event(attr.CHUNK_EVENT, attributes)

    # -- the update thread ----------------------------------------------------------------------------------

    def _send_updates(self) -> bool:
        """One tick: an update for each open stream that got chunks since its last one; whether any is open."""
        with self._lock:
            watches = list(self._open.items())
        for key, watch in watches:
            llm = watch.ref()
            if llm is None:
                with self._lock:
                    self._open.pop(key, None)
                continue
            if llm._chunks == watch.last_chunks:
                continue
            try:
                update = self._next_update(llm, watch)
                if update is not None:
                    try:
                        self._emit(llm, update)
                    finally:
                        update[2].set()
            except Exception:
                log_internal_error("sending a stream update")
        with self._lock:
            return bool(self._open)

    def _next_update(self, llm: LLMSpan, watch: _Watch) -> tuple[int, dict[str, Any], threading.Event] | None:
        """Under the watch's lock, so an ending span settles its count against exactly the updates made.

        The export happens outside the lock: a slow log exporter must never make `end()` wait.
        """
        with watch.lock:
            if watch.closed:
                return None
            chunks = llm._chunks
            text = llm._text
            watch.last_chunks = chunks
            watch.seq += 1
            llm._updates = watch.seq
            timestamp = time_ns()  # before the end: the update describes the stream while it was open
            attributes: dict[str, Any] = {
                attr.STREAM_CHUNKS: chunks,
                attr.STREAM_CHARS: text.chars,
                attr.UPDATE_SEQ: watch.seq,
                attr.UPDATE_ELAPSED: (monotonic_ns() - llm._start_ns) / 1e9,
                **watch.identity,  # what the stream is (name, model, provider): a live view has no span yet
            }
            if llm._first_chunk_ns:
                attributes[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (llm._first_chunk_ns - llm._start_ns) / 1e9
            if self.settings.capture_content and self.settings.stream_preview_chars:
                attributes[attr.STREAM_PREVIEW] = preview(text.tail(self.settings.stream_preview_chars), self.settings)
            else:
                text.compact()
            watch.in_flight = threading.Event()
        return timestamp, attributes, watch.in_flight

    def _emit(self, llm: LLMSpan, update: tuple[int, dict[str, Any], threading.Event]) -> None:
        timestamp, attributes, _ = update
        live = {k: v for k, v in attributes.items() if k in _LIVE_SPAN_ATTRIBUTES}
        if llm.is_recording:
            llm._span.set_attributes(live)  # the live preview, for anything that reads open spans
        self._logger.emit(
            timestamp=timestamp,
            context=otel_trace.set_span_in_context(llm._span),
            severity_number=SeverityNumber.INFO,
            event_name=attr.UPDATE_EVENT,
            attributes=attributes,
        )

    def _after_fork_in_child(self) -> None:
        """Threads do not survive a fork; locks a parent thread held at that moment must not either.

        The parent's open LLM spans stay the parent's: the child drops its copies unexported, or both processes
        would export the same span id with different content.
        """
        self._lock = threading.RLock()
        self._open = {}
        for llm in list(self._live):
            llm._drop_in_child()


# What one chunk event costs on the wire besides its text (name, index, timestamp), for the span-size budget.
_CHUNK_EVENT_BYTES = 96  # measured on the OTLP wire: name, index, time and framing
_IN_FLIGHT_WAIT = 0.1  # seconds an ending span waits for its last update to be handed to the log pipeline
_LIVE_SPAN_ATTRIBUTES = frozenset({attr.STREAM_CHUNKS, attr.STREAM_CHARS, attr.STREAM_PREVIEW})
