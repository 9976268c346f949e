"""Core benchmark 2: extra Python-level calls per chunk, counted with cProfile (deterministic)."""

from __future__ import annotations

import cProfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_stack import EVENT_KEY, EVENT_NAME, MODES, SPAN_EVENT, SPAN_NAME, Stack, make_deltas, rollout_label
from harness import Section, Table

# -- 2. calls per chunk ---------------------------------------------------------------------------------------


def _feed(record: Callable[[str], None], deltas: Sequence[str]) -> None:
    """The profiled loop: one `record_chunk` call per delta."""
    for delta in deltas:
        record(delta)


def _feed_events(add_event: Callable[[str, dict[str, str]], None], deltas: Sequence[str]) -> None:
    """The profiled loop of the span-event baseline."""
    for delta in deltas:
        add_event(EVENT_NAME, {EVENT_KEY: delta})


def _feed_nothing(deltas: Sequence[str]) -> None:
    """The profiled bare loop, whose calls are subtracted."""
    for _delta in deltas:
        pass


def profile_calls(func: Callable[..., None], *args: Any) -> dict[str, int]:
    """Call counts per function (Python and C) of one call of `func(*args)` under cProfile."""
    profiler = cProfile.Profile()
    profiler.runcall(func, *args)
    counts: dict[str, int] = {}
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):  # a C function, such as "<method 'write' of '_io.StringIO' objects>"
            label = code
        else:
            label = f"{Path(code.co_filename).name}:{code.co_firstlineno}({code.co_qualname})"
        counts[label] = counts.get(label, 0) + entry.callcount
    return counts


@dataclass
class CallsResult:
    """Extra calls per chunk of each path."""

    per_chunk: dict[str, float] = field(default_factory=dict)


def bench_calls(n: int, calls: CallsResult) -> Section:
    """Section 2: deterministic count of extra calls per chunk, and what they are."""
    section = Section(
        "2. Function calls per chunk",
        f"cProfile (which counts Python and C calls) over one loop of {n:,} chunks; extra calls per chunk = "
        "(total calls - total calls of the same loop doing `pass`) / chunks. Only functions called at "
        "least once per two chunks are listed in the breakdowns.",
    )
    deltas = make_deltas(n, seed=7, non_ascii=0.02, emoji=0.01)
    bare_total = sum(profile_calls(_feed_nothing, deltas).values())
    summary: list[list[str]] = []
    breakdowns: list[Table] = []
    plain = Stack(None, unlimited_events=True)
    stacks = {mode: Stack.for_mode(mode) for mode in MODES}
    try:
        profiles: dict[str, dict[str, int]] = {}
        for mode, stack in stacks.items():
            llm = stack.llm()
            llm.record_chunk("warm-up")
            profiles[rollout_label(mode)] = profile_calls(_feed, llm.record_chunk, deltas)
            llm.end()
        span = plain.tracer.start_span(SPAN_NAME)
        span.add_event(EVENT_NAME, {EVENT_KEY: "warm-up"})
        profiles[SPAN_EVENT] = profile_calls(_feed_events, span.add_event, deltas)
        span.end()
    finally:
        for stack in [*stacks.values(), plain]:
            stack.shutdown()
    for label, counts in profiles.items():
        extra = (sum(counts.values()) - bare_total) / n
        calls.per_chunk[label] = extra
        summary.append([label, f"{extra:.2f}"])
        per_chunk = sorted(
            ((name, count) for name, count in counts.items() if count >= n / 2 and "_feed" not in name),
            key=lambda item: (-item[1], item[0]),
        )
        breakdowns.append(
            Table(
                ["function", "calls per chunk"],
                [[f"`{name}`", f"{count / n:.2f}"] for name, count in per_chunk],
                caption=f"breakdown: {label}",
            )
        )
    section.tables.append(Table(["path", "extra calls per chunk"], summary))
    section.tables += breakdowns
    default = calls.per_chunk[rollout_label("default")]
    section.interpretation = (
        f"The default path adds {default:.0f} calls per chunk (record_chunk itself and the text buffer's "
        f"write, the C method array.fromunicode); "
        f"capture_content=False adds {calls.per_chunk[rollout_label('capture_content=False')]:.0f}; "
        f"one span event per chunk adds {calls.per_chunk[SPAN_EVENT]:.0f}."
    )
    return section
