"""Can `rollout-otel tail` keep up? 500 streams updating once a second and 200 calls finishing a second, fed to its
model, and one frame of its live view rendered ten times a second.

Measured: the CPU time for the model to take in one second of traffic; over a real socket, one second of update
events posted to tail's receiver as the SDK would (OTLP/HTTP protobuf) until tail has decoded them into its model;
the time to render one frame; so the lag from receipt to screen (decoding, then at most one frame interval plus one
render). Memory: the model's size after a minute of traffic.

Usage: `python benchmarks/bench_tail.py [--quick] [--write benchmarks/RESULTS-tail.md]`.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from harness import BenchRun, Section, Table
from rollout_otel._receiver import ReceivedLog, ReceivedSpan
from rollout_otel.tail import TailModel
from rollout_otel.tail._command import FRAME_SECONDS
from rollout_otel.tail._view import render

STREAMS = 500
FINISHED_PER_SECOND = 200
PREVIEW = "Streaming responses arrive as a sequence of small deltas, each carrying a word or a fragment of one. " * 3


def update(stream: int, second: int) -> ReceivedLog:
    attributes: dict[str, Any] = {
        "rollout.stream.chunks": 40 * second,
        "rollout.stream.chars": 180 * second,
        "rollout.stream.elapsed": float(second),
        "rollout.stream.preview": PREVIEW[-240:],
        "rollout.stream.name": "openai.chat.completions",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.time_to_first_chunk": 0.3,
    }
    resource = {"service.name": f"svc-{stream % 7}"}
    return ReceivedLog(
        "rollout.stream.update", None, attributes, "0" * 32, f"{stream:016x}", 0, 0, 9, resource, "r", 0.0, "http"
    )


def finished(index: int) -> ReceivedSpan:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 512,
        "gen_ai.usage.output_tokens": 128,
        "rollout.stream.end_reason": "completed",
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.output.messages": '[{"role":"assistant","parts":[{"content":"' + PREVIEW[:200] + '","type":"text"}]}]',
    }
    return ReceivedSpan(
        "openai.chat.completions",
        "1" * 32,
        f"f{index:015x}",
        None,
        3,
        attributes,
        [],
        0,
        "",
        0,
        2_500_000_000,
        {"service.name": "svc"},
        "r",
        0.0,
        "http",
    )


def one_second(model: TailModel, second: int, base: int) -> float:
    started = time.perf_counter()
    model.on_logs([update(stream, second) for stream in range(STREAMS)])
    model.on_spans([finished(base + i) for i in range(FINISHED_PER_SECOND)])
    return time.perf_counter() - started


def over_the_socket(rounds: int) -> float:
    """Seconds from posting one second of update events (500) to tail's receiver to the model holding them."""
    import http.client

    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.logs.v1 import logs_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2

    from rollout_otel.tail._command import TailReceiver

    def value(v: Any) -> common_pb2.AnyValue:
        if isinstance(v, str):
            return common_pb2.AnyValue(string_value=v)
        if isinstance(v, int):
            return common_pb2.AnyValue(int_value=v)
        return common_pb2.AnyValue(double_value=v)

    records = []
    for stream in range(STREAMS):
        log = update(stream, 3)
        records.append(
            logs_pb2.LogRecord(
                event_name=log.event_name,
                span_id=bytes.fromhex(log.span_id or ""),
                trace_id=bytes.fromhex("ab" * 16),
                attributes=[common_pb2.KeyValue(key=k, value=value(v)) for k, v in log.attributes.items()],
            )
        )
    body = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource_pb2.Resource(
                    attributes=[common_pb2.KeyValue(key="service.name", value=value("svc"))]
                ),
                scope_logs=[logs_pb2.ScopeLogs(log_records=records)],
            )
        ]
    ).SerializeToString()
    model = TailModel()
    receiver = TailReceiver(model, lambda event: None, port=0, grpc_port=0).start()
    timings = []
    try:
        for _ in range(rounds):
            conn = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
            started = time.perf_counter()
            conn.request("POST", "/v1/logs", body=body, headers={"Content-Type": "application/x-protobuf"})
            conn.getresponse().read()  # the receiver answers after the model took the records in
            timings.append(time.perf_counter() - started)
            conn.close()
    finally:
        receiver.stop()
    return statistics.median(timings)


def bench(seconds: int) -> tuple[Section, dict[str, float]]:
    model = TailModel()
    ingest = [one_second(model, second, second * FINISHED_PER_SECOND) for second in range(1, seconds + 1)]
    console = Console(file=io.StringIO(), width=200, color_system="truecolor", force_terminal=True)
    frames = []
    for _ in range(30):
        started = time.perf_counter()
        console.print(render(model, address="bench"))
        frames.append(time.perf_counter() - started)
    tracemalloc.start()
    sized = TailModel()
    for second in range(1, 61):
        one_second(sized, second, second * FINISHED_PER_SECOND)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    numbers = {
        "ingest": statistics.median(ingest),
        "socket": over_the_socket(seconds),
        "frame": statistics.median(frames),
        "memory": memory / 1e6,
    }
    lag = numbers["socket"] + FRAME_SECONDS + numbers["frame"]
    rows = [
        ["take in one second of traffic (500 updates, 200 finished calls)", f"{numbers['ingest'] * 1000:.1f} ms"],
        ["500 update events over OTLP/HTTP, posted to decoded into the model", f"{numbers['socket'] * 1000:.1f} ms"],
        ["render one frame (20 open streams and 15 finished calls shown)", f"{numbers['frame'] * 1000:.1f} ms"],
        ["lag from receipt to screen, at most (decoding + frame interval + one render)", f"{lag * 1000:.0f} ms"],
        [
            "share of one core at ten frames a second, with the traffic (counting the updates twice)",
            f"{numbers['socket'] + numbers['ingest'] + 10 * numbers['frame']:.0%}",
        ],
        ["model memory after a minute of that traffic", f"{numbers['memory']:.1f} MB"],
    ]
    section = Section(
        "Keeping up",
        f"{STREAMS} open streams updating once a second and {FINISHED_PER_SECOND} calls finishing a second; median "
        f"of {seconds} seconds of traffic and 30 frames.",
        [Table(["what", "measured"], rows)],
    )
    return section, numbers


def main(argv: Sequence[str] | None = None) -> int:
    run = BenchRun(__doc__, "bench_tail.py", argv, "fewer seconds (smoke run)")
    section, numbers = bench(3 if run.quick else 10)
    busy = numbers["socket"] + numbers["ingest"] + 10 * numbers["frame"]
    lag = numbers["socket"] + FRAME_SECONDS + numbers["frame"]
    section.interpretation = (
        f"One second of that traffic takes about {(numbers['socket'] + numbers['ingest']) * 1000:.0f} ms to receive, "
        f"decode and take in, and ten frames {10 * numbers['frame'] * 1000:.0f} ms to draw: about {busy:.0%} of one "
        f"core, so tail keeps up, and a screen is at most {lag * 1000:.0f} ms behind what arrived. Without news, it "
        "draws once a second."
    )
    return run.finish([section], "rollout-otel tail benchmark")


if __name__ == "__main__":
    sys.exit(main())
