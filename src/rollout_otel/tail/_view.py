"""The live terminal view of `rollout-otel tail`, drawn with rich from a `TailModel` snapshot (at most ~10 a second)."""

from __future__ import annotations

import time
from typing import Any, Final

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ._model import FinishedCall, OpenStream, TailModel, Totals

# Each end reason visibly distinct: colour and word.
REASON_STYLES: Final = {
    "completed": "green",
    "closed": "yellow",
    "cancelled": "magenta",
    "abandoned": "bright_black",
    "error": "bold red",
    "": "cyan",  # a call that did not stream
}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _last_lines(text: str, width: int = 100, lines: int = 2) -> str:
    flat = " ".join(text.split())
    return flat[-width * lines :] if flat else ""


def render(
    model: TailModel, *, address: str, now: float | None = None, open_rows: int = 20, finished_rows: int = 15
) -> Group:
    """One frame: open streams with their previews, then the latest finished calls, then the totals."""
    now = time.monotonic() if now is None else now
    streams, finished, totals = model.snapshot(now)
    parts: list[Any] = [Text(f"rollout-otel tail: listening on {address}  (Ctrl-C to stop)", style="bold")]
    parts.append(_open_table(streams[:open_rows], len(streams), now, model.stalled_after))
    parts.append(_finished_table(finished[:finished_rows]))
    parts.append(_footer(totals))
    return Group(*parts)


def _open_table(streams: list[OpenStream], total: int, now: float, stalled_after: float) -> Table:
    shown = "" if total <= len(streams) else f", the newest {len(streams)} shown"
    table = Table(title=f"open streams ({total}{shown})", title_justify="left", expand=True)
    for header, justify in (
        ("service", "left"),
        ("name / model", "left"),
        ("elapsed", "right"),
        ("chunks", "right"),
        ("chars/s", "right"),
        ("first chunk", "right"),
        ("preview", "left"),
    ):
        wide = header == "preview"
        table.add_column(header, justify=justify, overflow="fold" if wide else "ellipsis", ratio=1 if wide else None)  # type: ignore[arg-type]
    for stream in streams:
        stalled = stream.stalled(now, stalled_after)
        if stream.preview:
            preview = Text(_last_lines(stream.preview))
        else:
            preview = Text("(counts only: content capture is off)", style="dim")
        elapsed = Text(f"{stream.elapsed:.1f} s")
        if stalled:
            elapsed = Text(f"STALLED {now - stream.updated_at:.0f} s", style="bold yellow")
        table.add_row(
            stream.service,
            f"{stream.name}\n{stream.model}",
            elapsed,
            str(stream.chunks),
            f"{stream.rate:.0f}",
            _seconds(stream.time_to_first_chunk),
            preview,
        )
    return table


def _finished_table(calls: list[FinishedCall]) -> Table:
    table = Table(title="finished calls", title_justify="left", expand=True)
    for header, justify in (
        ("service", "left"),
        ("name / model", "left"),
        ("end", "left"),
        ("duration", "right"),
        ("tokens in/out", "right"),
        ("output", "left"),
    ):
        wide = header == "output"
        table.add_column(header, justify=justify, overflow="fold" if wide else "ellipsis", ratio=1 if wide else None)  # type: ignore[arg-type]
    for call in calls:
        reason = call.end_reason or "whole"
        style = REASON_STYLES.get(call.end_reason, "white")
        end = Text(reason.upper() if call.end_reason == "error" else reason, style=style)
        if call.error_type:
            end.append(f"\n{call.error_type}", style="red")
        tokens = f"{_count(call.input_tokens)}/{_count(call.output_tokens)}"
        output = Text(" ".join(call.output.split())[:160])
        for child in call.children:
            output.append(f"\n  └ {child}", style="dim")
        table.add_row(call.service, f"{call.name}\n{call.model}", end, _seconds(call.duration), tokens, output)
    return table


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _footer(totals: Totals) -> Text:
    return Text(
        f"open {totals.open}  finished {totals.finished}  errors {totals.errors}  |  first chunk p50 "
        f"{_seconds(totals.ttfc_p50)} p95 {_seconds(totals.ttfc_p95)}  |  duration p50 "
        f"{_seconds(totals.duration_p50)} p95 {_seconds(totals.duration_p95)}",
        style="bold",
    )
