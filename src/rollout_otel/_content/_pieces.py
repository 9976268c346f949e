"""`encode`, done in pieces on the content worker: the same JSON, byte for byte, but no single step holds the GIL
long, so the thread that made the call (an asyncio loop's above all) keeps running while a long history or a large
image is encoded and cut.

`encode` measures a value by encoding it whole (one C call: 10 MB of history, or a 20 MB image) and cuts it by
re-encoding it whole after each cut. Here the size of each message is measured on its own, long strings are
measured in slices and never quoted whole, a cut re-measures only the messages it changed, and only what is kept
(within `max_bytes`) is ever joined. While a history is cut, each message is held as its JSON text (parsed only
while it is cut), not as a tree of dicts: thousands of trees would make the garbage collector run full collections,
which hold the GIL throughout. The decisions (which strings are cut, by how much, which items dropped) are
`_encode`'s own, taken from sizes that are the same numbers. A value of another shape than plain JSON (an SDK
object, a non-finite float, a key that is not a str, nesting deep enough to fail) is left to `encode` whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any, Final

from .._safe import encodable, utf8_size
from . import _encode
from ._base64 import Base64Text
from ._encode import TRUNCATION_MARKER, encode
from ._parts import Encoded

SLICE: Final = 64 * 1024  # characters quoted or measured in one C call: well under a millisecond
_quote: Final = json.encoder.encode_basestring  # what the encoder calls for each str
_MARKER_LEN: Final = len(TRUNCATION_MARKER)


class _Whole(Exception):
    """The value is not plain JSON: `encode` takes it whole."""


def encode_in_pieces(value: Any, max_bytes: int, pause: Callable[[], None] = lambda: None) -> tuple[str, bool]:
    """`encode(value, max_bytes)`, in steps; `pause` runs between them (the worker yields the GIL there)."""
    try:
        return _Pieces(value, max_bytes, pause).run()
    except (_Whole, RecursionError):
        return encode(value, max_bytes)


def _slices(text: str | Base64Text) -> Iterator[str]:
    """`text` in slices of about `SLICE` characters, each made when asked for (a pause between two is a pause);
    a surrogate pair is never split, so each slice is made encodable exactly as the whole would be."""
    start, end = 0, len(text)
    while start < end:
        stop = min(start + SLICE, end)
        while stop < end and 0xD800 <= ord(text[stop - 1]) <= 0xDBFF:
            stop += 1
        yield text[start:stop]
        start = stop


def _fragments(node: Any, out: list[str], pause: Callable[[], None]) -> None:
    """The JSON of a plain value as fragments that join to `_encode_json(node)`; long strings in slices."""
    kind = type(node)
    if kind is str or kind is Encoded or isinstance(node, Base64Text):  # an Encoded is a str to the encoder, quoted
        if len(node) <= SLICE:
            out.append(_quote(str(node)))
            return
        out.append('"')
        for piece in _slices(node):
            out.append(_quote(piece)[1:-1])
            pause()
        out.append('"')
    elif kind is dict:
        out.append("{")
        first = True
        for key, item in node.items():
            if type(key) is not str:
                raise _Whole
            out.append(("" if first else ",") + _quote(key) + ":")
            first = False
            _fragments(item, out, pause)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(node):
            if index:
                out.append(",")
            _fragments(item, out, pause)
        out.append("]")
    elif node is None or kind is bool or kind is int:
        out.append(_encode._encode_json(node))
    elif kind is float and math.isfinite(node):
        out.append(float.__repr__(node))
    else:
        raise _Whole


def _has_long(node: Any) -> bool:
    """Whether a plain value holds a string longer than a slice (then it is quoted in pieces)."""
    kind = type(node)
    if kind is str or kind is Encoded or isinstance(node, Base64Text):
        return len(node) > SLICE
    if kind is dict:
        return any(_has_long(item) for item in node.values())
    if kind is list or kind is tuple:
        return any(_has_long(item) for item in node)
    return False


class _Pieces:
    """One value being encoded: its top-level items (the messages), each measured and re-measured on its own."""

    def __init__(self, value: Any, max_bytes: int, pause: Callable[[], None]) -> None:
        kind = type(value)
        if kind is not list and kind is not dict and kind is not str:
            raise _Whole
        self.value = value
        self.max_bytes = max_bytes
        self.pause = pause
        self.joined = kind is list  # a list's items are joined: an Encoded message goes in as it is
        self.items: list[Any] = value if kind is list else [value]
        self.sizes: list[int] = []
        self.long: list[bool] = []
        # While cutting, a message without long strings is held as its JSON text, parsed only while it is cut: a
        # tree per message would be thousands of objects for the garbage collector, whose full collections hold
        # the GIL. `inner` is the length of the longest list inside each message held so.
        self.texts: list[str | None] = [None] * len(self.items)
        self.inner: list[int] = [0] * len(self.items)

    # -- sizes --------------------------------------------------------------------------------------------

    def piece(self, item: Any, long: bool) -> list[str]:
        """One item's JSON, made encodable, as fragments."""
        if self.joined and type(item) is Encoded:
            return [encodable(part) for part in _slices(item)] if len(item) > SLICE else [encodable(item)]
        if not long:
            try:
                return [encodable(_encode._encode_json(item))]
            except RecursionError:
                raise
            except Exception as error:
                raise _Whole from error
        out: list[str] = []
        _fragments(item, out, self.pause)
        for index, part in enumerate(out):
            out[index] = encodable(part)
            self.pause()
        return out

    def measure(self, index: int) -> int:
        text = self.texts[index]
        if text is not None:
            size = utf8_size(encodable(text))
        elif not self.long[index]:
            size = sum(utf8_size(part) for part in self.piece(self.items[index], False))
        else:  # slices of 64 K: a pause after each
            size = 0
            for part in self.piece(self.items[index], True):
                size += utf8_size(part)
                self.pause()
        self.pause()
        return size

    def measure_all(self) -> None:
        self.long, self.sizes = [], []
        for index, item in enumerate(self.items):
            self.long.append(self.texts[index] is None and _has_long(item))
            self.sizes.append(self.measure(index))

    def total(self) -> int:
        if not self.joined:
            return self.sizes[0]
        return 2 + sum(self.sizes) + max(len(self.sizes) - 1, 0)

    def result(self) -> str:
        pieces = []
        for item, long, text in zip(self.items, self.long, self.texts, strict=True):
            pieces.append(encodable(text) if text is not None else "".join(self.piece(item, long)))
            self.pause()
        return "[" + ",".join(pieces) + "]" if self.joined else pieces[0]

    # -- encode -------------------------------------------------------------------------------------------

    def run(self) -> tuple[str, bool]:
        """`encode`: the value whole if it fits; else cut as `_shrink` cuts it."""
        self.measure_all()
        if self.total() <= self.max_bytes:
            return self.result(), False
        return self.shrink(), True

    def shrink(self) -> str:
        """`_encode._shrink`, step for step."""
        if self.joined:
            root: Any = []
            self.texts, self.inner = [], []
            for item in self.value:
                copy = _encode._copy(item)
                held = type(copy) in (dict, list) and not _has_long(copy)
                root.append(None if held else copy)
                self.texts.append(_encode._encode_json(copy) if held else None)
                self.inner.append(_longest_inside(copy) if held else 0)
                self.pause()
            self.items = root
        else:
            root = _encode._copy(self.value)
            self.items = [root]
        self.box = [root]
        self.measure_all()
        for _ in range(_encode._MAX_PASSES):
            excess = self.total() - self.max_bytes
            if excess <= 0:
                return self.result()
            if not self.cut_longest_strings(excess):
                break
        for _ in range(_encode._MAX_PASSES * 4):
            size = self.total()
            if size <= self.max_bytes:
                return self.result()
            if not self.drop_from_longest_list((size - self.max_bytes) / size):
                break
        root = self.box[0]
        return "[]" if isinstance(root, list) else "{}" if isinstance(root, dict) else _encode._dumps(TRUNCATION_MARKER)

    def top_index(self, index: int) -> int:
        return index if self.joined else 0

    def cut_longest_strings(self, excess_bytes: int) -> bool:
        """`_encode._cut_longest_strings`, noting which items changed and measuring long tails in slices."""
        found = _Strings()
        if self.joined:
            for index, item in enumerate(self.items):
                held = self.texts[index]
                if held is not None:  # walked in a tree made for the walk: its strings kept, then let go
                    start = len(found.lengths)
                    found.walk(json.loads(held), index)
                    found.let_go(start, index)
                elif isinstance(item, str):
                    if len(item) > _encode._KEEP_CHARS:
                        found.add(len(item), self.items, index, index)
                elif isinstance(item, (dict, list)):
                    found.walk(item, index)
                self.pause()
        else:
            found.walk(self.box, 0)
        if not found.lengths:
            return False
        lengths = found.lengths
        order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)  # stable, as `found.sort`
        to_cut = excess_bytes + _MARKER_LEN * len(lengths) + 16
        changed: set[int] = set()
        for entry in order:
            if to_cut <= 0:
                break
            self.pause()
            length, container, key = lengths[entry], found.containers[entry], found.keys[entry]
            text: str = container[key] if container is not None else found.values[entry]  # type: ignore[assignment]
            keep = max(_encode._KEEP_CHARS, length - to_cut)
            if found.blobs[entry]:
                keep -= keep % 4
                removed = len(text) - keep
                cut = text[:keep]
                to_cut -= removed
            else:
                removed = _tail_size(text, keep, self.pause)
                cut = text[:keep] + TRUNCATION_MARKER
                to_cut -= removed - _MARKER_LEN
            if cut != text:
                changed.add(found.tops[entry])
            if container is not None:
                container[key] = cut
            else:
                found.values[entry] = cut
        if not self.joined and self.box[0] is not self.items[0]:  # a bare string was cut: the box holds it
            self.items = [self.box[0]]
        for index in sorted(changed):
            if self.texts[index] is not None:
                self.apply_cuts(index, found)
            self.sizes[index] = self.measure(index)
        return True

    def apply_cuts(self, index: int, found: _Strings) -> None:
        """The cuts to a message held as text: in its tree, walked in the same order, then encoded again."""
        tree = json.loads(self.texts[index])  # type: ignore[arg-type]
        again = _Strings()
        again.walk(tree, index)
        first = found.firsts[index]
        for ordinal in range(len(again.lengths)):
            again.containers[ordinal][again.keys[ordinal]] = found.values[first + ordinal]
        self.texts[index] = _encode._encode_json(tree)
        self.inner[index] = _longest_inside(tree)

    def drop_from_longest_list(self, share: float) -> bool:
        """`_encode._drop_from_longest_list`, dropping the same items from the sizes when they are messages."""
        longest = _Longest()
        root = self.box[0]
        if self.joined:
            longest.see(root, -1)  # -1: the messages themselves
            for index, item in enumerate(root):
                if self.texts[index] is not None:
                    longest.see_inside(self.inner[index], index)
                else:
                    longest.walk(item, index)
                self.pause()
        else:
            longest.walk(root, 0)
        if not longest.length:
            return False
        count = max(1, math.ceil(longest.length * share * 1.1))
        if longest.found is None:  # inside a message held as text
            top = longest.top
            tree = json.loads(self.texts[top])  # type: ignore[arg-type]
            inside = _Longest()
            inside.walk(tree, top)
            assert inside.found is not None  # the same tree as when `inner` was measured
            del inside.found[:count]
            self.texts[top] = _encode._encode_json(tree)
            self.inner[top] = _longest_inside(tree)
            self.sizes[top] = self.measure(top)
            return True
        del longest.found[:count]
        if longest.top < 0:
            del self.sizes[:count]
            del self.long[:count]
            del self.texts[:count]
            del self.inner[:count]
        else:
            self.sizes[longest.top] = self.measure(longest.top)
        return True


class _Strings:
    """`_encode._strings`' entries, in the same order, each with the index of the item it is in; kept in parallel
    lists, not a tuple each: a long history has one per message, and every tuple would be one more object for the
    garbage collector to count (a full collection holds the GIL)."""

    __slots__ = ("blobs", "containers", "firsts", "keys", "lengths", "tops", "values")

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.containers: list[Any] = []
        self.keys: list[Any] = []
        self.tops: list[int] = []
        self.blobs: list[bool] = []
        self.values: list[str | None] = []  # the string itself, for a message held as text
        self.firsts: dict[int, int] = {}  # a message held as text: its first entry

    def add(self, length: int, container: Any, key: Any, top: int) -> None:
        self.lengths.append(length)
        self.containers.append(container)
        self.keys.append(key)
        self.tops.append(top)
        self.blobs.append(_encode._is_blob_data(container, key))
        self.values.append(None)

    def let_go(self, start: int, top: int) -> None:
        """The entries from `start` on (one message's) keep their strings, not the tree they were found in."""
        self.firsts[top] = start
        for entry in range(start, len(self.lengths)):
            self.values[entry] = self.containers[entry][self.keys[entry]]
            self.containers[entry] = self.keys[entry] = None

    def walk(self, value: Any, top: int) -> None:
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(item, (str, Base64Text)):
                if len(item) > _encode._KEEP_CHARS:
                    self.add(len(item), value, key, top)
            elif isinstance(item, (dict, list)):
                self.walk(item, top)


class _Longest:
    """The first longest non-empty list, in `_drop_from_longest_list`'s order, and the index of its item; `found`
    is None when it is inside a message held as text."""

    __slots__ = ("found", "length", "top")

    def __init__(self) -> None:
        self.found: list[Any] | None = None
        self.length = 0
        self.top = 0

    def see(self, item: list[Any], top: int) -> None:
        if len(item) > self.length:
            self.found, self.length, self.top = item, len(item), top

    def see_inside(self, length: int, top: int) -> None:
        if length > self.length:
            self.found, self.length, self.top = None, length, top

    def walk(self, item: Any, top: int) -> None:
        if isinstance(item, list):
            self.see(item, top)
            for child in item:
                self.walk(child, top)
        elif isinstance(item, dict):
            for child in item.values():
                self.walk(child, top)


def _longest_inside(tree: Any) -> int:
    """The length of the longest non-empty list inside a message (0: none)."""
    longest = _Longest()
    longest.walk(tree, 0)
    return longest.length


def _tail_size(text: str, keep: int, pause: Callable[[], None]) -> int:
    """`utf8_size(text[keep:])`, without copying a long tail whole."""
    if text.isascii():
        return len(text) - keep
    if len(text) - keep <= SLICE:
        return utf8_size(text[keep:])
    size = 0
    for start in range(keep, len(text), SLICE):
        size += utf8_size(text[start : start + SLICE])
        pause()
    return size
