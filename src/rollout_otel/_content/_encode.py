"""Content as span attribute values: compact JSON that any exporter can encode, within a size cap.

Two rules from the contract meet here. Text is made encodable (a lone surrogate, as a stream cut inside an emoji
leaves, becomes U+FFFD) because one unencodable character makes the exporter drop the whole batch. And each
content attribute stays under `max_content_bytes` of UTF-8 by cutting its longest strings, so that what is sent
is still valid JSON of the same structure, with a marker where text was cut.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, Final

from .._json import _default
from .._safe import encodable, utf8_size
from ._base64 import Base64Text
from ._parts import Encoded

TRUNCATION_MARKER: Final = "...[truncated]"
_KEEP_CHARS: Final = 256  # a cut string keeps at least this much of its start
_MAX_PASSES: Final = 6

# What encodes a value within a byte cap, giving the JSON and whether it was cut: `encode`, or `encode_in_pieces`.
Encoder = Callable[[Any, int], tuple[str, bool]]


def _dumps(value: Any) -> str:
    """Compact JSON; the items of a list that are already `Encoded` (mapped messages) are written as they are."""
    if type(value) is list:
        kinds = set(map(type, value))  # no Python frame per item: most lists are all Encoded or none
        if Encoded in kinds:
            if len(kinds) == 1:
                return "[" + ",".join(value) + "]"
            return "[" + ",".join(item if type(item) is Encoded else _dumps_one(item) for item in value) + "]"
    return _dumps_one(value)


def _text_or_default(value: Any) -> Any:
    """The encoder's fallback: long base64 not made yet is written whole; anything else as `_json` says."""
    return str(value) if isinstance(value, Base64Text) else _default(value)


def _make_encoder() -> Callable[[Any], str]:
    """One compact, non-ASCII-escaping JSON encoder made once: `json.dumps` with options builds a new encoder on
    every call, which costs more than encoding a short message. No circular check: the structures are rollout's
    own, and a cycle in a caller's payload raises RecursionError, caught by `_dumps_one`."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # not CPython's C accelerator: the pure-Python encoder, same output
        encoder = json.JSONEncoder(
            default=_text_or_default, ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False
        )
        return encoder.encode
    c_encode = make(None, _text_or_default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(c_encode(value, 0))


_encode_json = _make_encoder()


def _dumps_one(value: Any) -> str:
    """Compact JSON; what JSON cannot hold goes through `_json`'s fallbacks, and a value that still fails (a cycle,
    a `__repr__` that raises) becomes its repr, so one bad value costs only itself."""
    if type(value) is str:
        return json.encoder.encode_basestring(value)
    try:
        return _encode_json(value)
    except ValueError:  # NaN or Infinity somewhere: strict JSON has no such number, so they go as text
        try:
            return _encode_json(_finite(value))
        except Exception:
            pass
    except Exception:
        pass
    try:
        return json.dumps(repr(value), ensure_ascii=False)
    except Exception:
        return json.dumps(f"<unserialisable {type(value).__name__}>")


def _finite(value: Any) -> Any:
    """`value` with every NaN and infinite float as its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode(value: Any, max_bytes: int) -> tuple[str, bool]:
    """`value` as compact JSON of at most `max_bytes` UTF-8 bytes; returns (json, whether anything was cut)."""
    encoded = _dumps(value)
    if encoded.isascii():  # most content: no character to replace, and its length is its size
        if len(encoded) <= max_bytes:
            return encoded, False
    else:
        encoded = encodable(encoded)
        if utf8_size(encoded) <= max_bytes:
            return encoded, False
    try:
        return _shrink(value, max_bytes), True
    except Exception:  # a value JSON could not hold whole (a cycle...): cut the text it was recorded as
        return _shrink(encoded, max_bytes), True


def _shrink(value: Any, max_bytes: int) -> str:
    """Cut the longest strings until the JSON fits; where that is not enough, drop the first items of the longest
    lists (the oldest messages, then parts). The result keeps the value's shape: a list of messages stays one.

    Each pass re-encodes the whole value once, and drops or cuts in proportion to the excess, so a long history of
    short messages takes a few passes, not one per message.
    """
    box = [_copy(value)]  # boxed, so that a bare string is a leaf that can be cut like any other
    for _ in range(_MAX_PASSES):
        encoded = encodable(_dumps(box[0]))
        excess = utf8_size(encoded) - max_bytes
        if excess <= 0:
            return encoded
        if not _cut_longest_strings(box, excess):
            break
    for _ in range(_MAX_PASSES * 4):
        encoded = encodable(_dumps(box[0]))
        size = utf8_size(encoded)
        if size <= max_bytes:
            return encoded
        if not _drop_from_longest_list(box[0], (size - max_bytes) / size):
            break
    return "[]" if isinstance(box[0], list) else "{}" if isinstance(box[0], dict) else _dumps(TRUNCATION_MARKER)


def _drop_from_longest_list(value: Any, share: float) -> bool:
    """Remove the first items of the longest non-empty list inside `value`, about `share` of them and at least one;
    False when there is no list to drop from."""
    lists: list[list[Any]] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            if item:
                lists.append(item)
            for child in item:
                walk(child)
        elif isinstance(item, dict):
            for child in item.values():
                walk(child)

    walk(value)
    if not lists:
        return False
    longest = max(lists, key=len)
    del longest[: max(1, math.ceil(len(longest) * share * 1.1))]
    return True


def _copy(value: Any) -> Any:
    """A copy of the containers (never the strings), so cutting never touches the caller's data."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    if type(value) is Encoded:
        return json.loads(value)
    if isinstance(value, (str, int, float, bool, Base64Text)) or value is None:
        return value  # immutable: shared, never copied
    return _copy(json.loads(_dumps(value)))  # an SDK object: its JSON form


def _strings(value: Any, found: list[tuple[int, Any, Any]]) -> None:
    """Every string leaf as (length, container, key), to cut in place."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, (str, Base64Text)):
            if len(item) > _KEEP_CHARS:
                found.append((len(item), value, key))
        elif isinstance(item, (dict, list)):
            _strings(item, found)


def _cut_longest_strings(value: Any, excess_bytes: int) -> bool:
    """Shorten the longest strings by about `excess_bytes` in all; False when no string can be cut further."""
    found: list[tuple[int, Any, Any]] = []
    _strings(value, found)
    if not found:
        return False
    found.sort(key=lambda entry: entry[0], reverse=True)
    to_cut = excess_bytes + len(TRUNCATION_MARKER) * len(found) + 16
    for length, container, key in found:
        if to_cut <= 0:
            break
        text = container[key]
        keep = max(_KEEP_CHARS, length - to_cut)
        if _is_blob_data(container, key):  # base64 cut on a 4-character boundary, no marker: still valid base64
            keep -= keep % 4
            removed = len(text) - keep
            container[key] = text[:keep]
            to_cut -= removed
            continue
        # a non-ASCII character may take up to 4 bytes: cut by characters, counting what was really removed
        removed = utf8_size(text[keep:])
        container[key] = text[:keep] + TRUNCATION_MARKER
        to_cut -= removed - len(TRUNCATION_MARKER)
    return True


def _is_blob_data(container: Any, key: Any) -> bool:
    """Whether `container[key]` is the base64 content of a `blob` part."""
    return key == "content" and isinstance(container, dict) and container.get("type") == "blob"
