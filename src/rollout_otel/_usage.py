"""Map the token usage shapes of OpenAI, Anthropic and plain dicts to the GenAI usage attributes."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

from . import _attributes as attr
from ._errors import logger

# Accepted keys, in order of preference, for each attribute.
_DIRECT: tuple[tuple[str, tuple[str, ...]], ...] = (
    (attr.GEN_AI_USAGE_INPUT_TOKENS, ("input_tokens", "prompt_tokens")),
    (attr.GEN_AI_USAGE_OUTPUT_TOKENS, ("output_tokens", "completion_tokens")),
    (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, ("cache_read_input_tokens",)),
    (attr.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, ("cache_write_input_tokens", "cache_creation_input_tokens")),
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


# Every key read below; on a pydantic model these are read from its fields (and extras) without `getattr`, whose
# miss costs pydantic's `__getattr__` and an exception each time (most keys are missing from any one provider's usage).
_KEYS: Final = frozenset(
    {key for _, keys in _DIRECT for key in keys}
    | {key for _, containers, key in _NESTED for key in (*containers, key)}
    | {"cache_creation_input_tokens", "output_tokens_details", "thinking_tokens"}
    | {"prompt_token_count", "tool_use_prompt_token_count", "candidates_token_count", "thoughts_token_count"}
    | {"cached_content_token_count"}
    | {"inputTokens", "outputTokens", "cacheReadInputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokens"}
    | {"cacheWriteInputTokenCount"}
)
_MAPPING, _FIELDS, _ATTRIBUTES = 0, 1, 2
_modes: dict[type, int] = {dict: _MAPPING}  # per type: how its values are read, decided once


def _mode_of(source: Any) -> int:
    if isinstance(source, Mapping):
        return _MAPPING
    kind = type(source)
    fields = getattr(kind, "__pydantic_fields__", None)
    if (
        isinstance(fields, dict)
        and isinstance(getattr(source, "__dict__", None), dict)
        and hasattr(source, "__pydantic_extra__")
        and not any(hasattr(kind, key) for key in _KEYS)  # no property or class attribute stands in for a field
    ):
        return _FIELDS
    return _ATTRIBUTES


def _get(source: Any, key: str) -> Any:
    kind = type(source)
    mode = _modes[kind] if kind in _modes else _modes.setdefault(kind, _mode_of(source))
    if mode == _MAPPING:
        return source.get(key)
    if mode == _FIELDS and key in _KEYS:  # what getattr gives a pydantic model: a field, or else an extra
        found = source.__dict__.get(key)
        if found is None and key not in source.__dict__:
            extra = source.__pydantic_extra__
            return extra.get(key) if extra else None
        return found
    return getattr(source, key, None)


def usage_fields(source: Any) -> Mapping[str, Any]:
    """What to read `source`'s usage keys from with `in` and `[]`, which cost no call: the dict itself, or a pydantic
    model's field dict when it has no extras (usage is read at every call's end); else a view through `_get`."""
    kind = type(source)
    mode = _modes[kind] if kind in _modes else _modes.setdefault(kind, _mode_of(source))
    if mode == _MAPPING:
        return source  # type: ignore[no-any-return]
    if mode == _FIELDS and not source.__pydantic_extra__:
        return source.__dict__  # type: ignore[no-any-return]  # every key read is one of _KEYS
    return _Read(source)


class _Read(Mapping[str, Any]):
    """The keys `_get` finds on an object that is neither a dict nor a plain pydantic model."""

    __slots__ = ("_source",)

    def __init__(self, source: Any) -> None:
        self._source = source

    def __getitem__(self, key: str) -> Any:
        return _get(self._source, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _get(self._source, key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_INT64_MAX = 2**63 - 1  # what OTLP carries; a larger count would drop the attribute and break the metric state
_warned: set[str] = set()


def _count(value: Any, key: str = "usage") -> int | None:
    """A token count: a whole number from 0 to 2**63 - 1 (int, numpy integer, Decimal or float with no fraction).

    Anything else is left out rather than recorded wrong, with one warning per usage key: one bad count costs only
    itself, never the span's other attributes or the process's metrics.
    """
    if type(value) is int and 0 <= value <= _INT64_MAX:  # what every provider SDK gives: no ABC checks
        return value
    if value is None or isinstance(value, bool):
        return None
    whole_float = isinstance(value, (float, Decimal)) and math.isfinite(value) and value == int(value)
    if isinstance(value, numbers.Integral) or whole_float:
        count = int(value)
    else:
        if isinstance(value, (float, Decimal, numbers.Number, str)):
            _warn(key, value)
        return None
    if not 0 <= count <= _INT64_MAX:
        _warn(key, value)
        return None
    return count


def _warn(key: str, value: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(
            "rollout-otel left out the token count %s=%r: a count is a whole number from 0 to 2**63 - 1", key, value
        )


_ANTHROPIC_KEYS: Final = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _counts(fields: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, int | None]:
    """The token count `usage_fields` has under each of `keys`, None where there is none (read with `in` and `[]`:
    no call for a key that is not there, here or in the caller)."""
    found: dict[str, int | None] = {}
    for key in keys:
        value = fields[key] if key in fields else None  # noqa: SIM401
        if value is not None and not (value.__class__ is int and 0 <= value <= _INT64_MAX):
            value = _count(value, key)
        found[key] = value
    return found


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Anthropic's usage in rollout's keys; its `input_tokens` leaves out cached tokens, so they are added back.

    The GenAI conventions count every input token in `gen_ai.usage.input_tokens`, cache reads and writes included,
    as OpenAI's `prompt_tokens` already does.
    """
    found: dict[str, int] = {}
    fields = usage_fields(usage)
    counts = _counts(fields, _ANTHROPIC_KEYS)
    read, write = counts["cache_read_input_tokens"], counts["cache_creation_input_tokens"]
    uncached, output = counts["input_tokens"], counts["output_tokens"]
    if uncached is not None:
        total = uncached + (read or 0) + (write or 0)
        if total <= _INT64_MAX:
            found["input_tokens"] = total
    if output is not None:
        found["output_tokens"] = output
    if read is not None:
        found["cache_read_input_tokens"] = read
    if write is not None:
        found["cache_write_input_tokens"] = write
    details = fields["output_tokens_details"] if "output_tokens_details" in fields else None  # noqa: SIM401
    thinking = _count(_get(details, "thinking_tokens"), "thinking_tokens") if details is not None else None
    if thinking is not None:
        found["reasoning_output_tokens"] = thinking
    return found


_BEDROCK_KEYS = (  # (Converse's name, Nova InvokeModel's name) -> rollout's
    (("inputTokens", "inputTokens"), "input_tokens"),
    (("outputTokens", "outputTokens"), "output_tokens"),
    (("cacheReadInputTokens", "cacheReadInputTokenCount"), "cache_read_input_tokens"),
    (("cacheWriteInputTokens", "cacheWriteInputTokenCount"), "cache_creation_input_tokens"),
)


def bedrock_usage(usage: Any) -> dict[str, int]:
    """Bedrock usage (Converse, or a Nova InvokeModel body); like Anthropic's, `inputTokens` leaves the cached
    tokens out."""
    found: dict[str, Any] = {}
    fields = usage_fields(usage)
    for (converse, nova), ours in _BEDROCK_KEYS:
        value = fields[converse] if converse in fields else None  # noqa: SIM401
        found[ours] = value if value is not None else fields.get(nova)
    return anthropic_usage(found)


_GEMINI_KEYS: Final = (
    "prompt_token_count",
    "tool_use_prompt_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "cached_content_token_count",
)


def gemini_usage(usage: Any) -> dict[str, int]:
    """Gemini's `usage_metadata`: its prompt count already holds the cached tokens; thoughts are output tokens.

    The conventions count reasoning in the output tokens (as OpenAI's completion_tokens do), so output is
    candidates plus thoughts, and `reasoning_output_tokens` says how many of them were thoughts.
    """
    found: dict[str, int] = {}
    counts = _counts(usage_fields(usage), _GEMINI_KEYS)
    prompt, tool_prompt = counts["prompt_token_count"], counts["tool_use_prompt_token_count"]
    if prompt is not None:
        found["input_tokens"] = min(prompt + (tool_prompt or 0), _INT64_MAX)
    candidates, thoughts = counts["candidates_token_count"], counts["thoughts_token_count"]
    if candidates is not None or thoughts is not None:
        found["output_tokens"] = min((candidates or 0) + (thoughts or 0), _INT64_MAX)
    cached = counts["cached_content_token_count"]
    if cached is not None:
        found["cache_read_input_tokens"] = cached
    if thoughts is not None:
        found["reasoning_output_tokens"] = thoughts
    return found


def usage_attributes(usage: Any) -> dict[str, int]:
    """Return the gen_ai.usage.* attributes found in a usage dict or provider usage object."""
    if usage is None:
        return {}
    if type(usage).__module__.startswith("anthropic."):  # an SDK Usage handed to span.end() as is
        usage = anthropic_usage(usage)
    found: dict[str, int] = {}
    table = usage_fields(usage)
    for name, keys in _DIRECT:
        for key in keys:
            value = table[key] if key in table else None  # noqa: SIM401  (`in` and `[]` cost no call; `.get` does)
            if value is None:
                continue
            count = value if value.__class__ is int and 0 <= value <= _INT64_MAX else _count(value, key)
            if count is not None:
                found[name] = count
                break
    for name, containers, key in _NESTED:
        if name in found:
            continue
        for container in containers:
            details = table[container] if container in table else None  # noqa: SIM401
            if details is None:
                continue
            inner = usage_fields(details)
            value = inner[key] if key in inner else None  # noqa: SIM401
            if value is None:
                continue
            count = value if value.__class__ is int and 0 <= value <= _INT64_MAX else _count(value, key)
            if count is not None:
                found[name] = count
                break
    return found
