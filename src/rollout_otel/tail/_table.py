"""The console's table: one line per row, a cursor, scrolling; only the lines on screen are drawn.

Textual's DataTable renders every cell through rich on each refresh, which costs tens of milliseconds a frame with a
hundred changing streams; here a row is a handful of segments, cut to its column widths, so a frame costs little and
nothing can wrap.
"""

from __future__ import annotations

import functools
from typing import ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ._view import CELL_PADDING, Column

_CURSOR: Final = Style(reverse=True)
_HEADER: Final = Style(bold=True, underline=True)


@functools.lru_cache(maxsize=256)
def _style(style: str | Style) -> Style:
    return style if isinstance(style, Style) else Style.parse(style) if style else Style()


def _segments(cells: list[Text], columns: list[Column], base: Style | None = None) -> list[Segment]:
    out: list[Segment] = []
    pad = " " * CELL_PADDING
    for cell, column in zip(cells, columns, strict=False):
        plain = cell.plain[: column.width]
        plain = plain.rjust(column.width) if column.right else plain.ljust(column.width)
        style = _style(cell.style)
        if base is not None:
            style = style + base
        out.append(Segment(pad + plain + pad, style))
    return out


class RowTable(ScrollView, can_focus=True):
    """Rows of `Text` cells under a header line; ↑/↓ (and the app's j/k) move the cursor, Enter selects."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "move(-1000000)", "first", show=False),
        Binding("end", "move(1000000)", "last", show=False),
        Binding("enter", "select", "details"),
    ]
    DEFAULT_CSS = "RowTable { height: 1fr; }"

    class Selected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[Column] = []
        self.keys: list[str] = []
        self.cells: list[list[Text]] = []
        self.cursor = 0

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def selected_key(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def set_columns(self, columns: list[Column]) -> None:
        self.columns = columns
        self.refresh()

    def set_rows(self, rows: list[tuple[str, list[Text]]]) -> None:
        """New rows; the cursor stays on the same key when it is still there."""
        selected = self.selected_key
        self.keys = [key for key, _ in rows]
        self.cells = [cells for _, cells in rows]
        if selected is not None and selected in self.keys:
            self.cursor = self.keys.index(selected)
        self.cursor = max(0, min(self.cursor, len(self.keys) - 1))
        width = sum(c.width + 2 * CELL_PADDING for c in self.columns)
        self.virtual_size = Size(width, len(self.keys) + 1)
        self._keep_cursor_visible()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y == 0:  # the header stays put while the rows scroll
            titles = [Text(c.title) for c in self.columns]
            return Strip(_segments(titles, self.columns, _HEADER)).crop(0, self.size.width)
        index = y - 1 + int(self.scroll_offset.y)
        if index >= len(self.keys):
            return Strip.blank(self.size.width)
        base = _CURSOR if index == self.cursor and self.has_focus else None
        return Strip(_segments(self.cells[index], self.columns, base)).crop(0, self.size.width)

    def _keep_cursor_visible(self) -> None:
        rows_shown = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_shown:
            self.scroll_to(y=self.cursor - rows_shown + 1, animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        if self.keys:
            self.cursor = max(0, min(len(self.keys) - 1, self.cursor + step))
            self._keep_cursor_visible()
            self.refresh()

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 2))

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.Selected(key))

    def on_click(self, event: events.Click) -> None:
        index = event.y - 1 + int(self.scroll_offset.y)
        if 0 <= index < len(self.keys):
            self.cursor = index
            self.refresh()
            if event.chain == 2:
                self.action_select()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
