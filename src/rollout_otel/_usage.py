"""Map the token usage shapes of OpenAI, Anthropic and plain dicts to the GenAI usage attributes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import _attributes as attr

# Accepted keys, in order of preference, for each attribute.
_DIRECT: tuple[tuple[str, tuple[str, ...]], ...] = (
    (attr.GEN_AI_USAGE_INPUT_TOKENS, ("input_tokens", "prompt_tokens")),
    (attr.GEN_AI_USAGE_OUTPUT_TOKENS, ("output_tokens", "completion_tokens")),
    (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, ("cache_read_input_tokens",)),
    (attr.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, ("cache_write_input_tokens", "cache_creation_input_tokens")),
    (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, ("reasoning_output_tokens",)),
)
# OpenAI nests cache and reasoning counts in *_details objects.
_NESTED: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, ("input_tokens_details", "prompt_tokens_details"), "cached_tokens"),
    (
        attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        ("output_tokens_details", "completion_tokens_details"),
        "reasoning_tokens",
    ),
)


def _get(source: Any, key: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def _count(value: Any) -> int | None:
    """A token count is a non-negative whole number; anything else is ignored rather than recorded wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value < 0 or value != int(value):
        return None
    return int(value)


def usage_attributes(usage: Any) -> dict[str, int]:
    """Return the gen_ai.usage.* attributes found in a usage dict or provider usage object."""
    if usage is None:
        return {}
    found: dict[str, int] = {}
    for name, keys in _DIRECT:
        for key in keys:
            count = _count(_get(usage, key))
            if count is not None:
                found[name] = count
                break
    for name, containers, key in _NESTED:
        if name in found:
            continue
        for container in containers:
            details = _get(usage, container)
            count = _count(_get(details, key)) if details is not None else None
            if count is not None:
                found[name] = count
                break
    return found
