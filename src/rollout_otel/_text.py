"""Where a stream's text accumulates: appends cost one C call, the rolling preview is read from the tail.

No OpenTelemetry here; `LLMSpan` owns one of these and the processor only reads it.
"""

from __future__ import annotations

import io
import sys

# Before 3.12, StringIO keeps each write as its own str (about 56 bytes of overhead each) until the text is
# read or 100,000 writes pile up; reading it joins them. 3.12+ appends into one growing buffer.
_WRITES_PILE_UP = sys.version_info < (3, 12)


class StreamText(io.StringIO):
    """All text of one stream, grown in place, with a cheap tail for previews.

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

    def close(self) -> None:
        """Never closed: the garbage collector may finalize this buffer before the span that reads it at its end."""

    def compact(self) -> None:
        """Join the writes kept apart so far (a no-op where StringIO never keeps them apart).

        LLMSpan calls this every 1,024 chunks, so what the pending writes cost stays under ~60 KB.
        """
        if _WRITES_PILE_UP:
            self.getvalue()


class CharCounter:
    """Stands in for StreamText when there is no text to keep: counts characters only."""

    __slots__ = ("chars",)

    def __init__(self, chars: int = 0) -> None:
        self.chars = chars

    def write(self, delta: str) -> int:
        if delta.__class__ is not str:  # as StringIO does, so LLMSpan decodes bytes before counting
            raise TypeError("a str delta is expected")
        n = len(delta)
        self.chars += n
        return n

    def text(self) -> str:
        return ""

    def tail(self, limit: int) -> str:
        return ""

    def compact(self) -> None:
        pass
