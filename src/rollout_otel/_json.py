"""Turn whatever a caller records (pydantic models, dataclasses, datetimes...) into a JSON string, never raising."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any


def _default(value: Any) -> Any:
    """json.dumps fallback: a sensible JSON form for common non-JSON types, else repr()."""
    dump = getattr(value, "model_dump", None)  # pydantic v2, and the openai / anthropic response types
    if callable(dump) and not isinstance(value, type):
        try:
            return dump(mode="json")
        except TypeError:
            return dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (uuid.UUID, Decimal, PurePath)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, type):  # a class, such as a response_format model: its name says enough
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    legacy = getattr(value, "dict", None)  # pydantic v1
    if callable(legacy) and not isinstance(value, type):
        try:
            result = legacy()
            if isinstance(result, dict):
                return result
        except Exception:
            pass
    return repr(value)


def to_json(value: Any) -> str:
    """Serialise any value to compact JSON; what JSON cannot hold becomes its repr, and nothing raises."""
    try:
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))
    except Exception:  # circular references, a __repr__ or model_dump that raises...
        try:
            return json.dumps(repr(value), ensure_ascii=False)
        except Exception:
            return json.dumps(f"<unserialisable {type(value).__name__}>")
