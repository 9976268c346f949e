"""The batch processors' queue, counting each item it drops when full: exactly, with any number of threads.

The SDK's queue is a bounded deque that drops its oldest item when one more is added. Checking whether it is full
before adding, from outside, miscounts when threads race: two of them see room for one and add two (a drop not
counted), or the export thread takes a batch between the check and the add (a drop counted that never happened).
Here the check and the add, and each take, hold one lock, so a drop is counted exactly when it happens.
"""

from __future__ import annotations

import collections
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any


class CountingQueue(collections.deque[Any]):
    """A bounded deque that calls `on_drop()` for each item that adding to it pushes out."""

    def __init__(self, maxlen: int, on_drop: Callable[[], None]) -> None:
        super().__init__((), maxlen)
        self._on_drop = on_drop
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # a lock held by another thread at a fork would stay held in the child
            weak_reset = weakref.WeakMethod(self._new_lock)

            def reset_in_child() -> None:
                reset = weak_reset()
                if reset is not None:
                    reset()

            os.register_at_fork(after_in_child=reset_in_child)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def appendleft(self, item: Any) -> None:
        with self._lock:
            full = len(self) == self.maxlen
            super().appendleft(item)
        if full:
            self._on_drop()

    def pop(self) -> Any:  # type: ignore[override]  # a deque's pop takes no index
        with self._lock:
            return super().pop()


def count_queue_drops(processor: Any, on_drop: Callable[[], None]) -> None:
    """Give a batch processor (the SDK's, inside a BatchSpanProcessor or BatchLogRecordProcessor) a counting queue,
    made before anything was queued; where the SDK keeps its queue elsewhere, nothing changes."""
    batch: Any = getattr(processor, "_batch_processor", None)
    queue = getattr(batch, "_queue", None)
    if isinstance(queue, collections.deque) and queue.maxlen is not None and not queue:
        batch._queue = CountingQueue(queue.maxlen, on_drop)
