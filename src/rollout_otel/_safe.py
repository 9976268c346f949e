"""Values made safe to export: text every exporter can encode, and attribute values the SDK keeps.

One unencodable character (a lone surrogate, as `json.loads` of a cut emoji or a stream cut inside a surrogate pair
leaves) makes the OTLP exporter drop the whole batch, everyone's spans with it; inside an attribute the SDK drops
that attribute. So every text rollout-otel writes goes through here first: U+FFFD stands for what cannot be
encoded, and one bad character costs only itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

# Every attribute rollout-otel writes that is not content (model names, ids, error messages, a caller's own
# attributes) is cut to this many UTF-8 bytes: one 5 MB model name must not cost a batch of spans.
ATTRIBUTE_MAX_BYTES: Final = 16 * 1024
CUT_MARKER: Final = "...[truncated]"
_SHORT: Final = ATTRIBUTE_MAX_BYTES // 4  # characters that fit the bound whatever they are


def encodable(text: str) -> str:
    """`text` with every code point UTF-8 cannot carry (lone surrogates) replaced by U+FFFD; free when clean."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # utf-16 with surrogatepass joins the pairs that belong together and replaces only the lone ones
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8, without encoding it when its length alone decides."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "replace"))


def bounded(text: str, max_bytes: int = ATTRIBUTE_MAX_BYTES) -> str:
    """`text` made encodable and cut to `max_bytes` of UTF-8, a marker at the cut; free when short."""
    if len(text) <= max_bytes // 4:
        return text if text.isascii() else encodable(text)
    text = encodable(text)
    if utf8_size(text) <= max_bytes:
        return text
    keep = max(0, max_bytes - len(CUT_MARKER))
    return text.encode("utf-8")[:keep].decode("utf-8", "ignore") + CUT_MARKER


def bounded_tail(text: str, max_bytes: int = ATTRIBUTE_MAX_BYTES) -> str:
    """`text` made encodable and cut to its last `max_bytes` of UTF-8 (a stack trace ends with what matters)."""
    text = encodable(text)
    if utf8_size(text) <= max_bytes:
        return text
    keep = max(0, max_bytes - len(CUT_MARKER))
    return CUT_MARKER + text.encode("utf-8")[-keep:].decode("utf-8", "ignore")


_CODE: Final = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")


def is_code(text: str) -> bool:
    """Whether `text` reads as an error code or a class name (`rate_limit_exceeded`, `APIError`), not a message."""
    return _CODE.fullmatch(text) is not None


def clean_value(value: Any) -> Any:
    """An attribute value with its text made encodable and bounded (strings and sequences of strings); a sequence
    as a whole stays within the bound too. Others as they are."""
    if type(value) is str:
        return value if len(value) <= _SHORT and value.isascii() else bounded(value)
    if isinstance(value, (list, tuple)) and any(type(item) is str for item in value):
        items: list[Any] = []
        total = 0
        for item in value:
            if type(item) is not str:
                total += 8
            elif len(item) <= _SHORT and item.isascii():  # most: its length is its size, nothing to cut
                total += len(item)
            else:
                item = bounded(item)
                total += utf8_size(item)
            if total > ATTRIBUTE_MAX_BYTES:
                break
            items.append(item)
        return items
    return value


_NUMBERS: Final = (int, float, bool)


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with encodable keys and text values (numbers and ASCII keys, most of them, pass as they are)."""
    found: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.__class__ is not str:
            key = encodable(str(key))
        elif key not in _ASCII_KEYS:  # most keys are the conventions' names: checked once per process
            if not key.isascii():
                key = encodable(key)
            elif len(_ASCII_KEYS) < _MAX_SEEN:
                _ASCII_KEYS.add(key)
        kind = value.__class__
        if kind in _NUMBERS or (kind is str and value in _CLEAN_TEXTS):  # most values: no call
            found[key] = value
        elif kind is str and len(value) <= _SHORT and value.isascii():  # `clean_value`'s first test
            found[key] = value
            if len(value) <= _KNOWN_TEXT_CHARS and len(_CLEAN_TEXTS) < _MAX_SEEN:
                _CLEAN_TEXTS.add(value)
        else:
            found[key] = clean_value(value)
    return found


# ASCII keys, and short ASCII texts (model, provider and server names), already seen: checked once per process.
# Bounded, so keys or values made per call cannot grow them without end.
_ASCII_KEYS: Final[set[str]] = set()
_CLEAN_TEXTS: Final[set[str]] = set()
_MAX_SEEN: Final = 1024
_KNOWN_TEXT_CHARS: Final = 128  # texts kept take 128 KiB at most
