"""OpenAI's content shapes (Chat Completions and Responses) in the conventions' messages and parts.

Request bodies are dicts; responses are SDK objects: `field()` reads both, so the manual API maps the same shapes.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any, Final

from . import _parts as p
from ._parts import Message, Part, field, items
from ._turns import EVERY, each, pause

_AUDIO_MIME: Final = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/opus"}
_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})


def _guess_mime(filename: Any) -> str | None:
    return mimetypes.guess_type(filename)[0] if isinstance(filename, str) and filename else None


def content_part(item: Any) -> Part | None:
    """One content part of a chat message or a Responses message item; None for a kind with nothing to show."""
    kind = field(item, "type")
    if not isinstance(kind, str):
        return None
    if kind in _TEXT_PARTS:
        return p.text(field(item, "text") or "")
    if kind == "refusal":
        return p.text(field(item, "refusal") or "")
    if kind == "image_url":  # chat: {"image_url": {"url": ..., "detail": ...}}
        url = field(field(item, "image_url"), "url")
        return p.media_from_url(url, p.IMAGE) if isinstance(url, str) else None
    if kind == "input_image":  # responses: {"image_url": "..."} or {"file_id": "..."}
        url = field(item, "image_url")
        if isinstance(url, str) and url:
            return p.media_from_url(url, p.IMAGE)
        file_id = field(item, "file_id")
        return p.file(None, p.IMAGE, file_id) if file_id else None
    if kind == "input_audio":
        audio = field(item, "input_audio") or item
        audio_format = field(audio, "format")
        return p.blob(_AUDIO_MIME.get(audio_format), p.AUDIO, field(audio, "data") or "")
    if kind == "file":  # chat: {"file": {"file_id" | "file_data", "filename"}}
        return _file_part(field(item, "file"))
    if kind == "input_file":  # responses: the same keys on the item, plus file_url
        return _file_part(item)
    return None


def _file_part(source: Any) -> Part | None:
    mime = _guess_mime(field(source, "filename"))
    file_id = field(source, "file_id")
    if file_id:
        return p.file(mime, p.DOCUMENT, file_id)
    data = field(source, "file_data")
    if isinstance(data, str) and data:
        if data.startswith("data:"):
            return p.media_from_url(data, p.DOCUMENT, mime)
        return p.blob(mime, p.DOCUMENT, data)
    url = field(source, "file_url")
    if isinstance(url, str) and url:
        return p.uri(mime, p.DOCUMENT, url)
    return None


def content_parts(content: Any) -> list[Part]:
    """A message's content: a string is one text part; a list maps part by part; None has none."""
    if isinstance(content, str):
        return [p.text(content)]
    listed = content if content.__class__ is list else items(content)
    return [part for item in listed if (part := content_part(item)) is not None]


# -- Chat Completions ----------------------------------------------------------------------------------------


def _chat_tool_call(call: Any) -> Part:
    get = call.get if type(call) is dict else lambda key: field(call, key)
    function = get("function")
    if function is None and get("custom") is not None:
        custom = get("custom")
        return p.tool_call(get("id"), field(custom, "name"), field(custom, "input"))
    return p.tool_call(get("id"), field(function, "name"), field(function, "arguments"))


def chat_message(message: Any) -> p.AnyMessage | None:
    """One chat message; None when it carries nothing (an assistant turn with neither content nor calls).

    Runs once per message of every call's history, so the common case (a dict with string content) is kept to a
    few dict lookups.
    """
    if type(message) is dict:
        encoded = _encoded_chat_message(message)
        if encoded is not None:
            return encoded
    get = message.get if type(message) is dict else lambda key: field(message, key)
    role = get("role") or "user"
    content = get("content")
    if role == "tool" or role == "function":
        call_id = get("tool_call_id") if role == "tool" else get("name")
        return p.input_message("tool", [p.tool_call_response(call_id, p.plain(content))])
    parts = [p.text(content)] if type(content) is str else content_parts(content)
    refusal = get("refusal")
    if refusal and isinstance(refusal, str):
        parts.append(p.text(refusal))
    calls = get("tool_calls")
    if calls:
        parts.extend(_chat_tool_call(call) for call in items(calls))
    legacy = get("function_call")
    if legacy is not None:
        parts.append(p.tool_call(None, field(legacy, "name"), field(legacy, "arguments")))
    if not parts:
        return None
    name = get("name")
    return p.input_message(str(role), parts, str(name) if name else None)


def _optional_str(value: Any) -> bool:
    return value is None or type(value) is str


def _encoded_chat_message(message: dict[str, Any]) -> p.Encoded | None:
    """The common shapes (string content, function tool calls with string arguments, string tool results) encoded
    straight from the request dict; None for anything else, which takes the general path."""
    role, content = message.get("role") or "user", message.get("content")
    if type(role) is not str or (type(content) is str and len(content) > p.LONG_TEXT):
        return None
    if len(message) == 2 and type(content) is str and role != "tool" and role != "function":  # most of a history
        return p.encoded_message(role, [p.encoded_text(content)])
    name = message.get("name")
    if not _optional_str(content) or not _optional_str(name):
        return None
    if role == "tool":
        call_id = message.get("tool_call_id")
        return p.encoded_tool_response(call_id, content) if content is not None and _optional_str(call_id) else None
    if role == "function" or message.get("refusal") is not None or message.get("function_call") is not None:
        return None
    parts = [p.encoded_text(content)] if content is not None else []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict:
            return None
        call_id, call_name, arguments = call.get("id"), function.get("name"), function.get("arguments")
        if not (_optional_str(call_id) and _optional_str(call_name) and type(arguments) is str):
            return None
        parts.append(p.encoded_tool_call(call_id, call_name, arguments))
    return p.encoded_message(role, parts, name or None) if parts else None


def chat_messages(messages: Any) -> list[p.AnyMessage]:
    return each(items(messages), chat_message)


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Chat (`{"type": "function", "function": {...}}`) and Responses (flat) tool definitions."""
    found: list[dict[str, Any]] = []
    if tools is None:
        return found
    for tool in items(tools):
        kind = field(tool, "type") or "function"
        if kind == "function":
            spec = field(tool, "function") or tool
            found.append(
                {
                    "name": field(spec, "name") or "",
                    "description": field(spec, "description"),
                    "parameters": p.plain(field(spec, "parameters")),
                    "type": "function",
                }
            )
        else:  # custom, web_search, file_search, mcp...: the kind and the name say what the model could call
            spec = field(tool, kind) if isinstance(field(tool, kind), Mapping) else tool
            found.append({"name": field(spec, "name") or field(tool, "server_label") or kind, "type": kind})
    return found


# -- Responses -----------------------------------------------------------------------------------------------


def responses_instructions(instructions: Any) -> list[Part]:
    """`instructions`: a string, or message items whose content becomes the parts."""
    if instructions is None:
        return []
    if isinstance(instructions, str):
        return [p.text(instructions)] if instructions else []
    parts: list[Part] = []
    for item in items(instructions):
        parts.extend(content_parts(field(item, "content")))
    return parts


def _reasoning_parts(item: Any) -> list[Part]:
    parts = [p.reasoning(field(s, "text") or "") for s in items(field(item, "summary"))]
    parts.extend(p.reasoning(field(c, "text") or "") for c in items(field(item, "content")))
    return parts


def _only_calls(message: Message) -> bool:
    return all(part["type"] == "tool_call" for part in message["parts"])


def responses_input(value: Any) -> list[Message]:
    """Responses `input`: a string (one user message) or items (messages, calls, call outputs, reasoning)."""
    if isinstance(value, str):
        return [p.input_message("user", [p.text(value)])]
    messages: list[Message] = []
    for index, item in enumerate(items(value)):
        if index % EVERY == EVERY - 1:
            pause()
        kind = field(item, "type")
        if kind in ("function_call", "custom_tool_call"):
            arguments = field(item, "arguments") if kind == "function_call" else field(item, "input")
            call = p.tool_call(field(item, "call_id") or field(item, "id"), field(item, "name"), arguments)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and _only_calls(last):
                last["parts"].append(call)  # the calls of one turn, in one message
            else:
                messages.append(p.input_message("assistant", [call]))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            response = p.tool_call_response(field(item, "call_id"), p.plain(field(item, "output")))
            messages.append(p.input_message("tool", [response]))
        elif kind == "reasoning":
            parts = _reasoning_parts(item)
            if parts:
                messages.append(p.input_message("assistant", parts))
        elif kind in (None, "message") and (role := field(item, "role")) is not None:
            parts = content_parts(field(item, "content"))
            if parts:
                messages.append(p.input_message(str(role), parts))
    return messages


_SERVER_TOOL_ITEMS: Final = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "computer_call",
        "mcp_call",
        "mcp_list_tools",
        "local_shell_call",
    }
)


def responses_output_parts(output: Any) -> list[Part]:
    """The parts of a Response's `output` items, in order."""
    parts: list[Part] = []
    for item in output if output.__class__ is list else items(output):
        # the SDK's output items: one attribute read each; a dict (or other mapping) through field()
        kind = getattr(item, "type", None) or field(item, "type")
        if kind == "message":  # an empty text part (a message cut before its first delta) says nothing
            content = getattr(item, "content", None)
            for part in content_parts(content if content is not None else field(item, "content")):
                if part["type"] != "text" or part["content"]:
                    parts.append(part)
        elif kind in ("function_call", "custom_tool_call"):
            arguments = field(item, "arguments") if kind == "function_call" else field(item, "input")
            parts.append(p.tool_call(field(item, "call_id") or field(item, "id"), field(item, "name"), arguments))
        elif kind == "reasoning":
            parts.extend(_reasoning_parts(item))
        elif kind in _SERVER_TOOL_ITEMS:
            payload = {k: v for k, v in (p.plain(item) or {}).items() if k not in ("id", "type")}
            name = kind.removesuffix("_call")
            parts.append(p.server_tool_call(field(item, "id"), name, {**payload, "type": name}))
    return parts


def responses_finish_reason(response: Any, has_tool_calls: bool) -> str:
    status = getattr(response, "status", None) or field(response, "status")
    if status == "incomplete":
        return p.finish_reason(field(field(response, "incomplete_details"), "reason"), "length")
    if status in ("failed", "cancelled"):
        return "error"
    if status == "completed":
        return "tool_call" if has_tool_calls else "stop"
    return "error"


def responses_output(response: Any) -> list[Message]:
    """A whole Response as one output message (the Responses API returns one choice)."""
    output = getattr(response, "output", None)
    parts = responses_output_parts(output if output is not None else field(response, "output"))
    calls = False
    for part in parts:  # a loop, not any() over a generator: the usual output is one text part
        if part["type"] == "tool_call":
            calls = True
            break
    return [p.output_message(parts, responses_finish_reason(response, calls))]
