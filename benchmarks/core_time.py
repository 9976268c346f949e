"""Core benchmark 1: time per `record_chunk` against a bare loop and a plain span event per chunk."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind

from core_stack import (
    APPEND,
    BARE,
    EVENT_KEY,
    EVENT_NAME,
    MODES,
    SPAN_EVENT,
    SPAN_NAME,
    USAGE,
    Stack,
    make_deltas,
    rollout_label,
)
from harness import Section, Table, fmt_ns, fmt_ratio

# -- 1. time per chunk ----------------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], int]
"""Feeds one stream of deltas and returns the nanoseconds spent in the chunk loop alone."""


def bare_runner() -> Runner:
    """Baseline (a): `for d in deltas: pass`, so the overhead below is the whole cost of instrumenting."""

    def run(deltas: Sequence[str]) -> int:
        start = time.perf_counter_ns()
        for _delta in deltas:
            pass
        return time.perf_counter_ns() - start

    return run


def append_runner() -> Runner:
    """Reference: append each delta to a list (the cheapest way to keep a stream)."""

    def run(deltas: Sequence[str]) -> int:
        chunks: list[str] = []
        append = chunks.append
        start = time.perf_counter_ns()
        for delta in deltas:
            append(delta)
        return time.perf_counter_ns() - start

    return run


def rollout_runner(stack: Stack) -> Runner:
    """`record_chunk` per delta on a fresh streamed LLM span; span start and end are not timed."""

    def run(deltas: Sequence[str]) -> int:
        llm = stack.llm()
        record = llm.record_chunk
        start = time.perf_counter_ns()
        for delta in deltas:
            record(delta)
        elapsed = time.perf_counter_ns() - start
        llm.end(usage=USAGE, finish_reason="stop")
        return elapsed

    return run


def span_event_runner(stack: Stack) -> Runner:
    """Baseline (b): one span event per delta on a plain span, as OpenLLMetry records chunks."""

    def run(deltas: Sequence[str]) -> int:
        span = stack.tracer.start_span(SPAN_NAME, kind=SpanKind.CLIENT)
        add_event = span.add_event
        start = time.perf_counter_ns()
        for delta in deltas:
            add_event(EVENT_NAME, {EVENT_KEY: delta})
        elapsed = time.perf_counter_ns() - start
        span.end()
        return elapsed

    return run


@dataclass
class TimingCase:
    """One path to time; cheap paths run `repeat` times per round to get more samples for the same time."""

    label: str
    run: Runner
    repeat: int = 1
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median ns per chunk."""
        return statistics.median(self.samples)

    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles of ns per chunk."""
        q1, _, q3 = statistics.quantiles(self.samples, n=4)
        return q1, q3


def time_cases(cases: list[TimingCase], deltas: Sequence[str], rounds: int, seed: int) -> None:
    """Round-robin over the cases in shuffled order, so machine noise spreads over all of them."""
    rng = random.Random(seed)
    order = list(cases)
    for round_index in range(rounds + 1):  # round 0 warms up and is discarded
        rng.shuffle(order)
        gc.collect()
        for case in order:
            for _ in range(case.repeat):
                elapsed = case.run(deltas)
                if round_index:
                    case.samples.append(elapsed / len(deltas))


@dataclass
class TimingResult:
    """Median ns per chunk of each path, per stream length."""

    medians: dict[tuple[int, str], float] = field(default_factory=dict)


def bench_time(sizes: Sequence[int], rounds: int, timing: TimingResult) -> Section:
    """Section 1: nanoseconds per chunk for each path, same deltas, same run."""
    section = Section(
        "1. Time per chunk",
        "Median of per-stream wall time (`time.perf_counter_ns` around the chunk loop only) divided by the "
        f"number of chunks; {rounds} rounds, paths interleaved in shuffled order (paths under 1 us/chunk run 5 "
        "streams per round), GC enabled as in production. "
        "Deltas: token-like strings of 1-8 chars, 2% non-ASCII and 1% emoji chunks. Rollout runs on an SDK "
        "TracerProvider with `StreamingSpanProcessor(resolve_settings(...))` (update interval 1 s, its thread "
        "live) + SimpleSpanProcessor, and an SDK LoggerProvider; exporters drop everything. The span-event "
        "baseline and `capture_stream_chunks=True` use `SpanLimits(max_events=UNSET)` so no event is dropped. "
        "Overhead = path - bare loop; 'span event / this' = span-event overhead / this path's overhead.",
    )
    stacks = {mode: Stack.for_mode(mode) for mode in MODES}
    plain = Stack(None, unlimited_events=True)
    try:
        for size in sizes:
            deltas = make_deltas(size, seed=size, non_ascii=0.02, emoji=0.01)
            cheap = 5
            cases = [
                TimingCase(BARE, bare_runner(), cheap),
                TimingCase(APPEND, append_runner(), cheap),
                *(
                    TimingCase(rollout_label(mode), rollout_runner(stack), 1 if stack.chunk_events else cheap)
                    for mode, stack in stacks.items()
                ),
                TimingCase(SPAN_EVENT, span_event_runner(plain)),
            ]
            time_cases(cases, deltas, rounds, seed=size)
            by_label = {case.label: case for case in cases}
            bare = by_label[BARE].median
            event_overhead = by_label[SPAN_EVENT].median - bare
            rows = []
            for case in cases:
                q1, q3 = case.quartiles()
                overhead = case.median - bare
                timing.medians[size, case.label] = case.median
                ratio = fmt_ratio(event_overhead / overhead) if case.label != BARE and overhead > 0 else "-"
                rows.append(
                    [
                        case.label,
                        fmt_ns(case.median),
                        f"{fmt_ns(q1)}-{fmt_ns(q3)}",
                        fmt_ns(overhead) if case.label != BARE else "-",
                        ratio,
                        str(len(case.samples)),
                    ]
                )
            section.tables.append(
                Table(
                    ["path", "median ns/chunk", "IQR ns/chunk", "overhead ns/chunk", "span event / this", "samples"],
                    rows,
                    caption=f"{size:,} chunks per stream",
                )
            )
    finally:
        for stack in [*stacks.values(), plain]:
            stack.shutdown()
    size = max(sizes)
    bare = timing.medians[size, BARE]
    default = timing.medians[size, rollout_label("default")] - bare
    event = timing.medians[size, SPAN_EVENT] - bare
    chunks_mode = timing.medians[size, rollout_label("capture_stream_chunks=True")] - bare
    section.interpretation = (
        f"At {size:,} chunks the default `record_chunk` adds {fmt_ns(default)} ns per chunk, "
        f"{event / default:,.0f}x less than one span event per chunk ({fmt_ns(event)} ns); "
        f"`capture_stream_chunks=True` adds {fmt_ns(chunks_mode)} ns ({chunks_mode / event:.1f}x a plain span "
        "event), since it records one span event per chunk."
    )
    return section
