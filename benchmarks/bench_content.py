"""What building content in the GenAI conventions' shape costs, per call, against exporting the span itself.

A 50-message chat conversation with tool calls, tool results and three tool definitions, answered by a streamed
reply with a tool call: the input, tool definitions and output messages are mapped and JSON-encoded once, when the
span ends. Measured:

1. Per call: `content_attributes(...)` for that conversation (the whole mapping and encoding), against the
   OpenTelemetry SDK's own cost of exporting the finished span: its encoding alone (`encode_spans` and
   `SerializeToString`, the part a batch shares by no one), and the OTLP/HTTP exporter's `export([span])` to a
   receiver on 127.0.0.1 (encoding plus the request). Median of interleaved rounds.
2. Per chunk: cProfile call counts of `record_chunk` on a 20,000-chunk stream with content capture on; building
   content happens at the end, so the per-chunk count must stay at 2.

Usage: `python benchmarks/bench_content.py [--quick] [--write benchmarks/RESULTS-content.md]`.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from harness import BenchRun, Section, Table
from rollout_otel import StreamingSpanProcessor
from rollout_otel._config import resolve_settings
from rollout_otel._content import Request, content_attributes, openai
from rollout_otel.instrumentation._outcome import Choice, ToolCall, output_messages
from rollout_otel.trace import llm

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Look up the {name.split('_')[1]} for a place.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["location"],
            },
        },
    }
    for name in ("get_weather", "get_time", "get_news")
]


def conversation(messages: int = 50) -> list[dict[str, Any]]:
    """A system prompt, then user / assistant-with-tool-call / tool / assistant turns, `messages` in all."""
    history: list[dict[str, Any]] = [{"role": "system", "content": "You are a helpful travel assistant. " * 8}]
    turn = 0
    while len(history) < messages:
        call_id = f"call_{turn:04d}"
        history += [
            {"role": "user", "content": f"Turn {turn}: what is the weather like in city number {turn}? " * 3},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": json.dumps({"location": f"City {turn}"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"temp": 20 + turn % 10, "sky": "clear"})},
            {"role": "assistant", "content": f"In city {turn} it is {20 + turn % 10} degrees and clear. " * 4},
        ]
        turn += 1
    return history[:messages]


def reply() -> tuple[dict[int, Choice], str]:
    text = "Here is the forecast you asked for, city by city. " * 20
    choice = Choice(0, finish_reason="tool_calls")
    choice.tool_calls[0] = ToolCall("call_final", "get_weather", ['{"location":', '"Paris"}'])
    return {0: choice}, text


def build_content(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Exactly what an instrumented chat call does once, at its end."""
    choices, text = reply()
    request = Request(messages=openai.chat_messages(history), tools=openai.tool_definitions(TOOLS))
    return content_attributes(request, output_messages(choices, text), 750_000)


def finished_span(history: list[dict[str, Any]]) -> ReadableSpan:
    """The span an instrumented call ends with, content included."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(StreamingSpanProcessor(resolve_settings(environ={})))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with llm("openai.chat.completions", model="gpt-4o-mini", stream=True, tracer_provider=provider) as span:
        for word in reply()[1].split(" "):
            span.record_chunk(word + " ")
        span.otel_span.set_attributes(build_content(history))
        span.end(usage={"input_tokens": 4000, "output_tokens": 200})
    (finished,) = exporter.get_finished_spans()
    return finished


class _Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP receiver that accepts every request: the far end of the SDK's export."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def per_call_ns(func: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        func()
    return (time.perf_counter_ns() - started) / calls


def bench_time(rounds: int, calls: int) -> tuple[Section, dict[str, float]]:
    history = conversation()
    span = finished_span(history)
    receiver = _Receiver()
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces")
    cases: dict[str, Callable[[], object]] = {
        "content: map and encode the conversation": lambda: build_content(history),
        "SDK: encode the span (encode_spans + SerializeToString)": lambda: encode_spans([span]).SerializeToString(),
        "SDK: export the span (OTLP/HTTP exporter to 127.0.0.1)": lambda: exporter.export([span]),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, func in cases.items():
            samples[name].append(per_call_ns(func, calls))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    exporter.shutdown()
    receiver.shutdown()
    sizes = {name: len(value.encode()) for name, value in build_content(history).items() if isinstance(value, str)}
    rows = [[name, f"{medians[name] / 1000:,.1f}"] for name in cases]
    size_rows = [[name, f"{size:,}"] for name, size in sizes.items()]
    section = Section(
        "Time per call",
        f"A {len(history)}-message conversation with {len(TOOLS)} tool definitions and a streamed reply with a "
        f"tool call; median of {rounds} interleaved rounds of {calls} calls (µs per call).",
        [Table(["step", "µs per call"], rows), Table(["attribute", "bytes"], size_rows, "attribute sizes")],
    )
    return section, medians


def record_chunk_calls(chunks: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(StreamingSpanProcessor(resolve_settings(environ={}, metrics=False)))
    history = conversation()

    def run(n: int) -> int:
        profile = cProfile.Profile()
        profile.enable()
        with llm("openai.chat.completions", stream=True, tracer_provider=provider) as span:
            span.record_input({"messages": history, "tools": TOOLS})
            for _ in range(n):
                span.record_chunk("tok ")
        profile.disable()
        return sum(stat[1] for stat in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]

    return (run(chunks) - run(0)) / chunks


def main(argv: Sequence[str] | None = None) -> int:
    run = BenchRun(__doc__, "bench_content.py", argv, "fewer rounds (smoke run)")
    timing, medians = bench_time(rounds=5 if run.quick else 21, calls=20 if run.quick else 200)
    build, encoding, export = medians.values()
    timing.interpretation = (
        f"Building the content of this call costs {build / 1000:,.0f} µs once, when its span ends, and nothing per "
        f"chunk: {build / export:.2f}x what the OpenTelemetry SDK takes to export that span ({export / 1000:,.0f} µs), "
        f"and {build / encoding:.2f}x its encoding step alone ({encoding / 1000:,.0f} µs), the share of the export "
        "a batch of spans does not amortise."
    )
    chunks = 2_000 if run.quick else 20_000
    per_chunk = record_chunk_calls(chunks)
    calls = Section(
        "Calls per chunk",
        f"cProfile call counts of a {chunks:,}-chunk stream with content capture on and a 50-message input, minus a "
        "0-chunk one, divided by the chunks (deterministic).",
        [Table(["stream", "calls per chunk"], [["record_chunk, content on", f"{per_chunk:.2f}"]])],
        "The input is kept as a reference when recorded and mapped at the end: the token path is unchanged.",
    )
    sections = [timing, calls]
    return run.finish(sections, "rollout-otel content benchmark")


if __name__ == "__main__":
    sys.exit(main())
