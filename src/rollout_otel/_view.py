"""What the streaming processor may touch of an LLM span: its contract with `LLMSpan`, as a Protocol.

The processor and its update thread depend on this, not on `trace.py`, so the two modules do not import each
other; mypy checks that `LLMSpan` keeps to it wherever it hands itself to the processor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace as otel_trace

if TYPE_CHECKING:
    from ._config import Settings
    from ._text import CharCounter, StreamText


class OpenStream(Protocol):
    """An LLM span seen by the processor. Read on the update thread: the counters, text and times the token path
    keeps. Written: the processor's claim (`on_start`), the chunk stamp it asks for (`_seen_ns = 0`), the counts it
    settles at the end, and the chunk-event budget."""

    _stream: bool
    _chunks: int
    _start_ns: int
    _first_chunk_ns: int
    _seen_ns: int
    _text: StreamText | CharCounter
    _span: otel_trace.Span
    _span_tracer: otel_trace.Tracer | None
    _processor: Any  # the StreamingSpanProcessor that claimed it (typed loosely: it imports this module)
    _settings: Settings | None
    _on_chunk: Any
    _updates: int
    _stalls: int
    _max_gap_ns: int
    _event_bytes: int
    _events_dropped: int

    @property
    def is_recording(self) -> bool: ...

    def _identity(self) -> dict[str, Any]: ...

    def _abandon(self) -> None: ...

    def _drop_in_child(self) -> None: ...
