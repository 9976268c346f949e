"""Where a stream's text accumulates: appends cost one C call, the rolling preview is read from the tail.

No OpenTelemetry here; `LLMSpan` owns one of these and the processor only reads it.
"""

from __future__ import annotations

import codecs
import sys
import weakref
from array import array
from collections.abc import Callable
from itertools import chain
from time import monotonic_ns
from typing import Any

# The pending writes: code points in an array, whose `fromunicode` copies a str's characters in one C call.
if sys.version_info < (3, 13):
    _CODE_POINTS = "u"  # wchar_t: UCS4 on Linux and macOS (deprecated from 3.13, where it warns)
    _code_points_text: Callable[[array[Any]], str] = array.tounicode
else:
    _CODE_POINTS = "w"  # UCS4; its `tounicode` refuses a lone surrogate, which a str (and so the text) may hold
    _UTF32 = codecs.utf_32_le_decode if sys.byteorder == "little" else codecs.utf_32_be_decode

    def _code_points_text(pending: array[Any]) -> str:
        return _UTF32(pending, "surrogatepass")[0]


if array(_CODE_POINTS).itemsize == 4:
    _pending_chars: Callable[[array[Any]], int] = len
else:  # a 2-byte wchar_t (Windows before 3.13) holds a character beyond U+FFFF as two units

    def _pending_chars(pending: array[Any]) -> int:
        return len(_code_points_text(pending))


COPIED_UP_TO = 1 << 16  # characters: a longer first text is held whole, as a block of its own (`FirstText`)


class StreamText:
    """All text of one stream: writes copied into an array of code points (`write` is its own C `fromunicode`, so
    a delta costs one call on the hot path), joined into a block every so often by the writing thread, and into one
    str once, at the end.

    Writes copy the characters and keep no reference to the provider's delta: a list of the deltas would hold each
    small str (some 50 bytes for a few characters) until its block is joined, and keep the allocator from reusing
    its memory, so that the SDK's own small objects would land elsewhere than without tracing. Blocks are joined
    once each: the text is never copied whole while the stream runs (a `StringIO` before 3.12 re-joins everything
    it holds at each read), so it takes about its own size, plus at most one block of pending writes (4 bytes a
    character; a long first text is held whole instead: `FirstText`). Where the
    provider hands the same text over whole (an event repeating a part's text), `adopt` lets the blocks go and
    refers to the provider's str instead: then the buffer holds no copy of its own. Readers on other threads
    (`chars`, `tail`, `text`) take one snapshot of the state, which the writer replaces whole; the pending writes
    they read in one C call each.
    """

    __slots__ = ("_state", "write")

    def __init__(self) -> None:
        pending = array(_CODE_POINTS)
        # (joined blocks, their characters, code points written since the last block): replaced whole, so readers
        # see one state
        self._state: tuple[list[str], int, array[Any]] = ([], 0, pending)
        self.write: Callable[[str], object] = pending.fromunicode

    @property
    def chars(self) -> int:
        """Characters written so far."""
        _, joined, pending = self._state
        return joined + _pending_chars(pending)

    def seal(self) -> Callable[[str], object]:
        """Join the pending writes into a block; the writing thread only. Returns the `write` to use from now on."""
        blocks, joined, pending = self._state
        if pending:
            block = _code_points_text(pending)
            fresh = array(_CODE_POINTS)
            self._state = ([*blocks, block], joined + len(block), fresh)
            self.write = fresh.fromunicode
        return self.write

    def add_block(self, text: str) -> Callable[[str], object]:
        """Hold `text` whole, as a block of its own after the pending writes: a long delta is not copied (4 bytes a
        character) but referred to. The writing thread only. Returns the `write` to use from now on."""
        self.seal()
        blocks, joined, pending = self._state
        self._state = ([*blocks, text], joined + len(text), pending)
        return self.write

    def text(self) -> str:
        """The whole text so far (a copy, unless it is already one block); any thread."""
        blocks, _, pending = self._state
        if not pending and len(blocks) == 1:
            return blocks[0]
        return "".join([*blocks, _code_points_text(pending)])

    def whole(self) -> str:
        """The whole text as one block, kept: later reads return this same str. For the end, once writes stopped."""
        blocks, _, pending = self._state
        if not pending and len(blocks) < 2:  # already one block (or none): read twice at a stream's end
            return blocks[0] if blocks else ""
        whole = "".join([*blocks, _code_points_text(pending)])
        fresh = array(_CODE_POINTS)
        self._state = ([whole] if whole else [], len(whole), fresh)
        self.write = fresh.fromunicode
        return whole

    def whole_below(self, limit: int) -> str | None:
        """`whole()` if the text has fewer than `limit` characters, else None (it stays in blocks, to be spliced)."""
        blocks, joined, pending = self._state
        if not pending and len(blocks) < 2:  # already one block (or none): read twice at a stream's end
            return None if joined >= limit else blocks[0] if blocks else ""
        return None if joined + _pending_chars(pending) >= limit else self.whole()

    def take_blocks(self) -> list[str]:
        """The text as blocks, handed over: the buffer keeps none of it. For the end, once writes stopped."""
        blocks, _, pending = self._state
        taken = [*blocks, _code_points_text(pending)] if pending else list(blocks)
        fresh = array(_CODE_POINTS)
        self._state = ([], 0, fresh)
        self.write = fresh.fromunicode
        return taken

    def adopt(self, text: str) -> bool:
        """Hold `text`, a str the provider's own objects hold, in place of the same characters kept here; the writing
        thread only. Returns whether it did. Pending writes are sealed first: the caller takes `write` anew.

        Taken where `text` is exactly the buffer's text from a block's start to the end (a part whose deltas were
        streamed, or a part held this way before), or exactly one block: the content never changes, only who holds
        it. Compared in place, a block at a time (`startswith` at an offset): no copy is made, the calls grow with
        the blocks, not the writes, and anything else is left as it is. A text equal to the one block held (the next
        event repeating the same part) is swapped in without a call.
        """
        blocks, joined, pending = self._state
        if not pending and text.__class__ is str and text and blocks == [text]:  # held already, or the same again
            if blocks[0] is not text:  # a newer event's str: the older one can go
                self._state = ([text], joined, pending)
            return True
        self.seal()
        if text.__class__ is not str or not text:
            return False
        blocks, joined, _ = self._state
        size = len(text)
        start = joined - size  # where `text` would begin
        at, index = joined, len(blocks)
        while start >= 0 and at > start and index:  # the block boundary at `start`, from the end
            index -= 1
            at -= len(blocks[index])
        if start >= 0 and at == start and index < len(blocks) and _matches(text, blocks[index:]):
            fresh = array(_CODE_POINTS)
            self._state = ([*blocks[:index], text], joined, fresh)
            self.write = fresh.fromunicode
            return True
        for index, block in enumerate(blocks):
            if len(block) == size and block is not text and block == text:
                self._state = ([*blocks[:index], text, *blocks[index + 1 :]], joined, self._state[2])
                return True
        return False

    def tail(self, limit: int) -> str:
        """The last `limit` characters: the rolling preview. Reads only the blocks it needs."""
        if limit <= 0:
            return ""
        blocks, _, pending = self._state
        pieces: list[str] = []
        size = 0
        for piece in chain((_code_points_text(pending[-limit:]),), reversed(blocks)):  # the array's tail only
            pieces.append(piece)
            size += len(piece)
            if size >= limit:
                break
        pieces.reverse()
        return "".join(pieces)[-limit:]


def _matches(text: str, pieces: list[str]) -> bool:
    """Whether `pieces`, one after another, are exactly `text` (their lengths already add up to its length)."""
    offset = 0
    for piece in pieces:
        if not text.startswith(piece, offset):
            return False
        offset += len(piece)
    return True


class CharCounter:
    """Stands in for StreamText when there is no text to keep: counts characters only."""

    __slots__ = ("chars",)

    def __init__(self, chars: int = 0) -> None:
        self.chars = chars

    def write(self, delta: str) -> int:
        if delta.__class__ is not str:  # as StreamText's callers check, so LLMSpan decodes bytes before counting
            raise TypeError("a str delta is expected")
        n = len(delta)
        self.chars += n
        return n

    def seal(self) -> Callable[[str], int]:
        return self.write

    def text(self) -> str:
        return ""

    def whole(self) -> str:
        return ""

    def whole_below(self, limit: int) -> str | None:
        return ""

    def take_blocks(self) -> list[str]:
        return []

    def adopt(self, text: str) -> bool:
        return False

    def tail(self, limit: int) -> str:
        return ""


class FirstText:
    """Stands in for the text buffer's `write` until the first text arrives: notes when, then steps aside.

    A first text longer than `COPIED_UP_TO` (a whole answer sent as one delta) is held whole as a block of its own,
    not copied at 4 bytes a character; a long delta later is copied, with at most one block of writes pending.

    So the time to first text costs nothing per chunk. It holds the span weakly: no cycle keeps a dropped span alive.
    """

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:  # an LLMSpan
        self._span = weakref.ref(span)

    def __call__(self, delta: str) -> None:
        span = self._span()
        if span is None:
            return
        if not span._first_text_ns:  # a tool-call, refusal or other choice's delta may have been the first answer
            span._first_text_ns = monotonic_ns()
        text = span._text
        if delta[COPIED_UP_TO:] and text.__class__ is StreamText:  # a whole answer in one delta: held, not copied
            span._write = text.add_block(delta)
            return
        span._write = write = text.write
        write(delta)
