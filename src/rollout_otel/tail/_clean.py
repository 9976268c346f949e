"""Text from the wire made safe to show: no control character (C0, DEL, C1, ESC) ever reaches a terminal raw.

Model output, names and error types are written by whoever can post to tail; an escape sequence in them could set
the clipboard (OSC 52), the window title or clear the screen. Each control character is shown escaped instead
(`\\x1b`), so what arrived stays visible; newlines and tabs survive only where a caller keeps them.
"""

from __future__ import annotations

import re
from typing import Any, Final

# C0 but tab and newline, DEL, C1; plus the line and paragraph separators and bidi overrides that reorder text.
_CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINES: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, lines: bool = False, limit: int | None = None) -> str:
    """`text` with every control character escaped; with `lines`, tabs and newlines are kept."""
    if limit is not None and len(text) > limit:
        text = text[:limit]
    pattern = _CONTROL if lines else _CONTROL_LINES
    return pattern.sub(_escaped, text) if pattern.search(text) else text


def clean_value(value: Any, *, limit: int = 1000) -> Any:
    """An attribute value made safe: strings cleaned and cut at `limit`, lists and maps cleaned throughout."""
    if isinstance(value, str):
        return clean(value, lines=True, limit=limit)
    if isinstance(value, bytes):
        return value[:limit].hex()
    if isinstance(value, (list, tuple)):
        return [clean_value(v, limit=limit) for v in value[:64]]
    if isinstance(value, dict):
        return {clean(str(k), limit=200): clean_value(v, limit=limit) for k, v in list(value.items())[:64]}
    return value


def one_line(text: str, last: int | None = None) -> str:
    """Whitespace runs (newlines included) folded to one space, so a row never wraps; `last` keeps the end only."""
    flat = " ".join(clean(text, lines=True).split())
    return flat if last is None else flat[-last:]
