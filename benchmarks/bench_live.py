"""What live spans add to a long stream: spans and bytes on the wire for one 60-second stream, live spans on vs off.

One stream of `--seconds` (60 by default) at 50 chunks a second (token-like deltas of 1-8 characters) is fed in real
time to several set-ups at once, each its own TracerProvider and LoggerProvider with in-memory exporters and a
`StreamingSpanProcessor` (updates every 1 s, stall records after 10 s): live spans off (what a backend that takes
logs gets), live spans on, and live spans on with `capture_content=False`. What each exported is encoded with the
OTLP encoders (`encode_spans`, `encode_logs`, uncompressed) and measured in bytes.

Usage: `python benchmarks/bench_live.py [--seconds 60] [--write benchmarks/RESULTS-live.md]`.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench_core import Section, Table, machine_info, render_markdown, render_text
from rollout_otel import StreamingSpanProcessor
from rollout_otel._config import resolve_settings
from rollout_otel.trace import llm

RATE = 50  # chunks a second, a typical model's output speed
VARIANTS = {
    "live spans off": {"live_spans": "off"},
    "live spans on": {"live_spans": "on"},
    "live spans on, capture_content=False": {"live_spans": "on", "capture_content": False},
}


class SetUp:
    """One variant's providers and in-memory exporters."""

    def __init__(self, **settings: object) -> None:
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.tracer_provider = TracerProvider()
        self.processor = StreamingSpanProcessor(
            resolve_settings(environ={}, **settings),  # type: ignore[arg-type]
            logger_provider=self.logger_provider,
        )
        self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def stream(self, deltas: list[str], seconds: float, started: float) -> None:
        with llm(
            "openai.chat.completions", model="gpt-4o-mini", stream=True, tracer_provider=self.tracer_provider
        ) as span:
            for i, delta in enumerate(deltas):
                wait = started + seconds * i / len(deltas) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                span.record_chunk(delta)
            span.end(usage={"input_tokens": 40, "output_tokens": len(deltas)}, finish_reason="stop")

    def measure(self) -> list[str]:
        spans = self.spans.get_finished_spans()
        live = [s for s in spans if (s.attributes or {}).get("rollout.live")]
        final = [s for s in spans if not (s.attributes or {}).get("rollout.live")]
        logs = self.logs.get_finished_logs()
        live_bytes = len(encode_spans(live).SerializeToString()) if live else 0
        final_bytes = len(encode_spans(final).SerializeToString())
        log_bytes = len(encode_logs(logs).SerializeToString()) if logs else 0
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        return [
            str(len(final)),
            str(len(live)),
            f"{final_bytes / 1024:,.1f}",
            f"{live_bytes / 1024:,.1f}",
            f"{(live_bytes / final_bytes * 100):.0f}%",
            str(len(logs)),
            f"{log_bytes / 1024:,.1f}",
        ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args(argv)
    began = time.monotonic()
    rng = random.Random(7)
    words = [
        "the",
        "lighthouse",
        "keeper",
        "watched",
        "a",
        "robot",
        "learn",
        "to",
        "read",
        "the",
        "tides",
        "and",
        "count",
        "the",
        "gulls",
        "at",
        "dawn",
    ]
    deltas = [rng.choice(words)[: rng.randint(1, 8)] + " " for _ in range(int(args.seconds * RATE))]
    set_ups = {name: SetUp(**settings) for name, settings in VARIANTS.items()}
    started = time.monotonic()
    threads = [threading.Thread(target=s.stream, args=(deltas, args.seconds, started)) for s in set_ups.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = [[name, *set_up.measure()] for name, set_up in set_ups.items()]
    chars = sum(len(d) for d in deltas)
    section = Section(
        title=f"Live spans of one {args.seconds:.0f}-second stream",
        method=(
            f"One stream of {len(deltas):,} chunks ({chars:,} characters) over {args.seconds:.0f} s, fed in real time "
            "to each set-up at once; updates every 1 s, stall records after 10 s (none here: the stream never "
            "pauses). 'LLM span' is the span the call itself ends with; 'live spans' are the extra spans live_spans "
            "adds (at the start, then 1, 2, 4, 8, 16, 32 s in); bytes are OTLP protobuf, uncompressed."
        ),
        tables=[
            Table(
                [
                    "variant",
                    "LLM spans",
                    "live spans",
                    "LLM span KiB",
                    "live spans KiB",
                    "live / LLM span",
                    "log records",
                    "log KiB",
                ],
                rows,
            )
        ],
        interpretation=(
            f"Live spans add {rows[1][2]} spans and {rows[1][4]} KiB to this stream ({rows[1][5]} of its LLM span); "
            "the LLM span itself is the same size with them on or off, and without content capture they carry "
            "counts only."
        ),
    )
    command = "python benchmarks/bench_live.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(render_text(section))
    if args.write:
        header = ["# rollout-otel live spans benchmark", "", *machine_info(command.strip(), time.monotonic() - began)]
        args.write.write_text("\n".join([*header, "", render_markdown(section)]))


if __name__ == "__main__":
    main()
