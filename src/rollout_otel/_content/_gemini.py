"""Gemini content (`contents`, `system_instruction`, tools, candidates) in the conventions' messages and parts.

google-genai takes SDK objects (snake_case attributes) or dicts (snake_case or camelCase keys); both are read.
Gemini's `model` role is the conventions' `assistant`.
"""

from __future__ import annotations

from typing import Any, Final

from . import _parts as p
from ._base64 import base64_of
from ._parts import Message, Part, field, items
from ._turns import EVERY, pause

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
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
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
    name = str(getattr(reason, "_value_", reason))  # an enum member's value, read without the `value` property
    return _FINISH_REASONS.get(name, name.lower())


_PART_FIELDS: Final = ("text", "function_call", "function_response", "inline_data", "file_data", "executable_code")


def _is_part(item: Any) -> bool:
    """A single part (SDK object or dict), not a list of them: pydantic models iterate over their fields."""
    return any(get(item, name) is not None for name in _PART_FIELDS) or _is_file(item)


def _is_file(item: Any) -> bool:
    """An uploaded `types.File` (or its dict), which the SDK sends as a file URI part."""
    return not isinstance(item, dict) and type(item).__name__ == "File" and getattr(item, "uri", None) is not None


def part_of(part: Any) -> Part | None:
    """One Gemini part as a conventions part; None for kinds that carry no content."""
    if isinstance(part, str):
        return p.text(part)
    if _is_file(part):
        return p.uri(part.mime_type, _modality(part.mime_type), part.uri)
    if type(part).__module__.startswith("PIL."):  # a PIL image: the SDK sends it inline, its bytes are not ours
        return p.blob(f"image/{str(getattr(part, 'format', '') or 'png').lower()}", p.IMAGE, "")
    text = get(part, "text")
    if isinstance(text, str):
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
        encoded = base64_of(data) if isinstance(data, (bytes, bytearray)) else str(data or "")
        return p.blob(mime, _modality(mime), encoded)
    file_data = get(part, "file_data", "fileData")
    if file_data is not None:
        mime = get(file_data, "mime_type", "mimeType")
        return p.uri(mime, _modality(mime), get(file_data, "file_uri", "fileUri") or "")
    code = get(part, "executable_code", "executableCode")
    if code is not None:  # code the model runs with its code-execution tool
        payload = {"type": "code_execution", "code": get(code, "code"), "language": p.plain(get(code, "language"))}
        return p.server_tool_call(None, "code_execution", payload)
    result = get(part, "code_execution_result", "codeExecutionResult")
    if result is not None:
        outcome = {
            "type": "code_execution",
            "outcome": p.plain(get(result, "outcome")),
            "output": get(result, "output"),
        }
        return p.server_tool_call_response(None, outcome)
    return None


def _modality(mime: Any) -> str:
    kind = str(mime or "").split("/", 1)[0]
    return {"image": p.IMAGE, "audio": p.AUDIO, "video": p.VIDEO}.get(kind, p.DOCUMENT)


def _parts(content: Any) -> list[Part]:
    found = [part_of(part) for part in items(get(content, "parts"))]
    return [part for part in found if part is not None]


def _is_content(item: Any) -> bool:
    return get(item, "parts") is not None or (isinstance(item, dict) and "role" in item)


def _flat(contents: Any) -> list[Any]:
    """`contents` as a flat list: one item stays one, lists (of lists) of parts are flattened."""
    if isinstance(contents, (str, dict)) or _is_content(contents) or _is_part(contents):
        return [contents]
    return [leaf for item in items(contents) for leaf in _flat(item)]


def messages(contents: Any) -> list[Message]:
    """`contents`: a string, a part, a Content, or a list of them; loose parts in a row form one user message."""
    if contents is None:
        return []
    listed = _flat(contents)
    found: list[Message] = []
    loose: list[Part] = []
    for index, item in enumerate(listed):
        if index % EVERY == EVERY - 1:
            pause()
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
    return [part for part in (part_of(item) for item in _flat(instruction)) if part is not None]


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


def candidate_finish_reason(reason: Any, has_calls: bool) -> str | None:
    """Gemini finishes a function call with STOP; the conventions call that `tool_call`, as for other providers."""
    mapped = finish_reason(reason)
    return "tool_call" if mapped == "stop" and has_calls else mapped


def blocked_reason(response: Any) -> str | None:
    """`content_filter` when the prompt itself was blocked (no candidates, `prompt_feedback.block_reason`)."""
    feedback = get(response, "prompt_feedback", "promptFeedback")
    return "content_filter" if feedback is not None and get(feedback, "block_reason", "blockReason") else None


def output(response: Any) -> list[Message]:
    """A whole response: one output message per candidate."""
    found: list[Message] = []
    for candidate in items(get(response, "candidates")):
        parts = _parts(get(candidate, "content"))
        calls = any(part["type"] == "tool_call" for part in parts)
        reason = candidate_finish_reason(get(candidate, "finish_reason", "finishReason"), calls)
        found.append(p.output_message(parts, reason or "error"))
    return found
