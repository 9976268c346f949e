"""One daemon thread that calls a function when woken and then when it asks to be called again, idle otherwise."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable

from ._errors import log_internal_error, logger


class Ticker:
    """Calls `tick()` at once when woken, then again after the seconds it returns; it idles when it returns None.

    `tick()` decides what is due (updates, stalls, live spans), so one thread serves every open stream whatever
    their phases. A `tick()` that raises is called again after `interval`. The thread starts on first use, is
    restarted after a fork, and idles on a lock (no polling) when there is nothing to do.

    The wake-up is a lock held while the thread may sleep: `wake()` releases it, one C call (an `Event` would cost
    a dozen Python calls, on every stream's start), and the thread's `acquire` returns at once or when it is due.
    """

    def __init__(
        self,
        interval: float,
        tick: Callable[[], float | None],
        name: str,
        cannot_start: str = "rollout-otel could not start its update thread; streams get no update events",
    ) -> None:
        self._interval = interval
        self._tick = tick
        self._name = name
        self._cannot_start = cannot_start  # the warning when the thread cannot start: what goes without it
        self._lock = threading.Lock()
        self._wake = _held_lock()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._busy = False
        self._start_failed = False
        if hasattr(os, "register_at_fork"):
            weak_self = weakref.ref(self)

            def _forget_thread_in_child() -> None:
                ticker = weak_self()
                if ticker is not None:
                    ticker._lock = threading.Lock()
                    ticker._wake = _held_lock()
                    ticker._thread = None
                    if ticker._busy:
                        ticker.wake()

            os.register_at_fork(after_in_child=_forget_thread_in_child)

    def wake(self) -> bool:
        """There is work: make sure the thread runs and ticks now. False when it is stopped or cannot start."""
        if self._stopped:
            return False
        self._busy = True
        if self._thread is None:
            with self._lock:  # streams opening at once on several threads: one update thread, not one each
                if self._thread is None and not self._start():
                    return False
        try:  # noqa: SIM105  # contextlib.suppress would cost two Python calls on every stream's start
            self._wake.release()
        except RuntimeError:  # woken already, and not yet run
            pass
        return True

    def _start(self) -> bool:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # a pids limit, or interpreter shutdown: nothing ticks now, another try next wake
            if not self._start_failed:
                logger.warning(self._cannot_start)
            self._start_failed = True
            return False
        self._thread = thread
        self._start_failed = False
        return True

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop ticking; waits at most `timeout` seconds for a tick in progress."""
        self._stopped = True
        with contextlib.suppress(RuntimeError):  # woken already
            self._wake.release()
        thread = self._thread
        if thread is not None and thread.ident is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        delay: float | None = None
        while not self._stopped:
            if delay is None:
                self._wake.acquire()
            else:
                self._wake.acquire(timeout=delay)
            if self._stopped:
                break
            try:
                delay = self._tick()
            except Exception:
                log_internal_error("periodic stream updates")
                delay = self._interval
            if delay is None:
                self._busy = False
            else:
                delay = max(delay, 0.0)


def _held_lock() -> threading.Lock:
    """A lock taken at once: the thread's next `acquire` waits until a `release` (a wake-up) or its timeout."""
    lock = threading.Lock()
    lock.acquire()
    return lock
