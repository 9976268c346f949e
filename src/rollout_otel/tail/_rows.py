"""The rows `rollout-otel tail` shows: an open stream, a finished call, the totals (plain data, cleaned already)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OpenStream:
    """A stream still running, as its records describe it."""

    trace_id: str
    span_id: str
    service: str
    name: str
    model: str
    provider: str
    elapsed: float  # the stream's own clock at its last record
    chunks: int
    chars: int
    preview: str | None  # None: the sender does not capture content
    time_to_first_chunk: float | None
    updated_at: float  # when the last record arrived (monotonic)
    first_seen_at: float
    updates: int = 0
    rate: float = 0.0  # characters per second over the last RATE_WINDOW seconds
    stall_gap: float | None = None  # set by a stall record, cleared by the next update
    attributes: dict[str, Any] = field(default_factory=dict)
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=32), repr=False)

    def stalled(self, now: float, after: float) -> bool:
        """A stall record said so, or a stream that was sending went quiet for `after` seconds."""
        return self.stall_gap is not None or (self.updates > 0 and now - self.updated_at > after)

    def state(self, now: float, stalled_after: float) -> str:
        if self.stalled(now, stalled_after):
            return "STALLED"
        return "streaming" if self.updates or self.chunks else "waiting"

    def elapsed_at(self, now: float) -> float:
        """Elapsed time, ticking between records."""
        return self.elapsed + max(0.0, now - self.updated_at)

    def quiet_for(self, now: float) -> float:
        """Seconds without a chunk: the stall record's gap, ticking, or the time since the last update."""
        return (self.stall_gap or 0.0) + max(0.0, now - self.updated_at)


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
    finish_reasons: str = ""
    prompt: str = ""
    tool_calls: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
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
    bad_records: int = 0
