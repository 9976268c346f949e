"""A large request's content, built on a worker thread while the call runs, so that the span's end (on the
caller's thread, an asyncio loop's included) does not map and cut a long history or a large image itself.

What is built is what the span's end would have built from the same request (`encode` of each input attribute),
so the span is the same either way. A job the worker has not started when the span ends is taken back and built
there, as before; one it is building is waited for.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

from .. import _attributes as attr
from .._errors import log_internal_error
from ._encode import encode

# A request is large when a walk of what was sent meets this many items, or one string this long.
_LARGE_ITEMS: Final = 256
_LARGE_TEXT: Final = 64 * 1024

_PENDING, _RUNNING, _DONE, _TAKEN = range(4)


def is_large(value: Any) -> bool:
    """Whether building `value`'s content is worth a worker: many items, or a long string; the walk is bounded."""
    stack = [value]
    seen = 0
    while stack:  # type() tests, not isinstance(): this runs for every call, so it stays a handful of C calls
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if len(item) >= _LARGE_TEXT:
                return True
        elif kind is list or kind is tuple:
            seen += len(item)
            stack += item
        elif kind is dict:
            seen += len(item)
            stack += item.values()
        elif item is None or kind is bool or kind is int or kind is float:
            continue
        elif isinstance(item, (list, tuple, dict)):  # subclasses of the containers
            stack.append(list(item.values()) if isinstance(item, dict) else list(item))
        if seen >= _LARGE_ITEMS:
            return True
    return False


class EarlyRequest:
    """A request whose input attributes the worker builds ahead; `take()` at the span's end returns them."""

    __slots__ = ("_done", "_lock", "_max_bytes", "_pid", "_request", "_result", "_state")

    def __init__(self, request: Callable[[], Any], max_bytes: int) -> None:
        self._request = request
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._state = _PENDING
        self._result: tuple[Any, dict[str, tuple[str, bool]]] | None = None
        self._pid = os.getpid()

    def __call__(self) -> Any:
        """The request itself, as the callable it stands for (built here when the worker did not)."""
        found = self.take()
        return found[0] if found is not None else self._request()

    def take(self, max_bytes: int | None = None) -> tuple[Any, dict[str, tuple[str, bool]]] | None:
        """(the request, its input attributes encoded within `max_bytes`), or None when the caller is to build
        them after all."""
        if self._pid != os.getpid():
            return None  # made before a fork: the worker that builds it (and may hold its lock) stayed in the parent
        with self._lock:
            if self._state == _PENDING:
                self._state = _TAKEN
                self._done.set()  # nothing will be built: any later take() returns None at once
                return None
        self._done.wait()
        if self._result is not None and max_bytes is not None and max_bytes != self._max_bytes:
            return self._result[0], {}
        return self._result

    def run(self) -> None:
        """On the worker: build, unless the span's end took the job back first."""
        with self._lock:
            if self._state != _PENDING:
                return
            self._state = _RUNNING
        try:
            request = self._request()
            encoded: dict[str, tuple[str, bool]] = {}
            for name, value in input_values(request):
                if value is None or (type(value) in (list, tuple, dict, str) and not value):
                    continue
                try:
                    encoded[name] = encode(value, self._max_bytes)
                except Exception:
                    log_internal_error(f"recording {name}")
            self._result = (request, encoded)
        except Exception:
            self._result = None  # the span's end tries again and logs what fails
        finally:
            self._state = _DONE
            self._done.set()


def input_values(request: Any) -> list[tuple[str, Any]]:
    """The input attributes of a request, by name."""
    return [
        (attr.GEN_AI_INPUT_MESSAGES, request.messages),
        (attr.GEN_AI_SYSTEM_INSTRUCTIONS, request.system),
        (attr.GEN_AI_TOOL_DEFINITIONS, request.tools),
        (attr.ROLLOUT_INPUT, request.rest),
    ]


class _Worker:
    """One daemon thread, started at the first large request; a forked child starts its own when it needs one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[EarlyRequest] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def submit(self, job: EarlyRequest) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rollout-otel-content", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.run()
            except Exception:
                log_internal_error("building a request's content")

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._jobs = queue.SimpleQueue()  # the parent's jobs belong to the parent's spans
        self._thread = None


_worker = _Worker()


def early(request: Callable[[], Any], max_bytes: int) -> EarlyRequest | None:
    """Start building `request`'s content on the worker; None if the worker cannot start (build it at the end)."""
    job = EarlyRequest(request, max_bytes)
    try:
        _worker.submit(job)
    except Exception:
        log_internal_error("starting the content worker")
        return None
    return job
