"""Bedrock InvokeModel: the body is the model family's own format, read where rollout knows it.

Anthropic models take and stream Anthropic's Messages JSON; Amazon Nova models take and stream Converse-shaped JSON.
Other families (Titan, Llama, Mistral...) get a span with the model, the chunk count and the end reason, and no
content or usage. Stream chunks are read from `{"chunk": {"bytes": ...}}` events, which the caller gets untouched.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from ... import _attributes as attr
from ..._content import Request, anthropic, bedrock
from ...trace import LLMSpan
from .._outcome import Accumulator
from ..anthropic._messages import MessagesAccumulator, message_outcome
from ._converse import ConverseAccumulator, converse_outcome

ANTHROPIC: Final = "anthropic"
NOVA: Final = "nova"
_ANTHROPIC_PARAMETERS: Final = (
    ("max_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", attr.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", attr.GEN_AI_REQUEST_TOP_P),
    ("top_k", attr.GEN_AI_REQUEST_TOP_K),
)


# The C scanner: one call per chunk, where json.loads makes a dozen.
_SCAN: Final = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def chunk_json(raw: bytes) -> Any:
    """One chunk's JSON document; Bedrock sends each compact, so the scanner reads it from its first byte."""
    try:
        return _SCAN(raw.decode(), 0)[0]
    except StopIteration:  # leading whitespace, or not JSON: the full parser says which
        return json.loads(raw)


_NOVA_PARAMETERS: Final = (
    ("max_new_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("top_p", attr.GEN_AI_REQUEST_TOP_P),
    ("top_k", attr.GEN_AI_REQUEST_TOP_K),
)


def family_of(model_id: Any) -> str | None:
    """The body format of a model id (or cross-region inference profile such as `us.anthropic...`)."""
    if not isinstance(model_id, str):
        return None
    if model_id.startswith("anthropic.") or ".anthropic." in model_id:
        return ANTHROPIC
    if model_id.startswith("amazon.nova") or ".amazon.nova" in model_id:
        return NOVA
    return None


def parsed_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request body as JSON, when it is bytes or text holding an object (a file-like body is left unread)."""
    body = params.get("body")
    if not isinstance(body, (bytes, bytearray, str)):
        return {}
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def invoke_attributes(family: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters, read from the family's own keys."""
    found: dict[str, Any] = {}
    if family == ANTHROPIC:
        for key, name in _ANTHROPIC_PARAMETERS:
            value = body.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found[name] = value
        stop = body.get("stop_sequences")
        if isinstance(stop, list) and stop:
            found[attr.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    elif family == NOVA:
        from ._converse import request_attributes

        found.update(request_attributes(body, None))
        config = body.get("inferenceConfig")
        if isinstance(config, dict):  # Nova's InvokeModel body names some of them its own way
            for key, name in _NOVA_PARAMETERS:
                value = config.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found[name] = value
    return found


def invoke_input(family: str | None, body: Mapping[str, Any]) -> Callable[[], Request]:
    if family == ANTHROPIC:
        messages, system, tools = body.get("messages"), body.get("system"), body.get("tools")
        return lambda: Request(
            messages=anthropic.messages(messages),
            system=anthropic.system_instructions(system),
            tools=anthropic.tool_definitions(tools),
        )
    if family == NOVA:
        messages, system, tool_config = body.get("messages"), body.get("system"), body.get("toolConfig")
        return lambda: Request(
            messages=bedrock.messages(messages),
            system=bedrock.system_instructions(system),
            tools=bedrock.tool_definitions(tool_config),
        )
    return Request


class AnthropicChunks(MessagesAccumulator):
    """Anthropic's Messages events as Bedrock streams them: JSON in each chunk's bytes, read as plain dicts by the
    same accumulator the Anthropic SDK's events go through; only the per-chunk decode is Bedrock's."""

    items = None  # type: ignore[assignment]  # the SDK events' loop reads attributes; these are JSON dicts, read by on_item
    aitems = None  # type: ignore[assignment]

    def on_item(self, event: Any) -> None:
        """Per text delta: one `bytes.decode`, one scan (inlined: this runs per chunk) and `record_chunk`."""
        if "chunk" not in event:
            return
        raw = event["chunk"]["bytes"]
        try:
            data = _SCAN(raw.decode(), 0)[0]
        except StopIteration:
            data = json.loads(raw)
        if data["type"] == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                self._record(delta["text"])
                return
            self._other_delta(data.get("index"), delta)
        else:
            self._other_event(data)


class NovaChunks:
    """Nova's events are Converse's, JSON in each chunk's bytes."""

    def __init__(self, span: LLMSpan) -> None:
        self._converse = ConverseAccumulator(span)
        self._on_event = self._converse.on_item
        self.terminal_seen = False

    def on_item(self, event: Any) -> None:
        if "chunk" in event:
            self._on_event(chunk_json(event["chunk"]["bytes"]))
            self.terminal_seen = self._converse.terminal_seen

    def outcome(self, text: str) -> dict[str, Any]:
        return self._converse.outcome(text)


class CountedChunks:
    """A family whose format rollout does not read: every chunk counts, nothing else is taken."""

    terminal_seen = False

    def __init__(self, span: LLMSpan) -> None:
        self._record = span.record_chunk

    def on_item(self, event: Any) -> None:
        if "chunk" in event:
            self._record(None)

    def outcome(self, text: str) -> dict[str, Any]:
        return {}


def stream_accumulator(family: str | None, span: LLMSpan) -> Accumulator:
    if family == ANTHROPIC:
        return AnthropicChunks(span)
    if family == NOVA:
        return NovaChunks(span)
    return CountedChunks(span)


def buffered_body(result: Any) -> bytes | None:
    """Read a whole InvokeModel reply's body and hand the caller a fresh, unread StreamingBody of the same bytes.

    Only botocore's own StreamingBody is read (a stubbed or custom body is left alone); a read that fails raises
    from the call, as the caller's own read would have.
    """
    from botocore.response import StreamingBody  # type: ignore[import-untyped]

    body: Any = result.get("body") if isinstance(result, dict) else None
    if type(body) is not StreamingBody:
        return None
    raw = body.read()
    if not isinstance(raw, bytes):
        return None
    result["body"] = StreamingBody(io.BytesIO(raw), len(raw))
    return raw


def whole_outcome(family: str | None, span: LLMSpan, raw: bytes | None) -> dict[str, Any]:
    """InvokeModel's whole reply, read from the body's bytes in the family's format."""
    if family is None or raw is None:
        return {}
    try:
        reply = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(reply, dict):
        return {}
    return converse_outcome(span, reply) if family == NOVA else message_outcome(span, reply)
