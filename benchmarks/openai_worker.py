"""The OpenAI benchmark's worker: every measurement of one instrumentation, in a process of its own."""

from __future__ import annotations

import cProfile
import gc
import json
import os
import random
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from openai_replay import ENDPOINTS, consume, load_replay, make_client
from openai_variants import (
    ANCHORS,
    ROLLOUT,
    ROLLOUT_DEFAULT,
    Providers,
    Variant,
    check_uninstrument,
    setup_anchor,
    setup_rollout,
)


def profile_counts(func: Callable[[], object]) -> dict[str, int]:
    """Call counts per function (Python and C) of one call of `func()` under cProfile."""
    profiler = cProfile.Profile()
    profiler.runcall(func)
    counts: dict[str, int] = {}
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):
            label = code
        else:
            label = f"{Path(code.co_filename).name}:{code.co_firstlineno}({code.co_qualname})"
        counts[label] = counts.get(label, 0) + entry.callcount
    return counts


def measure_calls(variant: Variant, raw: dict[int, Any], n: int, short: int) -> dict[str, Any]:
    """Extra calls per chunk at n chunks, split into a per-chunk slope and a fixed cost per stream."""
    result: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        totals: dict[int, int] = {}
        breakdown: list[tuple[str, float]] = []
        for size in (short, n):
            variant.use(False)
            consume(raw[size], endpoint)
            raw_counts = profile_counts(partial(consume, raw[size], endpoint))
            variant.use(True)
            consume(variant.clients[size], endpoint)
            counts = profile_counts(partial(consume, variant.clients[size], endpoint))
            variant.use(False)
            totals[size] = sum(counts.values()) - sum(raw_counts.values())
            if size == n:
                diff = {k: counts.get(k, 0) - raw_counts.get(k, 0) for k in counts.keys() | raw_counts.keys()}
                breakdown = sorted(((k, v / n) for k, v in diff.items() if abs(v) >= n / 4), key=lambda kv: -kv[1])
                result.setdefault("raw_per_chunk", {})[endpoint] = sum(raw_counts.values()) / n
        slope = (totals[n] - totals[short]) / (n - short)
        result[endpoint] = {
            "extra_per_chunk": totals[n] / n,
            "slope": slope,
            "fixed": totals[short] - short * slope,
            "breakdown": breakdown,
        }
    return result


def measure_time(variants: list[Variant], raw: Any, n: int, pairs: int, seed: int) -> dict[str, Any]:
    """Paired raw / instrumented streams, pairs interleaved across variants and endpoints in shuffled order."""
    rng = random.Random(seed)
    tasks = [(v, e) for v in variants for e in ENDPOINTS if v.traced.get(e)]
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {(v.label, e): [] for v, e in tasks}
    for round_index in range(pairs + 1):  # round 0 warms up and is discarded
        rng.shuffle(tasks)
        for variant, endpoint in tasks:
            gc.collect()
            times: dict[bool, float] = {}
            for instrumented in rng.sample([False, True], 2):
                variant.use(instrumented)
                client = variant.clients[n] if instrumented else raw
                start = time.perf_counter_ns()
                consume(client, endpoint)
                times[instrumented] = (time.perf_counter_ns() - start) / 1000 / n
            variant.use(False)
            if round_index:
                samples[variant.label, endpoint].append((times[False], times[True]))
    result: dict[str, Any] = {}
    for (label, endpoint), pairs_list in samples.items():
        result.setdefault(label, {})[endpoint] = {
            "raw": [a for a, _ in pairs_list],
            "instrumented": [b for _, b in pairs_list],
        }
    return result


def traced_peak(run: Callable[[], object]) -> tuple[int, int]:
    """(peak, held after a collection) tracemalloc growth of `run()`, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        run()
        peak = tracemalloc.get_traced_memory()[1] - base
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return peak, held


def measure_memory(variant: Variant, raw: Any, size: int, endpoints: Sequence[str]) -> dict[str, Any]:
    """tracemalloc peak of one long stream, raw then instrumented; clients and tracer are warmed up before."""
    result: dict[str, Any] = {}
    for endpoint in endpoints:
        if not variant.traced.get(endpoint):
            continue
        variant.use(False)
        raw_peak, raw_held = traced_peak(partial(consume, raw, endpoint))
        variant.use(True)
        variant.providers.spans.inspect = True
        peak, held = traced_peak(partial(consume, variant.clients[size], endpoint))
        variant.providers.spans.inspect = False
        variant.use(False)
        result[endpoint] = {
            "raw_peak": raw_peak,
            "raw_held": raw_held,
            "peak": peak,
            "held": held,
            "output_chars": variant.providers.spans.last_longest,
            "events": variant.providers.spans.last_events,
        }
    return result


def rss_bytes() -> int:
    """Resident set size of this process."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_flat(
    client: Any, endpoint: str, streams: int, checkpoints: Sequence[int], providers: Providers | None
) -> list[dict[str, int]]:
    """Memory after each checkpoint of consecutive short streams, relative to after a warm-up of 20 streams."""
    for _ in range(20):
        consume(client, endpoint)
    gc.collect()
    tracemalloc.start()
    rows: list[dict[str, int]] = []
    try:
        base, rss, objects = tracemalloc.get_traced_memory()[0], rss_bytes(), len(gc.get_objects())
        for index in range(1, streams + 1):
            consume(client, endpoint)
            if index in checkpoints:
                gc.collect()
                rows.append(
                    {
                        "streams": index,
                        "traced": tracemalloc.get_traced_memory()[0] - base,
                        "rss": rss_bytes() - rss,
                        "rss_total": rss_bytes(),
                        "objects": len(gc.get_objects()) - objects,
                        "open": providers.open_streams() if providers is not None else 0,
                        "spans": providers.spans.count if providers is not None else 0,
                    }
                )
    finally:
        tracemalloc.stop()
    return rows


def encoded(providers: Providers, chunks: int) -> dict[str, Any]:
    """What the providers kept, encoded as OTLP protobuf."""
    spans, logs = providers.spans.kept, providers.logs.kept
    span_bytes = len(encode_spans(spans).SerializeToString()) if spans else 0
    log_bytes = len(encode_logs(logs).SerializeToString()) if logs else 0
    return {
        "spans": len(spans),
        "events": sum(len(span.events) for span in spans),
        "logs": len(logs),
        "span_bytes": span_bytes,
        "log_bytes": log_bytes,
        "chunks": chunks,
    }


def measure_export(variant: Variant, n: int) -> dict[str, Any]:
    """One stream of each endpoint, read as fast as the client can, everything it exported encoded."""
    result: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        if not variant.traced.get(endpoint):
            continue
        variant.use(True)
        variant.providers.retain(True)
        consume(variant.clients[n], endpoint)
        variant.use(False)
        result[endpoint] = encoded(variant.providers, n)
        variant.providers.retain(False)
    return result


def measure_paced_export(variants: list[Variant], data: Path, n: int, seconds: float) -> dict[str, Any]:
    """One chat stream of n chunks spread over `seconds` in real time, fed to every rollout variant at once."""
    import rollout_otel

    threads = []
    for variant in variants:
        variant.providers.retain(True)
        client = rollout_otel.wrap(
            make_client(load_replay(data, n, pace=seconds / n)), tracer_provider=variant.providers.tracer_provider
        )
        threads.append(threading.Thread(target=consume, args=(client, "chat")))
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    result = {variant.label: {**encoded(variant.providers, n), "seconds": elapsed} for variant in variants}
    for variant in variants:
        variant.providers.retain(False)
    return result


def check_traced(variant: Variant, size: int) -> None:
    """Record which endpoints the variant actually traces (a span exported per stream)."""
    for endpoint in ENDPOINTS:
        before = variant.providers.spans.count
        variant.use(True)
        consume(variant.clients[size], endpoint)
        variant.use(False)
        variant.traced[endpoint] = variant.providers.spans.count > before


def run_worker(name: str, plan: dict[str, Any], out: Path) -> None:
    """Measure one instrumentation (every rollout mode, or one anchor) and write the results as JSON."""
    data = Path(plan["data"])
    n, short, mem = plan["n"], plan["short"], plan["mem"]
    sizes = sorted({n, short, mem})
    result: dict[str, Any] = {"name": name, "variants": {}}
    raw = {size: make_client(load_replay(data, size)) for size in sizes}
    for endpoint in ENDPOINTS:  # every lazily imported openai module is loaded before any snapshot
        consume(raw[short], endpoint)
    instrumentor: Any = None
    try:
        if name == ROLLOUT:
            variants, info = setup_rollout(data, sizes)
        else:
            anchor = next(a for a in ANCHORS if a.key == name)
            variant, instrumentor, info = setup_anchor(anchor, data, sizes)
            variants = [variant]
        for variant in variants:
            check_traced(variant, short)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=4)
        out.write_text(json.dumps(result), encoding="utf-8")
        return
    result["info"] = info
    for variant in variants:
        result["variants"][variant.label] = {
            "traced": variant.traced,
            "calls": measure_calls(variant, raw, n, short),
        }
    timing = measure_time(variants, raw[n], n, plan["pairs"], seed=plan["seed"])
    for variant in variants:
        entry = result["variants"][variant.label]
        entry["time"] = timing.get(variant.label, {})
        endpoints = ENDPOINTS if variant.label == ROLLOUT_DEFAULT else ("chat",)  # keeps the run under 3 minutes
        entry["memory"] = measure_memory(variant, raw[mem], mem, endpoints)
        entry["export"] = measure_export(variant, n)
    if name == ROLLOUT:
        default = next(v for v in variants if v.label == ROLLOUT_DEFAULT)
        flat_args = (plan["streams"], plan["checkpoints"])
        result["flat"] = {
            ROLLOUT_DEFAULT: measure_flat(default.clients[short], "chat", *flat_args, default.providers),
            "raw openai client": measure_flat(raw[short], "chat", *flat_args, None),
        }
        result["paced"] = measure_paced_export(variants, data, n, plan["pace_seconds"])
    if instrumentor is not None:
        info["left_behind"] = check_uninstrument(variants[0], instrumentor)
    for variant in variants:
        variant.providers.shutdown()
    out.write_text(json.dumps(result), encoding="utf-8")
