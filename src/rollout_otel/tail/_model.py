"""What `rollout-otel tail` knows: open streams (from their start, update and stall records) and finished calls (from
their spans).

Fed by the receiver with decoded records, read by the views; nothing here prints or draws. Every text is cleaned of
control characters on the way in, so every view is safe. A bad value costs only itself: a field that cannot be read is
left out, a record that cannot be read is counted. Memory is bounded: the last `max_finished` calls and
`max_errors` errors, at most `max_open` open streams and only while they are heard from, a few child names each.
"""

from __future__ import annotations

import copy
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any, Final

from .. import _attributes as attr
from .._receiver import ReceivedLog, ReceivedSpan
from ._calls import finished_call
from ._clean import clean, clean_value
from ._rows import FinishedCall, OpenStream, Totals
from ._values import count, seconds

# DESIGN §4: the records a stream sends while open (same trace/span ids and naming attributes as the updates).
START_EVENT: Final = "rollout.stream.start"
STALL_EVENT: Final = "rollout.stream.stall"
STALL_GAP: Final = "rollout.stream.gap"
STREAM_EVENTS: Final = frozenset({START_EVENT, attr.UPDATE_EVENT, STALL_EVENT})

STALLED_AFTER: Final = 5.0  # seconds without an update while streaming: marked stalled even without a stall record
FORGET_AFTER: Final = 300.0  # seconds without a record: an open stream that never ended is dropped
RATE_WINDOW: Final = 5.0  # seconds of the stream's own clock over which chars/s is measured
MAX_OPEN: Final = 5000
_MAX_CHILDREN: Final = 8
_MAX_PARENTS: Final = 2000
_RECENT_ENDED: Final = 4096
_SWEEP_EVERY: Final = 1.0


class TailModel:
    """Thread-safe: the receiver's threads feed it, the views read `snapshot()`."""

    def __init__(
        self,
        *,
        max_finished: int = 200,
        max_errors: int = 100,
        max_open: int = MAX_OPEN,
        stalled_after: float = STALLED_AFTER,
        forget_after: float = FORGET_AFTER,
        filters: Iterable[str] = (),
        clock: Any = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, OpenStream] = {}
        self._finished: deque[FinishedCall] = deque(maxlen=max_finished)
        self._errors_kept: deque[FinishedCall] = deque(maxlen=max_errors)
        self._ended: OrderedDict[str, None] = OrderedDict()  # span ids already finished: late records are ignored
        self._children: OrderedDict[str, list[str]] = OrderedDict()  # parent span id -> child span names
        self._durations: deque[float] = deque(maxlen=max(max_finished, 1000))
        self._first_chunks: deque[float] = deque(maxlen=max(max_finished, 1000))
        self._finished_count = 0
        self._errors = 0
        self._swept_at = 0.0
        self.bad_records = 0
        self.max_open = max_open
        self.version = 0  # grows with every change, so a view redraws only when there is something new
        self.stalled_after = stalled_after
        self.forget_after = forget_after
        self.clock = clock
        self._filters = frozenset(filters)

    def _wanted(self, service: str, model: str) -> bool:
        """With filters, only the calls whose service or model is one of them."""
        return not self._filters or service in self._filters or model in self._filters

    # -- feeding

    def on_logs(self, logs: Iterable[ReceivedLog]) -> list[dict[str, Any]]:
        """Stream records; returns the events to print (`stream.opened`, `stream.update`, `stream.stalled`)."""
        events = []
        now = self.clock()
        for log in logs:
            if log.event_name not in STREAM_EVENTS or not log.span_id:
                continue
            try:
                event = self._on_stream_record(log, now)
            except Exception:  # a value no rule foresaw: this record is lost, never the request
                with self._lock:
                    self.bad_records += 1
                continue
            if event is not None:
                events.append(event)
        self._sweep(now)
        return events

    def _on_stream_record(self, log: ReceivedLog, now: float) -> dict[str, Any] | None:
        a, span_id = log.attributes, log.span_id or ""
        service = clean(str(log.resource.get("service.name", "")), limit=200)
        model = clean(str(a.get(attr.GEN_AI_REQUEST_MODEL, "")), limit=200)
        if not self._wanted(service, model):
            return None
        elapsed = seconds(a.get(attr.UPDATE_ELAPSED))
        chunks = count(a.get(attr.STREAM_CHUNKS))
        with self._lock:
            if span_id in self._ended:
                return None  # a record that arrived after its span (rare, through a collector)
            stream = self._open.get(span_id)
            opened = stream is None
            if stream is None:
                stream = self._open[span_id] = OpenStream(
                    trace_id=clean(log.trace_id or "", limit=64),
                    span_id=span_id,
                    service=service,
                    name=clean(str(a.get(attr.STREAM_NAME, "")), limit=200),
                    model=model,
                    provider=clean(str(a.get(attr.GEN_AI_PROVIDER_NAME, "")), limit=100),
                    elapsed=0.0,
                    chunks=0,
                    chars=0,
                    preview=None,
                    time_to_first_chunk=None,
                    updated_at=now,
                    first_seen_at=now,
                )
            if elapsed is not None:
                stream.elapsed = max(stream.elapsed, elapsed)
            elif log.event_name == attr.UPDATE_EVENT or not opened:
                stream.elapsed = stream.elapsed_at(now)
            if chunks is not None:
                stream.chunks = max(stream.chunks, chunks)
            kind = "stream.opened" if opened else "stream.update"
            if log.event_name == STALL_EVENT:
                stream.stall_gap = seconds(a.get(STALL_GAP)) or 0.0
                kind = "stream.stalled"
            elif log.event_name == attr.UPDATE_EVENT:
                self._take_update(stream, a)
            stream.attributes = {clean(k, limit=200): clean_value(v) for k, v in list(a.items())[:64]}
            stream.updated_at = now
            self.version += 1
            event = _stream_event(kind, stream, now, self.stalled_after)
            self._cap_open()
        return event

    def _take_update(self, stream: OpenStream, a: dict[str, Any]) -> None:
        stream.updates += 1
        stream.stall_gap = None  # the next chunk ends the stall
        chars = count(a.get(attr.STREAM_CHARS))
        if chars is not None:
            stream.chars = max(stream.chars, chars)
        preview = a.get(attr.STREAM_PREVIEW)
        if isinstance(preview, str):
            stream.preview = clean(preview, lines=True, limit=4000)
        ttfc = seconds(a.get(attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK))
        if ttfc is not None:
            stream.time_to_first_chunk = ttfc
        stream.samples.append((stream.elapsed, stream.chars))
        stream.rate = _recent_rate(stream)

    def on_spans(self, spans: Iterable[ReceivedSpan]) -> list[dict[str, Any]]:
        """Finished spans: LLM calls become finished rows; other spans are remembered as children of theirs."""
        events = []
        now = self.clock()
        for span in spans:
            try:
                event = self._on_span(span, now)
            except Exception:  # a value no rule foresaw: this span is lost, never the request
                with self._lock:
                    self.bad_records += 1
                continue
            if event is not None:
                events.append(event)
        self._sweep(now)
        return events

    def _on_span(self, span: ReceivedSpan, now: float) -> dict[str, Any] | None:
        a = span.attributes
        if attr.GEN_AI_OPERATION_NAME not in a:
            if span.parent_span_id:
                self._add_child(span.parent_span_id, clean(span.name, limit=200))
            return None
        call = finished_call(span, now)
        if not self._wanted(call.service, clean(str(a.get(attr.GEN_AI_REQUEST_MODEL, call.model)), limit=200)):
            return None
        with self._lock:
            self._open.pop(span.span_id, None)
            self._ended[span.span_id] = None
            while len(self._ended) > _RECENT_ENDED:
                self._ended.popitem(last=False)
            call.children = self._children.pop(span.span_id, [])
            self._finished.appendleft(call)
            self._finished_count += 1
            if call.error_type:
                self._errors += 1
                self._errors_kept.appendleft(call)
            self._durations.append(call.duration)
            if call.time_to_first_chunk is not None:
                self._first_chunks.append(call.time_to_first_chunk)
            self.version += 1
        return _call_event(call)

    def _add_child(self, parent: str, name: str) -> None:
        with self._lock:
            children = self._children.setdefault(parent, [])
            self._children.move_to_end(parent)
            if len(children) < _MAX_CHILDREN:
                children.append(name)
            while len(self._children) > _MAX_PARENTS:
                self._children.popitem(last=False)

    def _cap_open(self) -> None:
        """Called with the lock held: past `max_open`, the stream heard from longest ago goes."""
        while len(self._open) > self.max_open:
            oldest = min(self._open.values(), key=lambda s: s.updated_at)
            del self._open[oldest.span_id]

    def _sweep(self, now: float, *, force: bool = False) -> None:
        """Forget streams quiet for `forget_after` seconds: in every mode, whether or not anything draws."""
        if not force and now - self._swept_at < _SWEEP_EVERY:
            return
        with self._lock:
            self._swept_at = now
            quiet = [k for k, s in self._open.items() if now - s.updated_at > self.forget_after]
            for span_id in quiet:
                del self._open[span_id]
            if quiet:
                self.version += 1

    # -- reading

    def snapshot(self, now: float | None = None) -> tuple[list[OpenStream], list[FinishedCall], Totals]:
        """Open streams (newest first), finished calls (newest first) and the totals; drops streams gone quiet."""
        now = self.clock() if now is None else now
        self._sweep(now, force=True)
        with self._lock:
            streams = sorted(self._open.values(), key=lambda s: s.first_seen_at, reverse=True)
            streams = [copy.copy(s) for s in streams]
            finished = list(self._finished)
            durations, first_chunks = list(self._durations), list(self._first_chunks)
            totals = Totals(
                open=len(streams),
                finished=self._finished_count,
                errors=self._errors,
                ttfc_p50=_percentile(first_chunks, 50),
                ttfc_p95=_percentile(first_chunks, 95),
                duration_p50=_percentile(durations, 50),
                duration_p95=_percentile(durations, 95),
                bad_records=self.bad_records,
            )
        return streams, finished, totals

    def errors(self) -> list[FinishedCall]:
        """The latest failed calls (newest first), kept apart so they outlive the finished list."""
        with self._lock:
            return list(self._errors_kept)

    def open_count(self) -> int:
        with self._lock:
            return len(self._open)


def _recent_rate(stream: OpenStream) -> float:
    """Characters per second over the last RATE_WINDOW seconds of the stream's clock (or since the sample before)."""
    samples = list(stream.samples)
    last_elapsed, last_chars = samples[-1]
    window = [s for s in samples if last_elapsed - s[0] <= RATE_WINDOW]
    if len(window) > 1:
        base_elapsed, base_chars = window[0]
    elif len(samples) > 1:
        base_elapsed, base_chars = samples[-2]
    else:
        base_elapsed, base_chars = stream.time_to_first_chunk or 0.0, 0
    span = last_elapsed - base_elapsed
    return max(0.0, (last_chars - base_chars) / span) if span > 0 else 0.0


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _stream_event(kind: str, stream: OpenStream, now: float, stalled_after: float) -> dict[str, Any]:
    return {
        "event": kind,
        "trace_id": stream.trace_id,
        "span_id": stream.span_id,
        "service": stream.service,
        "name": stream.name,
        "model": stream.model,
        "state": stream.state(now, stalled_after),
        "elapsed": round(stream.elapsed, 3),
        "chunks": stream.chunks,
        "chars": stream.chars,
        "chars_per_second": round(stream.rate, 1),
        "time_to_first_chunk": stream.time_to_first_chunk,
        "stall_gap": stream.stall_gap,
        "preview": stream.preview or "",
    }


def _call_event(call: FinishedCall) -> dict[str, Any]:
    return {
        "event": "call.finished",
        "trace_id": call.trace_id,
        "span_id": call.span_id,
        "service": call.service,
        "name": call.name,
        "model": call.model,
        "duration": round(call.duration, 3),
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "end_reason": call.end_reason,
        "finish_reasons": call.finish_reasons,
        "error_type": call.error_type or None,
        "time_to_first_chunk": call.time_to_first_chunk,
        "output": call.output[:200],
        "children": call.children,
    }
