"""Anthropic Messages: read streamed events (and whole messages) into the span's output, usage and stop reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

from ... import _attributes as attr
from ..._content import LazyOutput, Request, anthropic
from ..._content import parts as content_parts
from ..._content._parts import field
from ..._errors import log_internal_error
from ..._usage import anthropic_usage, usage_fields
from ...trace import LLMSpan
from .._calls import request_attributes_from, sent
from .._outcome import ToolCall, choice_for, lazy_output
from .._stream import AsyncStreamEnd, StreamEnd

_TEXT_DELTA = "text_delta"
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_PARAMETERS = (
    ("max_tokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", attr.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", attr.GEN_AI_REQUEST_TOP_P),
    ("top_k", attr.GEN_AI_REQUEST_TOP_K),
)


def request_attributes(kwargs: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """Request parameters and the server address, as GenAI attributes."""
    return request_attributes_from(kwargs, client, _PARAMETERS, "stop_sequences")


def messages_input(kwargs: Mapping[str, Any]) -> Callable[[], Request]:
    system, messages, tools = sent(kwargs, "system"), sent(kwargs, "messages"), sent(kwargs, "tools")
    return lambda: Request(
        messages=anthropic.messages(messages),
        system=anthropic.system_instructions(system),
        tools=anthropic.tool_definitions(tools),
    )


class MessagesAccumulator:
    """Gathers a Messages event stream: text deltas go to the span; tool calls, thinking and usage stay here.

    Thinking and tool-input deltas are chunks (output the model streamed) but not text, so they are counted
    without entering the preview.
    """

    def __init__(self, span: LLMSpan) -> None:
        self._span = span
        self._record = span.record_chunk
        self._choice = choice_for(span, 0)
        self._calls_by_block: dict[int, ToolCall] = {}
        self._usage: dict[str, Any] = {}
        self.terminal_seen = False

    def on_item(self, event: Any) -> None:
        """Per event: a text delta costs two attribute reads and one call, `record_chunk`."""
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == _TEXT_DELTA:
                self._record(delta.text)
            else:
                self._other_delta(event.index, delta)
        else:
            self._other_event(event, kind)

    def items(self, source: Iterable[Any], end: StreamEnd) -> Iterator[Any]:
        """The caller's events; a text delta is recorded in this frame (see `LLMSpan`), the rest by `on_item`."""
        span = self._span
        with end:
            for event in source:
                try:
                    n = span._chunks
                    if (
                        event.type == "content_block_delta"
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and (delta := event.delta).type == _TEXT_DELTA
                        and (text := delta.text).__class__ is str
                        and text
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    else:
                        self.on_item(event)
                except Exception:
                    log_internal_error("reading a stream item")
                yield event

    async def aitems(self, source: AsyncIterable[Any], end: AsyncStreamEnd) -> AsyncIterator[Any]:
        """The async twin of `items`."""
        span = self._span
        async with end:
            async for event in source:
                try:
                    n = span._chunks
                    if (
                        event.type == "content_block_delta"
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and (delta := event.delta).type == _TEXT_DELTA
                        and (text := delta.text).__class__ is str
                        and text
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    else:
                        self.on_item(event)
                except Exception:
                    log_internal_error("reading a stream item")
                end.left = True  # suspended at the yield: a cancellation here is the caller leaving
                yield event
                end.left = False

    # Off the per-text-delta path, events are read with `field()`: SDK objects here, plain dicts when Bedrock
    # streams the same events as JSON (instrumentation/bedrock/_invoke.py).

    def _other_delta(self, index: Any, delta: Any) -> None:
        kind = field(delta, "type")
        if kind == "input_json_delta":
            call = self._calls_by_block.get(index)
            partial = field(delta, "partial_json")
            if call is not None and partial:
                call.arguments.append(partial)
            self._record(None)
            if not self._span._first_text_ns:  # a tool call is the answer; thinking is not
                self._span._mark_text()
        elif kind == "thinking_delta":
            self._choice.reasoning.append(field(delta, "thinking") or "")
            self._record(None)
        # signature and citation deltas annotate a block; they carry no output of their own

    def _other_event(self, event: Any, kind: Any = None) -> None:
        """Any event but a content delta; `kind` is its type where the caller read it already.

        The SDK's events are read with `getattr` (one C call a field), Bedrock's JSON events with `field()`."""
        get: Callable[[Any, str, Any], Any] = field if event.__class__ is dict else getattr
        if kind is None:
            kind = get(event, "type", None)
        if kind == "message_start":
            message = get(event, "message", None)
            self._span._set_response(get(message, "id", None), get(message, "model", None))
            self._take_usage(get(message, "usage", None))
        elif kind == "content_block_start":
            block = get(event, "content_block", None)
            block_type = get(block, "type", None)
            if block_type in _TOOL_BLOCKS:
                server = block_type if block_type != "tool_use" else None
                call = ToolCall(id=get(block, "id", None), name=get(block, "name", None), server=server)
                given_input = get(block, "input", None)
                if given_input:  # server tools may arrive with their input whole
                    call.arguments.append(json.dumps(given_input))
                self._calls_by_block[get(event, "index", None)] = call
                self._choice.tool_calls[len(self._choice.tool_calls)] = call
            elif block_type == "text" and (text := get(block, "text", None)):
                self._record(text)
            elif isinstance(block_type, str) and block_type.endswith(
                "_tool_result"
            ):  # a server tool's result arrives whole
                self._choice.server_results.extend(anthropic.block_parts(block))
        elif kind == "message_delta":
            reason = get(get(event, "delta", None), "stop_reason", None)
            if reason:
                self._choice.finish_reason = reason
            self._take_usage(get(event, "usage", None))
        elif kind == "message_stop":
            self.terminal_seen = True

    def _take_usage(self, usage: Any) -> None:
        """message_start has the input counts; message_delta the cumulative output (and any final input) counts;
        a null never overwrites a count."""
        if usage is None:
            return
        fields = usage_fields(usage)
        for key in _USAGE_KEYS:
            value = fields[key] if key in fields else None  # noqa: SIM401  (no call for a key that is not there)
            if value is not None:
                self._usage[key] = value
        details = fields["output_tokens_details"] if "output_tokens_details" in fields else None  # noqa: SIM401
        if details is not None:
            self._usage["output_tokens_details"] = {"thinking_tokens": field(details, "thinking_tokens")}

    def outcome(self, text: str) -> dict[str, Any]:
        reason = self._choice.finish_reason
        return {
            "output": lazy_output({0: self._choice}, text),
            "usage": anthropic_usage(self._usage) if self._usage else None,
            "finish_reason": content_parts.finish_reason(reason) if reason else None,
        }


def message_outcome(span: LLMSpan, message: Any) -> dict[str, Any]:
    """The same outcome for a whole (non-streamed) Message: the SDK's object, or its JSON from Bedrock."""
    if field(message, "id"):
        span.set_attribute(attr.GEN_AI_RESPONSE_ID, field(message, "id"))
    if field(message, "model"):
        span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, field(message, "model"))
    reason = field(message, "stop_reason")
    usage = field(message, "usage")
    return {
        "output": LazyOutput(lambda: anthropic.output(message)),
        "usage": anthropic_usage(usage) if usage is not None else None,
        "finish_reason": content_parts.finish_reason(reason) if reason else None,
    }
