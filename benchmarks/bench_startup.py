"""What rollout-otel's instrumentors add to a program's start-up under `opentelemetry-instrument`.

The instrumentors patch a provider SDK when the program imports it (wrapt post-import hooks), so a program that
imports neither `openai` nor `anthropic` should pay nothing for them, and one that does should pay no more than the
import itself. Each configuration is a fresh `opentelemetry-instrument python -c ...` process (exporters off, other
OpenAI and Anthropic instrumentations disabled), run in interleaved rounds; the table has the median wall time.

Usage: `python benchmarks/bench_startup.py [--quick] [--write benchmarks/RESULTS-startup.md]`.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence

from harness import BenchRun, Section, Table

OTHERS = "openai,anthropic"  # other instrumentations' entry-point names, kept out of every run
OURS = "rollout_openai,rollout_anthropic"
# CPU time (user + system) of the child process: wall time on a shared 2-core machine swings by a tenth of a second.
CASES = {
    "opentelemetry-instrument, no instrumentor, `pass`": (OTHERS + "," + OURS, "pass"),
    "rollout instrumentors on, `pass`": (OTHERS, "pass"),
    "no instrumentor, `import openai`": (OTHERS + "," + OURS, "import openai"),
    "rollout instrumentors on, `import openai`": (OTHERS, "import openai"),
    "no instrumentor, `import anthropic`": (OTHERS + "," + OURS, "import anthropic"),
    "rollout instrumentors on, `import anthropic`": (OTHERS, "import anthropic"),
}


def run_once(disabled: str, code: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_"))}
    env.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=disabled,
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["opentelemetry-instrument", sys.executable, "-c", code], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench(rounds: int) -> tuple[Section, dict[str, float]]:
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, (disabled, code) in CASES.items():
            samples[name].append(run_once(disabled, code))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    names = list(CASES)
    rows = [[name, f"{medians[name]:.3f}", ""] for name in names]
    for index in (1, 3, 5):  # each "on" row against the "off" row above it
        rows[index][2] = f"{medians[names[index]] - medians[names[index - 1]]:+.3f}"
    section = Section(
        "Start-up",
        f"CPU time (user + system) of one `opentelemetry-instrument python -c ...` process, median of {rounds} "
        "interleaved rounds "
        "(exporters off; other OpenAI and Anthropic instrumentations disabled in every run).",
        [Table(["configuration", "CPU seconds", "added by rollout's instrumentors"], rows)],
    )
    return section, medians


def main(argv: Sequence[str] | None = None) -> int:
    run = BenchRun(__doc__, "bench_startup.py", argv, "3 rounds (smoke run)")
    section, medians = bench(3 if run.quick else 21)
    names = list(CASES)
    section.interpretation = (
        f"Instrumentors on, a program that imports neither provider starts "
        f"{medians[names[1]] - medians[names[0]]:+.3f} s from one with none; importing openai costs "
        f"{medians[names[3]] - medians[names[2]]:+.3f} s more with them than without, anthropic "
        f"{medians[names[5]] - medians[names[4]]:+.3f} s: the patching itself, once the package is imported."
    )
    return run.finish([section], "rollout-otel start-up benchmark")


if __name__ == "__main__":
    sys.exit(main())
