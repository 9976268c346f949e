"""The live console of `rollout-otel tail`, on Textual: the model's rows in one table, keys to select, open, filter,
sort, pause and show errors only. It reads the model and never changes it; every cell is a `Text`, never markup."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Final

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from ._model import TailModel
from ._rows import FinishedCall, OpenStream, Totals
from ._table import RowTable
from ._view import (
    KEYS,
    Column,
    call_cells,
    call_detail,
    errors_line,
    header,
    layout,
    stream_cells,
    stream_detail,
)

TICK_SECONDS: Final = 0.1  # how often the model is looked at: a record is on screen within this (plus a frame)
CLOCK_SECONDS: Final = 0.5  # without news, the clocks (elapsed, stalled) still move this often
SEPARATOR: Final = "--finished--"
SORTS: Final = ("newest", "longest", "name", "fastest")
_SORT_KEYS: Final[dict[str, Callable[[OpenStream], Any]]] = {
    "newest": lambda s: -s.first_seen_at,
    "longest": lambda s: -s.elapsed,
    "name": lambda s: (s.name, s.model, -s.first_seen_at),
    "fastest": lambda s: -s.rate,
}


class TailApp(App[None]):
    """Header, one table (open streams, then finished calls), the pinned errors line, the keys."""

    TITLE = "rollout-otel tail"
    CSS = """
    #header { height: 2; background: $panel; }
    #table { height: 1fr; }
    #errors { height: 1; display: none; }
    #errors.shown { display: block; }
    #filter { display: none; }
    #filter.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "down", "down", show=False),
        Binding("k", "up", "up", show=False),
        Binding("slash", "filter", "filter"),
        Binding("s", "sort", "sort"),
        Binding("p", "pause", "pause"),
        Binding("e", "errors", "errors"),
        Binding("escape", "leave", "back", show=False),
        Binding("question_mark", "help", "keys"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        model: TailModel,
        *,
        address: str,
        clock: Callable[[], float] = time.monotonic,
        forward_status: Callable[[], str] = lambda: "",
        should_stop: Callable[[], bool] = lambda: False,
        ticking: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.address = address
        self.clock = clock
        self.forward_status = forward_status
        self.should_stop = should_stop
        self.ticking = ticking
        self.paused = False
        self.errors_only = False
        self.filter_text = ""
        self.sort = SORTS[0]
        self.frames = 0
        self._columns: list[Column] = []
        self._keys: list[str] = []
        self._drawn_version = -1
        self._drawn_at = float("-inf")
        self._drawn_width = -1
        self._drawn_header: tuple[Text, Text | None] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield RowTable(id="table")
        yield Static(id="errors")
        yield Input(placeholder="filter: part of a name, model or service (Enter: apply, Esc: cancel)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()
        self.redraw()
        if self.ticking:
            self.set_interval(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        if self.should_stop():
            self.exit()
            return
        if self.paused:
            return
        now = self.clock()
        if self.model.version != self._drawn_version or now - self._drawn_at >= CLOCK_SECONDS:
            self.redraw(now)

    def on_resize(self) -> None:
        self.redraw()

    # -- drawing

    def rows(self, now: float) -> tuple[list[tuple[str, OpenStream | FinishedCall | None]], Totals]:
        """What the table shows, in order: open streams (sorted, filtered), a separator, finished calls; the totals."""
        streams, finished, totals = self.model.snapshot(now)
        if self.errors_only:
            streams, finished = [], self.model.errors()
        streams = sorted((s for s in streams if self._matches(s)), key=_SORT_KEYS[self.sort])
        calls = [c for c in finished if self._matches(c)]
        out: list[tuple[str, OpenStream | FinishedCall | None]] = [(s.span_id, s) for s in streams]
        if calls:
            out.append((SEPARATOR, None))
            out.extend((f"done:{c.span_id}", c) for c in calls)
        return out, totals

    def _matches(self, row: OpenStream | FinishedCall) -> bool:
        needle = self.filter_text.lower()
        return not needle or any(needle in v.lower() for v in (row.name, row.model, row.service))

    def redraw(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        table = self.query_one(RowTable)
        width = table.size.width or self.size.width
        if width != self._drawn_width:
            self._drawn_width = width
            self._columns = layout(width)
            table.set_columns(self._columns)
        rows, totals = self.rows(now)
        table.set_rows([(key, self._row_cells(row, now)) for key, row in rows])
        self._keys = table.keys
        self._draw_header(now, totals)
        self._drawn_version, self._drawn_at = self.model.version, now
        self.frames += 1

    def _row_cells(self, row: OpenStream | FinishedCall | None, now: float) -> list[Text]:
        if isinstance(row, OpenStream):
            return stream_cells(row, self._columns, now, self.model.stalled_after)
        if isinstance(row, FinishedCall):
            return call_cells(row, self._columns)
        return [Text("── finished ──" if i == 0 else "", style="dim") for i, _ in enumerate(self._columns)]

    def _draw_header(self, now: float, totals: Totals) -> None:
        status = [f"sort {self.sort}"] if self.sort != SORTS[0] else []
        if self.filter_text:
            status.append(f"filter {self.filter_text!r}")
        if self.errors_only:
            status.append("ERRORS ONLY")
        if self.paused:
            status.append("PAUSED")
        top = header(totals, address=self.address, status=status)
        line = errors_line(self.model.errors()[:1], totals.errors, now, self.forward_status())
        if (top, line) != self._drawn_header:  # unchanged: nothing to send to the terminal
            self._drawn_header = (top, line)
            self.query_one("#header", Static).update(top)
            errors = self.query_one("#errors", Static)
            errors.set_class(line is not None, "shown")
            errors.update(line or "")

    def _selected_key(self) -> str | None:
        return self.query_one(RowTable).selected_key

    # -- keys

    def action_down(self) -> None:
        self.query_one(RowTable).action_move(1)

    def action_up(self) -> None:
        self.query_one(RowTable).action_move(-1)

    def action_detail(self) -> None:
        key = self._selected_key()
        if key is not None and key != SEPARATOR:
            self.push_screen(DetailScreen(key.removeprefix("done:")))

    def on_row_table_selected(self, event: RowTable.Selected) -> None:
        self.action_detail()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.filter_text
        box.add_class("shown")
        self.screen.set_focus(box)  # at once, so keys typed right after `/` land in the box, not on shortcuts

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        self._close_filter()
        self.redraw()

    def _close_filter(self) -> None:
        self.query_one("#filter", Input).remove_class("shown")
        self.screen.set_focus(self.query_one(RowTable))

    def action_leave(self) -> None:
        if self.query_one("#filter", Input).has_class("shown"):
            self._close_filter()
        elif self.errors_only:
            self.action_errors()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.redraw()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.redraw()  # once more, to show the word PAUSED (or the news)

    def action_errors(self) -> None:
        self.errors_only = not self.errors_only
        self.redraw()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def detail(self, span_id: str) -> Text:
        """The detail of one call: the open stream while it runs, then its finished call."""
        now = self.clock()
        streams, finished, _ = self.model.snapshot(now)
        for stream in streams:
            if stream.span_id == span_id:
                return stream_detail(stream, now, self.model.stalled_after)
        for call in [*finished, *self.model.errors()]:
            if call.span_id == span_id:
                return call_detail(call)
        return Text("This call is no longer in memory.", style="dim")


class DetailScreen(Screen[None]):
    """One call in full, kept up to date while its stream runs; Esc goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.pop_screen", "back", show=False),
    ]

    def __init__(self, span_id: str) -> None:
        super().__init__()
        self.span_id = span_id

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.show()
        app = self.app
        if isinstance(app, TailApp) and app.ticking:
            self.set_interval(CLOCK_SECONDS, self.show)

    def show(self) -> None:
        app = self.app
        if isinstance(app, TailApp) and not app.paused:
            self.query_one("#detail", Static).update(app.detail(self.span_id))


class HelpScreen(ModalScreen[None]):
    """The keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("question_mark", "app.pop_screen", "back", show=False),
        Binding("q", "app.pop_screen", "back", show=False),
    ]
    CSS = "HelpScreen { align: center middle; } #keys { width: auto; max-width: 90%; border: round $accent; }"

    def compose(self) -> ComposeResult:
        text = Text()
        for key, what in KEYS:
            text.append(f"{key:>8}  ", style="bold")
            text.append(f"{what}\n")
        text.rstrip()
        yield Static(text, id="keys")
