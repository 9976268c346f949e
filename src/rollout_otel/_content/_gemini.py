"""Gemini content (`contents`, `system_instruction`, tools, candidates) in the conventions' messages and parts.

google-genai takes SDK objects (snake_case attributes) or dicts (snake_case or camelCase keys); both are read.
Gemini's `model` role is the conventions' `assistant`.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from . import _parts as p
from ._parts import Message, Part, field, items

_ROLES: Final = {"model": "assistant"}
_FINISH_REASONS: Final = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
}


def get(item: Any, snake: str, camel: str | None = None) -> Any:
    """A field of an SDK object or a dict, by its snake_case or camelCase name."""
    value = field(item, snake)
    if value is None and camel is not None and isinstance(item, dict):
        value = item.get(camel)
    return value


def finish_reason(reason: Any) -> str | None:
    """The conventions' name for a Gemini finish reason (an SDK enum or its string)."""
    if reason is None:
        return None
    name = str(getattr(reason, "value", reason))
    return _FINISH_REASONS.get(name, name.lower())


def part_of(part: Any) -> Part | None:
    """One Gemini part as a conventions part; None for kinds that carry no content (executable code aside)."""
    if isinstance(part, str):
        return p.text(part)
    text = get(part, "text")
    if text is not None:
        return p.reasoning(text) if get(part, "thought") else p.text(text)
    call = get(part, "function_call", "functionCall")
    if call is not None:
        return p.tool_call(get(call, "id"), get(call, "name"), p.plain(get(call, "args")))
    response = get(part, "function_response", "functionResponse")
    if response is not None:
        return p.tool_call_response(get(response, "id") or get(response, "name"), p.plain(get(response, "response")))
    inline = get(part, "inline_data", "inlineData")
    if inline is not None:
        mime = get(inline, "mime_type", "mimeType")
        data = get(inline, "data")
        encoded = base64.b64encode(data).decode("ascii") if isinstance(data, (bytes, bytearray)) else str(data or "")
        return p.blob(mime, _modality(mime), encoded)
    file_data = get(part, "file_data", "fileData")
    if file_data is not None:
        mime = get(file_data, "mime_type", "mimeType")
        return p.uri(mime, _modality(mime), get(file_data, "file_uri", "fileUri") or "")
    return None


def _modality(mime: Any) -> str:
    kind = str(mime or "").split("/", 1)[0]
    return {"image": p.IMAGE, "audio": p.AUDIO, "video": p.VIDEO}.get(kind, p.DOCUMENT)


def _parts(content: Any) -> list[Part]:
    found = [part_of(part) for part in items(get(content, "parts"))]
    return [part for part in found if part is not None]


def _is_content(item: Any) -> bool:
    return get(item, "parts") is not None or (isinstance(item, dict) and "role" in item)


def messages(contents: Any) -> list[Message]:
    """`contents`: a string, a part, a Content, or a list of them; loose parts in a row form one user message."""
    if contents is None:
        return []
    listed = list(items(contents)) if not (isinstance(contents, (str, dict)) or _is_content(contents)) else [contents]
    found: list[Message] = []
    loose: list[Part] = []
    for item in listed:
        if _is_content(item):
            if loose:
                found.append(p.input_message("user", loose))
                loose = []
            role = str(get(item, "role") or "user")
            found.append(p.input_message(_ROLES.get(role, role), _parts(item)))
        else:
            part = part_of(item)
            if part is not None:
                loose.append(part)
    if loose:
        found.append(p.input_message("user", loose))
    return found


def system_instructions(instruction: Any) -> list[Part]:
    """`config.system_instruction`: a string, a part, a Content or a list of parts."""
    if instruction is None:
        return []
    if isinstance(instruction, str):
        return [p.text(instruction)] if instruction else []
    if _is_content(instruction):
        return _parts(instruction)
    listed = items(instruction) if not isinstance(instruction, dict) else [instruction]
    return [part for part in (part_of(item) for item in listed) if part is not None]


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Function declarations, and Python functions given for automatic function calling."""
    found: list[dict[str, Any]] = []
    for tool in items(tools):
        if callable(tool) and not isinstance(tool, dict):
            doc = (getattr(tool, "__doc__", None) or "").strip() or None
            found.append({"name": getattr(tool, "__name__", "function"), "description": doc, "parameters": None,
                          "type": "function"})  # fmt: skip
            continue
        for declaration in items(get(tool, "function_declarations", "functionDeclarations")):
            schema = get(declaration, "parameters_json_schema", "parametersJsonSchema") or get(
                declaration, "parameters"
            )
            found.append(
                {
                    "name": get(declaration, "name") or "",
                    "description": get(declaration, "description"),
                    "parameters": p.plain(schema),
                    "type": "function",
                }
            )
    return found


def output(response: Any) -> list[Message]:
    """A whole response: one output message per candidate."""
    found: list[Message] = []
    for candidate in items(get(response, "candidates")):
        parts = _parts(get(candidate, "content"))
        found.append(p.output_message(parts, finish_reason(get(candidate, "finish_reason", "finishReason")) or "error"))
    return found
