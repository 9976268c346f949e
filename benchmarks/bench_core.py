"""Benchmarks of the core streaming span API, all in one run.

1. Time per `LLMSpan.record_chunk` against a bare loop and a plain span event per chunk.
2. Extra Python-level calls per chunk, counted with cProfile.
3. Memory of a 100,000-chunk stream, with tracemalloc.
4. What a 10-second, 5,000-chunk real-time stream exports, in OTLP protobuf bytes.

The sections live in `core_time.py`, `core_calls.py`, `core_memory.py` and `core_export.py`, on the inputs and
providers of `core_stack.py`; this script runs them and checks the targets.

Usage: `python benchmarks/bench_core.py [--quick] [--write benchmarks/RESULTS-core.md]`.
Every provider is created here and shut down here; no OpenTelemetry global is set.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core_calls import CallsResult, bench_calls
from core_export import bench_export
from core_memory import bench_memory
from core_stack import BARE, SPAN_EVENT, rollout_label
from core_time import TimingResult, bench_time
from harness import BenchRun, Section, Table, fmt_ns, fmt_ratio


def targets_section(timing: TimingResult, calls: CallsResult, size: int) -> Section:
    """The targets for the default path, checked against this run's numbers."""
    bare = timing.medians[size, BARE]
    overhead = timing.medians[size, rollout_label("default")] - bare
    ratio = (timing.medians[size, SPAN_EVENT] - bare) / overhead
    extra = calls.per_chunk[rollout_label("default")]
    checks = [
        ("extra calls per chunk <= 3", f"{extra:.2f}", extra <= 3),
        ("overhead per chunk < 1 us", f"{fmt_ns(overhead)} ns", overhead < 1000),
        ("at least 5x cheaper than a span event per chunk", fmt_ratio(ratio), ratio >= 5),
    ]
    section = Section("Targets (default mode)", f"Checked on the {size:,}-chunk streams of sections 1 and 2.")
    section.tables.append(
        Table(["target", "measured", "result"], [[name, value, "PASS" if ok else "FAIL"] for name, value, ok in checks])
    )
    section.interpretation = "All targets met." if all(ok for *_, ok in checks) else "Some targets missed."
    return section


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section in one process, print the tables, optionally write the markdown file."""
    run = BenchRun(__doc__, "bench_core.py", argv, "small sizes and a 2 s live stream (smoke run)")
    sizes = [200, 2_000] if run.quick else [2_000, 20_000]
    timing, calls = TimingResult(), CallsResult()
    sections = [
        bench_time(sizes, rounds=5 if run.quick else 41, timing=timing),
        bench_calls(sizes[-1], calls),
        bench_memory(10_000 if run.quick else 100_000, tick_every=1_000),
        bench_export(seconds=2.0 if run.quick else 10.0, period=0.002),
        targets_section(timing, calls, sizes[-1]),
    ]
    return run.finish(sections, "rollout-otel core benchmarks")


if __name__ == "__main__":
    sys.exit(main())
