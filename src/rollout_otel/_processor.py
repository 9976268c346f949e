"""The streaming SpanProcessor: live previews and update events for open streams, chunk events on request."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
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
from ._content._early import wait_for_ends
from ._errors import log_internal_error, logger
from ._live import live_attributes, live_content, send_live_span
from ._safe import encodable, utf8_size
from ._ticker import Ticker
from ._watch import StreamWatch
from .version import __version__

if TYPE_CHECKING:
    from ._view import OpenStream


class StreamingSpanProcessor(SpanProcessor):
    """Gives LLM spans their settings and shows open streams: start, update and stall log records, live spans.

    Cadence: one background thread sends a stream's start record as soon as it opens, then wakes when something
    is due: an update per stream and interval that received chunks (so a stream gets about duration / interval
    updates however many chunks it has), a stall record each `stall_after` seconds without a chunk, and live
    spans (where logs cannot go, or when asked) at the start and 1, 2, 4, 8... seconds in. Nothing runs per chunk
    unless `capture_stream_chunks` asks for a span event per chunk. Spans that are not LLM spans cost one
    context-variable lookup in `on_start`.
    """

    # Its flush and shutdown wait for the LLM spans whose end the content worker is finishing (`_early.waited_for`).
    waits_for_ends = True

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
        self._open: dict[int, StreamWatch] = {}
        # The LLM spans this processor claimed, weakly: each reference leaves the set when its span is collected
        # (a `WeakSet` without its Python frame per add and per removal: one C call a span).
        self._live: set[weakref.ref[OpenStream]] = set()
        self._shutdown = False
        self._refused: Collection[str] = ()  # signals the endpoint refuses, kept by the exporters of this set-up
        self._interval_ns = int(self.settings.stream_update_interval * 1e9)
        self._stall_ns = int(self.settings.stall_after * 1e9)
        self._ticker = Ticker(self.settings.stream_update_interval, self._tick, "rollout-otel-updates")
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
        live = self._live  # ended as abandoned at shutdown if still open; dropped in a forked child
        live.add(weakref.ref(llm, live.discard))

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
        if not wait_for_ends(_ENDS_WAIT):  # spans whose end the content worker is finishing
            logger.warning("rollout-otel shutdown: LLM spans still being ended after %.0f s were dropped", _ENDS_WAIT)
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
        for llm in self._live_spans():
            if llm.is_recording and llm._processor is self:
                llm._abandon()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Whether the LLM spans whose end was handed to the content worker have ended (the exports after this
        processor then send them)."""
        return wait_for_ends(timeout_millis / 1000)

    # -- live spans -----------------------------------------------------------------------------------------

    def follow_refusals(self, refused: Collection[str]) -> None:
        """Read which signals the endpoint refuses from `refused` (kept up to date by this set-up's exporters)."""
        self._refused = refused

    def live_spans_on(self) -> bool:
        """Whether open streams are shown as live spans: asked for, or (auto) update events cannot be exported."""
        mode = self.settings.live_spans
        return mode == "on" or (mode == "auto" and ("logs" in self._refused or not self.settings.logs_exporter))

    # -- called by LLMSpan -------------------------------------------------------------------------------------

    def watch(self, llm: OpenStream) -> None:
        """Show a stream that just opened: its start record goes out at once, on the update thread."""
        if self._shutdown:
            return
        with self._lock:
            self._open[id(llm)] = StreamWatch(llm, self._interval_ns, self._stall_ns)
        self._ticker.wake()

    def unwatch(self, llm: OpenStream) -> None:
        """The stream is ending: nothing may follow; settle its update and stall counts and its longest gap."""
        with self._lock:
            watch = self._open.pop(id(llm), None)
        if watch is not None:
            unsent: _Due | None = None
            with watch.lock:
                watch.closed = True
                now = monotonic_ns()
                watch.settle(llm, now)
                llm._updates = watch.seq
                llm._stalls = watch.stalls
                llm._max_gap_ns = watch.max_gap_ns
                in_flight = watch.in_flight
                if not watch.started:  # it ended before the update thread came round: its start record goes now
                    watch.started = True
                    elapsed = (now - llm._start_ns) / 1e9
                    unsent = _Due(timestamp=time_ns(), elapsed=elapsed, identity=watch.identity_of(llm), start=True)
            if unsent is not None:
                self._send(llm, unsent)
            if in_flight is not None and not in_flight.is_set():  # mostly None: handed over long ago
                # Let an update already counted reach the log pipeline before the span does, but never wait
                # long: a slow synchronous log exporter must not hold up the caller's end().
                in_flight.wait(_IN_FLIGHT_WAIT)

    def _add_chunk_event(self, llm: OpenStream, index: int, delta: str | None) -> None:
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

    def _tick(self) -> float | None:
        """What is due for each open stream, sent; the seconds until the next thing is due, None with none open."""
        return self._visit(force_updates=False)

    def _send_updates(self) -> bool:
        """Now, whatever is due: an update for each open stream that got chunks since its last one. Whether any is
        open (for tests and benchmarks that drive the update thread's work by hand)."""
        self._visit(force_updates=True)
        with self._lock:
            return bool(self._open)

    def _visit(self, force_updates: bool) -> float | None:
        now = monotonic_ns()
        live = self.live_spans_on()
        with self._lock:
            watches = list(self._open.items())
        next_ns: int | None = None
        for key, watch in watches:
            llm = watch.ref()
            if llm is None:
                with self._lock:
                    self._open.pop(key, None)
                continue
            try:
                due = self._due(llm, watch, now, live, force_updates)
                if due is not None:
                    try:
                        self._send(llm, due)
                    finally:
                        due.handed_over.set()
                        with watch.lock:  # handed over: the stream's end has nothing to wait for
                            if watch.in_flight is due.handed_over:
                                watch.in_flight = None
            except Exception:
                log_internal_error("showing an open stream")
            wake_at = watch.next_due_ns(live)
            next_ns = wake_at if next_ns is None else min(next_ns, wake_at)
        with self._lock:
            if not self._open:
                return None
        if next_ns is None:  # streams opened during this visit: they woke the thread themselves
            return self.settings.stream_update_interval
        return max(0.0, (next_ns - monotonic_ns()) / 1e9)

    def _due(self, llm: OpenStream, watch: StreamWatch, now: int, live: bool, force_updates: bool) -> _Due | None:
        """Under the watch's lock, so an ending span settles its counts against exactly what was sent.

        The export happens outside the lock: a slow log exporter must never make `end()` wait.
        """
        with watch.lock:
            if watch.closed:
                return None
            due = _Due(timestamp=time_ns(), elapsed=(now - llm._start_ns) / 1e9, identity=watch.identity_of(llm))
            if not watch.started:
                watch.started = True
                due.start = True
            stall_gap = watch.look(llm, now)
            chunks = llm._chunks
            if stall_gap is not None:
                due.stall = {attr.STALL_GAP: stall_gap / 1e9, attr.STREAM_CHUNKS: chunks}
            if watch.update_due(chunks, now, force_updates):
                watch.seq += 1
                llm._updates = watch.seq
                due.update = self._update_attributes(llm, watch.seq, chunks)
            if live and llm._span_tracer is not None and watch.live_due(chunks, now):
                watch.live_seq += 1
                due.live = live_attributes(
                    watch.identity_of(llm), watch.live_seq, chunks, llm._text.chars, due.elapsed, watch.stalls
                )
                if llm._first_chunk_ns:
                    due.live[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (llm._first_chunk_ns - llm._start_ns) / 1e9
                due.live_text = llm._text.text() if self.settings.capture_content else ""
            if not (due.start or due.stall or due.update or due.live):
                return None
            watch.in_flight = due.handed_over
        return due

    def _update_attributes(self, llm: OpenStream, seq: int, chunks: int) -> dict[str, Any]:
        text = llm._text
        attributes: dict[str, Any] = {attr.STREAM_CHUNKS: chunks, attr.STREAM_CHARS: text.chars, attr.UPDATE_SEQ: seq}
        if llm._first_chunk_ns:
            attributes[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (llm._first_chunk_ns - llm._start_ns) / 1e9
        if self.settings.capture_content and self.settings.stream_preview_chars:
            attributes[attr.STREAM_PREVIEW] = preview(text.tail(self.settings.stream_preview_chars), self.settings)
        return attributes

    def _send(self, llm: OpenStream, due: _Due) -> None:
        """Start, stall and update records in that order, then the live span: each on its own, never raising."""
        context = otel_trace.set_span_in_context(llm._span)
        elapsed = {attr.UPDATE_ELAPSED: due.elapsed, **due.identity}
        started = getattr(llm._span, "start_time", None) or due.timestamp - int(due.elapsed * 1e9)
        if due.start:  # stamped with the request's own time: the record says when the stream opened
            self._log(attr.START_EVENT, started, context, elapsed, SeverityNumber.INFO)
        if due.stall:
            self._log(attr.STALL_EVENT, due.timestamp, context, {**due.stall, **elapsed}, SeverityNumber.WARN)
        if due.update:
            if llm.is_recording:  # the live preview, for anything that reads open spans
                llm._span.set_attributes({k: v for k, v in due.update.items() if k in _LIVE_SPAN_ATTRIBUTES})
            self._log(attr.UPDATE_EVENT, due.timestamp, context, {**due.update, **elapsed}, SeverityNumber.INFO)
        if due.live and llm._span_tracer is not None:
            try:
                name = str(due.identity.get(attr.STREAM_NAME, "llm"))
                due.live.update(live_content(due.live_text, self.settings))  # built here, outside the lock
                send_live_span(llm._span_tracer, llm._span, name, due.live, started, due.timestamp)
            except Exception:
                log_internal_error("sending a live span")

    def _log(
        self, event: str, timestamp: int, context: Any, attributes: dict[str, Any], severity: SeverityNumber
    ) -> None:
        try:
            self._logger.emit(
                timestamp=timestamp,
                context=context,
                severity_number=severity,
                event_name=event,
                attributes=attributes,
            )
        except Exception:
            log_internal_error(f"sending {event}")

    def _after_fork_in_child(self) -> None:
        """Threads do not survive a fork; locks a parent thread held at that moment must not either.

        The parent's open LLM spans stay the parent's: the child drops its copies unexported, or both processes
        would export the same span id with different content.
        """
        self._lock = threading.RLock()
        self._open = {}
        for llm in self._live_spans():
            llm._drop_in_child()

    def _live_spans(self) -> list[OpenStream]:
        """The claimed LLM spans not yet collected (a copy: a span collected meanwhile leaves the set)."""
        return [llm for llm in (ref() for ref in list(self._live)) if llm is not None]


@dataclass
class _Due:
    """What one visit sends for one stream, gathered under its lock and sent after."""

    timestamp: int
    elapsed: float
    identity: dict[str, Any]
    start: bool = False
    stall: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    live_text: str = ""
    handed_over: threading.Event = field(default_factory=threading.Event)


# What one chunk event costs on the wire besides its text (name, index, timestamp), for the span-size budget.
_CHUNK_EVENT_BYTES = 96  # measured on the OTLP wire: name, index, time and framing
_ENDS_WAIT = 5.0  # seconds a shutdown waits for the spans the content worker is ending
_IN_FLIGHT_WAIT = 0.1  # seconds an ending span waits for its last update to be handed to the log pipeline
_LIVE_SPAN_ATTRIBUTES = frozenset({attr.STREAM_CHUNKS, attr.STREAM_CHARS, attr.STREAM_PREVIEW})
