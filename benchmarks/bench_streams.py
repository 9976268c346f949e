"""What the provider benchmarks share: each variant (raw client, rollout-otel, another instrumentation) runs in a
worker process of its own, since instrumentations patch the SDK globally; workers take turns, twice each.

1. Python function calls per stream (cProfile, median of the runs), and the extra calls per event over raw.
2. Wall time per stream (median), and the extra microseconds per event over raw (across processes: noisy on a
   shared machine). rollout-otel wraps one client, so its worker also times a raw client in the same process,
   interleaved pair by pair: the "paired" column, the steadier number.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Consume = Callable[[Any], int]  # reads one stream with a client, returns how many events it had


def drop_spans_provider(rollout: bool) -> Any:
    """A tracer provider that exports nowhere, with rollout-otel's processor when measuring rollout-otel."""
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


def measure(client: Any, operations: Mapping[str, Consume], runs: int, baseline: Any = None) -> dict[str, Any]:
    """In a worker: calls and seconds per stream for each operation, medians of `runs`; with a raw `baseline`
    client, also the median of paired (traced - raw) seconds."""
    found: dict[str, Any] = {}
    for name, consume in operations.items():
        consume(client)  # warm
        paired: list[float] = []
        if baseline is not None:
            consume(baseline)
            for _ in range(runs * 2):
                start = time.perf_counter()
                consume(baseline)
                middle = time.perf_counter()
                consume(client)
                paired.append((time.perf_counter() - middle) - (middle - start))
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
        if paired:
            found[name]["paired"] = statistics.median(paired)
    return found


def run_workers(script: str, variants: Sequence[str], port: int, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Run `script --worker VARIANT --port PORT --runs N` for each variant, twice, taking turns."""
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(2):
        for variant in variants:
            command = [sys.executable, script, "--worker", variant, "--port", str(port), "--runs", str(runs)]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def tables(results: Mapping[str, list[dict[str, Any]]], operations: Sequence[str]) -> list[str]:
    """Markdown: one table per operation, a row per variant."""
    lines: list[str] = []
    for operation in operations:

        def median(variant: str, key: str, operation: str = operation) -> float:
            return statistics.median(run[operation][key] for run in results[variant])

        events = results["raw"][0][operation]["events"]
        lines += [
            f"## `{operation}` ({events} events per stream)",
            "",
            "| variant | calls per stream | extra calls per event | ms per stream | extra µs per event | paired |",
            "|---|---|---|---|---|---|",
        ]
        for variant in results:
            calls, seconds = median(variant, "calls"), median(variant, "seconds")
            extra_calls = (calls - median("raw", "calls")) / events
            extra_us = (seconds - median("raw", "seconds")) / events * 1e6
            extra = ("-", "-") if variant == "raw" else (f"{extra_calls:.2f}", f"{extra_us:.1f}")
            runs = [run[operation].get("paired") for run in results[variant]]
            paired = f"{statistics.median(runs) / events * 1e6:.1f}" if None not in runs else "-"
            lines.append(f"| {variant} | {calls:,.0f} | {extra[0]} | {seconds * 1000:.1f} | {extra[1]} | {paired} |")
        lines.append("")
    return lines


Worker = Callable[[str, int, int], dict[str, Any]]  # (variant, server port, runs) -> measure()'s result


def main(
    argv: Sequence[str] | None,
    *,
    script: str,
    title: str,
    variants: Sequence[str],
    operations: Sequence[str],
    packages: Sequence[str],
    worker: Worker,
) -> int:
    """A provider benchmark's command line: as a worker, measure one variant; else run them all and report."""
    parser = argparse.ArgumentParser(description=title)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.port, args.runs)))
        return 0

    from harness import machine_info, package_version
    from rollout_otel.serve import LocalLLMServer

    started = time.perf_counter()
    with LocalLLMServer() as server:
        results = run_workers(script, variants, server.port, args.runs)
    name = Path(script).name
    lines = [
        f"# {title}",
        "",
        *machine_info(f"python benchmarks/{name} --runs {args.runs}", time.perf_counter() - started),
        "- " + ", ".join(f"{package} {package_version(package)}" for package in packages),
        "",
        *tables(results, operations),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0
