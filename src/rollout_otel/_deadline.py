"""Bounded waits: flush and shutdown return within their timeout whatever an exporter does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ._errors import log_internal_error


def run_with_deadline(what: str, func: Callable[[], Any], timeout: float) -> bool:
    """Run `func` on a daemon thread and wait at most `timeout` seconds; True if it finished and returned truthy.

    The SDK's flush and shutdown can block on an export to a collector that does not answer; this keeps
    the caller's wait bounded whatever the exporter does.
    """
    outcome: list[bool] = [False]

    def target() -> None:
        try:
            outcome[0] = bool(func())
        except Exception:
            log_internal_error(what)

    thread = threading.Thread(target=target, name=f"rollout-otel-{what}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no new threads at interpreter shutdown (some Python versions): run it here, unbounded
        target()
        return outcome[0]
    thread.join(max(0.0, timeout))
    return not thread.is_alive() and outcome[0]


class SharedRun:
    """Runs `func` on one daemon thread at a time, so a flush against a collector that never answers leaves one
    blocked thread, not one per call. A caller that finds a run in flight waits for it, then starts its own: the
    run in flight may have passed the data this caller recorded."""

    def __init__(self, what: str, func: Callable[[], Any]) -> None:
        self._what = what
        self._func = func
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._outcome: list[bool] = [False]

    def run(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for a run that starts after this call; True if it finished truthy."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            in_flight = self._thread if self._thread is not None and self._thread.is_alive() else None
        if in_flight is not None:
            in_flight.join(max(0.0, deadline - time.monotonic()))
            if in_flight.is_alive():
                return False  # still stuck: no second thread behind it
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                outcome: list[bool] = [False]

                def target() -> None:
                    try:
                        outcome[0] = bool(self._func())
                    except Exception:
                        log_internal_error(self._what)

                thread = threading.Thread(target=target, name=f"rollout-otel-{self._what}", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no new threads (a pids limit, interpreter shutdown): run it here, unbounded
                    target()
                    return outcome[0]
                self._thread, self._outcome = thread, outcome
            thread, outcome = self._thread, self._outcome
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive() and outcome[0]
