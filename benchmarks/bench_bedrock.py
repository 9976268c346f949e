"""What rollout-otel's Bedrock instrumentation costs per stream event, beside the raw boto3 client, OpenInference's
Bedrock instrumentor and the official botocore instrumentation, in one run.

A 2,000-delta reply from `LocalLLMServer` (eventstream framing, over a local socket) is read through
`converse_stream` and through `invoke_model_with_response_stream` (an Anthropic model's body). Each variant patches
botocore globally, so each runs in a worker process of its own; workers take turns, twice each.

1. Python function calls per stream (cProfile, median of the runs), and the extra calls per event over raw.
2. Wall time per stream (median), and the extra microseconds per event over raw (across processes: noisier).

Usage: `python benchmarks/bench_bedrock.py [--runs N] [--write benchmarks/RESULTS-bedrock.md]`.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CHUNKS = 2000
MESSAGES = [{"role": "user", "content": [{"text": "Tell me about streaming."}]}]
CLAUDE = "anthropic.claude-sonnet-4-6-v1:0"
CLAUDE_BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
)
VARIANTS = ("raw", "rollout", "openinference", "otel-botocore")
OPERATIONS: dict[str, Callable[[Any], int]] = {
    "converse_stream": lambda client: sum(
        1 for _ in client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    ),
    "invoke_model_with_response_stream": lambda client: sum(
        1 for _ in client.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"]
    ),
}


def _tracer_provider(rollout: bool) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class DropSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    if rollout:
        from rollout_otel import StreamingSpanProcessor
        from rollout_otel._config import resolve_settings

        provider.add_span_processor(StreamingSpanProcessor(resolve_settings()))
    provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    return provider


def _instrument(variant: str) -> Any:
    """Instrument before the client exists (OpenInference patches client creation); returns the provider."""
    provider = _tracer_provider(variant == "rollout")
    if variant == "openinference":
        from openinference.instrumentation.bedrock import BedrockInstrumentor

        BedrockInstrumentor().instrument(tracer_provider=provider)
    elif variant == "otel-botocore":
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        BotocoreInstrumentor().instrument(tracer_provider=provider)
    return provider


def worker(variant: str, port: int, runs: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    from rollout_otel._llm_server import SCENARIO_HEADER, scenario_headers

    provider = _instrument(variant)
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}),
    )
    spec = scenario_headers(chunks=CHUNKS)[SCENARIO_HEADER]
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.update({SCENARIO_HEADER: spec})
    )
    if variant == "rollout":
        from rollout_otel import wrap

        wrap(client, tracer_provider=provider)
    found: dict[str, Any] = {}
    for name, consume in OPERATIONS.items():
        consume(client)  # warm
        calls, seconds, events = [], [], 0
        for _ in range(runs):
            profile = cProfile.Profile()
            profile.enable()
            events = consume(client)
            profile.disable()
            calls.append(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]
            start = time.perf_counter()
            consume(client)
            seconds.append(time.perf_counter() - start)
        found[name] = {"calls": statistics.median(calls), "seconds": statistics.median(seconds), "events": events}
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.port, args.runs)))
        return 0

    from bench_core import machine_info, package_version
    from rollout_otel._llm_server import LocalLLMServer

    started = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    with LocalLLMServer() as server:
        for _ in range(2):
            for variant in VARIANTS:
                command = [sys.executable, __file__, "--worker", variant, "--port", str(server.port)]
                out = subprocess.run([*command, "--runs", str(args.runs)], capture_output=True, text=True, check=True)
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    lines = [
        "# Bedrock streams: what each instrumentation costs per stream event",
        "",
        *machine_info(f"python benchmarks/bench_bedrock.py --runs {args.runs}", time.perf_counter() - started),
        f"- boto3 {package_version('boto3')}, openinference-instrumentation-bedrock "
        f"{package_version('openinference-instrumentation-bedrock')}, opentelemetry-instrumentation-botocore "
        f"{package_version('opentelemetry-instrumentation-botocore')}",
        "",
    ]
    for operation in OPERATIONS:

        def median(variant: str, key: str, operation: str = operation) -> float:
            return statistics.median(run[operation][key] for run in results[variant])

        events = results["raw"][0][operation]["events"]
        lines += [
            f"## `{operation}` ({events} events per stream)",
            "",
            "| variant | calls per stream | extra calls per event | ms per stream | extra µs per event |",
            "|---|---|---|---|---|",
        ]
        for variant in VARIANTS:
            calls, seconds = median(variant, "calls"), median(variant, "seconds")
            extra_calls = (calls - median("raw", "calls")) / events
            extra_us = (seconds - median("raw", "seconds")) / events * 1e6
            extra = ("-", "-") if variant == "raw" else (f"{extra_calls:.2f}", f"{extra_us:.1f}")
            lines.append(f"| {variant} | {calls:,.0f} | {extra[0]} | {seconds * 1000:.1f} | {extra[1]} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
