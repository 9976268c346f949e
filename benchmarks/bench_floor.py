"""Per chunk and per call, in one process: what rollout-otel adds to each provider's raw client, at the margin.

Set-up as a user has it: content capture, update events (a LoggerProvider) and metrics (a MeterProvider) on,
`StreamingSpanProcessor` plus a `BatchSpanProcessor` whose exporter drops. Five paths: OpenAI chat and Responses,
Anthropic Messages, Gemini `generate_content_stream`, Bedrock `converse_stream`.

1. Per chunk: each reply is read once from `LocalLLMServer` by the raw client and kept as the SDK's own objects;
   then replayed from memory, raw (a bare loop over them) and traced (the same objects through rollout's stream
   proxy), in the same process. Calls per chunk are cProfile counts at the margin (slope between a short and a
   long reply, so the fixed cost drops out; exact); µs per text chunk the same slope of paired timings, taken
   twice: 'live', the chunk loop alone over a reply whose text chunks cycle through a few objects, so each is in
   the CPU's cache as a chunk the SDK has just built is (`live_like`); and 'kept', the whole replay of every kept
   object as it lies in memory, where cache misses that a live stream does not pay swing the figure.
2. Per call: one whole streamed call over loopback (create + read to the end), traced minus raw, short and long
   reply: the fixed calls per call, and where they go (grouped by module; C functions go to their caller's group);
   and the same with the stdlib's calls made on tracing's behalf (`owned_calls`, a profile hook).

Usage: `python benchmarks/bench_floor.py [--runs N] [--write benchmarks/RESULTS-floor.md]`.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from floor_live import LIVE_SET, Marked, live_like

SHORT, LONG = 200, 2000
Stream = Callable[[Any], Iterable[Any]]  # (client) -> the stream object a call returns


def providers() -> tuple[Any, Any, Any, Any]:
    """Tracer, logger and meter providers as `Rollout()` wires them, exporting nowhere; and the processor."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from rollout_otel import StreamingSpanProcessor
    from rollout_otel._config import resolve_settings

    class DropSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropLogs(LogRecordExporter):
        def export(self, batch: Any) -> LogRecordExportResult:
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    logs = LoggerProvider()
    logs.add_log_record_processor(BatchLogRecordProcessor(DropLogs()))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    processor = StreamingSpanProcessor(resolve_settings(environ={}), logger_provider=logs, meter_provider=meters)
    traces = TracerProvider()
    traces.add_span_processor(processor)
    traces.add_span_processor(BatchSpanProcessor(DropSpans()))
    return traces, logs, meters, processor


class Path_:
    """One provider path: how to make its raw and traced clients, and how one call streams."""

    def __init__(self, name: str, make: Callable[[int], Any], stream: Callable[[Any, int], Iterable[Any]]) -> None:
        self.name, self.make, self.stream = name, make, stream


def paths(port: int) -> list[Path_]:
    import anthropic
    import boto3
    import openai
    from botocore.config import Config
    from google import genai
    from google.genai import types

    from rollout_otel.serve import SCENARIO_HEADER, scenario_headers

    base = f"http://127.0.0.1:{port}"
    messages = [{"role": "user", "content": "Tell me about streaming."}]

    def oai(_: int) -> Any:
        return openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0)

    def ant(_: int) -> Any:
        return anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)

    def gem(_: int) -> Any:
        options = types.HttpOptions(base_url=base, retry_options=types.HttpRetryOptions(attempts=1))
        return genai.Client(api_key="k", http_options=options)

    def bedrock(chunks: int) -> Any:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=base,
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(retries={"max_attempts": 1}),
        )
        spec = scenario_headers(chunks=chunks)[SCENARIO_HEADER]
        client.meta.events.register(
            "before-send.bedrock-runtime.*", lambda request, **_: request.headers.update({SCENARIO_HEADER: spec})
        )
        return client

    def h(n: int) -> dict[str, str]:
        return scenario_headers(chunks=n)

    return [
        Path_(
            "openai chat",
            oai,
            lambda c, n: c.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=h(n),
            ),
        ),
        Path_(
            "openai responses",
            oai,
            lambda c, n: c.responses.create(model="gpt-4.1-mini", input=messages, stream=True, extra_headers=h(n)),
        ),
        Path_(
            "anthropic messages",
            ant,
            lambda c, n: c.messages.create(
                model="claude-sonnet-4-6", max_tokens=64, messages=messages, stream=True, extra_headers=h(n)
            ),
        ),
        Path_(
            "gemini generate_content_stream",
            gem,
            lambda c, n: c.models.generate_content_stream(
                model="gemini-2.5-flash", contents="Hi", config={"http_options": {"headers": h(n)}}
            ),
        ),
        Path_(
            "bedrock converse_stream",
            bedrock,
            lambda c, n: c.converse_stream(
                modelId="anthropic.claude-sonnet-4-6-v1:0",
                messages=[{"role": "user", "content": [{"text": "Hi"}]}],
            )["stream"],
        ),
    ]


_profiling: list[cProfile.Profile] = []  # the profile `calls_of` runs now, paused by `replayed` while it waits


def calls_of(run: Callable[[], Any]) -> tuple[int, pstats.Stats]:
    profile = cProfile.Profile()
    _profiling.append(profile)
    profile.enable()
    run()
    profile.disable()
    _profiling.pop()
    stats = pstats.Stats(profile)
    return stats.total_calls, stats  # type: ignore[attr-defined]


_STDLIB = sysconfig.get_paths()["stdlib"]


def _owner(file: str, parent: bool) -> bool:
    """Whether a frame of `file` works for tracing: rollout's and OpenTelemetry's own, and the stdlib's when called
    by them (`parent`); the provider SDK's and the caller's frames, and the stdlib under them, do not."""
    if "rollout_otel/serve/" in file:  # the local server's scenario headers, which the benchmark's request sends
        return False
    if "rollout_otel" in file or "/opentelemetry/" in file:
        return True
    if "site-packages" in file or "/benchmarks/" in file:
        return False
    return parent if file.startswith((_STDLIB, "<")) else False


def owned_calls(run: Callable[[], Any]) -> int:
    """Calls on this thread that tracing makes: in rollout's and OpenTelemetry's modules, the C functions they call,
    and the stdlib's calls on their behalf (locks, weakrefs, ABC checks...), all the way down. The provider SDK's
    own calls, including those rollout's reads of its objects make, are not counted."""
    stack: list[bool] = [False]
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            owned = _owner(frame.f_code.co_filename, stack[-1])
            stack.append(owned)
            count += owned
        elif event == "return":
            if len(stack) > 1:
                stack.pop()
        elif event == "c_call":
            count += stack[-1]

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count


def drain(items: Iterable[Any]) -> int:
    n = 0
    for _ in items:
        n += 1
    return n


# -- 1. per chunk ---------------------------------------------------------------------------------------------


def _chat_fields(items: Iterable[Any]) -> None:
    for chunk in items:
        if chunk.choices:
            choice = chunk.choices[0]
            delta = choice.delta
            _ = (delta.content, choice.index, choice.finish_reason, delta.tool_calls, delta.refusal, chunk.usage)


def _typed_fields(items: Iterable[Any]) -> None:  # Responses and Anthropic: the event's type, then its delta
    for event in items:
        if event.type in ("response.output_text.delta", "content_block_delta"):
            delta = event.delta
            if delta.__class__ is not str:
                _ = (delta.type, delta.text)


def _gemini_fields(items: Iterable[Any]) -> None:
    for response in items:
        if response.candidates:
            candidate = response.candidates[0]
            part = candidate.content.parts[0]
            _ = (part.text, part.thought, candidate.index, candidate.finish_reason, response.usage_metadata)


def _bedrock_fields(items: Iterable[Any]) -> None:
    for event in items:
        if "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]["delta"]
            if "text" in delta:
                _ = delta["text"]


# What the traced loop must read of each item to tell a text chunk from the rest: a bare loop over these reads
# is the floor any tracer that checks the same things pays, before any frame or call of its own.
FIELDS: dict[str, Callable[[Iterable[Any]], None]] = {
    "openai chat": _chat_fields,
    "openai responses": _typed_fields,
    "anthropic messages": _typed_fields,
    "gemini generate_content_stream": _gemini_fields,
    "bedrock converse_stream": _bedrock_fields,
}


class Replay:
    """What the proxy wraps: the provider's stream type, iterating the items it is given."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items
        self.response = None

    def __iter__(self) -> Any:
        return iter(self.items)


def replayed(path: Path_, tracer_provider: Any, items: Iterable[Any], settle: bool = False) -> Callable[[], int]:
    """One traced replay of `items`, start to end: rollout's proxy and accumulator over the SDK's own objects.
    `settle`: the chunks start once the update thread has sent the stream's start record."""
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._guard import context_to_trace
    from rollout_otel.instrumentation._stream import TracedStream

    endpoint, kwargs = ENDPOINTS[path.name]

    def run() -> int:
        span = start_span(endpoint, None, kwargs, tracer_provider, stream=True, context=context_to_trace())
        assert span is not None
        if _profiling:  # counted as in a real call, whose request gives the update thread its turn
            _profiling[-1].disable()
            wait_for_start_record(span)
            _profiling[-1].enable()
        elif settle:
            wait_for_start_record(span)
        return drain(TracedStream(Replay(items), span, endpoint.accumulator(span, kwargs)))

    return run


def loop_seconds(path: Path_ | None, tracer_provider: Any, items: list[Any]) -> float:
    """Seconds from the first item asked for to the last one read, raw (`path` None) or traced: the chunk loop
    alone, without the span's start and end, once the update thread has sent the start record (their noise, a
    few hundred µs, would otherwise swing the per-chunk slope by more than the figure measured)."""
    marked = Marked(items)
    if path is None:
        drain(marked)
    else:
        replayed(path, tracer_provider, marked, settle=True)()
    return marked.marks[1] - marked.marks[0]


def wait_for_start_record(span: Any) -> None:
    """Until the update thread has sent the stream's start record (a replay has no request to wait on: its end
    would send the record itself, ~100 calls that a call over the network never makes on the caller's thread)."""
    processor = span._processor
    watch = processor._open.get(id(span)) if processor is not None else None
    deadline = time.monotonic() + 5
    while watch is not None and time.monotonic() < deadline:
        with watch.lock:  # set together under it: started, then the record in flight until it is handed over
            if watch.started and watch.in_flight is None:
                return
        time.sleep(0.0005)


ENDPOINTS: dict[str, tuple[Any, dict[str, Any]]] = {}


def load_endpoints() -> None:
    from rollout_otel._content import Request
    from rollout_otel.instrumentation import anthropic as ant
    from rollout_otel.instrumentation import google_genai as gem
    from rollout_otel.instrumentation._calls import Endpoint
    from rollout_otel.instrumentation.bedrock._converse import ConverseAccumulator
    from rollout_otel.instrumentation.openai import _endpoints as oai

    messages = [{"role": "user", "content": "Tell me about streaming."}]
    chat = {"model": "gpt-4o-mini", "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
    ENDPOINTS["openai chat"] = (oai.CHAT, chat)
    ENDPOINTS["openai responses"] = (oai.RESPONSES, {"model": "gpt-4.1-mini", "input": messages})
    ENDPOINTS["anthropic messages"] = (ant.MESSAGES, {"model": "claude-sonnet-4-6", "messages": messages})
    ENDPOINTS["gemini generate_content_stream"] = (gem.STREAMED, {"model": "gemini-2.5-flash"})
    converse = Endpoint(
        "bedrock.converse",
        ant.MESSAGES.provider,
        lambda kwargs: Request,
        lambda span, kwargs: ConverseAccumulator(span),
        lambda span, result: {},
    )
    ENDPOINTS["bedrock converse_stream"] = (converse, {"model": "claude"})


def per_chunk(path: Path_, port: int, tracer_provider: Any, runs: int) -> dict[str, Any]:
    """Calls and µs per chunk at the margin, replayed from memory, raw and traced paired in this process."""
    found: dict[str, Any] = {}
    clients = {n: path.make(n) for n in (SHORT, LONG)}  # kept: google-genai closes its connection when collected
    kept = {n: list(path.stream(clients[n], n)) for n in (SHORT, LONG)}
    calls: dict[tuple[str, int], int] = {}
    seconds: dict[int, list[float]] = {SHORT: [], LONG: []}
    fields_seconds: dict[int, float] = {}
    live_seconds: dict[int, float] = {}
    fields_live_seconds: dict[int, float] = {}
    read_fields = FIELDS[path.name]
    for n, items in kept.items():
        traced = replayed(path, tracer_provider, items)
        traced()  # warm
        calls["raw", n], _ = calls_of(lambda items=items: drain(items))
        calls["traced", n], stats = calls_of(traced)
        if n == LONG:
            found["breakdown"] = breakdown_per_chunk(stats, LONG)
        live = live_like(items)
        loop_seconds(path, tracer_provider, live)  # warm
        raw_s: list[float] = []
        traced_s: list[float] = []
        fields_s: list[float] = []
        raw_live_s: list[float] = []
        traced_live_s: list[float] = []
        drained_live_s: list[float] = []
        fields_live_s: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            drain(items)
            middle = time.perf_counter()
            traced()
            read = time.perf_counter()
            read_fields(items)
            raw_s.append(middle - start)
            traced_s.append(read - middle)
            start = time.perf_counter()
            fields_s.append(start - read)
            drain(live)
            middle = time.perf_counter()
            read_fields(live)
            drained_live_s.append(middle - start)
            fields_live_s.append(time.perf_counter() - middle)
            raw_live_s.append(loop_seconds(None, tracer_provider, live))
            traced_live_s.append(loop_seconds(path, tracer_provider, live))
        seconds[n] = [min(traced_s) - min(raw_s)]  # the least disturbed run of each: steadier on a loaded machine
        live_seconds[n] = min(traced_live_s) - min(raw_live_s)
        fields_seconds[n] = min(fields_s) - min(raw_s)
        fields_live_seconds[n] = min(fields_live_s) - min(drained_live_s)
    items_long, items_short = len(kept[LONG]), len(kept[SHORT])
    extra = {n: calls["traced", n] - calls["raw", n] for n in (SHORT, LONG)}
    found["items"] = (items_short, items_long)
    found["calls_per_chunk"] = (extra[LONG] - extra[SHORT]) / (items_long - items_short)
    found["calls_fixed"] = extra[SHORT] - found["calls_per_chunk"] * items_short
    slope = (statistics.median(seconds[LONG]) - statistics.median(seconds[SHORT])) / (items_long - items_short)
    found["us_per_chunk"] = slope * 1e6
    found["live_us_per_chunk"] = (live_seconds[LONG] - live_seconds[SHORT]) / (items_long - items_short) * 1e6
    found["fields_live_us_per_chunk"] = (
        (fields_live_seconds[LONG] - fields_live_seconds[SHORT]) / (items_long - items_short) * 1e6
    )
    found["fields_us_per_chunk"] = (fields_seconds[LONG] - fields_seconds[SHORT]) / (items_long - items_short) * 1e6
    return found


def breakdown_per_chunk(stats: pstats.Stats, chunks: int) -> list[tuple[str, float]]:
    """Functions called at least once per 4 chunks, with their calls per chunk."""
    rows = []
    for (file, line, name), (cc, _nc, _tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if cc >= chunks / 4:
            rows.append((f"{Path(file).name}:{line}({name})", cc / chunks))
    return sorted(rows, key=lambda r: -r[1])[:8]


# -- 2. per call ----------------------------------------------------------------------------------------------


def group_of(file: str) -> str:
    """A function's group: the OpenTelemetry package part, rollout's module, or everything else."""
    if file == "~":
        return "C"
    if "/opentelemetry/" in file:
        parts = file.split("/opentelemetry/", 1)[1].split("/")
        depth = 2 if parts[0] in ("sdk", "semconv", "util", "instrumentation") else 1
        return "opentelemetry/" + "/".join(parts[:depth]).removesuffix(".py")
    if "rollout_otel" in file:
        return "rollout_otel/" + file.split("rollout_otel/", 1)[1]
    return "stdlib and provider SDK"


def groups(stats: pstats.Stats) -> Counter[str]:
    """Calls by group; a C function's calls go to the groups of its callers."""
    found: Counter[str] = Counter()
    for (file, _line, _name), (cc, _nc, _tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        group = group_of(file)
        if group != "C":
            found[group] += cc
            continue
        for (caller_file, _l, _n), caller in callers.items():
            caller_group = group_of(caller_file)
            found[caller_group if caller_group != "C" else "stdlib and provider SDK"] += caller[0]
    return found


def per_call(path: Path_, port: int, tracer_provider: Any) -> dict[str, Any]:
    """Fixed calls per streamed call over loopback (create + read), traced minus raw; and their groups."""
    from rollout_otel import wrap

    found: dict[str, Any] = {}
    extra: dict[int, int] = {}
    events: dict[int, int] = {}
    by_group: dict[int, Counter[str]] = {}
    owned: dict[int, int] = {}
    for n in (SHORT, LONG):
        raw, traced = path.make(n), wrap(path.make(n), tracer_provider=tracer_provider)
        for client in (raw, traced, raw, traced):  # warm both
            drain(path.stream(client, n))
        # the fewest calls of 5 runs each: how the socket splits the reply changes the SDK's own calls run to run
        _, raw_stats = min(
            (calls_of(lambda raw=raw, n=n: drain(path.stream(raw, n))) for _ in range(5)), key=lambda r: r[0]
        )
        _, traced_stats = min(
            (calls_of(lambda traced=traced, n=n: drain(path.stream(traced, n))) for _ in range(5)), key=lambda r: r[0]
        )
        events[n] = drain(path.stream(raw, n))
        # less what the raw client makes there too (Anthropic's: rollout's hook on an SDK function skips its spans)
        owned[n] = min(owned_calls(lambda traced=traced, n=n: drain(path.stream(traced, n))) for _ in range(3)) - min(
            owned_calls(lambda raw=raw, n=n: drain(path.stream(raw, n))) for _ in range(3)
        )
        by_group[n] = groups(traced_stats)
        by_group[n].subtract(groups(raw_stats))
        # what tracing adds, exactly: the raw client makes no call in rollout's or OpenTelemetry's modules
        extra[n] = sum(count for group, count in by_group[n].items() if group != "stdlib and provider SDK")
        found.setdefault("sdk_noise", []).append(by_group[n]["stdlib and provider SDK"])
    per_chunk = (extra[LONG] - extra[SHORT]) / (events[LONG] - events[SHORT])
    found["fixed"] = extra[SHORT] - per_chunk * events[SHORT]
    found["per_chunk"] = per_chunk
    owned_per_chunk = (owned[LONG] - owned[SHORT]) / (events[LONG] - events[SHORT])
    found["owned_fixed"] = owned[SHORT] - owned_per_chunk * events[SHORT]
    found["owned_per_chunk"] = owned_per_chunk
    rows = []
    for group in sorted(set(by_group[SHORT]) | set(by_group[LONG])):
        slope = (by_group[LONG][group] - by_group[SHORT][group]) / (events[LONG] - events[SHORT])
        fixed = by_group[SHORT][group] - slope * events[SHORT]
        if abs(fixed) >= 5 and group != "stdlib and provider SDK":  # that one is noise: shown apart
            rows.append((group, fixed))
        if group.startswith("opentelemetry"):
            found["otel_fixed"] = found.get("otel_fixed", 0.0) + fixed
    found["groups"] = sorted(rows, key=lambda r: -r[1])
    return found


def sdk_span_cost(tracer_provider: Any) -> int:
    """Calls of the SDK's own span start and end with the same processors, attributes as an LLM span has."""
    tracer = tracer_provider.get_tracer("bench")
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.stream": True,
        "server.address": "127.0.0.1",
        "server.port": 1,
    }

    def run() -> None:
        from opentelemetry.trace import SpanKind

        span = tracer.start_span("plain", kind=SpanKind.CLIENT, attributes=attributes)
        span.set_attributes({"a": 1, "b": "x"})
        span.end()

    run()
    return calls_of(run)[0]


def sdk_metrics_cost(meter_provider: Any) -> int:
    """Calls of the five histogram records of one streamed call (rollout's metrics), as rollout's metrics thread makes
    them from its queue (the caller's thread only queues them): the SDK's share, off the caller's thread."""
    from rollout_otel._metrics import metrics_for

    instruments = metrics_for(meter_provider)
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": 1,
    }
    usage = {"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20}

    def queue() -> None:
        instruments.record(
            base,
            duration_s=1.0,
            error_type=None,
            end_reason="completed",
            first_chunk_s=0.1,
            per_chunk_s=0.01,
            usage=usage,
        )

    queue()
    instruments.record_queued()
    queue()
    return calls_of(instruments.record_queued)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--only", nargs="*", help="path names containing these words")
    parser.add_argument("--chunk-only", action="store_true", help="section 1 only (per chunk)")
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from harness import machine_info, package_version
    from rollout_otel.serve import LocalLLMServer

    started = time.perf_counter()
    load_endpoints()
    traces, logs, meters, _processor = providers()
    results: dict[str, Any] = {}
    with LocalLLMServer() as server:
        for path in paths(server.port):
            if args.only and not any(word in path.name for word in args.only):
                continue
            results[path.name] = {"chunk": per_chunk(path, server.port, traces, args.runs)}
            if not args.chunk_only:
                results[path.name]["call"] = per_call(path, server.port, traces)
    sdk = sdk_span_cost(traces)
    sdk_metrics = sdk_metrics_cost(meters)
    traces.shutdown()
    logs.shutdown()
    meters.shutdown()
    lines = [
        "# Per chunk and per call, at the margin (`bench_floor.py`)",
        "",
        *machine_info(f"python benchmarks/bench_floor.py --runs {args.runs}", time.perf_counter() - started),
        "- " + ", ".join(f"{p} {package_version(p)}" for p in ("openai", "anthropic", "google-genai", "boto3")),
        "- Set-up: content capture, update events and metrics on (`resolve_settings(environ={})` defaults);",
        "  `StreamingSpanProcessor` + `BatchSpanProcessor` (exporter drops), `BatchLogRecordProcessor`, a",
        "  `MeterProvider` with an in-memory reader. No OpenTelemetry global is set.",
        "",
        "## 1. Per chunk (replayed SDK objects, raw and traced in one process)",
        "",
        f"Slope between a {SHORT}- and a {LONG}-chunk reply. Calls are exact (cProfile); µs are the slope of",
        f"the fastest of {args.runs} interleaved runs each, raw and traced (noisy at 0.1 µs on a shared machine).",
        f"'Live' replays each reply with its text chunks cycling through {LIVE_SET} of them (`live_like`), so each",
        "chunk is in the CPU's cache when the tracer reads it, as a chunk the SDK has just built is in a live stream;",
        "it times the chunk loop alone (`loop_seconds`), without the span's start and end. 'Kept' replays all the",
        "kept objects as they lie in memory, start to end: the traced loop then also pays a cache miss for each",
        "object it reads, which a live stream does not, and which swings from run to run on this machine's shared",
        "cores (a Gemini chunk is four objects deep; the bare field loop over them, with no span, swings as much).",
        "'Fields' is a bare loop that reads what the traced loop reads",
        "of each item to tell a text chunk from the rest (`FIELDS`): the floor for any tracer that checks the same",
        "things, before a frame of its own.",
        "",
        "| path | items (short, long) | extra calls per chunk | extra µs per chunk, live | fields µs, live |"
        " extra µs, kept | fields µs, kept | fixed calls (replay) |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, found in results.items():
        c = found["chunk"]
        lines.append(
            f"| {name} | {c['items'][0]}, {c['items'][1]} | {c['calls_per_chunk']:.2f} | "
            f"{c['live_us_per_chunk']:.2f} | {c['fields_live_us_per_chunk']:.2f} | {c['us_per_chunk']:.2f} | "
            f"{c['fields_us_per_chunk']:.2f} | "
            f"{c['calls_fixed']:.0f} |"
        )
    lines += ["", "What a chunk calls (long reply, functions called at least once per 4 chunks):", ""]
    for name, found in results.items():
        rows = ", ".join(f"`{f}` {v:.2f}" for f, v in found["chunk"]["breakdown"])
        lines.append(f"- {name}: {rows}")
    if args.chunk_only:
        print("\n".join(lines))
        return 0
    lines += [
        "",
        "## 2. Per call (whole streamed call over loopback, traced minus raw, the fewest calls of 5 runs each)",
        "",
        f"The SDK's own span start + `set_attributes` + end, with the same processors: {sdk} calls. The SDK's five",
        "histogram records of one streamed call (duration, time to first chunk, time per chunk, two token counts;",
        f"7-8 attributes each), recorded from rollout's queue on its metrics thread: {sdk_metrics} calls, none of",
        "them on the caller's thread (which queues them in ~10 calls, counted below).",
        "",
        "Counted in rollout's and OpenTelemetry's modules (C functions with their caller), where the raw client makes",
        "no call, so the count is exact. The stdlib's and the provider SDK's calls, traced minus raw, are shown",
        "apart: how the socket splits the reply changes the SDK's own reads by hundreds to thousands of calls from",
        "one run to the next, which buries a difference of a few dozen. 'With the stdlib' adds the stdlib's calls",
        "made on tracing's behalf (locks, weakrefs, ABC checks, all the way down), counted with a profile hook that",
        "gives each stdlib frame the owner of the frame that called it (`owned_calls`): the whole fixed cost on the",
        "caller's thread, but for the provider SDK's own code that rollout's reads of its objects run (properties).",
        "",
        "| path | fixed calls per call (OpenTelemetry + rollout) | calls per chunk (whole call) |"
        " fixed calls with the stdlib |"
        " stdlib and provider SDK, traced - raw (short, long) |",
        "|:---|---:|---:|---:|---:|",
    ]
    for name, found in results.items():
        c = found["call"]
        noise = ", ".join(f"{n:+,}" for n in c["sdk_noise"])
        lines.append(
            f"| {name} | {c['fixed']:.0f} ({c['otel_fixed']:.0f} + {c['fixed'] - c['otel_fixed']:.0f}) |"
            f" {c['per_chunk']:.2f} | {c['owned_fixed']:.0f}"
            f" ({c['owned_per_chunk']:.2f} per chunk) | {noise} |"
        )
    lines += ["", "Where the fixed calls go (by module; C functions counted with their caller):", ""]
    for name, found in results.items():
        rows = ", ".join(f"{g} {v:.0f}" for g, v in found["call"]["groups"])
        lines.append(f"- {name}: {rows}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)
    print(json.dumps({k: {"chunk": v["chunk"]["calls_per_chunk"]} for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
