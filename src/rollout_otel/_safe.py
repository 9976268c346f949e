"""Values made safe to export: text every exporter can encode, and attribute values the SDK keeps.

One unencodable character (a lone surrogate, as `json.loads` of a cut emoji or a stream cut inside a surrogate pair
leaves) makes the OTLP exporter drop the whole batch, everyone's spans with it; inside an attribute the SDK drops
that attribute. So every text rollout-otel writes goes through here first: U+FFFD stands for what cannot be
encoded, and one bad character costs only itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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


def clean_value(value: Any) -> Any:
    """An attribute value with its text made encodable (strings and sequences of strings); others as they are."""
    if type(value) is str:
        return encodable(value)
    if isinstance(value, (list, tuple)) and any(type(item) is str for item in value):
        return [encodable(item) if type(item) is str else item for item in value]
    return value


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with encodable keys and text values."""
    return {encodable(str(key)): clean_value(value) for key, value in attributes.items()}
