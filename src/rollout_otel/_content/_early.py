"""A large request's content, built on a worker thread while the call runs, so that the span's end (on the
caller's thread, an asyncio loop's included) does not map and cut a long history or a large image itself.

What is built is what the span's end would have built from the same request (`encode` of each input attribute,
done in pieces so that the worker never holds the GIL long), so the span is the same either way. A span that ends
before its content is built is not held up: its end (with the end time taken when the caller ended it) is handed
to the worker, which sets the content and ends the span; `wait_for_ends` lets a flush or a shutdown wait for those.
In a multiprocessing child, which may be stopped as soon as its task returns, the end waits for the content instead.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor

from .. import _attributes as attr
from .._errors import log_internal_error
from . import _turns
from ._encode import Encoder
from ._pieces import encode_in_pieces
from ._turns import pause_on_worker

# A request is large when a walk of what was sent meets this many items, or one string this long.
_LARGE_ITEMS: Final = 256
_LARGE_TEXT: Final = 64 * 1024

_PENDING, _RUNNING, _DONE, _TAKEN = range(4)


def is_large(value: Any) -> bool:
    """Whether building `value`'s content is worth a worker: many items, or a long string; the walk is bounded."""
    queue = [value]
    # A for loop over a list that grows as it goes (no pop: a C call per item), counting the items it visits (no
    # len()), and type() tests, not isinstance(): this runs for every call, so it stays a handful of C calls.
    for visited, item in enumerate(queue):
        if visited >= _LARGE_ITEMS:
            return True
        kind = type(item)
        if kind is str:
            if item[_LARGE_TEXT - 1 : _LARGE_TEXT]:  # at least _LARGE_TEXT characters: a slice of one, no call
                return True
        elif kind is list or kind is tuple:
            queue += item
        elif kind is dict:
            queue += item.values()
        elif item is None or kind is bool or kind is int or kind is float:
            continue
        elif isinstance(item, (list, tuple, dict)):  # subclasses of the containers
            queue.append(list(item.values()) if isinstance(item, dict) else list(item))
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

    def ready(self) -> bool:
        """Whether `take()` would not wait: built, taken back, or made before a fork."""
        return self._state >= _DONE or self._pid != os.getpid()

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
            if self._state == _RUNNING and threading.current_thread() is _worker._thread:
                return None  # inside its own job (a span collected there): waiting would never end
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
                    encoded[name] = encode_in_pieces(value, self._max_bytes, pause_on_worker)
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
    """One daemon thread, started at the first large request; a forked child starts its own when it needs one.

    Besides the requests it builds, it ends the spans handed to it; `pending` counts those not yet ended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ends = threading.Condition(threading.Lock())
        self.pending = 0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def submit(self, job: EarlyRequest) -> None:
        self._put(job.run)

    def _put(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rollout-otel-content", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def end_later(self, end: Callable[[], None]) -> None:
        """Run `end` (which ends a span) after the jobs already queued; counted until it has run."""
        with self._ends:
            self.pending += 1
        try:
            self._put(lambda: self._end(end))
        except BaseException:
            self._ended()
            raise

    def _end(self, end: Callable[[], None]) -> None:
        try:
            end()
        finally:
            self._ended()

    def _ended(self) -> None:
        with self._ends:
            self.pending -= 1
            if not self.pending:
                self._ends.notify_all()

    def wait_for_ends(self, timeout: float) -> bool:
        """Whether every span handed over has ended, waiting up to `timeout` seconds for them."""
        if threading.current_thread() is self._thread:  # a flush from inside a job would wait for itself
            return not self.pending
        with self._ends:
            return self._ends.wait_for(lambda: not self.pending, max(timeout, 0.0))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            _turns.start(threading.get_ident())
            try:
                job()
            except Exception:
                log_internal_error("building a request's content")

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._jobs = queue.SimpleQueue()  # the parent's jobs belong to the parent's spans
        self._thread = None
        self._ends = threading.Condition(threading.Lock())
        self.pending = 0  # the spans handed over are the parent's, ended there
        _turns.turns.worker = None  # the parent's worker thread: none here until this child starts its own


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


# A span's content attributes, built with the given `encode`.
ContentLater = Callable[[Encoder], dict[str, Any]]


def end_later(span: Any, content: ContentLater) -> bool:
    """Hand the end of `span` to the worker: it sets `content` (built there in pieces, after the request's own job)
    and ends the span with the end time taken now. False when the caller is to do it itself: in a multiprocessing child
    (stopped as soon as its task returns, so a span must end before), where no flush or shutdown of the span's
    provider would wait for the worker before exporting (`waited_for`), or when the worker cannot start."""
    if _in_child_process() or not waited_for(span):
        return False
    end_time = time.time_ns()  # the clock the SDK stamps spans with

    def end() -> None:
        try:
            found = content(encode_on_worker)
            if found:
                span.set_attributes(found)
        except Exception:
            log_internal_error("recording the content")
        finally:
            span.end(end_time=end_time)

    try:
        _worker.end_later(end)
    except Exception:
        log_internal_error("handing a span's end to the content worker")
        return False
    return True


def waited_for(span: Any) -> bool:
    """Whether the provider of `span` waits for the worker's ends before it exports: its processors run one after
    the other and the first waits for them (a `StreamingSpanProcessor`), so a flush or a shutdown (the SDK's, at
    exit too) ends the spans handed over before any export is flushed or shut down."""
    processors = getattr(span, "_span_processor", None)
    if type(processors) is not SynchronousMultiSpanProcessor:  # a concurrent one flushes all at once
        return False
    first = next(iter(getattr(processors, "_span_processors", ())), None)
    return getattr(type(first), "waits_for_ends", False) is True


def wait_for_ends(timeout: float) -> bool:
    """Whether the spans handed to the worker have all ended, waiting up to `timeout` seconds (flush, shutdown)."""
    return _worker.wait_for_ends(timeout)


def _in_child_process() -> bool:
    """Whether this is a multiprocessing child: it ends with `os._exit`, which would lose a span still pending."""
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def encode_on_worker(value: Any, max_bytes: int) -> tuple[str, bool]:
    """`encode`, in pieces, pausing for the other threads: for content built on the worker."""
    return encode_in_pieces(value, max_bytes, pause_on_worker)
