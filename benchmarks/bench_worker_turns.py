"""Where the content worker holds the GIL while an asyncio loop waits for it, and what its job costs in total.

Two measurements on `bench_conversation.py`'s calls (a 20-chunk reply at once, so the worker also ends the span):
- turns: while a 1 ms heartbeat runs on the loop, each of the worker's stretches of work between two naps is timed
  (wall and the worker thread's CPU time) with the code where it ended, and garbage collections on the worker are
  timed too; a stretch of much CPU is GIL held in one go, a stretch of little CPU but long wall time is the worker
  waiting (for the GIL or for a core). Needs a rollout-otel with `_content/_turns.py`.
- total: the worker's job (map and encode the request) run on this thread as the worker runs it, naps included:
  CPU and wall time, median of N. Runs on earlier versions too, for a before/after.

Usage: `python benchmarks/bench_worker_turns.py [--runs N] [--total-only]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bench_conversation as conversation

CASES = ("10,000 messages of 1 KB", "one 20 MB image")


def total(runs: int) -> None:
    """The worker's job, run here as the worker runs it."""
    from rollout_otel._content import _early
    from rollout_otel.instrumentation.openai._request import chat_input

    begin: Callable[[], None]
    try:
        from rollout_otel._content import _turns

        def begin() -> None:
            _turns.start(threading.get_ident())
    except ImportError:  # an earlier rollout-otel: the worker's clock was its own attribute

        def begin() -> None:
            _early._worker.worked_since = time.perf_counter()  # type: ignore[attr-defined]

    histories = conversation.histories()
    for name in CASES:
        cpu, wall = [], []
        for _ in range(runs + 1):
            job = _early.EarlyRequest(chat_input({"messages": histories[name]}), 750_000)
            begin()
            started, used = time.perf_counter(), time.thread_time()
            job.run()
            wall.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - used)
            assert job.take(750_000) is not None
        cpu, wall = cpu[1:], wall[1:]  # the first warms up
        print(
            f"| {name} | {statistics.median(cpu) * 1e3:.0f} ({min(cpu) * 1e3:.0f}) |"
            f" {statistics.median(wall) * 1e3:.0f} ({min(wall) * 1e3:.0f}) |"
        )


class Turns:
    """The worker's stretches between naps, and its garbage collections, while installed."""

    def __init__(self) -> None:
        from rollout_otel._content import _turns

        self.turns = _turns
        self.stretches: list[tuple[float, float, float, str]] = []  # wall start, wall end, CPU, where it ended
        self.collections: list[tuple[float, int]] = []  # seconds, generation
        self._cpu = 0.0
        self._collecting = 0.0
        self._sleep = _turns._sleep
        self._start = _turns.start

    def nap(self, seconds: float) -> None:
        frame = sys._getframe(3)  # nap <- _nap <- pause <- the code that paused
        where = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {frame.f_code.co_name}"
        self.stretches.append((self.turns.turns.since, time.perf_counter(), time.thread_time() - self._cpu, where))
        self._sleep(seconds)
        self._cpu = time.thread_time()

    def start(self, worker: int) -> None:
        self.turns.turns.worker, self.turns.turns.since, self._cpu = worker, time.perf_counter(), time.thread_time()

    def collected(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self.turns.turns.worker:
            return
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self.collections.append((time.perf_counter() - self._collecting, info["generation"]))

    def __enter__(self) -> Turns:
        self.turns._sleep = self.nap  # type: ignore[assignment]
        self.turns.start = self.start
        gc.callbacks.append(self.collected)
        return self

    def __exit__(self, *exc: object) -> None:
        self.turns._sleep = self._sleep
        self.turns.start = self._start
        gc.callbacks.remove(self.collected)


def turns(runs: int) -> None:
    """Each loop stall's worker stretches, with the reply at once."""
    import openai
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from bench_floor import providers
    from rollout_otel.serve import LocalLLMServer, scenario_headers

    traces, logs, meters, _ = providers()
    exporter = InMemorySpanExporter()
    traces.add_span_processor(SimpleSpanProcessor(exporter))
    with LocalLLMServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        items = list(
            client.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers=scenario_headers(chunks=20),
            )
        )
    histories = conversation.histories()
    for name in CASES:
        messages = histories[name]
        conversation.one_call(items, messages, traces, 0.0)  # warm
        assert conversation.recorded_as_sent(exporter, messages)
        print(f"\n{name}, reply at once; per run: the loop's longest stall, the worker's longest stretch between")
        print("naps (wall / CPU ms, where it ended), its longest garbage collection:")
        for run in range(runs):
            with Turns() as seen:
                stall, _ = asyncio.run(conversation.loop_stall(items, messages, traces, 0.0))
            assert conversation.recorded_as_sent(exporter, messages)
            by_cpu = max(seen.stretches, key=lambda s: s[2], default=(0.0, 0.0, 0.0, "-"))
            by_wall = max(seen.stretches, key=lambda s: s[1] - s[0], default=(0.0, 0.0, 0.0, "-"))
            collection = max(seen.collections, default=(0.0, -1))
            print(
                f"- run {run + 1}: stall {stall * 1e3:.1f}; {len(seen.stretches)} naps; most CPU"
                f" {(by_cpu[1] - by_cpu[0]) * 1e3:.1f} / {by_cpu[2] * 1e3:.1f} at {by_cpu[3]}; longest wall"
                f" {(by_wall[1] - by_wall[0]) * 1e3:.1f} / {by_wall[2] * 1e3:.1f}; gc {collection[0] * 1e3:.1f}"
                f" (generation {collection[1]})"
            )
    traces.shutdown()
    logs.shutdown()
    meters.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--total-only", action="store_true")
    args = parser.parse_args()
    from rollout_otel._content import _early

    print(f"rollout-otel from {Path(_early.__file__).parents[2]}")
    print("\n| request | worker job CPU ms, median (best) | wall ms, median (best) |\n|:---|---:|---:|")
    total(args.runs)
    if not args.total_only:
        turns(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
