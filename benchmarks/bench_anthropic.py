"""What rollout-otel's Anthropic instrumentation costs per stream event, beside the raw `anthropic` client and
OpenInference's Anthropic instrumentor, in one run.

A streamed Messages reply (2,000 text deltas plus the message_start / content_block / message_delta /
message_stop bookkeeping events) is captured once from `LocalLLMServer`, then replayed from memory through the
client's own in-process transport (`httpx2.MockTransport`), so no socket noise enters the numbers.

1. Extra Python function calls per event over the raw client (cProfile, deterministic).
2. Overhead in microseconds per event: median of paired raw / instrumented streams, interleaved.

Variants: `messages.create(stream=True)` and the `messages.stream()` helper, each against its own raw baseline.
OpenInference's instrumentor patches the anthropic classes globally, so it runs in a worker process of its own.

Usage: `python benchmarks/bench_anthropic.py [--quick] [--write benchmarks/RESULTS-anthropic.md]`.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from harness import Section, Table, machine_info, package_version, render_markdown, render_text
from rollout_otel import StreamingSpanProcessor, wrap
from rollout_otel._config import resolve_settings
from rollout_otel.serve import LocalLLMServer, scenario_headers

MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]


class DropSpans(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def capture_body(chunks: int) -> bytes:
    """The raw SSE body of one streamed reply from the bundled server."""
    with LocalLLMServer() as server:
        body = json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": MESSAGES, "stream": True})
        request = urllib.request.Request(
            f"{server.anthropic_base_url}/v1/messages",
            data=body.encode(),
            headers={"content-type": "application/json", **scenario_headers(chunks=chunks)},
        )
        with urllib.request.urlopen(request) as response:
            return bytes(response.read())


def replay_client(body: bytes) -> Any:
    import anthropic
    import httpx2

    def handler(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream", "request-id": "req_1"}, content=body)

    return anthropic.Anthropic(
        base_url="http://replay.local",
        api_key="k",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def consume_create(client: Any) -> int:
    events = 0
    for _ in client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES, stream=True):
        events += 1
    return events


def consume_helper(client: Any) -> int:
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES) as stream:
        for _ in stream.text_stream:
            pass
    return 0


def traced(client: Any) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(StreamingSpanProcessor(resolve_settings(environ={}), logger_provider=LoggerProvider()))
    provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    return wrap(client, tracer_provider=provider)


def calls(func: Callable[[], Any]) -> int:
    profiler = cProfile.Profile()
    profiler.enable()
    func()
    profiler.disable()
    return sum(row[1] for row in pstats.Stats(profiler).stats.values())  # type: ignore[attr-defined]


def paired_us(raw: Callable[[], Any], instrumented: Callable[[], Any], pairs: int, events: int) -> float:
    raw(), instrumented()
    diffs = []
    for _ in range(pairs):
        t0 = time.perf_counter_ns()
        raw()
        t1 = time.perf_counter_ns()
        instrumented()
        t2 = time.perf_counter_ns()
        diffs.append(((t2 - t1) - (t1 - t0)) / events / 1000)
    return statistics.median(diffs)


def measure(variant: str, body: bytes, pairs: int) -> dict[str, Any]:
    """One variant's numbers, for both call styles (run in this process, or a worker for OpenInference)."""
    raw = replay_client(body)
    events = consume_create(raw)
    if variant == "rollout":
        inst = traced(replay_client(body))
    else:
        from openinference.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.sdk.trace import TracerProvider as Provider

        provider = Provider()
        provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
        AnthropicInstrumentor().instrument(tracer_provider=provider)
        inst = replay_client(body)
        raw = None  # the instrumentor patched the classes: a raw baseline comes from the parent process
    result: dict[str, Any] = {"events": events}
    for style, consume in (("create", consume_create), ("helper", consume_helper)):
        consume(inst)  # warm
        result[f"{style}_calls"] = calls(lambda c=consume: c(inst))
        result[f"{style}_seconds"] = statistics.median(_timed(lambda c=consume: c(inst)) for _ in range(pairs))
        if raw is not None:
            result[f"{style}_raw_calls"] = calls(lambda c=consume: c(raw))
            result[f"{style}_us"] = paired_us(lambda c=consume: c(raw), lambda c=consume: c(inst), pairs, events)
    return result


def _timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter_ns()
    func()
    return (time.perf_counter_ns() - started) / 1e9


def raw_numbers(body: bytes, pairs: int) -> dict[str, Any]:
    raw = replay_client(body)
    out: dict[str, Any] = {"events": consume_create(raw)}
    for style, consume in (("create", consume_create), ("helper", consume_helper)):
        consume(raw)
        out[f"{style}_calls"] = calls(lambda c=consume: c(raw))
        out[f"{style}_seconds"] = statistics.median(_timed(lambda c=consume: c(raw)) for _ in range(pairs))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 chunks, few pairs")
    parser.add_argument("--write", type=Path, metavar="PATH")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    chunks, pairs = (200, 5) if args.quick else (2_000, 31)
    if args.worker:
        body = Path(args.worker).read_bytes()
        print(json.dumps(measure("openinference", body, pairs)))
        return 0
    command = shlex.join(["python", sys.argv[0] or "benchmarks/bench_anthropic.py", *arguments])
    started = time.perf_counter()
    body = capture_body(chunks)
    body_file = Path("/tmp/rollout-bench-anthropic.sse")
    body_file.write_bytes(body)
    raw = raw_numbers(body, pairs)
    rollout = measure("rollout", body, pairs)
    try:
        worker = subprocess.run(
            [sys.executable, __file__, "--worker", str(body_file), *(["--quick"] if args.quick else [])],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        openinference: dict[str, Any] | str = json.loads(worker.stdout.strip().splitlines()[-1])
    except Exception as exc:  # not installed, or it failed: report why
        openinference = f"{type(exc).__name__}: {getattr(exc, 'stderr', '') or exc}".strip()[-200:]
    events = raw["events"]
    rows = []
    for style, label in (("create", "messages.create(stream=True)"), ("helper", "messages.stream() helper")):
        rows.append(
            [
                f"rollout, {label}",
                f"{(rollout[f'{style}_calls'] - rollout[f'{style}_raw_calls']) / events:.2f}",
                f"{rollout[f'{style}_us']:.2f}",
            ]
        )
        if isinstance(openinference, dict):
            extra_calls = (openinference[f"{style}_calls"] - raw[f"{style}_calls"]) / events
            extra_us = (openinference[f"{style}_seconds"] - raw[f"{style}_seconds"]) / events * 1e6
            rows.append(
                [
                    f"OpenInference {package_version('openinference-instrumentation-anthropic')}, {label}",
                    f"{extra_calls:.2f}",
                    f"{extra_us:.2f}",
                ]
            )
    raw_us = raw["create_seconds"] / events * 1e6
    section = Section(
        "Cost per stream event",
        f"A {chunks:,}-delta reply = {events:,} events, replayed in-process. Calls: cProfile, instrumented minus raw, "
        f"per event. Time: rollout's is the median of {pairs} interleaved raw/instrumented pairs; OpenInference runs "
        "in its own process (it patches globally), so its time is its median stream minus the raw median. The raw "
        f"client itself takes {raw_us:.1f} µs per event ({raw['create_calls'] / events:.1f} calls).",
        [Table(["instrumentation", "extra calls per event", "overhead per event (µs)"], rows)],
    )
    if not isinstance(openinference, dict):
        section.interpretation = f"OpenInference not measured: {openinference}"
    else:
        section.interpretation = (
            f"rollout adds {(rollout['create_calls'] - rollout['create_raw_calls']) / events:.2f} calls per event "
            f"to create(stream=True); OpenInference adds "
            f"{(openinference['create_calls'] - raw['create_calls']) / events:.2f}."
        )
    print(render_text(section))
    seconds = time.perf_counter() - started
    if args.write:
        parts = [
            "# rollout-otel Anthropic benchmark",
            "",
            "Generated by `benchmarks/bench_anthropic.py`.",
            "",
            *machine_info(command, seconds),
            f"- anthropic {package_version('anthropic')}",
            "",
            render_markdown(section),
        ]
        args.write.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
