"""The GenAI client metrics, recorded once per LLM call when its span ends; nothing here runs per chunk.

Names, units and bucket boundaries follow the GenAI semantic conventions' client inference metrics:
- `gen_ai.client.inference.duration`, `.time_to_first_chunk`, `.time_per_output_chunk`: histograms in seconds.
- `gen_ai.client.inference.usage.{input,output}_tokens` and the cache-read, cache-write and reasoning subsets:
  counters of tokens (the sum over calls, for rates and cost), with `gen_ai.token.modality`.
- `gen_ai.client.inference.operation.{input,output}_tokens`: histograms of tokens per call (for percentiles).

Time per output chunk is one measurement per stream: its mean time per chunk after the first, from the first
chunk to the end of the stream. Recording every chunk's interval would put a clock read and a histogram update
on the token hot path, which rollout keeps to two calls per chunk.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import metrics as otel_metrics

from . import _attributes as attr
from .version import __version__

DURATION: Final = "gen_ai.client.inference.duration"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"
TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.inference.time_per_output_chunk"
USAGE_INPUT: Final = "gen_ai.client.inference.usage.input_tokens"
USAGE_OUTPUT: Final = "gen_ai.client.inference.usage.output_tokens"
USAGE_CACHE_READ: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
USAGE_REASONING: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"
OPERATION_INPUT: Final = "gen_ai.client.inference.operation.input_tokens"
OPERATION_OUTPUT: Final = "gen_ai.client.inference.operation.output_tokens"

TOKEN_MODALITY: Final = "gen_ai.token.modality"
SECONDS_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)

# The span attributes that metrics carry too: low-cardinality ones only.
METRIC_ATTRIBUTES: Final = frozenset(
    {
        attr.GEN_AI_OPERATION_NAME,
        attr.GEN_AI_PROVIDER_NAME,
        attr.GEN_AI_REQUEST_MODEL,
        attr.GEN_AI_RESPONSE_MODEL,
        "server.address",
        "server.port",
    }
)
# Which usage attribute feeds which counter (the providers report no modality breakdown rollout reads).
_COUNTERS: Final = (
    (attr.GEN_AI_USAGE_INPUT_TOKENS, USAGE_INPUT),
    (attr.GEN_AI_USAGE_OUTPUT_TOKENS, USAGE_OUTPUT),
    (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, USAGE_CACHE_READ),
    (attr.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, USAGE_CACHE_WRITE),
    (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, USAGE_REASONING),
)


class GenAIMetrics:
    """The instruments of one meter provider."""

    def __init__(self, provider: otel_metrics.MeterProvider) -> None:
        meter = provider.get_meter(attr.INSTRUMENTATION_NAME, __version__)

        def seconds(name: str, description: str) -> otel_metrics.Histogram:
            return meter.create_histogram(
                name, unit="s", description=description, explicit_bucket_boundaries_advisory=SECONDS_BUCKETS
            )

        def tokens(name: str, description: str) -> otel_metrics.Histogram:
            return meter.create_histogram(
                name, unit="{token}", description=description, explicit_bucket_boundaries_advisory=TOKEN_BUCKETS
            )

        self.duration = seconds(DURATION, "Duration of a GenAI inference call, to the end of its stream.")
        self.time_to_first_chunk = seconds(TIME_TO_FIRST_CHUNK, "Time from the request to the first chunk.")
        self.time_per_output_chunk = seconds(
            TIME_PER_OUTPUT_CHUNK, "Mean time per output chunk after the first, one measurement per stream."
        )
        self.counters = {
            name: meter.create_counter(metric, unit="{token}", description=f"Tokens counted in {name}.")
            for name, metric in _COUNTERS
        }
        self.operation_input = tokens(OPERATION_INPUT, "Input tokens of one inference call.")
        self.operation_output = tokens(OPERATION_OUTPUT, "Output tokens of one inference call.")

    def record(
        self,
        base: Mapping[str, Any],
        *,
        duration_s: float,
        error_type: str | None,
        end_reason: str | None,
        first_chunk_s: float | None,
        per_chunk_s: float | None,
        usage: Mapping[str, int],
    ) -> None:
        """Record one finished call. `base` holds its METRIC_ATTRIBUTES; `usage` its gen_ai.usage.* counts."""
        common = dict(base)
        if end_reason is not None:
            common[attr.STREAM_END_REASON] = end_reason
        if error_type is not None:
            self.duration.record(duration_s, {**common, attr.ERROR_TYPE: error_type})
        else:
            self.duration.record(duration_s, common)
        if first_chunk_s is not None:
            self.time_to_first_chunk.record(first_chunk_s, common)
        if per_chunk_s is not None:
            self.time_per_output_chunk.record(per_chunk_s, common)
        if not usage:
            return
        with_modality = {**common, TOKEN_MODALITY: "unknown"}
        for name, counter in self.counters.items():
            count = usage.get(name)
            if count:  # adding 0 changes no sum; skipping it saves a measurement (~7 µs in the SDK)
                counter.add(count, with_modality)
        if (count := usage.get(attr.GEN_AI_USAGE_INPUT_TOKENS)) is not None:
            self.operation_input.record(count, common)
        if (count := usage.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)) is not None:
            self.operation_output.record(count, common)


_by_provider: weakref.WeakKeyDictionary[Any, GenAIMetrics] = weakref.WeakKeyDictionary()


def metrics_for(provider: otel_metrics.MeterProvider | None) -> GenAIMetrics:
    """The instruments for `provider` (the global meter provider by default), created once per provider."""
    provider = provider or otel_metrics.get_meter_provider()
    try:
        found = _by_provider.get(provider)
        if found is None:
            found = _by_provider[provider] = GenAIMetrics(provider)
        return found
    except TypeError:  # not weakly referenceable
        return GenAIMetrics(provider)
