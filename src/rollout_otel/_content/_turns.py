"""The content worker's turns with the other threads: after each millisecond of work it gives the GIL away for a
moment, so that a thread waiting for it (an asyncio loop above all) runs on time instead of waiting for the
interpreter's switch interval. Mapping a history and encoding it both call `pause()`; anywhere but on the worker
it does nothing, so the same mapping code runs at full speed on a caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

# After this much work, the worker gives the GIL away for this long: an event loop waiting for it runs on time.
WORK_S: Final = 0.001
NAP_S: Final = 0.0002
# Mapping checks the clock once per this many messages: one message maps in microseconds.
EVERY: Final = 16

_get_ident = threading.get_ident
_now = time.perf_counter
_sleep = time.sleep

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Turns:
    """Which thread is the worker, and since when it has worked without a pause."""

    __slots__ = ("since", "worker")

    def __init__(self) -> None:
        self.worker: int | None = None
        self.since = 0.0


turns = _Turns()


def start(worker: int) -> None:
    """On the worker, before each job: the clock of its work starts now."""
    turns.worker = worker
    turns.since = _now()


def pause() -> None:
    """Between two steps of work: on the worker, after `WORK_S` of it, let the other threads take the GIL."""
    if _get_ident() == turns.worker and _now() - turns.since >= WORK_S:
        _nap()


def pause_on_worker() -> None:
    """`pause()` for code that runs only on the worker (its encoder): no need to ask which thread this is."""
    if _now() - turns.since >= WORK_S:
        _nap()


def _nap() -> None:
    _sleep(NAP_S)
    turns.since = _now()


def each(values: Iterable[Item], one: Callable[[Item], Result | None]) -> list[Result]:
    """`one` of each value, None left out, pausing every `EVERY` values: a history's messages, mapped."""
    found: list[Result] = []
    count = 0
    for value in values:
        result = one(value)
        if result is not None:
            found.append(result)
        count += 1
        if count == EVERY:
            count = 0
            pause()
    return found
