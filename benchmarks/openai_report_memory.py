"""The OpenAI benchmark's report, part 2: memory, many short streams and export volume."""

from __future__ import annotations

from typing import Any

from harness import (
    Section,
    Table,
    fmt_kib,
)
from openai_report import variants_of
from openai_variants import ROLLOUT, ROLLOUT_DEFAULT


def memory_section(results: dict[str, dict[str, Any]], mem: int, chars: dict[str, dict[int, int]]) -> Section:
    """Section 3: tracemalloc peak of one long stream, over the raw client's own peak."""
    section = Section(
        f"3. Memory of one {mem:,}-chunk stream",
        f"tracemalloc peak (KiB) while making one streamed call of {mem:,} chunks and reading it to the end, from "
        "just before `create`, raw and instrumented in the same worker after a warm-up; growth = instrumented peak "
        "- raw peak. 'held' = still allocated after the call and a collection (exporters drop the span). 'longest "
        "attribute' = characters of the exported span's longest string attribute, which shows whether the whole "
        f"output was recorded (the reply is {chars['chat'][mem]:,} characters). rollout's update thread runs live "
        "(1 s interval), so a few previews are taken during the stream. rollout's default mode is measured on both "
        "endpoints, the other paths on chat only (tracemalloc makes a 20,000-chunk chat stream take ~7 s).",
    )
    rows = []
    for label, data in variants_of(results):
        for endpoint, m in data["memory"].items():
            rows.append(
                [
                    label,
                    endpoint,
                    fmt_kib(m["raw_peak"]),
                    fmt_kib(m["peak"]),
                    fmt_kib(m["peak"] - m["raw_peak"]),
                    fmt_kib(m["held"]),
                    f"{m['output_chars']:,}",
                    f"{m['events']:,}",
                ]
            )
    section.tables.append(
        Table(
            [
                "path",
                "endpoint",
                "raw peak KiB",
                "instrumented peak KiB",
                "growth over raw KiB",
                "held after KiB",
                "longest attribute (chars)",
                "span events",
            ],
            rows,
        )
    )
    found = dict(variants_of(results))
    default = found.get(ROLLOUT_DEFAULT)
    if default is not None:
        growth = {e: (m["peak"] - m["raw_peak"]) for e, m in default["memory"].items()}
        text = chars["chat"][mem]
        section.interpretation = (
            "rollout-otel's default mode peaks "
            + " and ".join(f"{fmt_kib(g)} KiB over the raw stream on {e}" for e, g in growth.items())
            + f" while recording the full {text:,}-character output (about {text / 1024:.0f} KiB as an ASCII str)."
            " On chat the peak is the text itself, kept in blocks each joined once, up to 1,024 chunk strs (~56 B"
            " each) waiting for the next join, and at the end the encoded output, built while the blocks are"
            " released."
        )
        if "responses" in default["memory"]:
            raw_peak = default["memory"]["responses"]["raw_peak"]
            section.interpretation += (
                f" On responses the raw client itself peaks at {fmt_kib(raw_peak)} KiB, parsing the events that"
                " repeat the whole text (`response.output_text.done`, `content_part.done`, `output_item.done`,"
                " `response.completed`). From the first of them on, rollout's buffer refers to the str the newest"
                " one holds instead of its own copy, so at that peak it holds no text of its own: what remains is"
                " the span's own state, the live preview and the allocator's noise around the SDK's parsing."
            )
    return section


def flat_section(results: dict[str, dict[str, Any]], streams: int, short: int) -> Section:
    """Section 4: memory after 100 and after 1,000 consecutive streams."""
    section = Section(
        f"4. Memory over {streams:,} consecutive streams",
        f"{streams:,} chat streams of {short} chunks each, one after the other on one client, after 20 warm-up "
        "streams; at each checkpoint, after `gc.collect()`: tracemalloc growth since the warm-up, RSS growth, "
        "growth in the number of gc-tracked objects, and the streams rollout's processor still watches. "
        "tracemalloc runs throughout (its traces count in RSS). The raw client is the control.",
    )
    flat = results.get(ROLLOUT, {}).get("flat", {})
    rows = []
    for label, checkpoints in flat.items():
        for row in checkpoints:
            rows.append(
                [
                    label,
                    f"{row['streams']:,}",
                    fmt_kib(row["traced"]),
                    f"{row['rss'] / 2**20:,.2f}",
                    f"{row['rss_total'] / 2**20:,.1f}",
                    f"{row['objects']:,}",
                    str(row["open"]) if label == ROLLOUT_DEFAULT else "-",
                ]
            )
    section.tables.append(
        Table(
            [
                "path",
                "after streams",
                "tracemalloc growth KiB",
                "RSS growth MiB",
                "RSS MiB",
                "gc objects growth",
                "open watched streams",
            ],
            rows,
        )
    )
    per_stream = flat_per_stream(flat)
    if per_stream:
        section.interpretation = (
            "Between the first and last checkpoint tracemalloc grows "
            + ", ".join(f"{value:,.1f} B per stream ({label})" for label, value in per_stream.items())
            + ": nothing is left behind per stream beyond what the raw client itself keeps."
        )
    return section


def flat_per_stream(flat: dict[str, list[dict[str, int]]]) -> dict[str, float]:
    """tracemalloc growth per stream between the first and the last checkpoint."""
    found = {}
    for label, rows in flat.items():
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            found[label] = (last["traced"] - first["traced"]) / (last["streams"] - first["streams"])
    return found


def export_section(results: dict[str, dict[str, Any]], n: int, pace_seconds: float) -> Section:
    """Section 5: bytes exported per stream, OTLP protobuf."""
    section = Section(
        "5. Bytes exported per stream",
        f"Everything one {n:,}-chunk stream exported (spans and log records), encoded with the OTLP exporters' own "
        "encoders (`encode_spans` / `encode_logs`, `SerializeToString()`, uncompressed). 'as fast as possible' "
        f"reads the replay at full speed (well under rollout's 1 s update interval, so no update record); 'real time' "
        f"spreads the same chat reply over {pace_seconds:.0f} s, fed to both rollout modes at once, which gives "
        "rollout's update records their usual cadence. The anchors export nothing periodic, so their output does "
        "not depend on pacing.",
    )
    rows = []

    def row(label: str, endpoint: str, e: dict[str, Any]) -> list[str]:
        total = e["span_bytes"] + e["log_bytes"]
        return [
            label,
            endpoint,
            str(e["spans"]),
            f"{e['events']:,}",
            str(e["logs"]),
            fmt_kib(e["span_bytes"]),
            fmt_kib(e["log_bytes"]),
            fmt_kib(total),
            f"{total / e['chunks']:,.1f}",
        ]

    for label, data in variants_of(results):
        for endpoint, e in data["export"].items():
            rows.append(row(label, endpoint + ", as fast as possible", e))
    for label, e in results.get(ROLLOUT, {}).get("paced", {}).items():
        rows.append(row(label, f"chat, real time ({e['seconds']:.1f} s)", e))
    section.tables.append(
        Table(
            ["path", "stream", "spans", "span events", "log records", "span KiB", "log KiB", "total KiB", "B/chunk"],
            rows,
        )
    )
    paced = results.get(ROLLOUT, {}).get("paced", {})
    if ROLLOUT_DEFAULT in paced and len(paced) > 1:
        default = paced[ROLLOUT_DEFAULT]
        chunked = next(e for label, e in paced.items() if label != ROLLOUT_DEFAULT)
        base = default["span_bytes"] + default["log_bytes"]
        section.interpretation = (
            f"In real time the default mode exports one span and {default['logs']} update records "
            f"({fmt_kib(base)} KiB, {base / n:.0f} B per chunk); capture_stream_chunks=True adds one span event per "
            f"chunk: {(chunked['span_bytes'] + chunked['log_bytes']) / base:.1f}x those bytes."
        )
    return section
