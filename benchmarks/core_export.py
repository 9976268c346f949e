"""Core benchmark 4: what a real-time stream exports, in OTLP protobuf bytes."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import SpanKind

from core_stack import EVENT_KEY, EVENT_NAME, MESSAGES, MODEL, SPAN_NAME, USAGE, Stack, make_deltas, rollout_label
from harness import Section, Table, fmt_kib

# -- 4. what is exported --------------------------------------------------------------------------------------


@dataclass
class ExportRow:
    """What one path exported for the live stream."""

    label: str
    spans: int
    span_events: int
    updates: int
    span_bytes: int
    log_bytes: int
    gzip_bytes: int


def export_row(label: str, stack: Stack) -> ExportRow:
    """Encode what `stack` exported as OTLP protobuf and measure it."""
    spans = stack.spans()
    logs = stack.logs()
    span_bytes = encode_spans(spans).SerializeToString() if spans else b""
    log_bytes = encode_logs(logs).SerializeToString() if logs else b""
    return ExportRow(
        label,
        spans=len(spans),
        span_events=sum(len(span.events) for span in spans),
        updates=len(logs),
        span_bytes=len(span_bytes),
        log_bytes=len(log_bytes),
        gzip_bytes=len(gzip.compress(span_bytes)) + len(gzip.compress(log_bytes)),
    )


def bench_export(seconds: float, period: float) -> Section:
    """Section 4: one real-time stream fed to three independent providers at once, then encoded."""
    n = round(seconds / period)
    deltas = make_deltas(n, seed=21, non_ascii=0.02, emoji=0.01)
    default = Stack.for_mode("default", retain=True)
    chunk_events = Stack.for_mode("capture_stream_chunks=True", retain=True)
    plain = Stack(None, unlimited_events=True, retain=True)
    try:
        llm_default = default.llm()
        llm_chunks = chunk_events.llm()
        for llm in (llm_default, llm_chunks):
            llm.record_input(MESSAGES)
        span = plain.tracer.start_span(
            SPAN_NAME,
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.request.model": MODEL,
                **{f"gen_ai.prompt.{i}.{key}": value for i, m in enumerate(MESSAGES) for key, value in m.items()},
            },
        )
        record_default, record_chunks, add_event = llm_default.record_chunk, llm_chunks.record_chunk, span.add_event
        start = time.perf_counter()
        for index, delta in enumerate(deltas):
            delay = start + index * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            record_default(delta)
            record_chunks(delta)
            add_event(EVENT_NAME, {EVENT_KEY: delta})
        elapsed = time.perf_counter() - start
        for llm in (llm_default, llm_chunks):
            llm.end(usage=USAGE, finish_reason="stop")
        span.set_attributes(
            {
                "gen_ai.completion.0.content": "".join(deltas),
                "gen_ai.usage.input_tokens": USAGE["prompt_tokens"],
                "gen_ai.usage.output_tokens": USAGE["completion_tokens"],
            }
        )
        span.end()
        rows = [
            export_row(rollout_label("default"), default),
            export_row(rollout_label("capture_stream_chunks=True"), chunk_events),
            export_row("OTel span, one event per chunk + final text (OpenLLMetry-style)", plain),
        ]
    finally:
        for stack in (default, chunk_events, plain):
            stack.shutdown()
    section = Section(
        "4. What a real-time stream exports",
        f"One stream of {n:,} chunks, one every {period * 1000:.0f} ms in real time ({elapsed:.2f} s measured), "
        "fed to three independent providers at once; default update interval (1 s) and preview (4096 chars). "
        "Everything exported is encoded with the OTLP exporters' own encoders (`encode_spans` / `encode_logs`, "
        "`SerializeToString()`); gzip is shown for reference (OTLP exporters send uncompressed by default). "
        "The plain-OTel span records the prompt and the final completion as attributes, as OpenLLMetry does.",
    )
    section.tables.append(
        Table(
            [
                "path",
                "spans",
                "span events",
                "update log records",
                "span KiB",
                "log KiB",
                "total KiB",
                "B/chunk",
                "gzip KiB",
            ],
            [
                [
                    r.label,
                    str(r.spans),
                    f"{r.span_events:,}",
                    str(r.updates),
                    fmt_kib(r.span_bytes),
                    fmt_kib(r.log_bytes),
                    fmt_kib(r.span_bytes + r.log_bytes),
                    f"{(r.span_bytes + r.log_bytes) / n:,.0f}",
                    fmt_kib(r.gzip_bytes),
                ]
                for r in rows
            ],
        )
    )
    base, chunks, events = rows
    base_total = base.span_bytes + base.log_bytes
    section.interpretation = (
        f"The default mode exports 1 span and {base.updates} update records ({fmt_kib(base_total)} KiB, about "
        f"one record per second of streaming whatever the chunk rate); one event per chunk costs "
        f"{(chunks.span_bytes + chunks.log_bytes) / base_total:.1f}x (rollout chunk events) and "
        f"{(events.span_bytes + events.log_bytes) / base_total:.1f}x (OpenLLMetry-style) those bytes."
    )
    return section
