"""The queue between a span's end and the SDK's histograms, so the caller's thread never makes a metric record.

One SDK histogram record costs about 135 Python calls (attribute cleaning, the series key, exemplar look-ups, the
aggregation's lock), and a streamed call makes five. A span's end puts its call in its provider's `CallQueue`
instead (a tuple, a few C calls). One metrics thread per process records every queue half a second after its first
call, and a provider's collection records its queue first (`record_all` from a callback), so what a reader exports
is every call that has ended: a call the thread has taken but not yet recorded is waited for.

Forks: no metrics thread is inside a record when a process forks (the fork waits for the call in progress, so the
child inherits no SDK lock held by a thread it does not have), and a child starts with empty queues (its parent
records its own calls).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ._errors import log_internal_error
from ._ticker import Ticker

# The metrics thread waits this long after a first queued call, to record the calls that follow together.
BATCH_SECONDS: Final = 0.5
# Beyond this many queued calls (the metrics thread cannot start, or falls behind), a call records its own.
MAX_QUEUED: Final = 4096


class CallQueue:
    """Finished calls of one meter provider, waiting for `record` (which makes their SDK measurements)."""

    def __init__(self, record: Callable[[Any], None]) -> None:
        self._record = record
        self._calls: deque[Any] = deque()
        self._scheduled = False  # in `_waiting`, or being recorded by the metrics thread
        self._recording = threading.RLock()  # held while one call is recorded
        _queues.add(self)

    def __len__(self) -> int:
        return len(self._calls)

    def put(self, call: Any) -> bool:
        """Queue `call` for the metrics thread; False when the queue is full (the caller records it itself)."""
        calls = self._calls
        if len(calls) >= MAX_QUEUED:
            return False
        calls.append(call)
        if not self._scheduled:
            self._scheduled = True
            _waiting.add(self)
            if not _thread.wake():  # no thread: a collection records the queue, and the next call tries again
                _waiting.discard(self)
                self._scheduled = False
        return True

    def record_all(self) -> None:
        """Record every queued call now, in the order they ended; one bad call costs only itself. A call another
        thread is recording is waited for, so every call queued before this returns has been recorded."""
        calls = self._calls
        while True:
            with self._recording:
                try:
                    call = calls.popleft()
                except IndexError:
                    return
                try:
                    self._record(call)
                except Exception:
                    log_internal_error("recording metrics")


_queues: weakref.WeakSet[CallQueue] = weakref.WeakSet()
_waiting: set[CallQueue] = set()  # queues with calls for the metrics thread
_due = False  # the metrics thread has waited its batch time since it was woken


def _tick() -> float | None:
    """The metrics thread: woken by a first queued call, it records the waiting queues half a second later."""
    global _due
    if not _due:
        _due = True
        return BATCH_SECONDS
    _due = False
    while _waiting:
        try:
            queue = _waiting.pop()
        except KeyError:
            break
        queue._scheduled = False  # before recording: a call queued meanwhile is recorded now or schedules again
        queue.record_all()
    return None


_held: list[CallQueue] = []


def _before_fork() -> None:
    """Wait for the call being recorded, and keep the metrics thread out of the SDK until the fork is done."""
    _held[:] = list(_queues)
    for queue in _held:
        queue._recording.acquire()


def _after_fork_in_parent() -> None:
    for queue in _held:
        queue._recording.release()
    _held.clear()


def _after_fork_in_child() -> None:
    """The parent records its own calls: a child starts with empty queues and fresh locks."""
    global _due
    _held.clear()
    _waiting.clear()
    _due = False
    for queue in list(_queues):
        queue._calls = deque()
        queue._scheduled = False
        queue._recording = threading.RLock()


if hasattr(os, "register_at_fork"):  # before the thread's own handler: a child's thread starts on empty queues
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)

_thread = Ticker(
    BATCH_SECONDS,
    _tick,
    "rollout-otel-metrics",
    cannot_start="rollout-otel could not start its metrics thread; GenAI metrics are recorded at each collection",
)
