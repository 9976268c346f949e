"""What the live view shows, as rich `Text` (never markup): the columns that fit a width, one line per row, the
header, the errors line and the detail of one call. Pure functions of the model's rows, so they are tested alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rich.text import Text

from ._clean import one_line
from ._rows import FinishedCall, OpenStream, Totals

# Each end reason visibly distinct: colour and word.
REASON_STYLES: Final = {
    "completed": "green",
    "closed": "yellow",
    "cancelled": "magenta",
    "abandoned": "bright_black",
    "error": "bold red",
    "": "cyan",  # a call that did not stream
}
STATE_STYLES: Final = {"waiting": "cyan", "streaming": "green", "STALLED": "bold yellow"}
CELL_PADDING: Final = 1  # the table's padding on each side of a cell
PREVIEW_MIN: Final = 20
NO_CAPTURE: Final = "(content capture off)"
NO_TEXT: Final = "(no text: tools/thinking)"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int
    right: bool = False


# In priority order: at a narrow width the last ones drop first; the preview takes what is left.
COLUMNS: Final = (
    Column("name", "name", 18),
    Column("state", "state", 11),
    Column("time", "time", 7, right=True),
    Column("preview", "preview / output", PREVIEW_MIN),
    Column("rate", "chars/s", 7, right=True),
    Column("finish", "finish", 8),
    Column("chunks", "chunk/tok", 9, right=True),
    Column("first", "1st chunk", 8, right=True),
    Column("model", "model", 12),
    Column("service", "service", 12),
)
SCROLLBAR: Final = 2


def layout(width: int) -> list[Column]:
    """The columns that fit `width` cells, in display order, the preview widened to fill the rest."""
    chosen: list[Column] = []
    used = 0
    for column in COLUMNS:
        need = column.width + 2 * CELL_PADDING
        if used + need > width - SCROLLBAR:
            if column.key == "preview":
                break  # nothing after the preview is worth hiding it for
            continue
        chosen.append(column)
        used += need
    spare = max(0, width - SCROLLBAR - used)
    order = {c.key: i for i, c in enumerate(_DISPLAY_ORDER)}
    out = [Column(c.key, c.title, c.width + spare, c.right) if c.key == "preview" else c for c in chosen]
    return sorted(out, key=lambda c: order[c.key])


_DISPLAY_ORDER: Final = tuple(
    next(c for c in COLUMNS if c.key == key)
    for key in ("name", "model", "service", "state", "time", "chunks", "rate", "first", "finish", "preview")
)


def seconds_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.1f}s" if value < 600 else f"{value / 60:.0f}m"


def _fit(text: str, width: int, *, tail: bool = False) -> str:
    """Cut to `width` cells with an ellipsis (at the start with `tail`, to show the end)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    return "…" + text[-(width - 1) :] if tail else text[: width - 1] + "…"


def stream_cells(stream: OpenStream, columns: list[Column], now: float, stalled_after: float) -> list[Text]:
    """One line for an open stream."""
    state = stream.state(now, stalled_after)
    state_text = f"STALLED {stream.quiet_for(now):.0f}s" if state == "STALLED" else state
    text = one_line(stream.preview, last=400) if stream.preview is not None else ""
    if stream.preview is None and not stream.updates:
        preview = Text("")  # no update yet: nothing to say about content
    elif stream.preview is None:
        preview = Text(NO_CAPTURE, style="dim")
    elif not text and (stream.chunks or stream.updates):
        preview = Text(NO_TEXT, style="dim")
    else:
        preview = Text(text)
    values = {
        "name": Text(stream.name or "?"),
        "model": Text(stream.model),
        "service": Text(stream.service),
        "state": Text(state_text, style=STATE_STYLES[state]),
        "time": Text(seconds_text(stream.elapsed_at(now))),
        "chunks": Text(str(stream.chunks)),
        "rate": Text(f"{stream.rate:.0f}" if stream.updates else "-"),
        "first": Text(seconds_text(stream.time_to_first_chunk)),
        "finish": Text(""),
        "preview": preview,
    }
    return [_cell(values[c.key], c, tail=c.key == "preview" and bool(text)) for c in columns]


def call_cells(call: FinishedCall, columns: list[Column]) -> list[Text]:
    """One line for a finished call: the end reason where a stream shows its state, and the finish reason (in front
    of the output when its column does not fit)."""
    reason = call.end_reason or "whole"
    if call.error_type:
        end = Text("ERROR", style=REASON_STYLES["error"])
    else:
        end = Text(reason, style=REASON_STYLES.get(call.end_reason, "white"))
    output = one_line(call.output, last=None)[:400]
    if call.error_type:
        output = f"{call.error_type}: {output}" if output else call.error_type
    if call.finish_reasons and all(c.key != "finish" for c in columns):
        output = f"[{call.finish_reasons}] {output}"
    if call.children:
        output = f"{output}  └ {', '.join(call.children)}"
    tokens = f"{_count(call.input_tokens)}/{_count(call.output_tokens)}"
    values = {
        "name": Text(call.name or "?"),
        "model": Text(call.model),
        "service": Text(call.service),
        "state": end,
        "time": Text(seconds_text(call.duration)),
        "chunks": Text(tokens, style="dim"),  # tokens in/out where a stream counts chunks
        "rate": Text(""),
        "first": Text(seconds_text(call.time_to_first_chunk)),
        "finish": Text(call.finish_reasons or "-"),
        "preview": Text(output),
    }
    return [_cell(values[c.key], c) for c in columns]


def _cell(text: Text, column: Column, *, tail: bool = False) -> Text:
    plain = _fit(text.plain, column.width, tail=tail)
    cell = Text(plain, style=text.style, no_wrap=True, overflow="crop", end="")
    if column.right:
        cell.justify = "right"
    return cell


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def header(totals: Totals, *, address: str, status: list[str]) -> Text:
    """Two lines: where tail listens (and its modes), then the counts and percentiles."""
    first = Text("rollout-otel tail ", style="bold")
    first.append(address, style="dim")
    for word in status:
        first.append(f"  {word}", style="bold reverse")
    second = Text()
    second.append(f"open {totals.open}", style="bold")
    second.append(f"  done {totals.finished}  ")
    second.append(f"errors {totals.errors}", style="bold red" if totals.errors else "")
    second.append(
        f"  p50/p95: 1st chunk {seconds_text(totals.ttfc_p50)}/{seconds_text(totals.ttfc_p95)}"
        f"  took {seconds_text(totals.duration_p50)}/{seconds_text(totals.duration_p95)}"
    )
    if totals.bad_records:
        second.append(f"  unreadable {totals.bad_records}", style="yellow")
    first.append("\n")
    first.append_text(second)
    first.no_wrap = True
    first.overflow = "ellipsis"
    return first


def errors_line(errors: list[FinishedCall], total: int, now: float, forward_problem: str) -> Text | None:
    """The pinned line: the error count and the latest error, and forwarding trouble; None when all is well."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if total:
        line.append(f" {total} error{'s' if total != 1 else ''} ", style="bold white on red")
        if errors:
            last = errors[0]
            ago = seconds_text(max(0.0, now - last.received_at))
            line.append(f" last: {last.error_type} in {last.name} {last.model} ({ago} ago)", style="red")
        line.append("  e: errors only", style="dim")
    if forward_problem:
        line.append(f"  forward: {forward_problem}", style="bold yellow")
    return line if line.plain else None


def stream_detail(stream: OpenStream, now: float, stalled_after: float) -> Text:
    """The detail pane of an open stream: the live preview in full, timings, attributes."""
    text = Text()
    _title(text, f"{stream.name}  {stream.model}  {stream.service}")
    text.append(f"state {stream.state(now, stalled_after)}  elapsed {seconds_text(stream.elapsed_at(now))}  ")
    text.append(f"chunks {stream.chunks}  chars {stream.chars}  {stream.rate:.0f} chars/s  ")
    text.append(f"first chunk {seconds_text(stream.time_to_first_chunk)}\n")
    text.append(f"trace {stream.trace_id}  span {stream.span_id}\n\n", style="dim")
    _title(text, "preview")
    text.append((stream.preview if stream.preview is not None else NO_CAPTURE) + "\n\n")
    _attributes(text, stream.attributes)
    return text


def call_detail(call: FinishedCall) -> Text:
    """The detail pane of a finished call: prompt, output, timings, usage, tool calls, attributes."""
    text = Text()
    _title(text, f"{call.name}  {call.model}  {call.service}")
    end = call.end_reason or "whole"
    text.append(f"end {end}  finish {call.finish_reasons or '-'}  duration {seconds_text(call.duration)}  ")
    text.append(f"first chunk {seconds_text(call.time_to_first_chunk)}  ")
    text.append(f"tokens in {_count(call.input_tokens)} out {_count(call.output_tokens)}\n")
    if call.error_type:
        text.append(f"error {call.error_type}\n", style="bold red")
    text.append(f"trace {call.trace_id}  span {call.span_id}\n\n", style="dim")
    if call.prompt:
        _title(text, "prompt")
        text.append(call.prompt + "\n\n")
    _title(text, "output")
    text.append((call.output or "(none captured)") + "\n\n")
    if call.tool_calls:
        _title(text, "tool calls")
        text.append(", ".join(call.tool_calls) + "\n\n")
    if call.children:
        _title(text, "child spans")
        text.append(", ".join(call.children) + "\n\n")
    _attributes(text, call.attributes)
    return text


def _title(text: Text, title: str) -> None:
    text.append(title + "\n", style="bold underline")


def _attributes(text: Text, attributes: dict[str, object]) -> None:
    _title(text, "attributes")
    for key in sorted(attributes):
        value = attributes[key]
        text.append(f"{key}", style="cyan")
        text.append(f" = {value if isinstance(value, str) else repr(value)}\n")


KEYS: Final = (
    ("↑/↓ j/k", "select a row"),
    ("Enter", "details of the selected call: live preview, prompt, timings, usage, tool calls, attributes"),
    ("Esc", "back (from details, help or the filter)"),
    ("/", "filter by name, model or service (empty: all)"),
    ("s", "change the sort: newest, longest running, name, fastest"),
    ("p", "pause the screen (tail goes on receiving)"),
    ("e", "errors only"),
    ("?", "these keys"),
    ("q", "quit"),
)
