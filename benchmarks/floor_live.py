"""`bench_floor.py`'s live-like replay: a reply handed to the tracer as a live stream hands it over.

A live stream's SDK has just built the chunk it yields, so the tracer reads it from the CPU's cache; a replay of
thousands of kept objects does not (`live_like`). `Marked` times the chunk loop alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

LIVE_SET = 16  # distinct text chunks the live-like replay cycles through
EDGE = 8  # items kept as they came at each end: the start and end events, the first text and the usage


def live_like(items: list[Any]) -> list[Any]:
    """The reply as a live stream hands it over to the tracer, for timing: each chunk in the CPU's cache.

    A live stream's SDK has just built the chunk it yields, in memory the previous chunks just freed, so what a
    tracer reads of it is in cache. A replay of 2,000 kept chunks is not: the bare loop touches only each item's
    header, the traced one every object it reads (a Gemini chunk is four objects and their dicts deep), and on this
    machine's shared cores such reads cost from 0.3 to over 2 µs a chunk depending on what else the process and
    its neighbours did meanwhile. Here the first and last `EDGE` items are the reply's own, and the text chunks
    between cycle through `LIVE_SET` of them, so the working set stays as small as a live stream's.
    """
    head, middle, tail = items[:EDGE], items[EDGE:-EDGE], items[-EDGE:]
    return [*head, *(middle[i % LIVE_SET] for i in range(len(middle))), *tail]


class Marked:
    """Items to replay that note when the first is asked for and when the last has been read."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.marks: list[float] = []

    def __iter__(self) -> Iterator[Any]:
        self.marks.append(time.perf_counter())
        yield from self.items
        self.marks.append(time.perf_counter())
