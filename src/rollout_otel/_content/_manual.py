"""What the manual API's `record_input` value says in the conventions' shape, when it is message-shaped.

Accepted: a list of messages, or a dict holding `messages` with optional `system` / `instructions` / `tools`.
A message may already be in the conventions' shape (`role` + `parts`), or in OpenAI's or Anthropic's: its content
parts are read by whichever provider's mapping knows their `type`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _anthropic, _openai
from . import _parts as p
from ._parts import Part, field
from ._turns import each


def _is_message(item: Any) -> bool:
    return field(item, "role") is not None


def is_message_list(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and bool(value)
        and all(_is_message(item) for item in value)
    )


def _part(item: Any) -> list[Part]:
    if isinstance(item, str):
        return [p.text(item)]
    mapped = _openai.content_part(item)
    if mapped is not None:
        return [mapped]
    return _anthropic.block_parts(item)


def _message(message: Any) -> p.AnyMessage | None:
    parts = field(message, "parts")
    role = str(field(message, "role"))
    if isinstance(parts, list):  # already in the conventions' shape
        return {"role": role, "parts": [p.plain(part) for part in parts], "name": field(message, "name")}
    content = field(message, "content")
    if role in ("tool", "function") or field(message, "tool_calls") or not isinstance(content, (list, tuple)):
        return _openai.chat_message(message)
    mapped = [part for item in content for part in _part(item)]
    name = field(message, "name")
    return p.input_message(role, mapped, str(name) if name else None) if mapped else None


def messages(value: Any) -> list[p.AnyMessage]:
    return each(value, _message)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        is_anthropic = field(tool, "input_schema") is not None
        found += _anthropic.tool_definitions([tool]) if is_anthropic else _openai.tool_definitions([tool])
    return found


def request(value: Any) -> tuple[list[p.AnyMessage], list[Part], list[dict[str, Any]]] | None:
    """(messages, system instructions, tool definitions), or None when `value` is not message-shaped."""
    if is_message_list(value):
        return messages(value), [], []
    if not isinstance(value, Mapping) or not is_message_list(value.get("messages")):
        return None
    system: list[Part] = []
    if value.get("system") is not None:
        system += p.text_parts(value["system"])
    if value.get("instructions") is not None:
        system += _openai.responses_instructions(value["instructions"])
    tools = tool_definitions(value.get("tools"))
    return messages(value["messages"]), system, tools


def is_output_message_list(value: Any) -> bool:
    """Output already in the conventions' shape: messages with `role` and `parts`."""
    return is_message_list(value) and all(isinstance(field(m, "parts"), list) for m in value)
