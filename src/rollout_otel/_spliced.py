"""A long stream's text spliced into its encoded output messages, block by block, never held whole.

Encoding an output message the usual way holds three copies of a long answer at once: the text, its JSON-escaped
copy, and the attribute joined from it. Here the messages are built and encoded with a short placeholder where
the stream's text goes; the text's blocks are then escaped one at a time, each released once escaped and appended
to the attribute in the placeholder's place, so the text is held about once throughout. The result
is the same string the usual encoding gives; where the usual encoding would cut anything (the size cap, the span's
content budget), the caller takes the usual path instead.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any, Final

from ._safe import encodable, utf8_size

# Stands for the stream's text inside the output messages; private-use characters and a random token, so no
# answer, request or tool result can hold it by chance. JSON encoding leaves it as it is.
PLACEHOLDER: Final = f"\ue000rollout-otel stream text {secrets.token_hex(8)}\ue000"
_ENCODED: Final = json.dumps(PLACEHOLDER, ensure_ascii=False)
_ENCODED_BYTES: Final = utf8_size(_ENCODED)
_escape: Callable[[str], str] = json.encoder.encode_basestring


def holds_placeholder(messages: Iterable[Any] | None) -> bool:
    """Whether some part of these output messages (dicts of parts, as `_content` builds them) is the placeholder."""
    for message in messages or ():
        for part in message.get("parts", ()) if isinstance(message, dict) else ():
            if isinstance(part, dict) and part.get("content") is PLACEHOLDER:
                return True
    return False


def put_text(messages: Iterable[Any], text: str) -> None:
    """Put the real text where the placeholder stands (the usual path, for when splicing does not apply)."""
    for message in messages:
        for part in message.get("parts", ()) if isinstance(message, dict) else ():
            if isinstance(part, dict) and part.get("content") is PLACEHOLDER:
                part["content"] = text


def _pieces(blocks: list[str]) -> Iterable[str]:
    """The blocks, escaped for JSON and made encodable one at a time; each block is released as it is escaped.

    A surrogate pair cut between two blocks is carried whole into the next, so each piece is what the same stretch
    of the whole text gives."""
    blocks.reverse()
    carry = ""
    while blocks:
        block = blocks.pop()
        if carry:
            block, carry = carry + block, ""
        if blocks and block and "\ud800" <= block[-1] <= "\udbff":
            block, carry = block[:-1], block[-1]
        yield encodable(_escape(block)[1:-1])
    if carry:
        yield encodable(_escape(carry)[1:-1])


def spliced_size(encoded: str, blocks: list[str]) -> int | None:
    """UTF-8 bytes of `encoded` once the blocks are spliced in; None when the placeholder is not there exactly once.

    Escapes each block to measure it and drops it at once: memory for one block, time for one more pass."""
    if encoded.count(_ENCODED) != 1:
        return None
    size = utf8_size(encoded) - _ENCODED_BYTES + 2  # the quotes stay
    for piece in _pieces(list(blocks)):
        size += utf8_size(piece)
    return size


def splice(encoded: str, blocks: list[str]) -> str:
    """`encoded` with the blocks' text, escaped, in the placeholder's place; empties `blocks` as it goes.

    Grown by `+=` on a str nothing else refers to, which CPython extends in place: each escaped block is released
    once appended, so the result and the blocks not yet escaped are all there is (a join would hold every escaped
    block and the result at once). Elsewhere the same code copies more, with the same result."""
    head, tail = encoded.split(_ENCODED)
    result = head + '"'
    for piece in _pieces(blocks):
        result += piece
    result += '"'
    result += tail
    return result
