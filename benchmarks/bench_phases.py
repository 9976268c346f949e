"""Where a streamed call's fixed calls go, phase by phase: the span's start, the first chunk, the rest of the
stream, the end (the last `next()`, which ends the span).

The same set-up and replay as `bench_floor.py` section 1 (the provider SDK's own objects, read once from
`LocalLLMServer`, replayed through rollout's stream proxy), with a 20-chunk reply; the update thread is given its
turn after the start, as a real request gives it, so its start record is not sent from the span's end. Each phase
is profiled on its own (cProfile, exact), its calls grouped as `bench_floor.py` groups them: the OpenTelemetry SDK
and API, rollout's modules, and the rest (stdlib, the provider SDK, the replay loop itself: one call per item).

Usage: `python benchmarks/bench_phases.py [--write benchmarks/RESULTS-phases.md]`.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bench_floor as floor

PHASES = ("start", "first chunk", "the other chunks", "end")


def side_of(group: str) -> str:
    if group.startswith("opentelemetry/"):
        return "OpenTelemetry"
    if group.startswith("rollout_otel/"):
        return "rollout"
    return "other"


def profiled(run: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    result: list[Any] = []
    _, stats = floor.calls_of(lambda: result.append(run()))
    return result[0], floor.groups(stats)


def phases_of(path: floor.Path_, traces: Any) -> dict[str, Counter[str]]:
    """Calls by group in each phase of one traced replay (after two unprofiled warm-up replays)."""
    from rollout_otel.instrumentation._calls import start_span
    from rollout_otel.instrumentation._guard import context_to_trace
    from rollout_otel.instrumentation._stream import TracedStream

    client = path.make(20)
    items = list(path.stream(client, 20))
    endpoint, kwargs = floor.ENDPOINTS[path.name]

    class Replay:
        response = None

        def __iter__(self) -> Iterator[Any]:
            return iter(items)

    def rest(stream: Iterator[Any]) -> None:
        for _ in range(len(items) - 2):
            next(stream)

    def last(stream: Iterator[Any]) -> None:
        next(stream)
        for _ in stream:  # ends the span
            pass

    found: dict[str, Counter[str]] = {}
    for _ in range(3):
        span, found["start"] = profiled(
            lambda: start_span(endpoint, None, kwargs, traces, stream=True, context=context_to_trace())
        )
        floor.wait_for_start_record(span)
        stream = iter(TracedStream(Replay(), span, endpoint.accumulator(span, kwargs)))
        _, found["first chunk"] = profiled(lambda: next(stream))  # noqa: B023
        _, found["the other chunks"] = profiled(lambda: rest(stream))  # noqa: B023
        _, found["end"] = profiled(lambda: last(stream))  # noqa: B023
    return found


def report(results: dict[str, dict[str, Counter[str]]], took: float) -> str:
    lines = [
        "# Where a streamed call's fixed calls go, phase by phase (`bench_phases.py`)",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Command: `python benchmarks/bench_phases.py --write benchmarks/RESULTS-phases.md` (total {took:.0f} s)",
        f"- Python {platform.python_version()} ({platform.python_implementation()})",
        "- A 20-chunk reply replayed through rollout's stream proxy; content, update events and metrics on.",
        "  'other' holds the replay loop's own calls (about one per item) and the stdlib's.",
        "",
        "| path | phase | calls | OpenTelemetry | rollout | other |",
        "|:---|:---|---:|---:|---:|---:|",
    ]
    tops = []
    for name, phases in results.items():
        for phase in PHASES:
            sides: Counter[str] = Counter()
            for group, n in phases[phase].items():
                sides[side_of(group)] += n
            total = sum(sides.values())
            lines.append(
                f"| {name} | {phase} | {total} | {sides['OpenTelemetry']} | {sides['rollout']} | {sides['other']} |"
            )
            top = ", ".join(f"{g} {n}" for g, n in phases[phase].most_common(8))
            tops.append(f"- {name}, {phase}: {top}")
    lines += ["", "By group (the eight largest of each phase):", "", *tops, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    from rollout_otel.serve import LocalLLMServer

    began = time.monotonic()
    floor.load_endpoints()
    traces, _logs, _meters, _processor = floor.providers()
    results: dict[str, dict[str, Counter[str]]] = {}
    with LocalLLMServer() as server:
        for path in floor.paths(server.port):
            results[path.name] = phases_of(path, traces)
    text = report(results, time.monotonic() - began)
    print(text)
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
