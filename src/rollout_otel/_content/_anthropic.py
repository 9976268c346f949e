"""Anthropic's content shapes (Messages API blocks, `system`, tools) in the conventions' messages and parts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import _parts as p
from ._parts import Message, Part, field, items
from ._turns import each

_SERVER_TOOL_USE: Final = frozenset({"server_tool_use", "mcp_tool_use"})


def _source_part(source: Any, modality: str) -> Part | None:
    kind = field(source, "type")
    if kind == "base64":
        return p.blob(field(source, "media_type"), modality, field(source, "data") or "")
    if kind == "url":
        return p.media_from_url(field(source, "url") or "", modality, field(source, "media_type"))
    if kind == "file":
        return p.file(None, modality, field(source, "file_id") or "")
    if kind == "text":  # a plain-text document, carried inline as the official instrumentation does
        import base64

        data = (field(source, "data") or "").encode("utf-8", "replace")
        return p.blob(field(source, "media_type") or "text/plain", modality, base64.b64encode(data).decode("ascii"))
    return None


def block_parts(block: Any) -> list[Part]:
    """The parts one content block becomes (a document with inner content may become several)."""
    kind = field(block, "type")
    if not isinstance(kind, str):
        return []
    if kind == "text":
        return [p.text(field(block, "text") or "")]
    if kind == "thinking":
        return [p.reasoning(field(block, "thinking") or "")]
    if kind == "tool_use":
        return [p.tool_call(field(block, "id"), field(block, "name"), p.plain(field(block, "input")))]
    if kind == "tool_result":
        content = field(block, "content")
        response = content if isinstance(content, str) else [p.plain(c) for c in items(content)]
        return [p.tool_call_response(field(block, "tool_use_id"), response)]
    if kind in ("image", "document"):
        source = field(block, "source")
        if kind == "document" and field(source, "type") == "content":
            return [part for inner in items(field(source, "content")) for part in block_parts(inner)]
        part = _source_part(source, p.IMAGE if kind == "image" else p.DOCUMENT)
        return [part] if part is not None else []
    if kind in _SERVER_TOOL_USE:
        name = field(block, "name") or kind
        payload: dict[str, Any] = {
            "type": kind if kind == "mcp_tool_use" else name,
            "input": p.plain(field(block, "input")),
        }
        if field(block, "server_name"):
            payload["server_name"] = field(block, "server_name")
        return [p.server_tool_call(field(block, "id"), name, payload)]
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        data = p.plain(block)
        body = {
            k: v for k, v in (data if isinstance(data, Mapping) else {}).items() if k not in ("tool_use_id", "type")
        }
        body["type"] = kind.removesuffix("_tool_result")
        return [p.server_tool_call_response(field(block, "tool_use_id"), body)]
    if kind == "search_result":
        return [p.text(field(c, "text") or "") for c in items(field(block, "content"))]
    if kind == "container_upload":
        return [p.file(None, p.DOCUMENT, field(block, "file_id") or "")]
    return []  # redacted_thinking (opaque), and kinds this version does not know


def content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [p.text(content)]
    return [part for block in items(content) for part in block_parts(block)]


def _message(message: Any) -> p.AnyMessage:
    role, content = field(message, "role") or "user", field(message, "content")
    plain = type(content) is str and len(content) <= p.LONG_TEXT
    if type(message) is dict and len(message) == 2 and plain and type(role) is str:
        return p.encoded_message(role, [p.encoded_text(content)])  # the plain message: most of a history
    return p.input_message(str(role), content_parts(content))


def messages(value: Any) -> list[p.AnyMessage]:
    return each(items(value), _message)


def system_instructions(system: Any) -> list[Part]:
    """`system`: a string, or text blocks (their cache_control is request plumbing, not content)."""
    return p.text_parts(system)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for tool in items(tools):
        kind = field(tool, "type")
        if kind in (None, "custom") or field(tool, "input_schema") is not None:
            found.append(
                {
                    "name": field(tool, "name") or "",
                    "description": field(tool, "description"),
                    "parameters": p.plain(field(tool, "input_schema")),
                    "type": "function",
                }
            )
        else:  # a server tool, such as web_search_20250305
            found.append({"name": field(tool, "name") or kind, "type": kind})
    return found


def output(message: Any) -> list[Message]:
    """A whole Message as one output message, its blocks in order."""
    parts = content_parts(field(message, "content"))
    return [p.output_message(parts, p.finish_reason(field(message, "stop_reason")))]
