"""What rollout-otel's Bedrock instrumentation costs per stream event, beside the raw boto3 client, OpenInference's
Bedrock instrumentor and the official botocore instrumentation, in one run.

A 2,000-delta reply from `LocalLLMServer` (eventstream framing, over a local socket) is read through
`converse_stream` and through `invoke_model_with_response_stream` (an Anthropic model's body). How the variants
are run and measured: `bench_streams.py`.

Usage: `python benchmarks/bench_bedrock.py [--runs N] [--write benchmarks/RESULTS-bedrock.md]`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import bench_streams
from bench_streams import Consume, drop_spans_provider, measure

CHUNKS = 2000
MESSAGES = [{"role": "user", "content": [{"text": "Tell me about streaming."}]}]
CLAUDE = "anthropic.claude-sonnet-4-6-v1:0"
CLAUDE_BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
)
VARIANTS = ("raw", "rollout", "openinference", "otel-botocore")
OPERATIONS: dict[str, Consume] = {
    "converse_stream": lambda client: sum(
        1 for _ in client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    ),
    "invoke_model_with_response_stream": lambda client: sum(
        1 for _ in client.invoke_model_with_response_stream(modelId=CLAUDE, body=CLAUDE_BODY)["body"]
    ),
}


def worker(variant: str, port: int, runs: int) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    from rollout_otel.serve import SCENARIO_HEADER, scenario_headers

    provider = drop_spans_provider(variant == "rollout")
    if variant == "openinference":  # before the client exists: it patches client creation
        from openinference.instrumentation.bedrock import BedrockInstrumentor

        BedrockInstrumentor().instrument(tracer_provider=provider)
    elif variant == "otel-botocore":
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

        BotocoreInstrumentor().instrument(tracer_provider=provider)

    def new_client() -> Any:
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
        return client

    client, baseline = new_client(), None
    if variant == "rollout":
        from rollout_otel import wrap

        baseline = new_client()
        wrap(client, tracer_provider=provider)
    return measure(client, OPERATIONS, runs, baseline)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_streams.main(
        argv,
        script=__file__,
        title="Bedrock streams: what each instrumentation costs per stream event",
        variants=VARIANTS,
        operations=list(OPERATIONS),
        packages=("boto3", "openinference-instrumentation-bedrock", "opentelemetry-instrumentation-botocore"),
        worker=worker,
    )


if __name__ == "__main__":
    raise SystemExit(main())
