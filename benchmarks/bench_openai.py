"""Benchmarks of rollout-otel's OpenAI instrumentation on the real `openai` client, against the raw stream and
three other OpenAI instrumentations (the "anchors"), all in one run.

A 2,000-chunk streamed reply (chat completions and the responses API) is captured once from `LocalLLMServer`
over loopback, then replayed from memory through the client's own in-process transport (`MockTransport` of
httpx2, or httpx before openai 3), so no socket noise enters the numbers. Measured for every instrumentation:

1. Extra Python function calls per chunk over the raw stream (cProfile, deterministic).
2. Overhead in microseconds per chunk: median of paired raw / instrumented streams, interleaved.
3. Peak memory growth over the raw stream for one 20,000-chunk stream (tracemalloc).
4. Memory after 100 and after 1,000 consecutive short streams (rollout and the raw client only).
5. Bytes exported per stream, encoded with the OTLP protobuf encoders.

Usage: `python benchmarks/bench_openai.py [--quick] [--write benchmarks/RESULTS-openai.md]`. The anchors are the
`bench` extra (`pip install -e '.[bench]'`); one that is missing or fails is reported with its error.
Each instrumentation runs in its own worker process (the anchors patch the openai classes globally, and an
uninstrument that leaves wrappers behind must not leak into the next one); every provider is created there,
exporters drop or keep in memory, and no OpenTelemetry global is set.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.util
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from bench_core import (
    Section,
    Table,
    fmt_kib,
    machine_info,
    package_version,
    render_markdown,
    render_text,
)
from rollout_otel import StreamingSpanProcessor
from rollout_otel._config import Settings, resolve_settings

MODEL = "gpt-4o-mini"
SYSTEM = "You are a helpful assistant."
PROMPT = "Write a long story about a lighthouse keeper and a robot."
ENDPOINTS = ("chat", "responses")
PATHS = {"/v1/chat/completions": "chat", "/v1/responses": "responses"}
REQUESTS: dict[str, dict[str, Any]] = {
    "chat": {
        "model": MODEL,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    "responses": {"model": MODEL, "instructions": SYSTEM, "input": PROMPT, "stream": True},
}
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_bench"}

ROLLOUT = "rollout"
ROLLOUT_MODES: dict[str, dict[str, Any]] = {
    "rollout-otel, default": {},
    "rollout-otel, capture_stream_chunks=True": {"capture_stream_chunks": True},
}
ROLLOUT_DEFAULT = "rollout-otel, default"

# Worker environments start from this process's, minus every variable that configures any of them.
_CONFIG_PREFIXES = ("OTEL_", "TRACELOOP_", "OPENINFERENCE_", "ROLLOUT_")


@dataclass(frozen=True)
class Anchor:
    """Another OpenAI instrumentation, driven through its instrumentor with its own TracerProvider."""

    key: str
    label: str
    dist: str
    module: str
    env: dict[str, str]
    content: str


ANCHORS = [
    Anchor(
        "official",
        "official (opentelemetry-instrumentation-openai-v2)",
        "opentelemetry-instrumentation-openai-v2",
        "opentelemetry.instrumentation.openai_v2",
        {
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
        },
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental, "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY (util-genai 1.1b0 always takes the latest "
        "conventions, where `true` is rejected and falls back to NO_CONTENT)",
    ),
    Anchor(
        "openllmetry",
        "OpenLLMetry (opentelemetry-instrumentation-openai)",
        "opentelemetry-instrumentation-openai",
        "opentelemetry.instrumentation.openai",
        {"TRACELOOP_TRACE_CONTENT": "true"},
        "TRACELOOP_TRACE_CONTENT=true (its default); messages as span attributes (`use_attributes=True` default)",
    ),
    Anchor(
        "openinference",
        "OpenInference (openinference-instrumentation-openai)",
        "openinference-instrumentation-openai",
        "openinference.instrumentation.openai",
        {},
        "defaults: inputs and outputs recorded (no OPENINFERENCE_HIDE_* set)",
    ),
]


# -- transport ------------------------------------------------------------------------------------------------


def http_module() -> ModuleType:
    """The HTTP library the installed openai client is built on: httpx2 (openai 3+) or httpx."""
    import openai._base_client as base

    return base.httpx2 if hasattr(base, "httpx2") else importlib.import_module("httpx")


def split_frames(body: bytes) -> list[bytes]:
    """Server-sent events, one per item (JSON payloads never hold a raw newline)."""
    return [frame + b"\n\n" for frame in body.split(b"\n\n") if frame.strip()]


def reply_chars(endpoint: str, frames: Sequence[bytes]) -> int:
    """Characters of the streamed text, from the captured events."""
    chars = 0
    for frame in frames:
        data = frame.split(b"data: ", 1)[-1].strip()
        if not data.startswith(b"{"):
            continue
        event = json.loads(data)
        if endpoint == "chat":
            for choice in event.get("choices") or ():
                chars += len((choice.get("delta") or {}).get("content") or "")
        elif event.get("type") == "response.output_text.delta":
            chars += len(event["delta"])
    return chars


def capture_replies(sizes: Sequence[int], directory: Path) -> dict[str, dict[int, int]]:
    """Stream each reply once from LocalLLMServer over loopback and save its body; returns the text chars."""
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    http = http_module()
    chars: dict[str, dict[int, int]] = {endpoint: {} for endpoint in ENDPOINTS}
    with LocalLLMServer() as server, http.Client(timeout=60) as client:
        for path, endpoint in PATHS.items():
            for size in sizes:
                url = server.base_url.removesuffix("/v1") + path
                response = client.post(url, json=REQUESTS[endpoint], headers=scenario_headers(chunks=size))
                response.raise_for_status()
                (directory / f"{endpoint}-{size}.sse").write_bytes(response.content)
                chars[endpoint][size] = reply_chars(endpoint, split_frames(response.content))
    return chars


class Replay:
    """In-process transport handler: answers each request with the events captured for its path.

    With `pace`, each event waits for its slot (`pace` seconds apart) as a model streaming in real time would.
    """

    def __init__(self, frames: dict[str, list[bytes]], pace: float = 0.0) -> None:
        self.frames = frames
        self.pace = pace
        self.http = http_module()

    def __call__(self, request: Any) -> Any:
        frames = self.frames[PATHS[request.url.path]]
        content = self._paced(frames) if self.pace else iter(frames)
        return self.http.Response(200, headers=SSE_HEADERS, content=content)

    def _paced(self, frames: list[bytes]) -> Iterator[bytes]:
        start = time.perf_counter()
        for index, frame in enumerate(frames):
            delay = start + index * self.pace - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            yield frame


def load_replay(directory: Path, size: int, pace: float = 0.0) -> Replay:
    """The captured replies of one size, for both endpoints."""
    return Replay({e: split_frames((directory / f"{e}-{size}.sse").read_bytes()) for e in ENDPOINTS}, pace)


def make_client(replay: Replay) -> Any:
    """A real `openai.OpenAI` client whose HTTP transport is the replay, in process."""
    import openai

    http = replay.http
    return openai.OpenAI(
        api_key="bench",
        base_url="http://bench.invalid/v1",
        http_client=http.Client(transport=http.MockTransport(replay)),
        max_retries=0,
    )


def consume(client: Any, endpoint: str) -> int:
    """Make one streamed call and read it to the end, as an application printing the deltas would."""
    if endpoint == "chat":
        stream = client.chat.completions.create(**REQUESTS["chat"])
    else:
        stream = client.responses.create(**REQUESTS["responses"])
    items = 0
    for _item in stream:
        items += 1
    return items


# -- providers ------------------------------------------------------------------------------------------------


class SpanSink(SpanExporter):
    """Drops spans, or keeps them (`retain`); counts them, and with `inspect` notes the last one's size.

    `inspect` stays off while calls and time are measured, so the exporter adds one call per span.
    """

    def __init__(self) -> None:
        self.retain = False
        self.inspect = False
        self.kept: list[ReadableSpan] = []
        self.count = 0
        self.last_longest = 0  # longest string attribute of the last span: the output, if it is recorded
        self.last_events = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        if self.inspect and spans:
            values = (spans[-1].attributes or {}).values()
            self.last_longest = max((len(v) for v in values if isinstance(v, str)), default=0)
            self.last_events = len(spans[-1].events)
        if self.retain:
            self.kept.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class LogSink(LogRecordExporter):
    """Drops log records, or keeps them (`retain`); always counts them."""

    def __init__(self) -> None:
        self.retain = False
        self.kept: list[ReadableLogRecord] = []
        self.count = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.count += len(batch)
        if self.retain:
            self.kept.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Providers:
    """Fresh SDK tracer and logger providers (never global) with simple processors and sink exporters.

    `settings` adds rollout's `StreamingSpanProcessor`; chunk events get an unlimited span event count.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.spans = SpanSink()
        self.logs = LogSink()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        unlimited = settings is not None and settings.capture_stream_chunks
        limits = SpanLimits(max_events=SpanLimits.UNSET) if unlimited else SpanLimits()
        self.tracer_provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
        self.processor: StreamingSpanProcessor | None = None
        if settings is not None:
            self.processor = StreamingSpanProcessor(settings, logger_provider=self.logger_provider)
            self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def retain(self, on: bool) -> None:
        """Keep what is exported from now on (or drop it again), starting from nothing."""
        self.spans.retain = self.logs.retain = on
        self.spans.kept.clear()
        self.logs.kept.clear()

    def open_streams(self) -> int:
        """Streams rollout's processor still watches (0 between streams)."""
        return len(self.processor._open) if self.processor is not None else 0

    def shutdown(self) -> None:
        """Shut both providers down (stops the processor's update thread)."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


# -- global patches -------------------------------------------------------------------------------------------

_MISSING = object()


def _namespaces() -> dict[int, tuple[Any, dict[str, Any]]]:
    """Every loaded openai module and openai class, with a copy of its namespace."""
    found: dict[int, tuple[Any, dict[str, Any]]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "openai" or name.startswith("openai.")):
            continue
        found[id(module)] = (module, dict(vars(module)))
        for value in list(vars(module).values()):
            if isinstance(value, type) and str(value.__module__).startswith("openai") and id(value) not in found:
                found[id(value)] = (value, dict(vars(value)))
    return found


def _effective(owner: Any, name: str, value: Any) -> Any:
    """What `owner.name` resolves to when `value` is its own entry (or `_MISSING`)."""
    if value is not _MISSING or not isinstance(owner, type):
        return value
    for base in owner.__mro__[1:]:
        if name in vars(base):
            return vars(base)[name]
    return _MISSING


@dataclass
class Patch:
    """What an instrumentor changed in openai's modules and classes, so it can be switched off and on."""

    changes: list[tuple[Any, str, Any, Any]]  # owner, name, before, after

    @classmethod
    def between(cls, before: dict[int, tuple[Any, dict[str, Any]]]) -> Patch:
        """The changes since the `before` snapshot.

        Modules and classes that appear are left out: openai's packages resolve some re-exports lazily, and an
        instrumentor looking a class up only makes that attribute appear.
        """
        changes: list[tuple[Any, str, Any, Any]] = []
        for key, (owner, after) in _namespaces().items():
            if key not in before:
                continue
            old = before[key][1]
            for name in old.keys() | after.keys():
                was, now = old.get(name, _MISSING), after.get(name, _MISSING)
                if was is not now and not isinstance(now, (ModuleType, type)):
                    changes.append((owner, name, was, now))
        return cls(changes)

    def names(self) -> list[str]:
        """`Owner.name` of each change."""
        return sorted(f"{getattr(owner, '__qualname__', owner.__name__)}.{name}" for owner, name, _, _ in self.changes)

    def switch(self, on: bool) -> None:
        """Put the instrumented (on) or original (off) attributes in place."""
        for owner, name, before, after in self.changes:
            value = after if on else before
            if value is _MISSING:
                if name in vars(owner):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)

    def left_behind(self) -> list[str]:
        """Changes still in effect (compared by what the attribute resolves to)."""
        left = []
        for owner, name, before, _ in self.changes:
            now = vars(owner).get(name, _MISSING)
            if _effective(owner, name, now) is not _effective(owner, name, before):
                left.append(f"{getattr(owner, '__qualname__', owner.__name__)}.{name}")
        return sorted(left)


# -- worker: one instrumentation ------------------------------------------------------------------------------


@dataclass
class Variant:
    """One instrumented path: its clients per stream size, its providers, and its global patch if any."""

    label: str
    providers: Providers
    clients: dict[int, Any]
    patch: Patch | None = None
    traced: dict[str, bool] = field(default_factory=dict)

    def use(self, instrumented: bool) -> None:
        """Switch the global patch (anchors) for the next run; rollout's clients are wrapped one by one."""
        if self.patch is not None:
            self.patch.switch(instrumented)


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


def setup_rollout(data: Path, sizes: Sequence[int]) -> tuple[list[Variant], dict[str, Any]]:
    """rollout-otel in each mode: its own providers, clients wrapped with `rollout_otel.wrap`."""
    import rollout_otel

    before = _namespaces()
    variants = []
    for label, overrides in ROLLOUT_MODES.items():
        providers = Providers(resolve_settings(environ={}, **overrides))
        clients = {
            size: rollout_otel.wrap(make_client(load_replay(data, size)), tracer_provider=providers.tracer_provider)
            for size in sizes
        }
        variants.append(Variant(label, providers, clients))
    info = {
        "version": package_version("rollout-otel"),
        "patched": Patch.between(before).names(),
        "left_behind": [],
        "content": "`resolve_settings(environ={})` defaults: capture_content, preview 4,096 chars, updates every "
        "1 s; the second variant adds capture_stream_chunks=True (one span event per chunk, unlimited events)",
    }
    return variants, info


def setup_anchor(anchor: Anchor, data: Path, sizes: Sequence[int]) -> tuple[Variant, Any, dict[str, Any]]:
    """Import and instrument one anchor with its own providers; its patch is recorded and switched off."""
    info: dict[str, Any] = {"version": package_version(anchor.dist), "content": anchor.content, "notes": []}
    if importlib.util.find_spec("httpx") is None and hasattr(http_module(), "alias_httpx"):
        http_module().alias_httpx()  # openai 3 uses httpx2; anchors that `import httpx` get the same classes
        info["notes"].append("`httpx` not installed: aliased to httpx2 with `httpx2.alias_httpx()`")
    module = importlib.import_module(anchor.module)
    instrumentor = module.OpenAIInstrumentor()
    providers = Providers()
    before = _namespaces()
    instrumentor.instrument(tracer_provider=providers.tracer_provider, logger_provider=providers.logger_provider)
    patch = Patch.between(before)
    if not patch.changes:
        raise RuntimeError("instrument() patched nothing (see its log for a dependency conflict)")
    patch.switch(False)
    info["patched"] = patch.names()
    clients = {size: make_client(load_replay(data, size)) for size in sizes}
    return Variant(anchor.label, providers, clients, patch), instrumentor, info


def check_uninstrument(variant: Variant, instrumentor: Any) -> list[str]:
    """Call the anchor's own `uninstrument()` and list what it left patched; then restore everything."""
    assert variant.patch is not None
    variant.patch.switch(True)
    instrumentor.uninstrument()
    left = variant.patch.left_behind()
    variant.patch.switch(False)
    return left


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


# -- main: run the workers, report ----------------------------------------------------------------------------


def worker_env(name: str) -> dict[str, str]:
    """This process's environment without any instrumentation settings, plus the anchor's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIG_PREFIXES)}
    env.update(next((a.env for a in ANCHORS if a.key == name), {}))
    env["PYTHONHASHSEED"] = "0"
    return env


def run_workers(plan: dict[str, Any], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Run each worker in its own process, one after another; a crash becomes an error entry."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        out = Path(plan["data"]) / f"result-{name}.json"
        started = time.perf_counter()
        command = [sys.executable, __file__, "--worker", name, "--plan", json.dumps(plan), "--out", str(out)]
        proc = subprocess.run(command, env=worker_env(name), capture_output=True, text=True, check=False)
        if out.exists():
            results[name] = json.loads(out.read_text(encoding="utf-8"))
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            error = f"worker exited {proc.returncode}: {' | '.join(tail)}"
            results[name] = {"name": name, "variants": {}, "error": error}
        results[name]["seconds"] = time.perf_counter() - started
        status = results[name].get("error") or "ok"
        print(f"[{name}: {results[name]['seconds']:.1f} s, {status}]", flush=True)
    return results


def variants_of(results: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(label, data) of every measured variant, rollout first."""
    return [(label, data) for result in results.values() for label, data in result["variants"].items()]


def failed_rows(results: dict[str, dict[str, Any]], width: int) -> list[list[str]]:
    """A row per worker that failed, pointing at the Setup table."""
    return [
        [next((a.label for a in ANCHORS if a.key == name), name), "failed (see Setup)"] + ["-"] * (width - 2)
        for name, result in results.items()
        if "error" in result
    ]


def not_traced_note(data: dict[str, Any], endpoint: str) -> str | None:
    """A table cell for an endpoint the variant does not trace."""
    return None if data["traced"].get(endpoint) else "not traced (no span)"


def setup_section(
    results: dict[str, dict[str, Any]], plan: dict[str, Any], chars: dict[str, dict[int, int]]
) -> Section:
    """What was measured and how each instrumentation was set up, with any error."""
    http = http_module()
    section = Section(
        "Setup",
        f"`openai` {package_version('openai')} over {http.__name__} {package_version(http.__name__)}. Replies captured "
        f"once from `LocalLLMServer` over loopback (`scenario_headers(chunks=N)`), then replayed from memory through "
        f"`{http.__name__}.MockTransport`, one SSE event per transport chunk, so no socket is involved. A "
        f"{plan['n']:,}-chunk chat reply is {chars['chat'][plan['n']]:,} characters (the responses reply has the same "
        "text); chat asks for usage (`stream_options.include_usage`). Each instrumentation runs in its own worker "
        "process with its own SDK TracerProvider (SimpleSpanProcessor + an exporter that drops) and LoggerProvider; "
        "no MeterProvider is given (metrics go to the no-op global). rollout-otel uses `rollout_otel.wrap(client, "
        "tracer_provider=...)` with a `StreamingSpanProcessor` (update thread live); the anchors use "
        "`OpenAIInstrumentor().instrument(tracer_provider=..., logger_provider=...)`. Their patches on the openai "
        "classes are recorded and switched off for the raw runs of each pair; their own `uninstrument()` is checked "
        "at the end.",
    )
    rows = []
    for name, result in results.items():
        info = result.get("info", {})
        label = "rollout-otel" if name == ROLLOUT else next(a.label for a in ANCHORS if a.key == name)
        version = info.get("version") or package_version(
            "rollout-otel" if name == ROLLOUT else next(a.dist for a in ANCHORS if a.key == name)
        )
        if "error" in result:
            rows.append([label, version, "-", "-", "-", f"FAILED: {result['error']}"])
            continue
        traced = sorted({e for d in result["variants"].values() for e, on in d["traced"].items() if on})
        patched = info.get("patched", [])
        left = info.get("left_behind", [])
        notes = "; ".join(info.get("notes", []))
        rows.append(
            [
                label,
                version,
                info.get("content", ""),
                ", ".join(f"`{p}`" for p in patched) or "none (per-client wrap)",
                ("leaves " + ", ".join(f"`{p}`" for p in left) + " wrapped") if left else "clean",
                f"traces {', '.join(traced) or 'nothing'}" + (f"; {notes}" if notes else ""),
            ]
        )
    section.tables.append(
        Table(["instrumentation", "version", "content capture", "global patches", "uninstrument()", "status"], rows)
    )
    section.interpretation = setup_interpretation(results)
    return section


def setup_interpretation(results: dict[str, dict[str, Any]]) -> str:
    """One line: which anchors failed, leak wrappers or skip an endpoint."""
    parts = []
    for name, result in results.items():
        label = "rollout-otel" if name == ROLLOUT else next(a.label.split(" (")[0] for a in ANCHORS if a.key == name)
        if "error" in result:
            parts.append(f"{label} failed ({result['error'][:80]})")
            continue
        missing = [e for d in result["variants"].values() for e, on in d["traced"].items() if not on]
        if missing:
            parts.append(f"{label} does not trace {', '.join(sorted(set(missing)))}")
        if result.get("info", {}).get("left_behind"):
            parts.append(f"{label}'s uninstrument() leaves its wrappers in place")
    if not parts:
        return "Every instrumentation installed, traced both endpoints and uninstrumented cleanly."
    return "; ".join(parts) + "."


def calls_section(results: dict[str, dict[str, Any]], n: int, short: int) -> Section:
    """Section 1: extra calls per chunk (the target formula), the per-chunk slope and the fixed cost per stream."""
    section = Section(
        "1. Function calls per chunk",
        f"cProfile (Python and C calls) of one whole streamed call (create + read to the end), instrumented minus "
        f"raw. 'extra / chunk' = (calls instrumented - calls raw) / chunks on the {n:,}-chunk stream (the target's "
        f"formula); 'per chunk' is the slope between the {short}- and {n:,}-chunk streams and 'fixed' the cost per "
        f"stream (span start and end) that the first figure spreads over {n:,} chunks. Deterministic.",
    )
    rows = []
    raw_row: list[str] | None = None
    for label, data in variants_of(results):
        calls = data["calls"]
        if raw_row is None and "raw_per_chunk" in calls:
            raw_row = (
                ["raw openai stream (its own calls per chunk)"]
                + [f"{calls['raw_per_chunk'][e]:,.0f}" for e in ENDPOINTS]
                + ["-"] * 4
            )
        cells = [label]
        for key, fmt in (("extra_per_chunk", "{:.2f}"), ("slope", "{:.2f}"), ("fixed", "{:,.0f}")):
            for endpoint in ENDPOINTS:
                cells.append(not_traced_note(data, endpoint) or fmt.format(calls[endpoint][key]))
        rows.append(cells)
    if raw_row is not None:
        rows.append(raw_row)
    rows += failed_rows(results, 7)
    section.tables.append(
        Table(
            [
                "path",
                "chat extra / chunk",
                "responses extra / chunk",
                "chat per chunk",
                "responses per chunk",
                "chat fixed / stream",
                "responses fixed / stream",
            ],
            rows,
        )
    )
    for label, data in variants_of(results):
        for endpoint in ENDPOINTS:
            if not data["traced"].get(endpoint):
                continue
            if label != ROLLOUT_DEFAULT and endpoint != "chat":
                continue
            breakdown = data["calls"][endpoint]["breakdown"][:12]
            section.tables.append(
                Table(
                    ["function", "extra calls per chunk"],
                    [[f"`{name}`", f"{count:.2f}"] for name, count in breakdown],
                    caption=f"breakdown: {label}, {endpoint} (functions called at least once per 4 chunks, top 12)",
                )
            )
    section.interpretation = calls_interpretation(results)
    return section


def calls_interpretation(results: dict[str, dict[str, Any]]) -> str:
    """One line comparing rollout's default path with the anchors on chat."""
    found = dict(variants_of(results))
    default = found.get(ROLLOUT_DEFAULT)
    if default is None:
        return "rollout-otel did not run."
    chat, resp = default["calls"]["chat"], default["calls"]["responses"]
    others = [
        f"{label.split(' (')[0]} {data['calls']['chat']['extra_per_chunk']:.0f}"
        for label, data in found.items()
        if not label.startswith("rollout") and data["traced"].get("chat")
    ]
    return (
        f"rollout-otel's default mode adds {chat['extra_per_chunk']:.2f} calls per chunk on chat and "
        f"{resp['extra_per_chunk']:.2f} on responses ({chat['slope']:.0f} per chunk: the proxy's generator, the "
        f"accumulator's `on_item`, `record_chunk`, `StringIO.write`, plus ~{chat['fixed']:,.0f} calls per stream); "
        f"on chat the anchors add {', '.join(others) or 'nothing measured'}."
    )


def time_section(results: dict[str, dict[str, Any]], n: int, pairs: int) -> Section:
    """Section 2: overhead per chunk from paired, interleaved streams."""
    section = Section(
        "2. Overhead per chunk",
        f"Wall time of one whole streamed call ({n:,} chunks: create + read to the end, span start and end "
        f"included) divided by the chunks. Each sample is a pair: the raw client and the instrumented one, run "
        f"back to back in random order; overhead = median over {pairs} pairs of (instrumented - raw), with the IQR "
        "of those differences. Pairs of all paths and endpoints are interleaved in shuffled order (one warm-up "
        "round discarded), `gc.collect()` before each pair, GC enabled. Raw medians differ between workers "
        "(separate processes on a noisy 2-core machine); only the paired difference is compared.",
    )
    rows = []
    for label, data in variants_of(results):
        for endpoint in ENDPOINTS:
            note = not_traced_note(data, endpoint)
            if note:
                rows.append([label, endpoint, note, "-", "-", "-", "-", "-"])
                continue
            samples = data["time"][endpoint]
            diffs = [b - a for a, b in zip(samples["raw"], samples["instrumented"], strict=True)]
            q1, _, q3 = statistics.quantiles(diffs, n=4)
            raw_median = statistics.median(samples["raw"])
            overhead = statistics.median(diffs)
            rows.append(
                [
                    label,
                    endpoint,
                    f"{raw_median:.1f}",
                    f"{statistics.median(samples['instrumented']):.1f}",
                    f"{overhead:.2f}",
                    f"{q1:.2f} to {q3:.2f}",
                    f"{overhead / raw_median * 100:.1f}%",
                    str(len(diffs)),
                ]
            )
    rows += failed_rows(results, 8)
    section.tables.append(
        Table(
            [
                "path",
                "endpoint",
                "raw us/chunk",
                "instrumented us/chunk",
                "overhead us/chunk",
                "IQR of differences",
                "overhead / raw",
                "pairs",
            ],
            rows,
        )
    )
    section.interpretation = time_interpretation(results)
    return section


def median_overhead(data: dict[str, Any], endpoint: str) -> float:
    """Median paired difference in us per chunk."""
    samples = data["time"][endpoint]
    return float(statistics.median(b - a for a, b in zip(samples["raw"], samples["instrumented"], strict=True)))


def time_interpretation(results: dict[str, dict[str, Any]]) -> str:
    """One line: rollout's overhead next to the raw client's own cost and the anchors'."""
    found = dict(variants_of(results))
    default = found.get(ROLLOUT_DEFAULT)
    if default is None:
        return "rollout-otel did not run."
    raw_chat = statistics.median(default["time"]["chat"]["raw"])
    others = [
        f"{label.split(' (')[0]} {median_overhead(data, 'chat'):.1f}"
        for label, data in found.items()
        if not label.startswith("rollout") and data["traced"].get("chat")
    ]
    return (
        f"rollout-otel's default mode costs {median_overhead(default, 'chat'):.2f} us per chunk on chat and "
        f"{median_overhead(default, 'responses'):.2f} on responses, against {raw_chat:.0f} us per chunk the openai "
        f"client itself spends parsing a chat chunk; the anchors cost (us per chunk, chat) {', '.join(others) or '-'}."
    )


def memory_section(results: dict[str, dict[str, Any]], mem: int, chars: dict[str, dict[int, int]]) -> Section:
    """Section 3: tracemalloc peak of one long stream, over the raw client's own peak."""
    section = Section(
        f"3. Memory of one {mem:,}-chunk stream",
        f"tracemalloc peak (KiB) while making one streamed call of {mem:,} chunks and reading it to the end, from "
        "just before `create`, raw and instrumented in the same worker after a warm-up; growth = instrumented peak "
        "- raw peak. 'held' = still allocated after the call and a collection (exporters drop the span). 'longest "
        "attribute' = characters of the exported span's longest string attribute, which shows whether the whole "
        f"output was recorded (the reply is {chars['chat'][mem]:,} characters). rollout's update thread runs live "
        "(1 s interval), so a few previews are taken during the stream. rollout's default mode is measured on both "
        "endpoints, the other paths on chat only (tracemalloc makes a 20,000-chunk chat stream take ~7 s).",
    )
    rows = []
    for label, data in variants_of(results):
        for endpoint, m in data["memory"].items():
            rows.append(
                [
                    label,
                    endpoint,
                    fmt_kib(m["raw_peak"]),
                    fmt_kib(m["peak"]),
                    fmt_kib(m["peak"] - m["raw_peak"]),
                    fmt_kib(m["held"]),
                    f"{m['output_chars']:,}",
                    f"{m['events']:,}",
                ]
            )
    section.tables.append(
        Table(
            [
                "path",
                "endpoint",
                "raw peak KiB",
                "instrumented peak KiB",
                "growth over raw KiB",
                "held after KiB",
                "longest attribute (chars)",
                "span events",
            ],
            rows,
        )
    )
    found = dict(variants_of(results))
    default = found.get(ROLLOUT_DEFAULT)
    if default is not None:
        growth = {e: (m["peak"] - m["raw_peak"]) for e, m in default["memory"].items()}
        text = chars["chat"][mem]
        section.interpretation = (
            "rollout-otel's default mode peaks "
            + " and ".join(f"{fmt_kib(g)} KiB over the raw stream on {e}" for e, g in growth.items())
            + f" while recording the full {text:,}-character output (about {text / 1024:.0f} KiB as an ASCII str)"
            + (
                f"; on Python {platform.python_version()} the peak is the text, one transient copy when StringIO "
                "joins its writes, and up to 1,024 pending chunk strs (~56 B each) between two joins."
                if sys.version_info < (3, 12)
                else "; the peak is the text and one transient copy when it is read."
            )
        )
        if "responses" in default["memory"]:
            raw_peak = default["memory"]["responses"]["raw_peak"]
            section.interpretation += (
                f" On responses the raw client itself peaks at {fmt_kib(raw_peak)} KiB (`response.completed` carries "
                "the whole output again), and rollout's growth there depends on how its own peak lines up with that "
                "one: chat is the cleaner figure."
            )
    return section


def flat_section(results: dict[str, dict[str, Any]], streams: int, short: int) -> Section:
    """Section 4: memory after 100 and after 1,000 consecutive streams."""
    section = Section(
        f"4. Memory over {streams:,} consecutive streams",
        f"{streams:,} chat streams of {short} chunks each, one after the other on one client, after 20 warm-up "
        "streams; at each checkpoint, after `gc.collect()`: tracemalloc growth since the warm-up, RSS growth, "
        "growth in the number of gc-tracked objects, and the streams rollout's processor still watches. "
        "tracemalloc runs throughout (its traces count in RSS). The raw client is the control.",
    )
    flat = results.get(ROLLOUT, {}).get("flat", {})
    rows = []
    for label, checkpoints in flat.items():
        for row in checkpoints:
            rows.append(
                [
                    label,
                    f"{row['streams']:,}",
                    fmt_kib(row["traced"]),
                    f"{row['rss'] / 2**20:,.2f}",
                    f"{row['rss_total'] / 2**20:,.1f}",
                    f"{row['objects']:,}",
                    str(row["open"]) if label == ROLLOUT_DEFAULT else "-",
                ]
            )
    section.tables.append(
        Table(
            [
                "path",
                "after streams",
                "tracemalloc growth KiB",
                "RSS growth MiB",
                "RSS MiB",
                "gc objects growth",
                "open watched streams",
            ],
            rows,
        )
    )
    per_stream = flat_per_stream(flat)
    if per_stream:
        section.interpretation = (
            "Between the first and last checkpoint tracemalloc grows "
            + ", ".join(f"{value:,.1f} B per stream ({label})" for label, value in per_stream.items())
            + ": nothing is left behind per stream beyond what the raw client itself keeps."
        )
    return section


def flat_per_stream(flat: dict[str, list[dict[str, int]]]) -> dict[str, float]:
    """tracemalloc growth per stream between the first and the last checkpoint."""
    found = {}
    for label, rows in flat.items():
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            found[label] = (last["traced"] - first["traced"]) / (last["streams"] - first["streams"])
    return found


def export_section(results: dict[str, dict[str, Any]], n: int, pace_seconds: float) -> Section:
    """Section 5: bytes exported per stream, OTLP protobuf."""
    section = Section(
        "5. Bytes exported per stream",
        f"Everything one {n:,}-chunk stream exported (spans and log records), encoded with the OTLP exporters' own "
        "encoders (`encode_spans` / `encode_logs`, `SerializeToString()`, uncompressed). 'as fast as possible' "
        f"reads the replay at full speed (well under rollout's 1 s update interval, so no update record); 'real time' "
        f"spreads the same chat reply over {pace_seconds:.0f} s, fed to both rollout modes at once, which gives "
        "rollout's update records their usual cadence. The anchors export nothing periodic, so their output does "
        "not depend on pacing.",
    )
    rows = []

    def row(label: str, endpoint: str, e: dict[str, Any]) -> list[str]:
        total = e["span_bytes"] + e["log_bytes"]
        return [
            label,
            endpoint,
            str(e["spans"]),
            f"{e['events']:,}",
            str(e["logs"]),
            fmt_kib(e["span_bytes"]),
            fmt_kib(e["log_bytes"]),
            fmt_kib(total),
            f"{total / e['chunks']:,.1f}",
        ]

    for label, data in variants_of(results):
        for endpoint, e in data["export"].items():
            rows.append(row(label, endpoint + ", as fast as possible", e))
    for label, e in results.get(ROLLOUT, {}).get("paced", {}).items():
        rows.append(row(label, f"chat, real time ({e['seconds']:.1f} s)", e))
    section.tables.append(
        Table(
            ["path", "stream", "spans", "span events", "log records", "span KiB", "log KiB", "total KiB", "B/chunk"],
            rows,
        )
    )
    paced = results.get(ROLLOUT, {}).get("paced", {})
    if ROLLOUT_DEFAULT in paced and len(paced) > 1:
        default = paced[ROLLOUT_DEFAULT]
        chunked = next(e for label, e in paced.items() if label != ROLLOUT_DEFAULT)
        base = default["span_bytes"] + default["log_bytes"]
        section.interpretation = (
            f"In real time the default mode exports one span and {default['logs']} update records "
            f"({fmt_kib(base)} KiB, {base / n:.0f} B per chunk); capture_stream_chunks=True adds one span event per "
            f"chunk: {(chunked['span_bytes'] + chunked['log_bytes']) / base:.1f}x those bytes."
        )
    return section


def targets_section(results: dict[str, dict[str, Any]], n: int, mem: int, chars: dict[str, dict[int, int]]) -> Section:
    """The targets for rollout's default mode, checked against this run's numbers."""
    found = dict(variants_of(results))
    default = found.get(ROLLOUT_DEFAULT)
    note = "" if n >= 2_000 else f" The call target is for 2,000-chunk streams; at {n:,} the fixed cost weighs more."
    section = Section("Targets (rollout-otel, default mode)", "Checked on this run's numbers." + note)
    if default is None:
        section.interpretation = f"rollout-otel did not run: {results.get(ROLLOUT, {}).get('error')}"
        return section
    checks: list[tuple[str, str, bool]] = []
    for endpoint in ENDPOINTS:
        extra = default["calls"][endpoint]["extra_per_chunk"]
        checks.append((f"extra calls per chunk <= 5 ({n:,}-chunk stream), {endpoint}", f"{extra:.2f}", extra <= 5))
    for endpoint, m in default["memory"].items():
        growth = m["peak"] - m["raw_peak"]
        full = m["output_chars"] >= chars[endpoint][mem]
        checks.append(
            (
                f"peak growth over raw < 300 KiB with the full output recorded, {endpoint}",
                f"{fmt_kib(growth)} KiB, output {m['output_chars']:,} chars",
                growth < 300 * 1024 and full,
            )
        )
    flat = results.get(ROLLOUT, {}).get("flat", {})
    rows = flat.get(ROLLOUT_DEFAULT, [])
    if len(rows) >= 2:
        per_stream = flat_per_stream({ROLLOUT_DEFAULT: rows})[ROLLOUT_DEFAULT]
        raw_per_stream = flat_per_stream(flat).get("raw openai client", 0.0)
        ok = per_stream - raw_per_stream < 128 and rows[-1]["open"] == 0
        checks.append(
            (
                f"memory flat over {rows[-1]['streams']:,} streams (< 128 B per stream over the raw client, no open "
                "stream left)",
                f"{per_stream:,.1f} B/stream (raw {raw_per_stream:,.1f}), {rows[-1]['open']} open",
                ok,
            )
        )
    section.tables.append(
        Table(["target", "measured", "result"], [[name, value, "PASS" if ok else "FAIL"] for name, value, ok in checks])
    )
    section.interpretation = "All targets met." if all(ok for *_, ok in checks) else "Some targets missed."
    return section


def source_state() -> str:
    """The commit the measured source is at, and any uncommitted change to it."""
    root = Path(__file__).resolve().parent.parent
    try:
        git = ["git", "-C", str(root)]
        run = partial(subprocess.run, capture_output=True, text=True, check=True)
        sha = run([*git, "rev-parse", "--short", "HEAD"])
        status = run([*git, "status", "--porcelain", "--", "src"])
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in status.stdout.splitlines() if line.strip()]
    return f"git {sha.stdout.strip()}" + (f", with uncommitted changes to {', '.join(changed)}" if changed else "")


def write_markdown(path: Path, sections: list[Section], command: str, seconds: float, source: str) -> None:
    """Write the results file: machine info, then every section."""
    http = http_module()
    parts = [
        "# rollout-otel OpenAI instrumentation benchmarks",
        "",
        "Generated by `benchmarks/bench_openai.py`; see `benchmarks/README.md`.",
        "",
        *machine_info(command, seconds),
        f"- rollout-otel source measured: {source}",
        f"- openai {package_version('openai')}, {http.__name__} {package_version(http.__name__)}, pydantic "
        f"{package_version('pydantic')}, wrapt {package_version('wrapt')}, opentelemetry-util-genai "
        f"{package_version('opentelemetry-util-genai')}",
        "",
        *(render_markdown(section) for section in sections),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Capture the replies, run every worker, print the tables, optionally write the markdown file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and few pairs (smoke run, ~30 s)")
    parser.add_argument("--write", type=Path, metavar="PATH", help="also write the results as markdown to PATH")
    keys = " ".join(a.key for a in ANCHORS)
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these workers: rollout {keys}")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    if args.worker:
        run_worker(args.worker, json.loads(args.plan), args.out)
        return 0

    if importlib.util.find_spec("openai") is None:
        print("bench_openai.py needs the openai client (and the anchors): pip install -e '.[bench]'", file=sys.stderr)
        return 2
    command = shlex.join(["python", sys.argv[0] or "benchmarks/bench_openai.py", *arguments])
    started = time.perf_counter()
    source = source_state()
    quick = args.quick
    plan: dict[str, Any] = {
        "n": 200 if quick else 2_000,
        "short": 20,
        "mem": 2_000 if quick else 20_000,
        "pairs": 5 if quick else 15,
        "streams": 200 if quick else 1_000,
        "checkpoints": [20, 200] if quick else [100, 1_000],
        "pace_seconds": 1.0 if quick else 4.0,
        "seed": 2_000,
    }
    names = args.only or [ROLLOUT, *(a.key for a in ANCHORS)]
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as directory:
        plan["data"] = directory
        chars = capture_replies(sorted({plan["n"], plan["short"], plan["mem"]}), Path(directory))
        results = run_workers(plan, names)
    sections: list[Section] = []

    def run(section: Section) -> None:
        sections.append(section)
        print(render_text(section), flush=True)

    run(setup_section(results, plan, chars))
    run(calls_section(results, plan["n"], plan["short"]))
    run(time_section(results, plan["n"], plan["pairs"]))
    run(memory_section(results, plan["mem"], chars))
    if ROLLOUT in results and "flat" in results[ROLLOUT]:
        run(flat_section(results, plan["streams"], plan["short"]))
    run(export_section(results, plan["n"], plan["pace_seconds"]))
    run(targets_section(results, plan["n"], plan["mem"], chars))
    seconds = time.perf_counter() - started
    print(f"total {seconds:.1f} s")
    if args.write:
        write_markdown(args.write, sections, command, seconds, source)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
