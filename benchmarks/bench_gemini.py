"""What rollout-otel's Gemini instrumentation costs per stream chunk, beside the raw `google-genai` client and
OpenInference's Google GenAI instrumentor, in one run.

A 2,000-delta reply from `LocalLLMServer` (`:streamGenerateContent?alt=sse`, over a local socket) is read through
`models.generate_content_stream`. How the variants are run and measured: `bench_streams.py`. The official
`opentelemetry-instrumentation-google-genai` is not compared: it needs `opentelemetry-util-genai` 1.3b0, and the
OpenAI benchmark pins 1.1b0.

Usage: `python benchmarks/bench_gemini.py [--runs N] [--write benchmarks/RESULTS-gemini.md]`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_streams import Consume, drop_spans_provider, measure, run_workers, tables

CHUNKS = 2000
VARIANTS = ("raw", "rollout", "openinference")


def _operations(headers: dict[str, str]) -> dict[str, Consume]:
    config = {"http_options": {"headers": headers}}
    return {
        "generate_content_stream": lambda client: sum(
            1 for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi", config=config)
        )
    }


def worker(variant: str, port: int, runs: int) -> dict[str, Any]:
    from google import genai
    from google.genai import types

    from rollout_otel._llm_server import scenario_headers

    provider = drop_spans_provider(variant == "rollout")
    if variant == "openinference":
        from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

        GoogleGenAIInstrumentor().instrument(tracer_provider=provider)
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{port}", retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key="k", http_options=options)
    baseline = None
    if variant == "rollout":
        from rollout_otel import wrap

        baseline = genai.Client(api_key="k", http_options=options)
        wrap(client, tracer_provider=provider)
    return measure(client, _operations(scenario_headers(chunks=CHUNKS)), runs, baseline)


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
    with LocalLLMServer() as server:
        results = run_workers(__file__, VARIANTS, server.port, args.runs)
    lines = [
        "# Gemini streams: what each instrumentation costs per stream chunk",
        "",
        *machine_info(f"python benchmarks/bench_gemini.py --runs {args.runs}", time.perf_counter() - started),
        f"- google-genai {package_version('google-genai')}, openinference-instrumentation-google-genai "
        f"{package_version('openinference-instrumentation-google-genai')}",
        "",
        *tables(results, ["generate_content_stream"]),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
