"""Content in the GenAI conventions' shape: what a call was asked and what it answered, as span attributes.

Built once per call, when its span ends, never per chunk: a request keeps a reference to what was sent, and the
messages, system instructions, tool definitions and output messages are mapped and encoded at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .. import _attributes as attr
from .._config import Settings
from .._errors import log_internal_error
from .._safe import encodable, utf8_size
from . import _anthropic as anthropic
from . import _bedrock as bedrock
from . import _gemini as gemini
from . import _openai as openai
from . import _parts as parts
from ._early import EarlyRequest
from ._encode import encode
from ._manual import request as manual_request

__all__ = [
    "LazyOutput",
    "OutputMessages",
    "Request",
    "anthropic",
    "bedrock",
    "content_attributes",
    "encodable",
    "gemini",
    "manual_input",
    "openai",
    "parts",
    "preview",
    "text_output",
]


@dataclass
class Request:
    """A call's input in the conventions' shape; `rest` is what the manual API was given beside messages."""

    messages: Sequence[parts.AnyMessage] = field(default_factory=list)
    system: list[parts.Part] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    rest: Any = None


class OutputMessages(list[parts.Message]):
    """Output messages an instrumentation already built: recorded as they are, never as `rollout.output`."""


class LazyOutput:
    """Output messages an instrumentation builds only when they are recorded: with content capture, at the end."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], list[parts.Message]]) -> None:
        self.build = build


def manual_input(value: Any) -> Request:
    """What `record_input(value)` records: messages where they are message-shaped, `rest` for anything else."""
    mapped = manual_request(value)
    if mapped is None:
        return Request(rest=value)
    messages, system, tools = mapped
    rest = None
    if isinstance(value, Mapping):
        others = {k: v for k, v in value.items() if k not in ("messages", "system", "instructions", "tools")}
        rest = others or None
    return Request(messages, system, tools, rest)


def preview(text: str, settings: Settings) -> str:
    """The rolling preview: the last `stream_preview_chars` characters, encodable, within `max_content_bytes`."""
    tail = encodable(text[-settings.stream_preview_chars :])
    if len(tail) * 4 > settings.max_content_bytes and utf8_size(tail) > settings.max_content_bytes:
        tail = tail[-(settings.max_content_bytes // 4) :]  # the newest text; 4 bytes per character at most
    return tail


def text_output(text: str, finish_reason: str) -> OutputMessages:
    """Plain text as one assistant message with one text part."""
    return OutputMessages([parts.output_message([parts.text(text)] if text else [], finish_reason)])


def content_attributes(
    request: Request | Callable[[], Request] | None,
    output: OutputMessages | None,
    max_bytes: int,
    other_output: Any = None,
    span_budget: int | None = None,
    encoder: Callable[[Any, int], tuple[str, bool]] = encode,
) -> dict[str, Any]:
    """The content attributes of one call, each capped at `max_bytes` and all together at `span_budget`;
    `rollout.content.truncated` if any was cut. Each is built on its own: one that fails costs only itself.

    `other_output` is an output that is not message-shaped (manual API only), recorded as `rollout.output`.
    `encoder` is `encode`, or on the content worker the same done in pieces.
    """
    ready: dict[str, tuple[str, bool]] = {}
    if isinstance(request, EarlyRequest):  # built on the content worker: the same encodings, ready or waited for
        built = request.take(max_bytes)
        request, ready = built if built is not None else (request(), {})
    if callable(request):
        request = request()
    values: list[tuple[str, Any]] = []
    if request is not None:
        values += [
            (attr.GEN_AI_INPUT_MESSAGES, request.messages),
            (attr.GEN_AI_SYSTEM_INSTRUCTIONS, request.system),
            (attr.GEN_AI_TOOL_DEFINITIONS, request.tools),
            (attr.ROLLOUT_INPUT, request.rest),
        ]
    values += [(attr.GEN_AI_OUTPUT_MESSAGES, output), (attr.ROLLOUT_OUTPUT, other_output)]
    found: dict[str, str] = {}
    truncated = False
    for name, value in values:
        if value is None or (type(value) in _CONTAINERS and not value):  # empty, asked without truth-testing
            continue
        try:
            found[name], cut = ready[name] if name in ready else encoder(value, max_bytes)
        except Exception:
            log_internal_error(f"recording {name}")
            continue
        truncated = truncated or cut
    if span_budget is not None and sum(map(len, found.values())) * 4 > span_budget:  # else it fits, whatever the text
        truncated = _fit_span_budget(found, dict(values), span_budget, encoder) or truncated
    result: dict[str, Any] = dict(found)
    if truncated:
        result[attr.CONTENT_TRUNCATED] = True
    return result


# The types whose emptiness is asked; others (arrays, frames) may refuse a truth test.
_CONTAINERS: Final = (list, tuple, dict, str)


def _fit_span_budget(
    found: dict[str, str], values: dict[str, Any], budget: int, encoder: Callable[[Any, int], tuple[str, bool]]
) -> bool:
    """Cut the largest attributes until all of them fit `budget` together: no span larger than a collector takes."""
    budget = max(budget, 0)
    if sum(map(len, found.values())) * 4 <= budget:  # fits whatever the characters are: no size to measure
        return False
    cut_any = False
    for _ in range(len(found)):
        sizes = {name: utf8_size(encoded) for name, encoded in found.items()}
        excess = sum(sizes.values()) - budget
        if excess <= 0:
            break
        largest = max(sizes, key=lambda name: sizes[name])
        found[largest], _ = encoder(values[largest], max(2, sizes[largest] - excess))
        cut_any = True
    return cut_any
