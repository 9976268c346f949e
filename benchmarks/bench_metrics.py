"""What the GenAI client metrics cost: per call, and (to show it is nothing) per chunk.

Every LLM span's end queues its measurements (on the caller's thread), and rollout's metrics thread records them
into the SDK's histograms half a second later (or a collection does, first). Measured with metrics on (the
default) and off (`metrics=False`), on a provider with an in-memory metric reader that is never collected during the
run, so no export is timed; the metrics thread is held back and the queue recorded between rounds, so the two
parts are timed apart:

1. Time per call: a streamed span of 20 chunks with usage, and a non-streamed span with usage; median of
   interleaved rounds, on minus off (the caller's thread), and the recording of the queue per call (elsewhere).
2. Calls per call: cProfile call counts of the same spans, on minus off, and of recording one queued call
   (deterministic).
3. Calls per chunk: cProfile of a 20,000-chunk stream with metrics on and off; the per-chunk count must not move.

Usage: `python benchmarks/bench_metrics.py [--quick] [--write benchmarks/RESULTS-metrics.md]`.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from harness import BenchRun, Section, Table
from rollout_otel import StreamingSpanProcessor, _metrics_queue
from rollout_otel._config import resolve_settings
from rollout_otel._metrics import metrics_for
from rollout_otel.trace import llm

USAGE = {"input_tokens": 512, "output_tokens": 128, "cache_read_input_tokens": 256}
ATTRIBUTES = {"server.address": "api.example.com", "server.port": 443}


class Setup:
    """A tracer provider whose LLM spans record metrics (or not) into an in-memory reader."""

    def __init__(self, metrics: bool) -> None:
        settings = resolve_settings(metrics=metrics, environ={})
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.tracer_provider = TracerProvider()
        self.processor = StreamingSpanProcessor(
            settings, logger_provider=LoggerProvider(), meter_provider=self.meter_provider
        )
        self.tracer_provider.add_span_processor(self.processor)
        self.metrics = metrics_for(self.meter_provider)
        if metrics:  # no metrics thread: the queue is recorded by `record_queued`, timed apart
            _metrics_queue._thread.wake = lambda: False  # type: ignore[method-assign]

    def record_queued(self) -> None:
        """What the metrics thread does with the queue."""
        self.metrics.record_queued()

    def streamed(self, chunks: int = 20) -> None:
        with llm(
            "openai.chat.completions",
            model="gpt-4o-mini",
            stream=True,
            attributes=ATTRIBUTES,
            tracer_provider=self.tracer_provider,
        ) as span:
            for _ in range(chunks):
                span.record_chunk("token ")
            span.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            span.end(usage=USAGE)

    def whole(self) -> None:
        with llm(
            "openai.chat.completions", model="gpt-4o-mini", attributes=ATTRIBUTES, tracer_provider=self.tracer_provider
        ) as span:
            span.end(output="hello", usage=USAGE)

    def shutdown(self) -> None:
        self.processor.shutdown()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def per_call_ns(func: Callable[[], None], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        func()
    return (time.perf_counter_ns() - started) / calls


def profile_calls(func: Callable[[], None]) -> int:
    profiler = cProfile.Profile()
    profiler.enable()
    func()
    profiler.disable()
    return sum(row[1] for row in pstats.Stats(profiler).stats.values())  # type: ignore[attr-defined]


def bench_time(rounds: int, calls: int) -> tuple[Section, dict[str, float]]:
    on, off = Setup(True), Setup(False)
    samples: dict[str, list[float]] = {
        "streamed on": [],
        "streamed off": [],
        "whole on": [],
        "whole off": [],
        "streamed recorded": [],
        "whole recorded": [],
    }
    for _ in range(3):  # warm-up: instruments and attribute sets are created on first use
        on.streamed(), off.streamed(), on.whole(), off.whole()
    on.record_queued()
    for _ in range(rounds):
        for kind in ("streamed", "whole"):
            samples[f"{kind} on"].append(per_call_ns(getattr(on, kind), calls))
            started = time.perf_counter_ns()
            on.record_queued()
            samples[f"{kind} recorded"].append((time.perf_counter_ns() - started) / calls)
            samples[f"{kind} off"].append(per_call_ns(getattr(off, kind), calls))
    medians = {k: statistics.median(v) for k, v in samples.items()}
    histogram = on.meter_provider.get_meter("scale").create_histogram("scale", unit="s")
    labels = {
        **ATTRIBUTES,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "m",
        "gen_ai.response.model": "m",
        "rollout.stream.end_reason": "completed",
    }
    medians["one record"] = statistics.median(
        per_call_ns(lambda: histogram.record(0.5, labels), calls) for _ in range(rounds)
    )
    on.shutdown(), off.shutdown()
    rows = []
    for kind in ("streamed", "whole"):
        cost = medians[f"{kind} on"] - medians[f"{kind} off"]
        rows.append(
            [
                "streamed, 20 chunks" if kind == "streamed" else "not streamed",
                f"{medians[f'{kind} off'] / 1000:,.1f}",
                f"{medians[f'{kind} on'] / 1000:,.1f}",
                f"{cost / 1000:,.1f}",
                f"{medians[f'{kind} recorded'] / 1000:,.1f}",
            ]
        )
    rows.append(
        ["for scale: one SDK histogram record, same 7 attributes", "", "", "", f"{medians['one record'] / 1000:,.1f}"]
    )
    section = Section(
        "Time per call",
        f"One LLM span with usage, the whole `with trace.llm(...)` block; median of {rounds} interleaved rounds of "
        f"{calls} calls (µs per call). 'caller's thread' is on minus off; 'recorded later' is the recording of the "
        "queued measurements into an in-memory reader that is not collected, per call.",
        [
            Table(
                [
                    "call",
                    "metrics off (µs)",
                    "metrics on (µs)",
                    "metrics on the caller's thread (µs)",
                    "recorded later (µs)",
                ],
                rows,
            )
        ],
    )
    return section, medians


def bench_calls(chunks: int) -> Section:
    rows = []
    per_call: dict[str, int] = {}
    for kind in ("streamed", "whole"):
        counts = {}
        recorded = 0
        for metrics in (True, False):
            setup = Setup(metrics)
            run = setup.streamed if kind == "streamed" else setup.whole
            run()  # instruments exist before profiling
            setup.record_queued()
            counts[metrics] = profile_calls(run)
            if metrics:
                recorded = profile_calls(setup.record_queued)
            setup.shutdown()
        per_call[kind] = counts[True] - counts[False]
        rows.append([kind, str(counts[False]), str(counts[True]), str(per_call[kind]), str(recorded)])
    chunk_counts = {}
    for metrics in (True, False):
        setup = Setup(metrics)
        setup.streamed(chunks=10)
        chunk_counts[metrics] = profile_calls(lambda s=setup: s.streamed(chunks=chunks))
        setup.shutdown()
    baseline = Setup(False)
    short = profile_calls(lambda: baseline.streamed(chunks=0))
    baseline.shutdown()
    chunk_rows = [
        [
            "on" if metrics else "off",
            f"{(chunk_counts[metrics] - short - (per_call['streamed'] if metrics else 0)) / chunks:.2f}",
        ]
        for metrics in (True, False)
    ]
    return Section(
        "Function calls",
        "cProfile call counts (deterministic). Per call: one span, metrics on minus off (the caller's thread), and "
        "the recording of its queued measurements (the metrics thread, or a collection). Per chunk: a "
        f"{chunks:,}-chunk stream minus a 0-chunk one (and minus the per-call metrics cost), divided by {chunks:,}.",
        [
            Table(
                ["call", "calls, metrics off", "calls, metrics on", "added on the caller's thread", "recorded later"],
                rows,
                "per call",
            ),
            Table(["metrics", "calls per chunk"], chunk_rows, "per chunk"),
        ],
        "Metrics add a few calls to a span's end on the caller's thread (the queue), a fixed number where the queue "
        "is recorded, and none per chunk.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    run = BenchRun(__doc__, "bench_metrics.py", argv, "fewer rounds (smoke run)")
    timing, medians = bench_time(rounds=5 if run.quick else 31, calls=200 if run.quick else 1_000)
    cost = medians["streamed on"] - medians["streamed off"]
    later = medians["streamed recorded"]
    timing.interpretation = (
        f"The metrics of a streamed call cost the caller's thread {cost / 1000:,.1f} µs when its span ends "
        f"({cost / medians['streamed off']:.0%} of the span's own cost), and nothing per chunk. Recording them into "
        f"the SDK's histograms costs {later / 1000:,.1f} µs on rollout's metrics thread, "
        f"{later / medians['one record']:.1f} SDK measurements' worth: the OpenTelemetry SDK's own per-measurement "
        "cost (attribute checks, hashing, exemplars) is most of it. Zero token counts are not added."
    )
    sections = [timing, bench_calls(2_000 if run.quick else 20_000)]
    return run.finish(sections, "rollout-otel metrics benchmark")


if __name__ == "__main__":
    sys.exit(main())
