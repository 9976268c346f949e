"""Per conversation, on the caller's thread: what a long history (10,000 messages of 1 KB) or a 20 MB image costs
rollout-otel per streamed call, and how long it stalls an asyncio event loop.

The reply (20 chunks) is read once from `LocalLLMServer` by the raw client and replayed from memory through
rollout's stream proxy, so only rollout's work is timed: the span's start (`create`'s share) and the stream's last
`next()` (where the span ends and its content is built). The reply comes at once (the worst case: no time for the
content worker) or with its first chunk 2 s after the request, as a model answering a long conversation does.
Under asyncio, a heartbeat task ticking every 1 ms records the longest gap between its ticks while the traced
stream is read, and on until the content worker has ended the span (a reply that comes at once leaves the end to
it). Set-up as in `bench_floor.py`, plus an in-memory exporter: the last column checks, for each call, that the
recorded input is what was sent (the caller appends to its list right after the call).

Usage: `python benchmarks/bench_conversation.py [--runs N] [--write benchmarks/RESULTS-conversation.md]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import itertools
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_floor import providers

WAITS = (0.0, 2.0)  # the reply at once (the worst case), or its first chunk 2 s after the request


def histories() -> dict[str, list[dict[str, Any]]]:
    """The conversations sent: a long one of short messages, and one message holding a 20 MB image."""
    long = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{i:05d} " + "x" * 1018} for i in range(10_000)]
    image = base64.b64encode(b"\x89PNG" + bytes(15 * 1024 * 1024)).decode()  # 20 MB of base64
    picture = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}},
            ],
        }
    ]
    return {"10,000 messages of 1 KB": long, "one 20 MB image": picture, "one short message": long[:1]}


class Replay:
    """The kept reply; `wait` seconds pass before its first item, as the model's time to first chunk."""

    response = None

    def __init__(self, items: list[Any], wait: float) -> None:
        self.items, self.wait = items, wait

    def __iter__(self) -> Iterator[Any]:
        time.sleep(self.wait)
        yield from self.items

    async def __aiter__(self) -> AsyncIterator[Any]:
        await asyncio.sleep(self.wait)
        for item in self.items:
            yield item


APPENDED = "appended by the caller after the call"


def ended(timeout: float) -> bool:
    """Whether the spans handed to the content worker have ended (always, before the worker could end spans)."""
    try:
        from rollout_otel._content._early import wait_for_ends
    except ImportError:  # an earlier rollout-otel, measured for the "before" column: every span ends at once
        return True
    return wait_for_ends(timeout)


def recorded_as_sent(exporter: Any, messages: list[Any]) -> bool:
    """Whether the last span's input is what was sent: the last message sent there, the one appended after not."""
    assert ended(60)
    span = exporter.get_finished_spans()[-1]
    exporter.clear()
    recorded = str((span.attributes or {}).get("gen_ai.input.messages", ""))
    last = str(messages[-1]["content"] if isinstance(messages[-1]["content"], str) else "What is in this picture?")
    return APPENDED not in recorded and last[:200] in recorded


def one_call(items: list[Any], messages: list[Any], tracer_provider: Any, wait: float) -> tuple[float, float]:
    """(seconds in the span's start, seconds in the last next())."""
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._stream import TracedStream
    from rollout_otel.instrumentation.openai._endpoints import CHAT

    kwargs = {"model": "gpt-4o-mini", "messages": messages, "stream": True}
    sent = len(messages)
    start = time.perf_counter()
    span = start_span(CHAT, None, kwargs, tracer_provider, stream=True)
    started = time.perf_counter() - start
    assert span is not None
    stream = iter(TracedStream(Replay(items, wait), span, CHAT.accumulator(span, kwargs)))
    for _ in range(len(items)):
        next(stream)
    messages.append({"role": "assistant", "content": APPENDED})
    start = time.perf_counter()
    for _ in stream:
        pass
    ended = time.perf_counter() - start
    messages.pop()
    assert len(messages) == sent
    return started, ended


class GcPauses:
    """The longest garbage collection (s) while it is installed, on any thread: a full one holds the GIL."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


async def loop_stall(items: list[Any], messages: list[Any], tracer_provider: Any, wait: float) -> tuple[float, float]:
    """(the longest gap (s) between the ticks of a 1 ms heartbeat while one traced stream is read under asyncio, the
    longest garbage collection (s) meanwhile)."""
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._stream import TracedAsyncStream
    from rollout_otel.instrumentation.openai._endpoints import CHAT

    longest = 0.0
    done = False

    async def heartbeat() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    pauses = GcPauses()
    pauses.__enter__()
    longest = 0.0
    if tracer_provider is None:  # the untraced baseline: what the machine's load alone does to the heartbeat
        async for _ in Replay(items, wait):
            await asyncio.sleep(0)
    else:
        kwargs = {"model": "gpt-4o-mini", "messages": messages, "stream": True}
        span = start_span(CHAT, None, kwargs, tracer_provider, stream=True)
        assert span is not None
        async for _ in TracedAsyncStream(Replay(items, wait), span, CHAT.accumulator(span, kwargs)):
            await asyncio.sleep(0)
            messages.append({"role": "assistant", "content": APPENDED})  # after the call, as the caller does
        del messages[-len(items) :]
    for _ in range(3000):  # on while the content worker ends the span: its work is the loop's stall too
        if ended(0):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)
    done = True
    await beat
    pauses.__exit__()
    return longest, pauses.longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    import openai
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from harness import machine_info
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    started = time.perf_counter()
    traces, logs, meters, _ = providers()
    exporter = InMemorySpanExporter()
    traces.add_span_processor(SimpleSpanProcessor(exporter))
    with LocalLLMServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        items = list(
            client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers=scenario_headers(chunks=20),
            )
        )
    rows = []
    for (name, messages), wait in itertools.product(histories().items(), WAITS):
        one_call(items, messages, traces, wait)  # warm
        kept = recorded_as_sent(exporter, messages)
        runs, stalls = [], []
        for _ in range(args.runs):
            runs.append(one_call(items, messages, traces, wait))
            kept = recorded_as_sent(exporter, messages) and kept
        for _ in range(args.runs):
            stalls.append(asyncio.run(loop_stall(items, messages, traces, wait)))
            kept = recorded_as_sent(exporter, messages) and kept
        rows.append(
            (
                name,
                wait,
                statistics.median(r[0] for r in runs) * 1e3,
                statistics.median(r[1] for r in runs) * 1e3,
                statistics.median(s[0] for s in stalls) * 1e3,
                min(s[0] for s in stalls) * 1e3,
                statistics.median(s[1] for s in stalls) * 1e3,
                kept,
            )
        )
    for wait in WAITS:
        stalls = [asyncio.run(loop_stall(items, [], None, wait)) for _ in range(args.runs)]
        rows.append(
            (
                "untraced (baseline)",
                wait,
                0.0,
                0.0,
                statistics.median(s[0] for s in stalls) * 1e3,
                min(s[0] for s in stalls) * 1e3,
                statistics.median(s[1] for s in stalls) * 1e3,
                True,
            )
        )
    traces.shutdown()
    logs.shutdown()
    meters.shutdown()
    lines = [
        "# Per conversation, on the caller's thread (`bench_conversation.py`)",
        "",
        *machine_info(f"python benchmarks/bench_conversation.py --runs {args.runs}", time.perf_counter() - started),
        "",
        f"Medians of {args.runs} calls. A 20-chunk chat reply replayed from memory through rollout's stream proxy;",
        "content, metrics and update events on. 'loop stall' is the longest gap of a 1 ms asyncio heartbeat while",
        "the traced stream is read and until the span has ended (on the content worker, for a reply that comes at",
        "once), median and best run (the machine's load only adds to it); 'untraced' is the heartbeat alone.",
        "'longest gc' is the longest garbage collection meanwhile, median (a full one holds the GIL throughout).",
        "'as sent' checks each call's recorded input against what was sent.",
        "",
        "| history | first chunk after s | span start ms | last next() ms | asyncio loop stall ms | best run |"
        " longest gc ms | recorded input |",
        "|:---|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for name, wait, start, end, stall, best, collection, kept in rows:
        lines.append(
            f"| {name} | {wait:g} | {start:.2f} | {end:.1f} | {stall:.1f} | {best:.1f} | {collection:.1f} |"
            f" {'as sent' if kept else 'NOT AS SENT'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
