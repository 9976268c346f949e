"""Reading an HTTP request body within a size limit: strict chunked framing, and decompression that stops at the limit.

A small compressed body can expand a thousandfold (a gzip or deflate bomb), so the limit applies to the output while
it is produced, never after.
"""

from __future__ import annotations

import re
import zlib
from typing import Final, Protocol

_CHUNK_SIZE_LINE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_LINE_LIMIT: Final = 4096
_STEP: Final = 64 * 1024


class _Stream(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...
    def readline(self, size: int = ..., /) -> bytes: ...


class BodyTooLarge(Exception):
    """The body, or what it decompresses to, is over the receiver's limit."""


class MalformedBody(ValueError):
    """The body's framing or compression is broken."""


def read_chunked(stream: _Stream, limit: int) -> bytes:
    """A `Transfer-Encoding: chunked` body: hex sizes only (no sign, no blanks), each chunk followed by CRLF."""
    chunks: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(_LINE_LIMIT)
        match = _CHUNK_SIZE_LINE.fullmatch(line)
        if match is None:
            raise MalformedBody(f"bad chunk size line {line[:40]!r}")
        size = int(match.group(1), 16)
        if size == 0:
            for _ in range(64):  # the trailer section ends with an empty line
                if stream.readline(_LINE_LIMIT) in (b"\r\n", b"\n", b""):
                    return b"".join(chunks)
            raise MalformedBody("trailer section too long")
        total += size
        if total > limit:
            raise BodyTooLarge
        data = stream.read(size)
        if len(data) != size:
            raise MalformedBody("body ended inside a chunk")
        chunks.append(data)
        if stream.readline(_LINE_LIMIT) not in (b"\r\n", b"\n"):
            raise MalformedBody("chunk not followed by CRLF")


def read_sized(stream: _Stream, content_length: str | None, limit: int) -> bytes:
    """A body framed by `Content-Length` (a plain decimal number)."""
    text = (content_length or "0").strip()
    if not text.isdigit() or len(text) > 18:
        raise MalformedBody(f"bad Content-Length {text[:40]!r}")
    length = int(text)
    if length > limit:
        raise BodyTooLarge
    data = stream.read(length) if length else b""
    if len(data) != length:
        raise MalformedBody("body shorter than its Content-Length")
    return data


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo `Content-Encoding` (gzip, deflate) producing at most `limit` bytes; ValueError for other codings."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, zlib.MAX_WBITS | 16, limit)
    if encoding == "deflate":
        # RFC 9110 "deflate" is zlib-wrapped, but some clients send raw deflate.
        try:
            return _inflate(body, zlib.MAX_WBITS, limit)
        except MalformedBody:
            return _inflate(body, -zlib.MAX_WBITS, limit)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    """Decompress one or more concatenated members, a step at a time, stopping as soon as the output passes `limit`."""
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(wbits)
        pending = data
        try:
            while pending:
                out += inflater.decompress(pending, _STEP)
                if len(out) > limit:
                    raise BodyTooLarge
                pending = inflater.unconsumed_tail
            while not inflater.eof:
                piece = inflater.decompress(b"", _STEP)
                if not piece:
                    break
                out += piece
                if len(out) > limit:
                    raise BodyTooLarge
        except zlib.error as exc:
            raise MalformedBody(f"cannot decompress body: {exc}") from exc
        if not inflater.eof:
            raise MalformedBody("compressed body ends early")
        data = inflater.unused_data if wbits & 16 else b""  # gzip allows several members in a row
    return bytes(out)
