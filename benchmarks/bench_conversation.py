"""Per conversation, on the caller's thread: what a long history (10,000 messages of 1 KB) or a 20 MB image costs
rollout-otel per streamed call, and how long it stalls an asyncio event loop.

The reply (20 chunks) is read once from `LocalLLMServer` by the raw client and replayed from memory through
rollout's stream proxy, so only rollout's work is timed: the span's start (`create`'s share) and the stream's last
`next()` (where the span ends and its content is built). The reply comes at once (the worst case: no time for the
content worker) or with its first chunk 2 s after the request, as a model answering a long conversation does.
Under asyncio, a heartbeat task ticking every 1 ms records the longest gap between its ticks while the traced
stream is read. Set-up as in `bench_floor.py`.

Usage: `python benchmarks/bench_conversation.py [--runs N] [--write benchmarks/RESULTS-conversation.md]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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


def one_call(items: list[Any], messages: list[Any], tracer_provider: Any, wait: float) -> tuple[float, float, bool]:
    """(seconds in the span's start, seconds in the last next(), whether the recorded input kept what was sent)."""
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
    messages.append({"role": "assistant", "content": "appended by the caller after the call"})
    start = time.perf_counter()
    for _ in stream:
        pass
    ended = time.perf_counter() - start
    messages.pop()
    return started, ended, len(messages) == sent


async def loop_stall(items: list[Any], messages: list[Any], tracer_provider: Any, wait: float) -> float:
    """The longest gap (s) between the ticks of a 1 ms heartbeat while one traced stream is read under asyncio."""
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
    await asyncio.sleep(0.01)
    done = True
    await beat
    return longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    import openai

    from harness import machine_info
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    started = time.perf_counter()
    traces, logs, meters, _ = providers()
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
        runs = [one_call(items, messages, traces, wait) for _ in range(args.runs)]
        stalls = [asyncio.run(loop_stall(items, messages, traces, wait)) for _ in range(args.runs)]
        rows.append(
            (
                name,
                wait,
                statistics.median(r[0] for r in runs) * 1e3,
                statistics.median(r[1] for r in runs) * 1e3,
                statistics.median(stalls) * 1e3,
                all(r[2] for r in runs),
            )
        )
    for wait in WAITS:
        stalls = [asyncio.run(loop_stall(items, [], None, wait)) for _ in range(args.runs)]
        rows.append(("untraced (baseline)", wait, 0.0, 0.0, statistics.median(stalls) * 1e3, True))
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
        "the traced stream is read (the heartbeat alone shows ~1-2 ms on this machine).",
        "",
        "| history | first chunk after s | span start ms | last next() ms | asyncio loop stall ms |"
        " caller appends after the call |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for name, wait, start, end, stall, kept in rows:
        lines.append(
            f"| {name} | {wait:g} | {start:.2f} | {end:.1f} | {stall:.1f} | {'not recorded' if kept else 'LEAKED'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
