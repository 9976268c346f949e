"""Bedrock Converse content (messages, `system`, `toolConfig`, output) in the conventions' messages and parts.

Converse blocks are one-key dicts (`{"text": ...}`, `{"toolUse": {...}}`); media arrive as raw bytes, recorded
as base64 blobs like every other provider's inline data.
"""

from __future__ import annotations

from typing import Any, Final

from . import _parts as p
from ._base64 import base64_of
from ._parts import Message, Part, items
from ._turns import each

_MEDIA: Final = (("image", p.IMAGE, "image/"), ("video", p.VIDEO, "video/"), ("document", p.DOCUMENT, "application/"))
_MIME_TYPES: Final = {  # Converse's `format` values whose MIME type is not the prefix plus the format
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jpg": "image/jpeg",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "flv": "video/x-flv",
    "three_gp": "video/3gpp",
    "mpg": "video/mpeg",
    "wmv": "video/x-ms-wmv",
}


def _media_part(media: Any, modality: str, prefix: str) -> Part | None:
    if not isinstance(media, dict):
        return None
    fmt = str(media.get("format") or "")
    mime = _MIME_TYPES.get(fmt) or (prefix + fmt if fmt else None)
    source: Any = media.get("source")
    if not isinstance(source, dict):
        return None
    data = source.get("bytes")
    if isinstance(data, (bytes, bytearray)):
        return p.blob(mime, modality, base64_of(data))
    s3: Any = source.get("s3Location")
    location = s3.get("uri") if isinstance(s3, dict) else None
    if isinstance(location, str):
        return p.uri(mime, modality, location)
    return None


def _tool_result(result: dict[str, Any]) -> Part:
    response: list[Any] = []
    for item in items(result.get("content")):
        if isinstance(item, dict) and "text" in item:
            response.append(item["text"])
        elif isinstance(item, dict) and "json" in item:
            response.append(item["json"])
    return p.tool_call_response(result.get("toolUseId"), response[0] if len(response) == 1 else response)


def block_parts(block: Any) -> list[Part]:
    """The parts one Converse content block becomes; cache points and unknown kinds become none."""
    if not isinstance(block, dict):
        return []
    if "text" in block:
        return [p.text(block["text"])]
    if "toolUse" in block and isinstance(block["toolUse"], dict):
        use = block["toolUse"]
        return [p.tool_call(use.get("toolUseId"), use.get("name"), use.get("input"))]
    if "toolResult" in block and isinstance(block["toolResult"], dict):
        return [_tool_result(block["toolResult"])]
    if "reasoningContent" in block and isinstance(block["reasoningContent"], dict):
        reasoning = block["reasoningContent"].get("reasoningText")
        return [p.reasoning(reasoning.get("text"))] if isinstance(reasoning, dict) else []
    for key, modality, prefix in _MEDIA:
        if key in block:
            part = _media_part(block[key], modality, prefix)
            return [part] if part is not None else []
    return []


def _message(message: Any) -> Message:
    role = message.get("role") if isinstance(message, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    return p.input_message(str(role or "user"), [part for block in items(content) for part in block_parts(block)])


def messages(value: Any) -> list[Message]:
    return each(items(value), _message)


def system_instructions(system: Any) -> list[Part]:
    """`system`: text blocks (cache points and guard content left out)."""
    return [p.text(block["text"]) for block in items(system) if isinstance(block, dict) and "text" in block]


def tool_definitions(tool_config: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    tools = tool_config.get("tools") if isinstance(tool_config, dict) else None
    for tool in items(tools):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(spec, dict):
            schema = spec.get("inputSchema")
            found.append(
                {
                    "name": spec.get("name") or "",
                    "description": spec.get("description"),
                    "parameters": schema.get("json") if isinstance(schema, dict) else None,
                    "type": "function",
                }
            )
    return found


def output(response: Any) -> list[Message]:
    """A whole Converse response's message, its blocks in order."""
    out = response.get("output") if isinstance(response, dict) else None
    message = out.get("message") if isinstance(out, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    parts = [part for block in items(content) for part in block_parts(block)]
    return [p.output_message(parts, p.finish_reason(response.get("stopReason")))]
