"""Where a stream's text accumulates: appends cost one C call, the rolling preview is read from the tail.

No OpenTelemetry here; `LLMSpan` owns one of these and the processor only reads it.
"""

from __future__ import annotations

import io


class StreamText(io.StringIO):
    """All text of one stream, grown in place (no per-chunk objects kept), with a cheap tail for previews.

    `write` is StringIO's own C method, so appending a delta adds a single call to the hot path. Reads
    (`tail`, `text`) never move the write position, so another thread may read while chunks arrive.
    """

    @property
    def chars(self) -> int:
        """Characters written so far."""
        return self.tell()

    def text(self) -> str:
        """The whole text so far."""
        return self.getvalue()

    def tail(self, limit: int) -> str:
        """The last `limit` characters: the rolling preview."""
        if limit <= 0:
            return ""
        return self.getvalue()[-limit:]


class CharCounter:
    """Stands in for StreamText when content capture is off: counts characters, keeps none."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars = 0

    def write(self, delta: str) -> int:
        n = len(delta)
        self.chars += n
        return n

    def text(self) -> str:
        return ""

    def tail(self, limit: int) -> str:
        return ""
