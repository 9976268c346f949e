"""Does `rollout-otel tail` hold up as a console people keep open? The real command runs in a pseudo-terminal at
120x40 (its output read as a terminal would), and this script posts to it over OTLP/HTTP as instrumented apps do.

Measured: tail's CPU time (from /proc) with 100 open streams sending 10 updates a second each; the delay from posting
an update to its text reaching the terminal, under that load; tail's resident memory through churn (streams starting,
updating ten times a second for three seconds and finishing, 100 at a time). With `BENCH_TAIL_BASELINE=<the src
directory of an earlier rollout-otel>` in the environment, the same runs for that version too, side by side.

Usage: `python benchmarks/bench_tail.py [--quick] [--write benchmarks/RESULTS-tail.md]`.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import pty
import select
import socket
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from harness import BenchRun, Section, Table

STREAMS = 100
UPDATES_PER_SECOND = 10
STREAM_SECONDS = 3.0  # how long each stream of the churn lasts
PREVIEW = "Streaming responses arrive as a sequence of small deltas, each carrying a word or a fragment of one. " * 3
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def _value(v: object) -> common_pb2.AnyValue:
    if isinstance(v, str):
        return common_pb2.AnyValue(string_value=v)
    if isinstance(v, int):
        return common_pb2.AnyValue(int_value=v)
    if isinstance(v, float):
        return common_pb2.AnyValue(double_value=v)
    return common_pb2.AnyValue(string_value=str(v))


def _attrs(values: dict[str, object]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=_value(v)) for k, v in values.items()]


RESOURCE = resource_pb2.Resource(attributes=_attrs({"service.name": "bench-app"}))
NAMING = {"rollout.stream.name": "openai.chat.completions", "gen_ai.request.model": "gpt-4o-mini"}


def record(event: str, span_id: int, updates: int, preview: str = "") -> logs_pb2.LogRecord:
    attributes: dict[str, object] = dict(NAMING)
    if event == "rollout.stream.update":
        attributes.update(
            {
                "rollout.stream.chunks": 4 * updates,
                "rollout.stream.chars": 18 * updates,
                "rollout.stream.elapsed": 0.3 + updates / UPDATES_PER_SECOND,
                "rollout.stream.update.seq": updates,
                "rollout.stream.preview": (preview or PREVIEW[: 40 + updates % 200])[-240:],
                "gen_ai.response.time_to_first_chunk": 0.3,
            }
        )
    return logs_pb2.LogRecord(
        event_name=event,
        trace_id=TRACE_ID,
        span_id=span_id.to_bytes(8, "big"),
        severity_number=9,
        attributes=_attrs(attributes),
    )


def logs_body(records: list[logs_pb2.LogRecord]) -> bytes:
    scope = logs_pb2.ScopeLogs(log_records=records)
    request = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=RESOURCE, scope_logs=[scope])]
    )
    return request.SerializeToString()


def spans_body(span_ids: list[int]) -> bytes:
    spans = [
        trace_pb2.Span(
            trace_id=TRACE_ID,
            span_id=span_id.to_bytes(8, "big"),
            name="openai.chat.completions",
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=1_000_000_000,
            end_time_unix_nano=1_000_000_000 + int(STREAM_SECONDS * 1e9),
            attributes=_attrs(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 512,
                    "gen_ai.usage.output_tokens": 128,
                    "rollout.stream.end_reason": "completed",
                    "gen_ai.response.time_to_first_chunk": 0.3,
                    "rollout.output": PREVIEW[:200],
                }
            ),
        )
        for span_id in span_ids
    ]
    scope = trace_pb2.ScopeSpans(spans=spans)
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=RESOURCE, scope_spans=[scope])]
    )
    return request.SerializeToString()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Tail:
    """`rollout-otel tail` in a 120x40 pseudo-terminal; a thread reads its screen and notes when markers appear."""

    def __init__(self, src: str | None) -> None:
        self.port = free_port()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_", "COLUMNS", "LINES"))}
        env["TERM"] = "xterm-256color"
        if src:
            env["PYTHONPATH"] = src
        command = [sys.executable, "-m", "rollout_otel.cli", "tail", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--grpc-port", str(free_port())], env=env, stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        self.master = master
        self.seen: dict[bytes, float] = {}
        self.wanted: set[bytes] = set()
        self.bytes_out = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        time.sleep(1.0)  # the console's first frames
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def _read(self) -> None:
        tail = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            now = time.monotonic()
            self.bytes_out += len(data)
            window = tail + data
            with self._lock:
                for marker in [m for m in self.wanted if m in window]:
                    self.seen[marker] = now
                    self.wanted.discard(marker)
            tail = window[-64:]

    def expect(self, marker: str) -> None:
        with self._lock:
            self.wanted.add(marker.encode())

    def post(self, path: str, body: bytes) -> None:
        self.conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf"})
        self.conn.getresponse().read()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        self.conn.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._stop.set()
        self._reader.join(2)
        os.close(self.master)


@dataclass
class Result:
    cpu_share: float = 0.0
    delays: list[float] = field(default_factory=list)
    probes: int = 0
    output_kb_per_second: float = 0.0
    rss: list[tuple[float, float]] = field(default_factory=list)
    finished: int = 0


def load(tail: Tail, seconds: float, result: Result) -> None:
    """100 open streams, 10 updates a second each; twice a second a new stream whose preview carries a marker."""
    base = 1 << 40
    tail.post("/v1/logs", logs_body([record("rollout.stream.start", base + i, 0) for i in range(STREAMS)]))
    started_cpu, started, out = tail.cpu_seconds(), time.monotonic(), tail.bytes_out
    tick, probe = 0, 0
    sent: dict[str, float] = {}
    while time.monotonic() - started < seconds:
        tick += 1
        records = [record("rollout.stream.update", base + i, tick) for i in range(STREAMS)]
        posted: list[str] = []
        if tick % (UPDATES_PER_SECOND // 2) == 0:
            probe += 1
            marker = f"Q{probe:05d}Z"
            records.append(record("rollout.stream.update", (2 << 40) + probe, 1, preview=f"probe {marker}"))
            tail.expect(marker)
            posted.append(marker)
        sent_at = time.monotonic()
        tail.post("/v1/logs", logs_body(records))
        for marker in posted:
            sent[marker] = sent_at
        time.sleep(max(0.0, started + tick / UPDATES_PER_SECOND - time.monotonic()))
    elapsed = time.monotonic() - started
    result.cpu_share = (tail.cpu_seconds() - started_cpu) / elapsed
    result.output_kb_per_second = (tail.bytes_out - out) / 1024 / elapsed
    time.sleep(1.0)  # the last probes
    result.probes = probe
    result.delays = [tail.seen[m.encode()] - t for m, t in sent.items() if m.encode() in tail.seen]


def churn(tail: Tail, seconds: float, result: Result, samples: int) -> None:
    """Streams that start, update ten times a second for three seconds and finish, 100 open at any time."""
    per_stream = int(STREAM_SECONDS * UPDATES_PER_SECOND)
    next_id = 3 << 40
    live = {next_id + i: i % per_stream for i in range(STREAMS)}  # span id -> updates so far (staggered)
    next_id += STREAMS
    started, tick = time.monotonic(), 0
    result.rss = [(0.0, tail.rss_mb())]
    every = seconds / samples
    while (now := time.monotonic()) - started < seconds:
        tick += 1
        records, ended = [], []
        for span_id in list(live):
            live[span_id] += 1
            if live[span_id] > per_stream:
                ended.append(span_id)
                del live[span_id]
                live[next_id] = 0
                records.append(record("rollout.stream.start", next_id, 0))
                next_id += 1
            else:
                records.append(record("rollout.stream.update", span_id, live[span_id]))
        tail.post("/v1/logs", logs_body(records))
        if ended:
            tail.post("/v1/traces", spans_body(ended))
            result.finished += len(ended)
        if now - started >= every * len(result.rss):
            result.rss.append((now - started, tail.rss_mb()))
        time.sleep(max(0.0, started + tick / UPDATES_PER_SECOND - time.monotonic()))
    result.rss.append((time.monotonic() - started, tail.rss_mb()))


def measure(src: str | None, load_seconds: float, churn_seconds: float) -> Result:
    result = Result()
    tail = Tail(src)
    try:
        load(tail, load_seconds, result)
    finally:
        tail.close()
    tail = Tail(src)
    try:
        churn(tail, churn_seconds, result, samples=3)
    finally:
        tail.close()
    return result


def rows(label: str, r: Result) -> list[list[str]]:
    delays = sorted(r.delays)
    p50 = f"{statistics.median(delays) * 1000:.0f} ms" if delays else "-"
    p95 = f"{delays[int(0.95 * (len(delays) - 1))] * 1000:.0f} ms" if delays else "-"
    rss = ", ".join(f"{mb:.0f} MB at {t:.0f} s" for t, mb in r.rss)
    return [
        [label, "CPU, share of one core (100 open streams, 10 updates/s each)", f"{r.cpu_share:.0%}"],
        [label, "terminal output while that runs", f"{r.output_kb_per_second:.0f} KiB/s"],
        [label, f"posted to on screen, p50 / p95 ({len(delays)} of {r.probes} probes seen)", f"{p50} / {p95}"],
        [label, f"resident memory through churn ({r.finished} calls finished)", rss],
    ]


def interpretation(now: Result, before: Result | None) -> str:
    def summary(r: Result) -> str:
        delay = f"{statistics.median(r.delays) * 1000:.0f} ms" if r.delays else "never seen"
        growth = r.rss[-1][1] - r.rss[1][1] if len(r.rss) > 1 else 0.0
        return (
            f"{r.cpu_share:.0%} of one core, a posted update on screen after {delay} (median), and "
            f"{growth:+.0f} MB of memory from the first sample of churn to the last"
        )

    text = f"This version: {summary(now)}."
    if before is not None:
        text += f" Before: {summary(before)}."
    return text


def main(argv: Sequence[str] | None = None) -> int:
    run = BenchRun(__doc__, "bench_tail.py", argv, "3 s of load and 20 s of churn (smoke run)")
    load_seconds, churn_seconds = (3.0, 20.0) if run.quick else (10.0, 60.0)
    now = measure(None, load_seconds, churn_seconds)
    table = rows("this version", now)
    baseline = os.environ.get("BENCH_TAIL_BASELINE")
    before = measure(baseline, load_seconds, churn_seconds) if baseline else None
    if before is not None:
        table += rows("before (rich view)", before)
    section = Section(
        "A console people keep open",
        f"The real `rollout-otel tail` in a 120x40 pseudo-terminal. Load: {STREAMS} open streams, "
        f"{UPDATES_PER_SECOND} update records a second each (one OTLP/HTTP request per tenth of a second), for "
        f"{load_seconds:.0f} s; CPU from /proc. Delay: twice a second a new stream whose preview ends in a marker, "
        "timed from its POST to the marker in the terminal output. Churn: streams start, update for "
        f"{STREAM_SECONDS:.0f} s and finish, {STREAMS} open at any time, for {churn_seconds:.0f} s (ten minutes "
        "scaled down: memory is flat after the first seconds, so longer adds nothing but time).",
        [Table(["version", "what", "measured"], table)],
    )
    section.interpretation = interpretation(now, before)
    return run.finish([section], "rollout-otel tail benchmark")


if __name__ == "__main__":
    sys.exit(main())
