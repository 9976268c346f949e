"""Long base64 content (a blob part's `content`) not made until it is encoded: the data of a `data:` URL kept as the
URL and an offset, or the encoding of `bytes` kept as the bytes. Copying 20 MB of base64 out of a URL, or encoding
15 MB of bytes, is one C call that holds the GIL for many milliseconds; the content worker's encoder instead reads
it a slice at a time, pausing between slices, and a cut keeps only a slice. `str()` gives the whole text, which
is what the one-call encoder (`_encode`) writes: the JSON is the same either way.
"""

from __future__ import annotations

import base64
from typing import Any, Final, SupportsIndex

# Shorter base64 is made at once: one C call on it takes microseconds.
LAZY_FROM: Final = 64 * 1024


class Base64Text:
    """Base64 text read by slices; equal to the `str` it stands for (compared by length first)."""

    __slots__ = ()

    def __len__(self) -> int:
        raise NotImplementedError

    def _slice(self, start: int, stop: int) -> str:
        """The text from `start` to `stop`, both within it, `start < stop`."""
        raise NotImplementedError

    def __getitem__(self, index: SupportsIndex | slice) -> str:
        length = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(length)
            if step != 1:
                return str(self)[index]
            return self._slice(start, stop) if start < stop else ""
        position = index.__index__()
        if position < 0:
            position += length
        if not 0 <= position < length:
            raise IndexError("base64 text index out of range")
        return self._slice(position, position + 1)

    def __str__(self) -> str:
        return self._slice(0, len(self)) if len(self) else ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (str, Base64Text)):
            return NotImplemented
        return len(self) == len(other) and str(self) == str(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self)} characters>)"


class UrlData(Base64Text):
    """The data of a `data:` URL: the URL itself and where its data starts, never copied out whole."""

    __slots__ = ("_start", "_url")

    def __init__(self, url: str, start: int) -> None:
        self._url = url
        self._start = start

    def __len__(self) -> int:
        return len(self._url) - self._start

    def _slice(self, start: int, stop: int) -> str:
        return self._url[self._start + start : self._start + stop]


class BytesData(Base64Text):
    """The base64 encoding of `bytes` (immutable, so what is encoded later is what was sent), made by slices."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __len__(self) -> int:
        return -(-len(self._data) // 3) * 4

    def _slice(self, start: int, stop: int) -> str:
        first, last = start // 4 * 3, min(-(-stop // 4) * 3, len(self._data))  # the 3-byte groups it covers
        text = base64.b64encode(memoryview(self._data)[first:last]).decode("ascii")
        offset = start % 4
        return text[offset : offset + stop - start]


def data_of_url(url: str, start: int) -> str | UrlData:
    """`url[start:]`: as it is when short, else read from the URL when encoded."""
    return UrlData(url, start) if len(url) - start > LAZY_FROM else url[start:]


def base64_of(data: Any) -> str | BytesData:
    """The base64 text of `data`: made when it is encoded when `data` is long `bytes`, else now."""
    if type(data) is bytes and len(data) > LAZY_FROM:
        return BytesData(data)
    return base64.b64encode(data).decode("ascii")
