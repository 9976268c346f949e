"""Messages and parts in the GenAI conventions' JSON shape, provider-neutral.

Keys, their order and the `null`s follow what the official OpenTelemetry GenAI instrumentation (util-genai 1.3b0)
writes, so a backend that reads its spans reads rollout's the same way. Nothing here imports a provider SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._base64 import Base64Text, data_of_url

Part = dict[str, Any]
Message = dict[str, Any]

# Modalities of media parts.
IMAGE: Final = "image"
AUDIO: Final = "audio"
VIDEO: Final = "video"
DOCUMENT: Final = "document"


def text(content: Any) -> Part:
    return {"content": content if type(content) is str else _as_text(content), "type": "text"}


def reasoning(content: Any) -> Part:
    return {"content": content if type(content) is str else _as_text(content), "type": "reasoning"}


def _as_text(value: Any) -> str:
    """Text a part must hold as a string: None is empty, anything else its str()."""
    return "" if value is None else str(value)


def tool_call(call_id: str | None, name: str | None, arguments: Any) -> Part:
    """A tool call; `arguments` given as a JSON string is parsed, and kept as the string when it is not JSON."""
    return {"arguments": parse_arguments(arguments), "name": name or "", "id": call_id, "type": "tool_call"}


def tool_call_response(call_id: str | None, response: Any) -> Part:
    return {"response": response, "id": call_id, "type": "tool_call_response"}


def server_tool_call(call_id: str | None, name: str, payload: Mapping[str, Any]) -> Part:
    """A tool the provider ran itself (web search, code execution...); `payload` keeps its input and kind."""
    return {"name": name, "server_tool_call": dict(payload), "id": call_id, "type": "server_tool_call"}


def server_tool_call_response(call_id: str | None, payload: Mapping[str, Any]) -> Part:
    return {"server_tool_call_response": dict(payload), "id": call_id, "type": "server_tool_call_response"}


def blob(mime_type: str | None, modality: str, content: str | Base64Text) -> Part:
    """Inline media; `content` is base64 text, as the provider carried it (long text: read when encoded)."""
    return {"mime_type": mime_type, "modality": modality, "content": content, "type": "blob"}


def uri(mime_type: str | None, modality: str, location: str) -> Part:
    return {"mime_type": mime_type, "modality": modality, "uri": location, "type": "uri"}


def file(mime_type: str | None, modality: str, file_id: str) -> Part:
    return {"mime_type": mime_type, "modality": modality, "file_id": file_id, "type": "file"}


def media_from_url(url: str, modality: str, mime_type: str | None = None) -> Part:
    """A `data:` URL becomes a blob (its base64 kept as is, and not copied out of a long URL), anything else a URI."""
    if url.startswith("data:"):
        comma = url.find(",")  # not partition(): the data, often megabytes, is not copied here
        header = url[5:comma] if comma >= 0 else url[5:]
        media_type, _, encoding = header.partition(";")
        if encoding == "base64":
            return blob(media_type or mime_type, modality, data_of_url(url, comma + 1) if comma >= 0 else "")
    return uri(mime_type, modality, url)


def input_message(role: str, parts: list[Part], name: str | None = None) -> Message:
    return {"role": role, "parts": parts, "name": name}


def output_message(parts: list[Part], finish_reason: str, role: str = "assistant") -> Message:
    return {"role": role, "parts": parts, "finish_reason": finish_reason, "name": None}


class Encoded(str):
    """One message already encoded as JSON: the common shapes skip building a dict that is encoded right after.

    Exactly the JSON of the dict the matching builder returns (a test holds them together); the encoder joins it
    as is, and the rare cut of an oversized attribute parses it back.
    """


AnyMessage = Message | Encoded  # an input message, as a dict or already encoded
# Longer text is not encoded with its message when mapped: the content worker quotes it in pieces, or cuts it first.
LONG_TEXT: Final = 64 * 1024
_quote = json.encoder.encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses for each string


def encoded_message(role: str, parts: list[str], name: str | None = None) -> Encoded:
    """`input_message(role, parts, name)` from parts already encoded."""
    quoted_name = _quote(name) if name is not None else "null"
    return Encoded(f'{{"role":{_quote(role)},"parts":[{",".join(parts)}],"name":{quoted_name}}}')


def encoded_text(content: str) -> str:
    """`text(content)`, encoded."""
    return f'{{"content":{_quote(content)},"type":"text"}}'


def encoded_tool_call(call_id: str | None, name: str | None, arguments: str) -> str:
    """`tool_call(call_id, name, arguments)`, encoded: arguments that are JSON go in as the provider wrote them."""
    if not arguments:
        encoded_arguments = "null"
    elif _is_strict_json(arguments):
        encoded_arguments = arguments
    else:
        encoded_arguments = _quote(arguments)
    quoted_id = _quote(call_id) if call_id is not None else "null"
    return f'{{"arguments":{encoded_arguments},"name":{_quote(name or "")},"id":{quoted_id},"type":"tool_call"}}'


def encoded_tool_response(call_id: str | None, response: str) -> Encoded:
    """`input_message("tool", [tool_call_response(call_id, response)])` for a string response, encoded."""
    quoted_id = _quote(call_id) if call_id is not None else "null"
    return Encoded(
        f'{{"role":"tool","parts":[{{"response":{_quote(response)},"id":{quoted_id},'
        f'"type":"tool_call_response"}}],"name":null}}'
    )


def text_parts(value: Any) -> list[Part]:
    """A string as one text part; a list of text blocks (`{"type": "text", "text": ...}`) as one part each."""
    if value is None:  # no system prompt, most calls: no check
        return []
    if isinstance(value, str):
        return [text(value)] if value else []
    found = []
    for block in value if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)) else ():
        content = field(block, "text")
        if isinstance(content, str) and content:
            found.append(text(content))
    return found


def items(value: Any) -> Iterable[Any]:
    """The elements of a list-like value; nothing for a string, a mapping or a scalar."""
    if type(value) is list or type(value) is tuple:
        return value
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return ()
    return value


def parse_arguments(arguments: Any) -> Any:
    """Tool-call arguments as the conventions show them: parsed JSON when they are JSON, else as given."""
    if isinstance(arguments, str):
        if not arguments:
            return None
        try:
            return json.loads(arguments, parse_constant=_reject_constant)
        except Exception:  # not JSON, NaN / Infinity, or nested deeper than the parser goes: keep the text
            return arguments
    return arguments


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_strict_json(text: str) -> bool:
    """Whether `text` is JSON a strict parser reads (no NaN or Infinity), so it can be embedded as it is."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except Exception:
        return False
    return True


_MISSING: Final = object()


def field(item: Any, key: str, default: Any = None) -> Any:
    """`item[key]` for a dict, `item.key` for an SDK object: request bodies hold dicts, responses hold objects.

    Ordered by cost (one C call for a dict or an SDK object): an isinstance check against the `Mapping` ABC runs
    Python code, so SDK objects (the stream events instrumentations read) and dict subclasses are tried with one
    `getattr` before it; no key read here names a Mapping or dict method.
    """
    if item.__class__ is dict:
        return item.get(key, default)
    if item is None or item.__class__ is str:  # an absent field's fields, or a text's: no lookup, no ABC check
        return default
    value = getattr(item, key, _MISSING)
    if value is not _MISSING:
        return value
    if isinstance(item, Mapping):
        return item.get(key, default)
    return default


_PLAIN: Final = frozenset({str, dict, list, int, float, bool})


def plain(value: Any) -> Any:
    """An SDK object (pydantic) as plain JSON-able data; dicts and lists pass through."""
    if value is None or type(value) in _PLAIN:
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return dump(mode="json", exclude_none=True)
        except TypeError:
            return dump()
    return value


# Provider stop reasons as the conventions name them (FinishReason: stop, length, content_filter, tool_call, error).
_FINISH_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "tool_use": "tool_call",
    "guardrail_intervened": "content_filter",  # Bedrock
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "length",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "incomplete": "length",  # a Responses status without its reason
    "failed": "error",
    "cancelled": "error",
}


def finish_reason(reason: str | None, default: str = "error") -> str:
    """The conventions' name for a provider's finish reason; `default` when the provider gave none."""
    if not reason:
        return default
    return _FINISH_REASONS.get(reason, reason)
