"""Reading and validating the GenAI content attributes of a span, against the conventions' JSON schemas.

The schemas' part lists end in a catch-all ("any part with a string `type`"), which would let a `tool_call` part
without its `name` pass. So besides the whole document, each part is checked against the definition its `type`
names, and a part of a type the conventions do not define fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parent / "schemas"
INPUT = "gen_ai.input.messages"
OUTPUT = "gen_ai.output.messages"
SYSTEM = "gen_ai.system_instructions"
TOOLS = "gen_ai.tool.definitions"
_FILES = {
    INPUT: "gen-ai-input-messages.json",
    OUTPUT: "gen-ai-output-messages.json",
    SYSTEM: "gen-ai-system-instructions.json",
    TOOLS: "gen-ai-tool-definitions.json",
}
_PART_DEFS = {
    "text": "TextPart",
    "tool_call": "ToolCallRequestPart",
    "tool_call_response": "ToolCallResponsePart",
    "server_tool_call": "ServerToolCallPart",
    "server_tool_call_response": "ServerToolCallResponsePart",
    "blob": "BlobPart",
    "file": "FilePart",
    "uri": "UriPart",
    "reasoning": "ReasoningPart",
}


@cache
def _schema(attribute: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / _FILES[attribute]).read_text())
    return schema


def _validator(attribute: str, definition: str | None = None) -> jsonschema.protocols.Validator:
    schema = _schema(attribute)
    target = schema if definition is None else {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(target)  # type: ignore[no-any-return]


def validate(attribute: str, value: Any) -> None:
    """Fail unless `value` (parsed) is valid for `attribute`, every part against its own type's definition."""
    _validator(attribute).validate(value)
    if attribute == TOOLS:
        for tool in value:
            definition = "FunctionToolDefinition" if tool.get("type") == "function" else "GenericToolDefinition"
            _validator(attribute, definition).validate(tool)
        return
    parts = value if attribute == SYSTEM else [part for message in value for part in message["parts"]]
    for part in parts:
        kind = part.get("type")
        assert kind in _PART_DEFS, f"part type {kind!r} is not one the conventions define: {part}"
        if attribute == SYSTEM:
            assert kind == "text", part
        _validator(INPUT if attribute == SYSTEM else attribute, _PART_DEFS[kind]).validate(part)


def content(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Every GenAI content attribute of a span, parsed and validated."""
    found: dict[str, Any] = {}
    for attribute in _FILES:
        raw = attributes.get(attribute)
        if raw is None:
            continue
        assert isinstance(raw, str), f"{attribute} must be a JSON string, got {type(raw).__name__}"
        found[attribute] = json.loads(raw)
        validate(attribute, found[attribute])
    return found


def input_messages(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = content(attributes)[INPUT]
    return messages


def output_messages(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = content(attributes)[OUTPUT]
    return messages


def output_text(attributes: Mapping[str, Any], choice: int = 0) -> str:
    """The text parts of one output message, joined: what a backend shows as the reply."""
    message = output_messages(attributes)[choice]
    return "".join(part["content"] for part in message["parts"] if part["type"] == "text")


def parts_of(message: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part for part in message["parts"] if part["type"] == kind]


def text_part(text: str) -> dict[str, Any]:
    return {"content": text, "type": "text"}


def reply(*parts: dict[str, Any], finish_reason: str = "stop") -> list[dict[str, Any]]:
    """`gen_ai.output.messages` (parsed) of one assistant message with these parts."""
    return [{"role": "assistant", "parts": list(parts), "finish_reason": finish_reason, "name": None}]
