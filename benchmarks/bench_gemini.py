"""What rollout-otel's Gemini instrumentation costs per stream chunk, beside the raw `google-genai` client and
OpenInference's Google GenAI instrumentor, in one run.

A 2,000-delta reply from `LocalLLMServer` (`:streamGenerateContent?alt=sse`, over a local socket) is read through
`models.generate_content_stream`. How the variants are run and measured: `bench_streams.py`. The official
`opentelemetry-instrumentation-google-genai` is not compared: it needs `opentelemetry-util-genai` 1.3b0, and the
OpenAI benchmark pins 1.1b0.

Usage: `python benchmarks/bench_gemini.py [--runs N] [--write benchmarks/RESULTS-gemini.md]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bench_streams
from bench_streams import Consume, drop_spans_provider, measure

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

    from rollout_otel.serve import scenario_headers

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
    return bench_streams.main(
        argv,
        script=__file__,
        title="Gemini streams: what each instrumentation costs per stream chunk",
        variants=VARIANTS,
        operations=["generate_content_stream"],
        packages=("google-genai", "openinference-instrumentation-google-genai"),
        worker=worker,
    )


if __name__ == "__main__":
    raise SystemExit(main())
