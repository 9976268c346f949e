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

The parts: `openai_replay.py` (capture and replay), `openai_variants.py` (rollout's modes, the anchors, their
providers and patches), `openai_worker.py` (the measurements, in one process per instrumentation) and
`openai_report.py` / `openai_report_memory.py` (the tables); this script runs the workers and reports.

Usage: `python benchmarks/bench_openai.py [--quick] [--write benchmarks/RESULTS-openai.md]`. The anchors are the
`bench` extra (`pip install -e '.[bench]'`); one that is missing or fails is reported with its error.
Each instrumentation runs in its own worker process (the anchors patch the openai classes globally, and an
uninstrument that leaves wrappers behind must not leak into the next one); every provider is created there,
exporters drop or keep in memory, and no OpenTelemetry global is set.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from harness import (
    Section,
    Table,
    fmt_kib,
    machine_info,
    package_version,
    render_markdown,
    render_text,
)
from openai_replay import ENDPOINTS, capture_replies, http_module
from openai_report import calls_section, setup_section, time_section, variants_of
from openai_report_memory import export_section, flat_per_stream, flat_section, memory_section
from openai_variants import ANCHORS, CONFIG_PREFIXES, ROLLOUT, ROLLOUT_DEFAULT
from openai_worker import run_worker


def worker_env(name: str) -> dict[str, str]:
    """This process's environment without any instrumentation settings, plus the anchor's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
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
