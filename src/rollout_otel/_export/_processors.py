"""The SDK's batch processors with what rollout-otel adds: a full queue counted as a loss, finished spans sent
within a second, and multiprocessing children that export what they traced before they end.

A multiprocessing child ends with `os._exit`: exit handlers (the SDK's, rollout's) never run there, only
multiprocessing's own finalizers, so the export is flushed by one of those. A pool worker is not even given that:
`Pool.terminate()` (what leaving `with Pool(...)` does) stops it with SIGTERM as soon as the results are in, so a
span still queued was lost (0 of 8 with `fork`). In a pool worker each span and event is therefore exported when it
ends, before the task's result can travel back to the parent. Other children (a web server's workers) keep batching.
That export never holds the task long: at most `WORKER_FLUSH_WAIT_S`, and not at all while an earlier one is still
waiting for a collector that does not answer (each traced call of a task took the exporter's 10 s time-out).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Final

from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ._drops import DropCount
from ._queue import count_queue_drops

# Finished spans leave within about a second (the SDK's default waits five), unless OTEL_BSP_SCHEDULE_DELAY says.
SPAN_EXPORT_DELAY_MS: Final = 1000
_SDK_QUEUE_LOGGER: Final = "opentelemetry.sdk._shared_internal"
# How long a pool worker's traced call waits for its export; a collector that answers at all answers far sooner.
WORKER_FLUSH_WAIT_S: Final = 1.0


def span_export_delay_ms() -> float:
    """OTEL_BSP_SCHEDULE_DELAY when set (checked with the settings), else one second."""
    raw = os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "").strip()
    try:
        return float(raw) if raw else SPAN_EXPORT_DELAY_MS
    except ValueError:
        return SPAN_EXPORT_DELAY_MS


def in_worker_process() -> bool:
    """Whether this process is a multiprocessing pool worker (ForkPoolWorker-1, SpawnPoolWorker-1...), whichever
    start method made it: one the pool may stop with SIGTERM at any moment after a task."""
    process = sys.modules.get("multiprocessing.process")  # a pool worker has imported it; others need not
    if process is None:
        return False
    return process.parent_process() is not None and "PoolWorker" in process.current_process().name


def flush_when_the_child_ends(processor: Any) -> None:
    """In a multiprocessing child (made now, or forked later), flush `processor` as the child ends normally."""
    import multiprocessing.util  # with the first export set-up, not at `import rollout_otel`

    def arm(target: Any) -> None:
        multiprocessing.util.Finalize(None, target.force_flush, exitpriority=100)

    if multiprocessing.parent_process() is not None:  # made in the child (spawn, forkserver)
        arm(processor)
    multiprocessing.util.register_after_fork(processor, arm)  # inherited by a child forked later


class WorkerFlush:
    """A pool worker's export of what just ended, waited for at most `WORKER_FLUSH_WAIT_S`. An export already under
    way (a live span's, an update event's) is waited for first, then this one runs: what it did not take is sent too.
    While an export is stuck on a collector that does not answer, later ones stay queued (the next flush, or the
    child's end, sends them) and the task goes on at once."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def __call__(self) -> None:
        deadline = time.monotonic() + WORKER_FLUSH_WAIT_S
        thread = self._thread
        if thread is not None and thread.is_alive():
            if deadline - self._started >= 2 * WORKER_FLUSH_WAIT_S:
                return  # stuck on the collector for a whole wait already: do not wait again
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return
        thread = threading.Thread(target=self._processor.force_flush, name="rollout-otel-worker-flush", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no new threads (a pids limit): export here, as before
            self._processor.force_flush()
            return
        self._thread, self._started = thread, time.monotonic()
        thread.join(max(0.0, deadline - time.monotonic()))


class _QueueFullFilter(logging.Filter):
    """The SDK logs each item a full queue drops; rollout-otel counts them and says so once a minute instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Queue full")


def _quiet_queue_full_lines() -> None:
    target = logging.getLogger(_SDK_QUEUE_LOGGER)
    if not any(isinstance(f, _QueueFullFilter) for f in target.filters):
        target.addFilter(_QueueFullFilter())


class SpanExport(BatchSpanProcessor):
    """A BatchSpanProcessor that counts what a full queue drops, and exports what a multiprocessing child traced
    before it ends (at once, in a pool worker)."""

    def __init__(self, exporter: SpanExporter, drops: DropCount | None) -> None:
        super().__init__(exporter, schedule_delay_millis=span_export_delay_ms())
        self._drops = drops
        if drops is not None:
            count_queue_drops(self, lambda: drops.add("traces", "queue"))
        self._worker_flush = WorkerFlush(self)
        _quiet_queue_full_lines()
        flush_when_the_child_ends(self)

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        super().on_end(span)
        if in_worker_process():
            self._worker_flush()


class LogExport(BatchLogRecordProcessor):
    """A BatchLogRecordProcessor that counts what a full queue drops, and exports what a multiprocessing child
    emitted before it ends (at once, in a pool worker)."""

    def __init__(self, exporter: LogRecordExporter, drops: DropCount | None, schedule_delay_millis: float) -> None:
        super().__init__(exporter, schedule_delay_millis=schedule_delay_millis)
        self._drops = drops
        if drops is not None:
            count_queue_drops(self, lambda: drops.add("logs", "queue"))
        self._worker_flush = WorkerFlush(self)
        _quiet_queue_full_lines()
        flush_when_the_child_ends(self)

    def on_emit(self, log_record: Any) -> None:
        super().on_emit(log_record)
        if in_worker_process():
            self._worker_flush()
