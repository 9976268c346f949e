"""`bench_peak.py` section 1b: the peak of one long stream read by the real `openai` client, raw and traced.

The reply is captured once from `LocalLLMServer`, then served in process to a real `openai.OpenAI` client
(`openai_replay.py`), so the SDK parses every event as it would over a socket and the caller keeps none of them:
what a done event repeats can only be shared if rollout refers to the SDK's own str. Raw and traced runs
alternate, and each traced peak is compared with the mean of the raw peaks just before and after it: raw peaks
alone vary by a few KiB from run to run, so a traced run compared with one raw run would be charged for that
noise. Each run starts with CPython's type-attribute cache emptied (see below). The table also
gives the traced run's live allocations made by rollout and OpenTelemetry at the raw peak's moment (the last
event's parse), attributed by traceback: the part of the growth that is rollout's own.

Part of the growth is CPython's type-attribute cache, neither the SDK's nor rollout's: `re.finditer` (the SSE decoder
calls it once per network read) looks up its scanner's `search` with a new 6-character name each time, and the
interpreter's method cache (4,096 slots, keyed by the name's address) keeps each such name alive until another
lookup lands in its slot. How many survive depends on where the allocator puts them: a program that holds small
strings while a stream runs (a tracer keeping the deltas does) pushes each new name to a new address and slot, so
up to ~300 more survive a 20,000-chunk stream (~16 KiB). Rollout's text buffer copies the deltas' characters and
holds none of them, so its runs leave about as many as raw ones. `sys._clear_type_cache()` frees them all. The
table's second growth column empties that cache, in raw and traced runs alike, once the text is done and before
the SDK parses the reply's last events (where both peaks are), so it shows the growth without that residue.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai_replay as replay

_OURS = ("rollout_otel", "opentelemetry", "threading.py")
_SDK = ("openai/", "pydantic", "httpx", "httpcore", "/json/")


def _text_done(event: Any) -> bool:
    """The event after which a stream carries no more text: Responses' text done, chat's finishing chunk."""
    if getattr(event, "type", None) == "response.output_text.done":
        return True
    choices = getattr(event, "choices", None)
    return choices is not None and len(choices) > 0 and choices[0].finish_reason is not None


def _read(
    client: Any, endpoint: str, at_last: Callable[[], None] | None = None, empty_type_cache: bool = False
) -> None:
    """One streamed call read to the end, as an application printing the deltas would."""
    stream = client.responses.create(**replay.REQUESTS[endpoint]) if endpoint == "responses" else None
    if stream is None:
        stream = client.chat.completions.create(**replay.REQUESTS[endpoint])
    for event in stream:
        if at_last is not None and getattr(event, "type", None) == "response.output_item.done":
            at_last()
        if empty_type_cache and _text_done(event):
            sys._clear_type_cache()
        del event


def _peak(client: Any, endpoint: str, empty_type_cache: bool = False) -> int:
    gc.collect()
    sys._clear_type_cache()  # each run starts from the same empty cache
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        _read(client, endpoint, empty_type_cache=empty_type_cache)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _growth(raw: Any, traced: Any, endpoint: str, pairs: int, empty_type_cache: bool) -> tuple[list[int], list[float]]:
    """Raw and traced peaks alternating, raw first and last: each traced peak minus the raw ones around it."""
    raw_peaks, traced_peaks = [_peak(raw, endpoint, empty_type_cache)], []
    for _ in range(pairs):
        traced_peaks.append(_peak(traced, endpoint, empty_type_cache))
        raw_peaks.append(_peak(raw, endpoint, empty_type_cache))
    return raw_peaks, [peak - (raw_peaks[i] + raw_peaks[i + 1]) / 2 for i, peak in enumerate(traced_peaks)]


def _ours_live(client: Any, endpoint: str) -> int:
    """Bytes live at the last done event whose innermost known frame is rollout's or OpenTelemetry's."""
    found: list[int] = []

    def measure() -> None:
        gc.collect()
        total = 0
        for trace in tracemalloc.take_snapshot().traces:
            for frame in reversed(trace.traceback):  # most recent first
                if any(name in frame.filename for name in _OURS):
                    total += trace.size
                    break
                if any(name in frame.filename for name in _SDK):
                    break
        found.append(total)

    gc.collect()
    tracemalloc.start(40)
    try:
        _read(client, endpoint, measure if endpoint == "responses" else None)
    finally:
        tracemalloc.stop()
    return found[-1] if found else 0


def measure(tracer_provider: Any, chunks: int, pairs: int) -> tuple[int, list[str]]:
    """Rows of the section's table (and the reply's characters): raw and traced read `pairs` times each."""
    from rollout_otel import wrap

    with tempfile.TemporaryDirectory() as directory:
        chars = replay.capture_replies([chunks], Path(directory))
        frames = replay.load_replay(Path(directory), chunks)
    raw = replay.make_client(frames)
    traced = wrap(replay.make_client(frames), tracer_provider=tracer_provider)
    rows = []
    for endpoint in ("chat", "responses"):
        for client in (raw, traced, raw, traced):  # warm both
            _read(client, endpoint)
        raw_peaks, growth = _growth(raw, traced, endpoint, pairs, empty_type_cache=False)
        _, emptied = _growth(raw, traced, endpoint, pairs, empty_type_cache=True)
        ours = _ours_live(traced, endpoint) if endpoint == "responses" else None
        median, spread = statistics.median(growth), max(raw_peaks) - min(raw_peaks)
        rows.append(
            f"| {endpoint} | {statistics.median(raw_peaks) / 1024:.1f} | {spread / 1024:.1f} | "
            f"{min(growth) / 1024:+.1f} | "
            f"{median / 1024:+.1f} | {max(growth) / 1024:+.1f} | {median / chars[endpoint][chunks]:.2f}x | "
            f"{statistics.median(emptied) / 1024:+.1f} ({min(emptied) / 1024:+.1f} to {max(emptied) / 1024:+.1f}) | "
            + (f"{ours / 1024:.1f} |" if ours is not None else "- |")
        )
    return chars["chat"][chunks], rows


def section(tracer_provider: Any, chunks: int, pairs: int) -> list[str]:
    chars, rows = measure(tracer_provider, chunks, pairs)
    return [
        f"## 1b. Peak of one {chunks:,}-chunk stream, read by the real client (tracemalloc, {pairs} traced runs)",
        "",
        f"The real `openai` client parses every event from the captured reply ({chars:,} characters of text); the",
        "caller keeps none. Growth = a traced peak - the mean of the raw peaks just before and after it. 'rollout's",
        "own' = live bytes allocated by rollout and OpenTelemetry at Responses' last done event, just before the",
        "raw client's peak (parsing `response.completed`): the part of the growth that is not the SDK's noise. The",
        "raw peaks' spread is that noise between raw runs alone. CPython's type-attribute cache keeps names that",
        "`re.finditer` makes for the SDK's SSE decoder, one per network read; a tracer holding the deltas would leave",
        "more of them (~16 KiB, as rollout did when its buffer held them) by moving each new name to a new cache",
        "slot. The next column empties that cache (`sys._clear_type_cache()`) in raw and traced runs alike, once the",
        "text is done and before the last events are parsed: the growth without any such interpreter residue",
        "(median, min to max; `peak_real_client.py` says more).",
        "",
        "| endpoint | raw peak KiB (median) | raw peaks' spread KiB | growth min KiB | growth median KiB |"
        " growth max KiB | median / text | growth, type cache emptied, KiB | rollout's own KiB |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
