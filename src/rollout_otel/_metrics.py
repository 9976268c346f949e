"""The GenAI client metrics, recorded once per LLM call when its span ends; nothing here runs per chunk.

Names come from `opentelemetry-semantic-conventions` and match what the official OpenTelemetry GenAI
instrumentation (opentelemetry-util-genai) emits, so dashboards written for it work on rollout-otel's metrics:
- `gen_ai.client.operation.duration` (s), with `error.type` on failures;
- `gen_ai.client.token.usage` ({token}), one measurement per reported count, `gen_ai.token.type` input or output;
- `gen_ai.client.operation.time_to_first_chunk` and `.time_per_output_chunk` (s), streamed calls only.

The package carries names, not bucket boundaries; those come from the conventions' text (the same ones
util-genai uses). Time per output chunk is one measurement per stream, its mean interval after the first chunk:
measuring each interval would put a clock read and a histogram update on the token hot path, which rollout keeps
to two calls per chunk.

A call's measurements are not recorded on the caller's thread: its span's end queues them, and rollout's metrics
thread (or a collection, first) makes the SDK's records (`_metrics_queue.py`). Each measurement carries the call's
span as its context, so a trace-based exemplar points at the LLM span itself.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Final

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import Histogram
from opentelemetry.sdk.metrics import MeterProvider as SDKMeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import GenAiTokenTypeValues
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

from . import _attributes as attr
from ._export import WorkerFlush, flush_when_the_child_ends, in_worker_process
from ._metrics_queue import CallQueue
from ._per_provider import PerProvider
from .version import __version__

DURATION: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION
TOKEN_USAGE: Final = gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
TIME_TO_FIRST_CHUNK: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
TIME_PER_OUTPUT_CHUNK: Final = gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK

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
        attr.SERVER_ADDRESS,
        attr.SERVER_PORT,
    }
)
# Which usage attribute is measured under which token type; cache and reasoning counts are parts of these.
_TOKEN_TYPES: Final = (
    (attr.GEN_AI_USAGE_INPUT_TOKENS, GenAiTokenTypeValues.INPUT.value),
    (attr.GEN_AI_USAGE_OUTPUT_TOKENS, GenAiTokenTypeValues.OUTPUT.value),
)


# What one series of rollout's histograms costs in an OTLP request at most: buckets, attributes (each bounded to
# 16 KiB, model names short in practice), timestamps and the exemplars a trace-based filter keeps (one per bucket
# at most). Measured at about 700 bytes with typical attributes, 1,400 with exemplars.
_SERIES_BYTES: Final = 2048
_INSTRUMENTS: Final = 4

# The observable instrument whose callback records the queue before each collection. It never has a point, so it
# is never exported.
_BEFORE_COLLECTION: Final = "rollout.metrics.queued"


def series_limits(max_export_bytes: int) -> dict[type, int]:
    """Cardinality limits for rollout's readers, so that one collection of all four histograms fits a request of
    `max_export_bytes`; further series are aggregated into the SDK's overflow series (`otel.metric.overflow`)."""
    return {Histogram: max(16, max_export_bytes // (_SERIES_BYTES * _INSTRUMENTS))}


def bound_series(reader: MetricReader, max_export_bytes: int) -> None:
    """Give a reader made without them (the SDK configurator's, under `opentelemetry-instrument`) the limits of
    `series_limits`, never raising one it has. Its storage reads them when an instrument is first measured, so this
    is done right after the set-up, before any measurement."""
    current = getattr(reader, "_instrument_class_cardinality_limit", None)
    if not isinstance(current, dict):
        return
    # A reader made with the limits maps them to the SDK's own instrument classes, as the storage looks them up.
    wanted = InMemoryMetricReader(cardinality_limits=series_limits(max_export_bytes))
    for kind, limit in wanted._instrument_class_cardinality_limit.items():
        current[kind] = min(limit, current.get(kind, limit))  # in place: the storage holds this very dict


def _weakly(provider: Any) -> Any:
    """`provider` without keeping it alive, as the instruments live as long as it does (`metrics_for`); itself if
    it cannot be weakly referenced (then each call makes its own instruments, which go with the call)."""
    try:
        return weakref.proxy(provider)
    except TypeError:
        return provider


class GenAIMetrics:
    """The instruments of one meter provider.

    A multiprocessing child exports them before it ends, as it does its spans: a pool worker after each call (the
    pool stops it with SIGTERM once the results are in, long before the reader's minute), another child as it ends.
    """

    def __init__(self, provider: otel_metrics.MeterProvider, queued: bool = True) -> None:
        meter = provider.get_meter(attr.INSTRUMENTATION_NAME, __version__)
        self._worker_flush: WorkerFlush | None = None
        self._queue: CallQueue | None = None  # None: each call records at once (not the SDK's provider)
        if callable(getattr(provider, "force_flush", None)):  # an SDK provider, not the API's no-op
            self._worker_flush = WorkerFlush(_weakly(provider))
            with contextlib.suppress(TypeError):  # registered weakly: one that cannot be is not flushed at the end
                flush_when_the_child_ends(provider)

        def seconds(name: str, description: str) -> otel_metrics.Histogram:
            return meter.create_histogram(
                name, unit="s", description=description, explicit_bucket_boundaries_advisory=SECONDS_BUCKETS
            )

        self.duration = seconds(DURATION, "Duration of a GenAI operation, to the end of its stream.")
        self.time_to_first_chunk = seconds(TIME_TO_FIRST_CHUNK, "Time from the request to the first chunk.")
        self.time_per_output_chunk = seconds(
            TIME_PER_OUTPUT_CHUNK, "Mean time per output chunk after the first, one measurement per stream."
        )
        self.token_usage = meter.create_histogram(
            TOKEN_USAGE,
            unit="{token}",
            description="Input and output tokens of one GenAI operation, as the provider reported them.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        if queued and isinstance(provider, SDKMeterProvider):  # its collections call the callback below first
            self._queue = CallQueue(self._record_now)
            meter.create_observable_gauge(
                _BEFORE_COLLECTION,
                callbacks=[self._before_collection],
                description="Never measured: records rollout's queued GenAI measurements before a collection.",
            )

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
        span: otel_trace.Span | None = None,
    ) -> None:
        """Record one finished call. `base` holds its METRIC_ATTRIBUTES; `usage` its gen_ai.usage.* counts; `span`
        is the call's span, the measurements' context. Neither mapping may change afterwards (they are queued)."""
        call = (
            base,
            duration_s,
            error_type,
            end_reason,
            first_chunk_s,
            per_chunk_s,
            usage,
            span.get_span_context() if span is not None else None,  # not the span: it may hold megabytes of content
        )
        queue = self._queue
        if queue is None or not queue.put(call):
            self._record_now(call)
        if self._worker_flush is not None and in_worker_process():
            self._worker_flush()

    def _record_now(self, call: tuple[Any, ...]) -> None:
        """The SDK's histogram records of one call."""
        base, duration_s, error_type, end_reason, first_chunk_s, per_chunk_s, usage, span_context = call
        context = (
            otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(span_context))
            if span_context is not None
            else None
        )
        common = dict(base)
        if end_reason is not None:
            common[attr.STREAM_END_REASON] = end_reason
        if error_type is not None:
            self.duration.record(duration_s, {**common, attr.ERROR_TYPE: error_type}, context)
        else:
            self.duration.record(duration_s, common, context)
        if first_chunk_s is not None:
            self.time_to_first_chunk.record(first_chunk_s, common, context)
        if per_chunk_s is not None:
            self.time_per_output_chunk.record(per_chunk_s, common, context)
        for name, token_type in _TOKEN_TYPES:
            count = usage.get(name)
            if count is not None:
                self.token_usage.record(count, {**common, attr.GEN_AI_TOKEN_TYPE: token_type}, context)

    def record_queued(self) -> None:
        """Record every queued call now (what the metrics thread does half a second after a call)."""
        if self._queue is not None:
            self._queue.record_all()

    def _before_collection(self, _options: otel_metrics.CallbackOptions) -> Iterable[otel_metrics.Observation]:
        self.record_queued()
        return ()


# Not weakly referenceable: made at each call, so each records its own (nothing to collect).
_by_provider: PerProvider[GenAIMetrics] = PerProvider(GenAIMetrics, unkeyed=lambda p: GenAIMetrics(p, queued=False))


def metrics_for(provider: otel_metrics.MeterProvider | None) -> GenAIMetrics:
    """The instruments for `provider` (the global meter provider by default), created once per provider."""
    provider = provider or otel_metrics.get_meter_provider()
    provider_ref, value_ref = _by_provider.last
    found = value_ref() if provider_ref() is provider else None
    return found if found is not None else _by_provider.get(provider)
