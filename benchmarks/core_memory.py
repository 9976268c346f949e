"""Core benchmark 3: memory of one long stream, with tracemalloc, during it and after it."""

from __future__ import annotations

import gc
import platform
import sys
import tracemalloc
from dataclasses import dataclass

from core_stack import EVENT_KEY, EVENT_NAME, SPAN_EVENT, SPAN_NAME, USAGE, Stack, make_deltas, rollout_label
from harness import Section, Table, fmt_kib

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
