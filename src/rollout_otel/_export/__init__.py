"""Size-aware export in front of the SDK's exporters, and the accounting of everything lost on the way."""

from __future__ import annotations

from ._channel import connect_promptly, new_channel
from ._drops import DropCount
from ._processors import (
    SPAN_EXPORT_DELAY_MS,
    LogExport,
    SpanExport,
    WorkerFlush,
    flush_when_the_child_ends,
    in_worker_process,
)
from ._size import (
    fit_log,
    fit_span,
    log_size,
    logs_bound,
    logs_framing,
    logs_size,
    metrics_size,
    span_size,
    spans_bound,
    spans_framing,
    spans_size,
    split_metrics,
)
from ._split import SizedSend

__all__ = [
    "SPAN_EXPORT_DELAY_MS",
    "DropCount",
    "LogExport",
    "SizedSend",
    "SpanExport",
    "WorkerFlush",
    "connect_promptly",
    "fit_log",
    "fit_span",
    "flush_when_the_child_ends",
    "in_worker_process",
    "log_size",
    "logs_bound",
    "logs_framing",
    "logs_size",
    "metrics_size",
    "new_channel",
    "span_size",
    "spans_bound",
    "spans_framing",
    "spans_size",
    "split_metrics",
]
