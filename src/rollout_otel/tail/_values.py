"""Numbers from the wire, read one field at a time: a bad value (NaN, a string, a negative count) becomes None."""

from __future__ import annotations

import math
from typing import Any


def seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def count(value: Any) -> int | None:
    """A non-negative whole count (an integer, or a float holding one), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    return None
