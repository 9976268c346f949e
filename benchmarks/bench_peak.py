"""Memory: the peak one 20,000-chunk stream adds (chat and Responses), and what 100,000 calls leave behind.

1. A 20,000-chunk reply is read once from `LocalLLMServer` by the raw client and kept as the SDK's objects; then
   replayed from memory, raw (a bare loop) and traced (rollout's stream proxy and accumulator), each from a fresh
   tracemalloc peak. The replayed objects exist in both runs, so 'over raw' is what rollout itself allocates at
   its peak: while the stream runs, and in its last `next()`, where the span ends and the content is built.
   1b. The same reply read by the real `openai` client, raw and traced alternating (`peak_real_client.py`).
2. 100,000 short traced calls (a 5-chunk reply replayed), with RSS, live gc objects and the streams the processor
   still watches at checkpoints: flat means nothing is kept per call.

Set-up as in `bench_floor.py` (content, metrics, update events on; the exporter drops).
Usage: `python benchmarks/bench_peak.py [--calls N] [--pairs N] [--write benchmarks/RESULTS-peak.md]`.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import peak_real_client
from bench_floor import providers

CHUNKS = 20_000


class Replay:
    response = None

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)


def traced_run(endpoint: Any, kwargs: dict[str, Any], items: list[Any], tracer_provider: Any) -> tuple[int, int]:
    """(peak bytes while the stream runs, peak bytes in its last next()), over what existed before it."""
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._stream import TracedStream

    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    span = start_span(endpoint, None, kwargs, tracer_provider, stream=True)
    assert span is not None
    stream = iter(TracedStream(Replay(items), span, endpoint.accumulator(span, kwargs)))
    for _ in range(len(items)):
        next(stream)
    during = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.reset_peak()
    for _ in stream:
        pass
    at_end = tracemalloc.get_traced_memory()[1] - base
    return during, at_end


def raw_run(items: list[Any]) -> int:
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for _ in Replay(items):
        pass
    return tracemalloc.get_traced_memory()[1] - base


def rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=7, help="raw and traced reads of section 1b")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()

    import openai

    from harness import machine_info
    from rollout_otel.instrumentation.openai._endpoints import CHAT, RESPONSES
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    started = time.perf_counter()
    traces, logs, meters, processor = providers()
    messages = [{"role": "user", "content": "Tell me about streaming."}]
    with LocalLLMServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        chat = list(
            client.chat.completions.create(
                model="m",
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=scenario_headers(chunks=CHUNKS),
            )
        )
        responses = list(
            client.responses.create(
                model="m",
                input=messages,  # type: ignore[arg-type]
                stream=True,
                extra_headers=scenario_headers(chunks=CHUNKS),
            )
        )
        short = list(
            client.chat.completions.create(
                model="m",
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                extra_headers=scenario_headers(chunks=5),
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chat if c.choices)
    paths = {
        "chat": (CHAT, {"model": "m", "messages": messages, "stream": True}, chat),
        "responses": (RESPONSES, {"model": "m", "input": messages, "stream": True}, responses),
    }
    rows = []
    tracemalloc.start()
    for name, (endpoint, kwargs, items) in paths.items():
        traced_run(endpoint, kwargs, items, traces)  # warm
        raw = raw_run(items)
        during, at_end = traced_run(endpoint, kwargs, items, traces)
        rows.append((name, raw, during, at_end))
    tracemalloc.stop()
    real_client = peak_real_client.section(traces, CHUNKS, args.pairs)

    from rollout_otel._metrics import metrics_for
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._stream import TracedStream

    kwargs = {"model": "m", "messages": messages, "stream": True}
    checkpoints = {1_000, 10_000, 50_000, args.calls}
    flat = []
    for call in range(1, args.calls + 1):
        span = start_span(CHAT, None, kwargs, traces, stream=True)
        assert span is not None
        for _ in TracedStream(Replay(short), span, CHAT.accumulator(span, kwargs)):
            pass
        if call in checkpoints:
            # the metrics thread idle first: gc.get_objects() can hand it a tuple it is still building
            # (CPython raises SystemError in that thread), so what is queued is recorded here, before
            metrics_for(meters).record_queued()
            gc.collect()
            flat.append((call, rss_kib(), len(gc.get_objects()), len(processor._open)))
    traces.shutdown()
    logs.shutdown()
    meters.shutdown()

    lines = [
        "# Memory: one long stream, and many calls (`bench_peak.py`)",
        "",
        *machine_info(
            f"python benchmarks/bench_peak.py --calls {args.calls} --pairs {args.pairs}", time.perf_counter() - started
        ),
        "",
        f"## 1. Peak of one {CHUNKS:,}-chunk stream, replayed (tracemalloc)",
        "",
        f"Output text: {len(text):,} characters ({len(text.encode()):,} bytes of UTF-8).",
        "",
        "| endpoint | raw peak KiB | traced peak while streaming KiB | traced peak in the last next() KiB |"
        " worst over raw / text |",
        "|:---|---:|---:|---:|---:|",
    ]
    for name, raw, during, at_end in rows:
        worst = max(during, at_end) - raw
        lines.append(
            f"| {name} | {raw / 1024:.1f} | {during / 1024:.1f} | {at_end / 1024:.1f} | "
            f"{worst / len(text.encode()):.2f}x |"
        )
    lines += [
        "",
        *real_client,
        "",
        f"## 2. {args.calls:,} short traced calls",
        "",
        "| calls | max RSS KiB | gc objects | streams still watched |",
        "|---:|---:|---:|---:|",
        *(f"| {c:,} | {r:,} | {o:,} | {w} |" for c, r, o, w in flat),
    ]
    out = "\n".join(lines) + "\n"
    print(out)
    if args.write:
        args.write.write_text(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
