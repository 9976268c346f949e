"""What `rollout-otel tail` knows: open streams (from their update events) and finished calls (from their spans).

Fed by the receiver with decoded records, read by the renderers; nothing here prints or draws. Memory is bounded: the
last `max_finished` calls, open streams only while they update (or until they go stale), a few tool-call names each.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .. import _attributes as attr
from .._receiver import ReceivedLog, ReceivedSpan

STALLED_AFTER: Final = 5.0  # seconds without an update: the stream is marked stalled
FORGET_AFTER: Final = 300.0  # seconds without an update: an open stream that never ended is dropped
_MAX_CHILDREN: Final = 8
_MAX_PARENTS: Final = 2000


@dataclass
class OpenStream:
    """A stream still running, as its update events describe it."""

    trace_id: str
    span_id: str
    service: str
    name: str
    model: str
    elapsed: float
    chunks: int
    chars: int
    preview: str
    time_to_first_chunk: float | None
    updated_at: float  # when the last update arrived (monotonic)
    first_seen_at: float
    rate: float = 0.0  # characters per second, over the stream so far

    def stalled(self, now: float, after: float) -> bool:
        return now - self.updated_at > after


@dataclass
class FinishedCall:
    """A call whose span arrived."""

    trace_id: str
    span_id: str
    service: str
    name: str
    model: str
    duration: float
    input_tokens: int | None
    output_tokens: int | None
    end_reason: str  # completed, closed, cancelled, abandoned, error; "" for a call that did not stream
    error_type: str
    output: str
    time_to_first_chunk: float | None
    received_at: float
    children: list[str] = field(default_factory=list)


@dataclass
class Totals:
    open: int
    finished: int
    errors: int
    ttfc_p50: float | None
    ttfc_p95: float | None
    duration_p50: float | None
    duration_p95: float | None


class TailModel:
    """Thread-safe: the receiver's threads feed it, the renderer reads `snapshot()`."""

    def __init__(
        self,
        *,
        max_finished: int = 200,
        stalled_after: float = STALLED_AFTER,
        forget_after: float = FORGET_AFTER,
        filters: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, OpenStream] = {}
        self._finished: deque[FinishedCall] = deque(maxlen=max_finished)
        self._children: OrderedDict[str, list[str]] = OrderedDict()  # parent span id -> child span names
        self._durations: deque[float] = deque(maxlen=max(max_finished, 1000))
        self._first_chunks: deque[float] = deque(maxlen=max(max_finished, 1000))
        self._finished_count = 0
        self._errors = 0
        self.version = 0  # grows with every change, so a view redraws only when there is something new
        self.stalled_after = stalled_after
        self.forget_after = forget_after
        self._filters = frozenset(filters)

    def _wanted(self, service: str, model: str) -> bool:
        """With filters, only the calls whose service or model is one of them."""
        return not self._filters or service in self._filters or model in self._filters

    # -- feeding

    def on_logs(self, logs: Iterable[ReceivedLog]) -> list[dict[str, Any]]:
        """Update events; returns the events to print (`stream.opened`, `stream.update`)."""
        events = []
        now = time.monotonic()
        for log in logs:
            if log.event_name != attr.UPDATE_EVENT or not log.span_id:
                continue
            a = log.attributes
            service = str(log.resource.get("service.name", ""))
            model = str(a.get(attr.GEN_AI_REQUEST_MODEL, ""))
            if not self._wanted(service, model):
                continue
            elapsed = float(a.get(attr.UPDATE_ELAPSED, 0.0))
            chars = int(a.get(attr.STREAM_CHARS, 0))
            ttfc = a.get(attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            with self._lock:
                if any(c.span_id == log.span_id for c in self._finished):
                    continue  # an update that arrived after its span (rare, through a collector)
                stream = self._open.get(log.span_id)
                opened = stream is None
                if stream is None:
                    stream = self._open[log.span_id] = OpenStream(
                        trace_id=log.trace_id or "",
                        span_id=log.span_id,
                        service=service,
                        name=str(a.get(attr.STREAM_NAME, "")),
                        model=model,
                        elapsed=elapsed,
                        chunks=0,
                        chars=0,
                        preview="",
                        time_to_first_chunk=None,
                        updated_at=now,
                        first_seen_at=now,
                    )
                stream.elapsed = max(stream.elapsed, elapsed)
                stream.chunks = max(stream.chunks, int(a.get(attr.STREAM_CHUNKS, 0)))
                stream.chars = max(stream.chars, chars)
                if attr.STREAM_PREVIEW in a:
                    stream.preview = str(a[attr.STREAM_PREVIEW])
                if ttfc is not None:
                    stream.time_to_first_chunk = float(ttfc)
                stream.updated_at = now
                stream.rate = stream.chars / stream.elapsed if stream.elapsed > 0 else 0.0
                self.version += 1
            events.append(_stream_event("stream.opened" if opened else "stream.update", stream))
        return events

    def on_spans(self, spans: Iterable[ReceivedSpan]) -> list[dict[str, Any]]:
        """Finished spans: LLM calls become finished rows; other spans are remembered as children of theirs."""
        events = []
        now = time.monotonic()
        for span in spans:
            a = span.attributes
            if attr.GEN_AI_OPERATION_NAME not in a:
                if span.parent_span_id:
                    self._add_child(span.parent_span_id, span.name)
                continue
            service = str(span.resource.get("service.name", ""))
            model = str(a.get(attr.GEN_AI_RESPONSE_MODEL) or a.get(attr.GEN_AI_REQUEST_MODEL) or "")
            if not self._wanted(service, str(a.get(attr.GEN_AI_REQUEST_MODEL, model))):
                continue
            call = FinishedCall(
                trace_id=span.trace_id,
                span_id=span.span_id,
                service=service,
                name=span.name,
                model=model,
                duration=max(0, span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
                input_tokens=_int(a.get(attr.GEN_AI_USAGE_INPUT_TOKENS)),
                output_tokens=_int(a.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)),
                end_reason=str(a.get(attr.STREAM_END_REASON, "error" if a.get(attr.ERROR_TYPE) else "")),
                error_type=str(a.get(attr.ERROR_TYPE, "")),
                output=_output_start(a),
                time_to_first_chunk=_float(a.get(attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)),
                received_at=now,
            )
            with self._lock:
                self._open.pop(span.span_id, None)
                call.children = self._children.pop(span.span_id, [])
                self._finished.appendleft(call)
                self._finished_count += 1
                self._errors += bool(call.error_type)
                self._durations.append(call.duration)
                if call.time_to_first_chunk is not None:
                    self._first_chunks.append(call.time_to_first_chunk)
                self.version += 1
            events.append(_call_event(call))
        return events

    def _add_child(self, parent: str, name: str) -> None:
        with self._lock:
            children = self._children.setdefault(parent, [])
            self._children.move_to_end(parent)
            if len(children) < _MAX_CHILDREN:
                children.append(name)
            while len(self._children) > _MAX_PARENTS:
                self._children.popitem(last=False)

    # -- reading

    def snapshot(self, now: float | None = None) -> tuple[list[OpenStream], list[FinishedCall], Totals]:
        """Open streams (newest first), finished calls (newest first) and the totals; drops streams gone stale."""
        now = time.monotonic() if now is None else now
        with self._lock:
            for span_id in [k for k, s in self._open.items() if now - s.updated_at > self.forget_after]:
                del self._open[span_id]
            streams = sorted(self._open.values(), key=lambda s: s.first_seen_at, reverse=True)
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
            )
        return [OpenStream(**vars(s)) for s in streams], finished, totals


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _output_start(attributes: dict[str, Any], limit: int = 200) -> str:
    """The start of the reply: the text parts of the first output message, or the preview, or rollout.output."""
    raw = attributes.get(attr.GEN_AI_OUTPUT_MESSAGES)
    if isinstance(raw, str):
        try:
            message = json.loads(raw)[0]
            text = "".join(p.get("content", "") for p in message.get("parts", []) if p.get("type") == "text")
            if not text:
                calls = [p.get("name", "") for p in message.get("parts", []) if p.get("type") == "tool_call"]
                text = f"[tool call {', '.join(calls)}]" if calls else ""
            return text[:limit]
        except (ValueError, LookupError, AttributeError, TypeError):
            pass
    fallback = attributes.get(attr.STREAM_PREVIEW) or attributes.get(attr.ROLLOUT_OUTPUT) or ""
    return str(fallback)[:limit]


def _stream_event(kind: str, stream: OpenStream) -> dict[str, Any]:
    return {
        "event": kind,
        "trace_id": stream.trace_id,
        "span_id": stream.span_id,
        "service": stream.service,
        "name": stream.name,
        "model": stream.model,
        "elapsed": round(stream.elapsed, 3),
        "chunks": stream.chunks,
        "chars": stream.chars,
        "chars_per_second": round(stream.rate, 1),
        "time_to_first_chunk": stream.time_to_first_chunk,
        "preview": stream.preview,
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
        "error_type": call.error_type or None,
        "time_to_first_chunk": call.time_to_first_chunk,
        "output": call.output,
        "children": call.children,
    }
