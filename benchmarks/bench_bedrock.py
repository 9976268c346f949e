"""What rollout-otel's Bedrock instrumentation costs per ConverseStream event, beside the raw boto3 client.

A 2,000-delta ConverseStream reply from `LocalLLMServer` (eventstream framing, over a local socket) is read with
the raw `bedrock-runtime` client and with a wrapped one, alternately:

1. Extra Python function calls per event (cProfile; the median of the runs, since socket reads vary a little).
2. Extra microseconds per event: the median of paired raw / wrapped streams.

OpenInference's Bedrock instrumentor is not compared yet (it is not among the pinned benchmark packages).

Usage: `python benchmarks/bench_bedrock.py [--runs N] [--write benchmarks/RESULTS-bedrock.md]`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from bench_core import machine_info, package_version
from rollout_otel import StreamingSpanProcessor, wrap
from rollout_otel._config import resolve_settings
from rollout_otel._llm_server import SCENARIO_HEADER, LocalLLMServer, scenario_headers

CHUNKS = 2000
MESSAGES = [{"role": "user", "content": [{"text": "Tell me about streaming."}]}]


class DropSpans(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def client_for(server: LocalLLMServer) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.bedrock_endpoint_url,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}),
    )
    spec = scenario_headers(chunks=CHUNKS)[SCENARIO_HEADER]
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.update({SCENARIO_HEADER: spec})
    )
    return client


def consume(client: Any) -> int:
    return sum(1 for _ in client.converse_stream(modelId="m", messages=MESSAGES)["stream"])


def calls(client: Any) -> tuple[int, int]:
    profile = cProfile.Profile()
    profile.enable()
    events = consume(client)
    profile.disable()
    return int(pstats.Stats(profile).total_calls), events  # type: ignore[attr-defined]


def timed(client: Any) -> float:
    start = time.perf_counter()
    consume(client)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    provider = TracerProvider()
    provider.add_span_processor(StreamingSpanProcessor(resolve_settings()))
    provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    with LocalLLMServer() as server:
        raw, traced = client_for(server), wrap(client_for(server), tracer_provider=provider)
        consume(raw), consume(traced)  # warm both
        raw_calls, traced_calls, deltas = [], [], []
        events = 0
        for _ in range(args.runs):
            (r, events), (t, _) = calls(raw), calls(traced)
            raw_calls.append(r)
            traced_calls.append(t)
            deltas.append(timed(traced) - timed(raw))
    extra_calls = (statistics.median(traced_calls) - statistics.median(raw_calls)) / events
    extra_us = statistics.median(deltas) / events * 1e6
    lines = [
        "# Bedrock ConverseStream: rollout-otel's cost per stream event",
        "",
        f"{events} events per stream ({CHUNKS} text deltas plus bookkeeping), boto3 {package_version('boto3')}.",
        "",
        *machine_info(f"python benchmarks/bench_bedrock.py --runs {args.runs}", time.perf_counter() - started),
        "",
        "| | raw boto3 | rollout-otel wrap() |",
        "|---|---|---|",
        f"| Python calls per stream (median) | {statistics.median(raw_calls):,.0f} | "
        f"{statistics.median(traced_calls):,.0f} |",
        f"| extra calls per event | - | {extra_calls:.2f} |",
        f"| extra µs per event (median of {args.runs} pairs) | - | {extra_us:.2f} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
