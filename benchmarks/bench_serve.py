"""What `rollout-otel serve` holds in memory, and how soon a very long stream starts.

Each case runs the real command (`python -m rollout_otel.cli serve --port 0 --delay 0`) in a process of its own and
talks to it over a socket with `http.client`, so the figures are the server's alone: resident memory (`VmRSS`, and
the peak `VmHWM`) read from `/proc/<pid>/status`.

1. **Many large requests**: 1,000 non-streamed chat requests of 200 KB each on one keep-alive connection, after 10
   warm-up requests; RSS growth.
2. **A very long stream**: one streamed chat request with `x-rollout-scenario: chunks=10000000`; the time from the
   request to the first byte of the body, then 2 s of reading; RSS growth and peak.

Usage: `python benchmarks/bench_serve.py [--quick] [--write benchmarks/RESULTS-serve.md]`. It imports nothing from
rollout-otel itself, so the same script measures any version of the server (`PYTHONPATH=<other src>`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

PROMPT_WORDS = "Streaming responses arrive as a sequence of small deltas, each carrying a word. "


@contextmanager
def serve(*extra: str) -> Iterator[tuple[int, int]]:
    """Run `rollout-otel serve` on a free port; yields (pid, port) and stops it by its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rollout_otel.cli", "serve", "--port", "0", "--delay", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"127\.0\.0\.1:(\d+)", process.stdout.readline())
        if match is None:
            raise RuntimeError("rollout-otel serve did not print its address")
        yield process.pid, int(match.group(1))
    finally:
        process.terminate()
        process.wait(timeout=10)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM")))
    return {key: int(value.split()[0]) for key, value in fields.items()}


def chat_body(size: int, *, stream: bool) -> bytes:
    """A chat request whose one user message is `size` bytes of words."""
    text = (PROMPT_WORDS * (size // len(PROMPT_WORDS) + 1))[:size]
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "stream": stream}
    return json.dumps(body).encode()


def many_requests(count: int, size: int) -> dict[str, float]:
    """RSS growth of the server over `count` non-streamed requests of `size` bytes each."""
    with serve() as (pid, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = chat_body(size, stream=False)
        headers = {"content-type": "application/json"}

        def send(n: int) -> None:
            for _ in range(n):
                connection.request("POST", "/v1/chat/completions", body, headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")

        send(10)
        before = memory_kib(pid)
        started = time.perf_counter()
        send(count)
        elapsed = time.perf_counter() - started
        after = memory_kib(pid)
        connection.close()
    return {
        "rss_before_mb": before["VmRSS"] / 1024,
        "rss_after_mb": after["VmRSS"] / 1024,
        "growth_mb": (after["VmRSS"] - before["VmRSS"]) / 1024,
        "seconds": elapsed,
    }


def long_stream(chunks: int, read_seconds: float) -> dict[str, float]:
    """Time to the first body byte of a `chunks=N` stream, and the server's memory while it streams."""
    with serve() as (pid, port):
        before = memory_kib(pid)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        headers = {"content-type": "application/json", "x-rollout-scenario": f"chunks={chunks}"}
        started = time.perf_counter()
        connection.request("POST", "/v1/chat/completions", chat_body(100, stream=True), headers)
        response = connection.getresponse()
        response.read1(1)
        first_byte = time.perf_counter() - started
        received = 1
        deadline = time.perf_counter() + read_seconds
        while time.perf_counter() < deadline and (data := response.read1(65536)):
            received += len(data)
        after = memory_kib(pid)
        connection.close()
    return {
        "first_byte_s": first_byte,
        "status": response.status,
        "received_mb": received / 1e6,
        "rss_before_mb": before["VmRSS"] / 1024,
        "rss_after_mb": after["VmRSS"] / 1024,
        "peak_mb": after["VmHWM"] / 1024,
    }


def report(quick: bool) -> str:
    count, size = (100, 200_000) if quick else (1_000, 200_000)
    chunks = 10_000_000
    requests = many_requests(count, size)
    stream = long_stream(chunks, 0.5 if quick else 2.0)
    lines = [
        "| case | figure | value |",
        "|---|---|---:|",
        f"| {count:,} chat requests of {size // 1000} KB | RSS before (after 10 warm-up requests) | "
        f"{requests['rss_before_mb']:.1f} MB |",
        f"| | RSS after | {requests['rss_after_mb']:.1f} MB |",
        f"| | growth | {requests['growth_mb']:+.1f} MB |",
        f"| | wall time | {requests['seconds']:.1f} s |",
        f"| stream with `chunks={chunks}` | HTTP status | {stream['status']:.0f} |",
        f"| | time to first body byte | {stream['first_byte_s']:.3f} s |",
        f"| | RSS before the request | {stream['rss_before_mb']:.1f} MB |",
        f"| | RSS after first byte + {2.0 if not quick else 0.5} s of reading | {stream['rss_after_mb']:.1f} MB |",
        f"| | peak RSS (VmHWM) | {stream['peak_mb']:.1f} MB |",
        f"| | body received | {stream['received_mb']:.1f} MB |",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 requests, 0.5 s of streaming")
    parser.add_argument("--write", metavar="PATH", help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    table = report(args.quick)
    print(table)
    if args.write:
        with open(args.write, "w") as out:
            out.write(f"# `rollout-otel serve` memory\n\nPython {sys.version.split()[0]}\n\n")
            out.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
