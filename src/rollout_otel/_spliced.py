"""A long stream's text spliced into its encoded output messages, block by block, never held whole.

Encoding an output message the usual way holds three copies of a long answer at once: the text, its JSON-escaped
copy, and the attribute joined from it. Here the messages are built and encoded with a short placeholder where
the stream's text goes; the text's blocks are then escaped one at a time, each released once escaped and appended
to the attribute in the placeholder's place, so the text is held about once throughout. The result
is the same string the usual encoding gives; where the usual encoding would cut anything (the size cap, the span's
content budget), the usual path is taken instead.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from . import _attributes as attr
from ._content import content_attributes
from ._content._encode import Encoder, encode
from ._safe import encodable, utf8_size

# Stands for the stream's text inside the output messages; private-use characters and a random token, so no
# answer, request or tool result can hold it by chance. JSON encoding leaves it as it is.
PLACEHOLDER: Final = f"\ue000rollout-otel stream text {secrets.token_hex(8)}\ue000"
_ENCODED: Final = json.dumps(PLACEHOLDER, ensure_ascii=False)
_ENCODED_BYTES: Final = utf8_size(_ENCODED)
_escape: Callable[[str], str] = json.encoder.encode_basestring


_SLICE: Final = 4096  # characters escaped at a time: what escaping holds besides the result stays small


class SplicedText:
    """What goes where the placeholder stands: a stream's blocks, handed over and released as they are escaped, or
    one str held elsewhere (a final response's); escaped a slice at a time."""

    __slots__ = ("_blocks", "_text")

    def __init__(self, *, blocks: list[str] | None = None, text: str | None = None) -> None:
        self._blocks = blocks if blocks is not None else []
        self._text = text

    def whole(self) -> str:
        return self._text if self._text is not None else "".join(self._blocks)

    def stretches(self, *, release: bool) -> Iterator[str]:
        """The text in order, a slice at a time; with `release`, each block is dropped once sliced."""
        if self._text is not None:
            yield from _slices(self._text)
        elif not release:
            for block in self._blocks:
                yield from _slices(block)
        else:
            blocks = self._blocks
            blocks.reverse()
            while blocks:
                yield from _slices(blocks.pop())


def _slices(text: str) -> Iterator[str]:
    if len(text) <= _SLICE:
        yield text
        return
    for start in range(0, len(text), _SLICE):
        yield text[start : start + _SLICE]


def holds_placeholder(messages: Iterable[Any] | None) -> bool:
    """Whether some part of these output messages (dicts of parts, as `_content` builds them) is the placeholder."""
    return any(part.get("content") is PLACEHOLDER for part in _parts(messages))


def take_longest(messages: Iterable[Any] | None, minimum: int) -> str | None:
    """The longest part text of these output messages (rollout's own, just built), if it has `minimum` characters:
    the placeholder takes its place."""
    longest: dict[str, Any] | None = None
    size = minimum - 1
    for message in messages or ():  # loops, not `_parts`: this runs at every end that has a final response
        if message.__class__ is dict and "parts" in message:
            for part in message["parts"]:
                if part.__class__ is dict and "content" in part:
                    content = part["content"]
                    if content.__class__ is str and len(content) > size:
                        longest, size = part, len(content)
    if longest is None:
        return None
    text: str = longest["content"]
    longest["content"] = PLACEHOLDER
    return text


def put_text(messages: Iterable[Any] | None, text: str) -> None:
    """Put the real text where the placeholder stands (the usual path, for when splicing does not apply)."""
    for part in _parts(messages):
        if part.get("content") is PLACEHOLDER:
            part["content"] = text


def _parts(messages: Iterable[Any] | None) -> Iterator[dict[str, Any]]:
    for message in messages or ():
        for part in message.get("parts", ()) if isinstance(message, dict) else ():
            if isinstance(part, dict):
                yield part


def _pieces(stretches: Iterable[str]) -> Iterator[str]:
    """The stretches, escaped for JSON and made encodable one at a time.

    A surrogate pair cut between two stretches is carried whole into the next, so each piece is what the same part
    of the whole text gives."""
    carry = ""
    for stretch in stretches:
        if carry:
            stretch, carry = carry + stretch, ""
        if stretch and "\ud800" <= stretch[-1] <= "\udbff":
            stretch, carry = stretch[:-1], stretch[-1]
        yield encodable(_escape(stretch)[1:-1])
    if carry:
        yield encodable(_escape(carry)[1:-1])


def spliced_size(encoded: str, text: SplicedText) -> int | None:
    """UTF-8 bytes of `encoded` once the text is spliced in; None when the placeholder is not there exactly once.

    Escapes each stretch to measure it and drops it at once: memory for one stretch, time for one more pass."""
    if encoded.count(_ENCODED) != 1:
        return None
    size = utf8_size(encoded) - _ENCODED_BYTES + 2  # the quotes stay
    for piece in _pieces(text.stretches(release=False)):
        size += utf8_size(piece)
    return size


def splice(encoded: str, text: SplicedText) -> str:
    """`encoded` with the text, escaped, in the placeholder's place; a stream's blocks are released as it goes.

    Grown by `+=` on a str nothing else refers to, which CPython extends in place: each escaped stretch is released
    once appended, so the result and the blocks not yet escaped are all there is (a join would hold every escaped
    stretch and the result at once). Elsewhere the same code copies more, with the same result."""
    head, tail = encoded.split(_ENCODED)
    result = head + '"'
    for piece in _pieces(text.stretches(release=True)):
        result += piece
    result += '"'
    result += tail
    return result


def _uncut(encoded: str, content: dict[str, Any], messages: Any, encoder: Encoder) -> bool:
    """Whether `encoded` is the output's whole encoding: a cut (the cap's, the budget's) around the placeholder may
    leave room for the text, where the usual encoding of the whole text would have cut the text first. Only asked
    when something was cut (the input, most often): the output with its placeholder is encoded once more, whole."""
    if not content.get(attr.CONTENT_TRUNCATED):
        return True
    return encoder(messages, sys.maxsize)[0] == encoded


def spliced_content(
    content: dict[str, Any],
    text: SplicedText,
    request: Any,
    messages: Any,
    other: Any,
    max_bytes: int,
    budget: int,
    encoder: Encoder = encode,
) -> dict[str, Any]:
    """`content` (the content attributes, encoded with the placeholder in the output) with `text` spliced in; where
    the size cap or the span's budget would cut anything, the usual encoding of the whole text instead, which cuts it
    as always."""
    encoded = content.get(attr.GEN_AI_OUTPUT_MESSAGES)
    size = spliced_size(encoded, text) if isinstance(encoded, str) else None
    if (
        isinstance(encoded, str)
        and size is not None
        and size <= max_bytes
        and _uncut(encoded, content, messages, encoder)
    ):
        others = sum(utf8_size(v) for v in content.values() if type(v) is str and v is not encoded)
        if others + size <= max(budget, 0):
            content[attr.GEN_AI_OUTPUT_MESSAGES] = splice(encoded, text)
            return content
    put_text(messages, text.whole())
    return content_attributes(request, messages, max_bytes, other, budget, encoder)
