"""Benchmarks of the core streaming span API, all in one run.

1. Time per `LLMSpan.record_chunk` against a bare loop and a plain span event per chunk.
2. Extra Python-level calls per chunk, counted with cProfile.
3. Memory of a 100,000-chunk stream, with tracemalloc.
4. What a 10-second, 5,000-chunk real-time stream exports, in OTLP protobuf bytes.

Usage: `python benchmarks/bench_core.py [--quick] [--write benchmarks/RESULTS-core.md]`.
Every provider is created here and shut down here; no OpenTelemetry global is set.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import gzip
import os
import platform
import random
import shlex
import statistics
import string
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from rollout_otel import LLMSpan, StreamingSpanProcessor, trace
from rollout_otel._config import Settings, resolve_settings

# The per-chunk span event that OpenLLMetry records, used as the "plain OpenTelemetry" baseline.
EVENT_NAME = "gen_ai.content.completion.chunk"
EVENT_KEY = "gen_ai.completion.chunk"

SPAN_NAME = "openai.chat"
MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long story about a lighthouse keeper and a robot."},
]
USAGE = {"prompt_tokens": 31, "completion_tokens": 5000}

# Rollout modes and their settings overrides; capture_stream_chunks gets an unlimited span event count.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "capture_content=False": {"capture_content": False},
    "capture_stream_chunks=True": {"capture_stream_chunks": True},
}


# -- inputs ---------------------------------------------------------------------------------------------------

_WORD_CHARS = string.ascii_lowercase * 4 + string.ascii_uppercase + string.digits
_PUNCTUATION = [".", ",", ":", ";", "!", "?", "\n", "\n\n", "`", "(", ")", '"', "-", "**"]
_NON_ASCII = ["é", "ü", "ñ", "ß", "—", "…", "中文", "日本語", "Ω", "→"]
_EMOJI = ["🙂", "🚀", "👍", "🔥", "✅", "🎉", "👍🏽", "🤖"]
_LENGTH_WEIGHTS = [10, 12, 16, 18, 16, 12, 9, 7]  # token-like lengths 1..8


def make_deltas(n: int, *, seed: int, non_ascii: float = 0.0, emoji: float = 0.0) -> list[str]:
    """`n` token-like deltas of 1-8 chars; the given shares of chunks are non-ASCII or emoji."""
    rng = random.Random(seed)
    deltas: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if roll < emoji:
            piece = rng.choice(_EMOJI)
        elif roll < emoji + non_ascii:
            piece = rng.choice(_NON_ASCII)
        elif roll < emoji + non_ascii + 0.08:
            piece = rng.choice(_PUNCTUATION)
        else:
            length = rng.choices(range(1, 9), weights=_LENGTH_WEIGHTS)[0]
            word = "".join(rng.choices(_WORD_CHARS, k=length))
            piece = " " + word[1:] if length > 1 and rng.random() < 0.6 else word
        deltas.append(piece)
    return deltas


def rollout_settings(**overrides: Any) -> Settings:
    """Settings resolved as `Rollout(...)` would, ignoring this shell's environment."""
    return resolve_settings(environ={}, **overrides)


# -- providers ------------------------------------------------------------------------------------------------


class NullSpanExporter(SpanExporter):
    """Accepts spans and keeps nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NullLogExporter(LogRecordExporter):
    """Accepts log records and keeps nothing."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Stack:
    """Fresh SDK tracer and logger providers (never global), with simple processors and local exporters.

    `settings` adds a `StreamingSpanProcessor`; without it this is a plain OpenTelemetry setup. `retain`
    keeps what is exported in memory (for encoding), otherwise it is dropped on export.
    """

    def __init__(self, settings: Settings | None, *, unlimited_events: bool = False, retain: bool = False) -> None:
        self.span_memory = InMemorySpanExporter() if retain else None
        self.log_memory = InMemoryLogRecordExporter() if retain else None  # type: ignore[no-untyped-call]
        span_exporter: SpanExporter = self.span_memory or NullSpanExporter()
        log_exporter: LogRecordExporter = self.log_memory or NullLogExporter()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        limits = SpanLimits(max_events=SpanLimits.UNSET) if unlimited_events else SpanLimits()
        self.tracer_provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
        self.processor: StreamingSpanProcessor | None = None
        if settings is not None:
            self.processor = StreamingSpanProcessor(settings, logger_provider=self.logger_provider)
            self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        self.tracer: Tracer = self.tracer_provider.get_tracer("bench")

    @classmethod
    def for_mode(cls, mode: str, *, retain: bool = False, **overrides: Any) -> Stack:
        """A stack with rollout's processor in one of MODES (chunk events get an unlimited event count)."""
        settings = rollout_settings(**MODES[mode], **overrides)
        return cls(settings, unlimited_events=settings.capture_stream_chunks, retain=retain)

    def llm(self) -> LLMSpan:
        """A streamed LLM span on this stack."""
        return trace.llm(SPAN_NAME, model=MODEL, stream=True, tracer_provider=self.tracer_provider)

    @property
    def chunk_events(self) -> bool:
        """Whether rollout records a span event per chunk on this stack."""
        return self.processor is not None and self.processor.settings.capture_stream_chunks

    def spans(self) -> list[ReadableSpan]:
        """Finished spans (kept only with `retain`)."""
        return list(self.span_memory.get_finished_spans()) if self.span_memory else []

    def logs(self) -> list[ReadableLogRecord]:
        """Emitted log records (kept only with `retain`)."""
        return list(self.log_memory.get_finished_logs()) if self.log_memory else []

    def shutdown(self) -> None:
        """Shut both providers down, which also stops the processor's update thread."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


# -- reporting ------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """One result table: a header row and rows of already formatted cells."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    """One benchmark section: how it was measured, its tables, and one line of interpretation."""

    title: str
    method: str
    tables: list[Table] = field(default_factory=list)
    interpretation: str = ""


def fmt_ns(value: float) -> str:
    """Nanoseconds, one decimal below 100."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def fmt_kib(value: float) -> str:
    """Bytes as KiB."""
    return f"{value / 1024:,.1f}"


def fmt_ratio(value: float) -> str:
    """A ratio such as 41.2x."""
    return f"{value:,.1f}x" if value < 100 else f"{value:,.0f}x"


def render_text(section: Section) -> str:
    """The section as aligned plain-text tables."""
    lines = [f"== {section.title} ==", section.method, ""]
    for table in section.tables:
        if table.caption:
            lines.append(table.caption)
        widths = [max(len(row[i]) for row in [table.headers, *table.rows]) for i in range(len(table.headers))]
        for row in [table.headers, ["-" * w for w in widths], *table.rows]:
            cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
    if section.interpretation:
        lines.append(f"-> {section.interpretation}")
    return "\n".join(lines) + "\n"


def render_markdown(section: Section) -> str:
    """The section as a markdown heading, method note, tables and interpretation."""
    lines = [f"## {section.title}", "", section.method, ""]
    for table in section.tables:
        if table.caption:
            lines += [f"*{table.caption}*", ""]
        lines.append("| " + " | ".join(table.headers) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(table.headers) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        lines.append("")
    if section.interpretation:
        lines += [f"**Interpretation:** {section.interpretation}", ""]
    return "\n".join(lines)


def package_version(name: str) -> str:
    """The installed version of a distribution, or "?"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


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


BARE = "bare loop: `for d in deltas: pass` (baseline a)"
APPEND = "list.append(d) (reference)"
SPAN_EVENT = "OTel span.add_event per chunk (baseline b)"


def rollout_label(mode: str) -> str:
    """The row label of rollout's path in one of MODES."""
    return f"rollout record_chunk, {mode}"


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
        f"The default path adds {default:.0f} calls per chunk (record_chunk itself and StringIO.write, a C "
        f"method); capture_content=False adds {calls.per_chunk[rollout_label('capture_content=False')]:.0f}; "
        f"one span event per chunk adds {calls.per_chunk[SPAN_EVENT]:.0f}."
    )
    return section


# -- 3. memory ------------------------------------------------------------------------------------------------


@dataclass
class MemoryRow:
    """Traced memory growth (bytes) of one stream, relative to just before its span started."""

    label: str
    text: str
    chars: int
    utf8_bytes: int
    str_bytes: int
    peak_stream: int
    held_stream: int
    peak_end: int
    held_end: int
    released: int


class Traced:
    """tracemalloc growth relative to a base taken at construction."""

    def __init__(self) -> None:
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]

    def take(self) -> tuple[int, int]:
        """(current, peak) growth since the base; the peak then restarts from now."""
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        return current - self.base, peak - self.base

    def stop(self) -> int:
        """Growth left after a collection, then stop tracing."""
        gc.collect()
        current = tracemalloc.get_traced_memory()[0] - self.base
        tracemalloc.stop()
        return current


@dataclass
class MemoryInput:
    """One stream to replay: UTF-8 chunks (decoded to a fresh str per chunk) and the text they make."""

    kind: str
    raw: list[bytes]
    text: str

    @classmethod
    def of(cls, kind: str, deltas: list[str]) -> MemoryInput:
        """The input for these deltas."""
        return cls(kind, [delta.encode() for delta in deltas], "".join(deltas))

    def row(self, label: str, sizes: tuple[int, int, int, int, int]) -> MemoryRow:
        """A table row from (peak stream, held stream, peak end, held end, released)."""
        return MemoryRow(label, self.kind, len(self.text), len(self.text.encode()), sys.getsizeof(self.text), *sizes)


def memory_rollout(mode: str, stream: MemoryInput, tick_every: int) -> tuple[int, int, int, int, int]:
    """One rollout stream; the processor's update tick runs inline every `tick_every` chunks (0: never)."""
    stack = Stack.for_mode(mode, stream_update_interval=3600.0)  # its own thread never fires during this
    processor = stack.processor
    assert processor is not None
    warm = stack.llm()  # tracer, update thread and other first-use costs stay out of the measurement
    warm.record_chunk("warm-up")
    warm.end()
    del warm
    traced = Traced()
    llm = stack.llm()
    record = llm.record_chunk
    for index, chunk in enumerate(stream.raw, 1):
        record(chunk.decode())  # a fresh str per chunk, as a client decoding the stream would have
        if tick_every and index % tick_every == 0:
            processor._send_updates()
    held_stream, peak_stream = traced.take()
    llm.end(usage=USAGE, finish_reason="stop")
    held_end, peak_end = traced.take()
    del llm, record
    released = traced.stop()
    stack.shutdown()
    return peak_stream, held_stream, peak_end, held_end, released


def memory_span_events(stream: MemoryInput) -> tuple[int, int, int, int, int]:
    """The span-event baseline: a plain span with one event per chunk."""
    stack = Stack(None, unlimited_events=True)
    traced = Traced()
    span = stack.tracer.start_span(SPAN_NAME)
    add_event = span.add_event
    for chunk in stream.raw:
        add_event(EVENT_NAME, {EVENT_KEY: chunk.decode()})
    held_stream, peak_stream = traced.take()
    span.end()
    held_end, peak_end = traced.take()
    del span, add_event
    released = traced.stop()
    stack.shutdown()
    return peak_stream, held_stream, peak_end, held_end, released


def memory_list(stream: MemoryInput) -> tuple[int, int, int, int, int]:
    """The reference: keep every chunk in a list, join at the end."""
    traced = Traced()
    chunks: list[str] = []
    append = chunks.append
    for chunk in stream.raw:
        append(chunk.decode())
    held_stream, peak_stream = traced.take()
    joined = "".join(chunks)
    held_end, peak_end = traced.take()
    assert joined == stream.text
    del chunks, append, joined
    released = traced.stop()
    return peak_stream, held_stream, peak_end, held_end, released


def bench_memory(n: int, tick_every: int) -> Section:
    """Section 3: memory growth of one long stream for each path, ASCII and emoji text."""
    section = Section(
        "3. Memory of one long stream",
        f"tracemalloc growth (KiB) for one stream of {n:,} chunks, relative to just before the span starts "
        "(tracer and update thread warmed up first). Each chunk is a fresh str decoded from UTF-8 bytes, as "
        "a client parsing the stream would produce. Unless marked 'no tick', the processor's update tick "
        f"(preview + update record) runs inline every {tick_every:,} chunks (a 1 s interval at "
        f"{tick_every:,} chunks/s); 'no tick' is a stream that ends before its first update, or runs with "
        "`stream_preview_chars=0` or without a `StreamingSpanProcessor`. 'final str' = `sys.getsizeof` of "
        "the final text (1 byte/char for ASCII, 4 bytes/char once any emoji is in it); 'held' = still "
        "allocated; 'after end()' still holds the ended span with `rollout.output`; 'released' = after "
        "dropping the span. Exporters drop everything."
        + (
            " On Python < 3.12 StringIO also joins its pending writes at every 100,000th write, so at exactly "
            f"{n:,} chunks the 'no tick' rows hold little at stream end; their peak shows the cost."
            if sys.version_info < (3, 12) and n % 100_000 == 0
            else ""
        ),
    )
    streams = [
        MemoryInput.of("ASCII", make_deltas(n, seed=11)),
        MemoryInput.of("with emoji", make_deltas(n, seed=12, non_ascii=0.02, emoji=0.02)),
    ]
    default, no_tick = rollout_label("default"), rollout_label("default") + ", no tick"
    listed = "list of chunks + join (reference)"
    rows: list[MemoryRow] = []
    for stream in streams:
        rows.append(stream.row(default, memory_rollout("default", stream, tick_every)))
        rows.append(stream.row(no_tick, memory_rollout("default", stream, 0)))
        rows.append(stream.row(listed, memory_list(stream)))
        if stream.kind == "ASCII":
            for mode in ("capture_content=False", "capture_stream_chunks=True"):
                rows.append(stream.row(rollout_label(mode), memory_rollout(mode, stream, tick_every)))
            rows.append(stream.row(SPAN_EVENT, memory_span_events(stream)))
    section.tables.append(
        Table(
            [
                "path",
                "text",
                "chars",
                "UTF-8 KiB",
                "final str KiB",
                "peak during stream",
                "held at stream end",
                "peak during end()",
                "held after end()",
                "released",
                "peak / final str",
            ],
            [
                [
                    r.label,
                    r.text,
                    f"{r.chars:,}",
                    fmt_kib(r.utf8_bytes),
                    fmt_kib(r.str_bytes),
                    fmt_kib(r.peak_stream),
                    fmt_kib(r.held_stream),
                    fmt_kib(r.peak_end),
                    fmt_kib(r.held_end),
                    fmt_kib(r.released),
                    f"{max(r.peak_stream, r.peak_end) / r.str_bytes:.2f}",
                ]
                for r in rows
            ],
        )
    )
    section.interpretation = memory_interpretation(rows, n, default, no_tick, listed)
    return section


def memory_interpretation(rows: list[MemoryRow], n: int, default: str, no_tick: str, listed: str) -> str:
    """One line on what the memory table shows, including how this Python's StringIO behaves."""

    def row_of(label: str, kind: str = "ASCII") -> MemoryRow:
        return next(r for r in rows if r.label == label and r.text == kind)

    def ratio(row: MemoryRow) -> str:
        return f"{max(row.peak_stream, row.peak_end) / row.str_bytes:.1f}x"

    ticked, idle, keep_all = row_of(default), row_of(no_tick), row_of(listed)
    events = row_of(SPAN_EVENT)
    if idle.peak_stream > 3 * idle.str_bytes:  # Python < 3.12: StringIO keeps its writes as separate objects
        line = (
            f"With update ticks the default path peaks at {ratio(ticked)} the final text (the text, one "
            "transient copy for the preview, and the chunks written since the last tick, which Python "
            f"{platform.python_version()}'s io.StringIO keeps as separate objects until a read); without "
            f"ticks it peaks at {ratio(idle)}, like a list of chunks ({ratio(keep_all)}): before 3.12, "
            "StringIO joins its writes only on a read or every 100,000 writes (see README). "
        )
    else:
        line = (
            f"The default path keeps no per-chunk objects: it peaks at {ratio(idle)} the final text without "
            f"ticks and {ratio(ticked)} with them (one transient copy for the preview), versus "
            f"{ratio(keep_all)} for a list of chunks. "
        )
    return line + f"One span event per chunk holds {events.held_stream / n:.0f} B per chunk."


# -- 4. what is exported --------------------------------------------------------------------------------------


@dataclass
class ExportRow:
    """What one path exported for the live stream."""

    label: str
    spans: int
    span_events: int
    updates: int
    span_bytes: int
    log_bytes: int
    gzip_bytes: int


def export_row(label: str, stack: Stack) -> ExportRow:
    """Encode what `stack` exported as OTLP protobuf and measure it."""
    spans = stack.spans()
    logs = stack.logs()
    span_bytes = encode_spans(spans).SerializeToString() if spans else b""
    log_bytes = encode_logs(logs).SerializeToString() if logs else b""
    return ExportRow(
        label,
        spans=len(spans),
        span_events=sum(len(span.events) for span in spans),
        updates=len(logs),
        span_bytes=len(span_bytes),
        log_bytes=len(log_bytes),
        gzip_bytes=len(gzip.compress(span_bytes)) + len(gzip.compress(log_bytes)),
    )


def bench_export(seconds: float, period: float) -> Section:
    """Section 4: one real-time stream fed to three independent providers at once, then encoded."""
    n = round(seconds / period)
    deltas = make_deltas(n, seed=21, non_ascii=0.02, emoji=0.01)
    default = Stack.for_mode("default", retain=True)
    chunk_events = Stack.for_mode("capture_stream_chunks=True", retain=True)
    plain = Stack(None, unlimited_events=True, retain=True)
    try:
        llm_default = default.llm()
        llm_chunks = chunk_events.llm()
        for llm in (llm_default, llm_chunks):
            llm.record_input(MESSAGES)
        span = plain.tracer.start_span(
            SPAN_NAME,
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.request.model": MODEL,
                **{f"gen_ai.prompt.{i}.{key}": value for i, m in enumerate(MESSAGES) for key, value in m.items()},
            },
        )
        record_default, record_chunks, add_event = llm_default.record_chunk, llm_chunks.record_chunk, span.add_event
        start = time.perf_counter()
        for index, delta in enumerate(deltas):
            delay = start + index * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            record_default(delta)
            record_chunks(delta)
            add_event(EVENT_NAME, {EVENT_KEY: delta})
        elapsed = time.perf_counter() - start
        for llm in (llm_default, llm_chunks):
            llm.end(usage=USAGE, finish_reason="stop")
        span.set_attributes(
            {
                "gen_ai.completion.0.content": "".join(deltas),
                "gen_ai.usage.input_tokens": USAGE["prompt_tokens"],
                "gen_ai.usage.output_tokens": USAGE["completion_tokens"],
            }
        )
        span.end()
        rows = [
            export_row(rollout_label("default"), default),
            export_row(rollout_label("capture_stream_chunks=True"), chunk_events),
            export_row("OTel span, one event per chunk + final text (OpenLLMetry-style)", plain),
        ]
    finally:
        for stack in (default, chunk_events, plain):
            stack.shutdown()
    section = Section(
        "4. What a real-time stream exports",
        f"One stream of {n:,} chunks, one every {period * 1000:.0f} ms in real time ({elapsed:.2f} s measured), "
        "fed to three independent providers at once; default update interval (1 s) and preview (4096 chars). "
        "Everything exported is encoded with the OTLP exporters' own encoders (`encode_spans` / `encode_logs`, "
        "`SerializeToString()`); gzip is shown for reference (OTLP exporters send uncompressed by default). "
        "The plain-OTel span records the prompt and the final completion as attributes, as OpenLLMetry does.",
    )
    section.tables.append(
        Table(
            [
                "path",
                "spans",
                "span events",
                "update log records",
                "span KiB",
                "log KiB",
                "total KiB",
                "B/chunk",
                "gzip KiB",
            ],
            [
                [
                    r.label,
                    str(r.spans),
                    f"{r.span_events:,}",
                    str(r.updates),
                    fmt_kib(r.span_bytes),
                    fmt_kib(r.log_bytes),
                    fmt_kib(r.span_bytes + r.log_bytes),
                    f"{(r.span_bytes + r.log_bytes) / n:,.0f}",
                    fmt_kib(r.gzip_bytes),
                ]
                for r in rows
            ],
        )
    )
    base, chunks, events = rows
    base_total = base.span_bytes + base.log_bytes
    section.interpretation = (
        f"The default mode exports 1 span and {base.updates} update records ({fmt_kib(base_total)} KiB, about "
        f"one record per second of streaming whatever the chunk rate); one event per chunk costs "
        f"{(chunks.span_bytes + chunks.log_bytes) / base_total:.1f}x (rollout chunk events) and "
        f"{(events.span_bytes + events.log_bytes) / base_total:.1f}x (OpenLLMetry-style) those bytes."
    )
    return section


# -- main -----------------------------------------------------------------------------------------------------


def targets_section(timing: TimingResult, calls: CallsResult, size: int) -> Section:
    """The targets for the default path, checked against this run's numbers."""
    bare = timing.medians[size, BARE]
    overhead = timing.medians[size, rollout_label("default")] - bare
    ratio = (timing.medians[size, SPAN_EVENT] - bare) / overhead
    extra = calls.per_chunk[rollout_label("default")]
    checks = [
        ("extra calls per chunk <= 3", f"{extra:.2f}", extra <= 3),
        ("overhead per chunk < 1 us", f"{fmt_ns(overhead)} ns", overhead < 1000),
        ("at least 5x cheaper than a span event per chunk", fmt_ratio(ratio), ratio >= 5),
    ]
    section = Section("Targets (default mode)", f"Checked on the {size:,}-chunk streams of sections 1 and 2.")
    section.tables.append(
        Table(["target", "measured", "result"], [[name, value, "PASS" if ok else "FAIL"] for name, value, ok in checks])
    )
    section.interpretation = "All targets met." if all(ok for *_, ok in checks) else "Some targets missed."
    return section


def machine_info(command: str, seconds: float) -> list[str]:
    """Markdown bullet lines: date, command, Python, CPUs and package versions."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Command: `{command}` (total {seconds:.0f} s)",
        f"- Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
        f"- CPUs: {os.cpu_count()}; load average at the end: {load} (a shared, noisy machine)",
        f"- rollout-otel {package_version('rollout-otel')}, opentelemetry-sdk {package_version('opentelemetry-sdk')}, "
        f"protobuf {package_version('protobuf')}",
    ]


def write_markdown(
    path: Path,
    sections: list[Section],
    command: str,
    seconds: float,
    title: str = "rollout-otel core benchmarks",
    script: str = "bench_core.py",
) -> None:
    """Write a results file: its title, machine info, then every section."""
    parts = [
        f"# {title}",
        "",
        f"Generated by `benchmarks/{script}`; see `benchmarks/README.md`.",
        "",
        *machine_info(command, seconds),
        "",
        *(render_markdown(section) for section in sections),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")


class BenchRun:
    """The command line every benchmark script shares (`--quick`, `--write PATH`), and its ending: the tables
    printed, the total time, and the markdown results file written when asked."""

    def __init__(self, doc: str | None, script: str, argv: Sequence[str] | None, quick_help: str) -> None:
        parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--quick", action="store_true", help=quick_help)
        parser.add_argument("--write", type=Path, metavar="PATH", help="also write the results as markdown to PATH")
        arguments = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(arguments)
        self.quick: bool = args.quick
        self.write: Path | None = args.write
        self.script = script
        self.command = shlex.join(["python", sys.argv[0] or f"benchmarks/{script}", *arguments])
        self.started = time.perf_counter()

    def finish(self, sections: list[Section], title: str) -> int:
        for section in sections:
            print(render_text(section), flush=True)
        seconds = time.perf_counter() - self.started
        print(f"total {seconds:.1f} s")
        if self.write:
            write_markdown(self.write, sections, self.command, seconds, title, self.script)
            print(f"wrote {self.write}")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section in one process, print the tables, optionally write the markdown file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and a 2 s live stream (smoke run)")
    parser.add_argument("--write", type=Path, metavar="PATH", help="also write the results as markdown to PATH")
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    command = shlex.join(["python", sys.argv[0] or "benchmarks/bench_core.py", *arguments])
    started = time.perf_counter()

    sizes = [200, 2_000] if args.quick else [2_000, 20_000]
    timing, calls = TimingResult(), CallsResult()
    sections: list[Section] = []

    def run(section: Section) -> None:
        sections.append(section)
        print(render_text(section), flush=True)

    run(bench_time(sizes, rounds=5 if args.quick else 41, timing=timing))
    run(bench_calls(sizes[-1], calls))
    run(bench_memory(10_000 if args.quick else 100_000, tick_every=1_000))
    run(bench_export(seconds=2.0 if args.quick else 10.0, period=0.002))
    run(targets_section(timing, calls, sizes[-1]))
    seconds = time.perf_counter() - started
    print(f"total {seconds:.1f} s")
    if args.write:
        write_markdown(args.write, sections, command, seconds)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
