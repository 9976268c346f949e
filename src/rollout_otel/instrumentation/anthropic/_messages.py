"""Anthropic Messages: read streamed events (and whole messages) into the span's output, usage and stop reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ... import _attributes as attr
from ..._content import LazyOutput, Request, anthropic
from ..._content import parts as content_parts
from ..._usage import anthropic_usage
from ...trace import LLMSpan
from .._calls import request_attributes_from, sent
from .._outcome import Choice, ToolCall, lazy_output

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
        self._choice = Choice(0)
        self._calls_by_block: dict[int, ToolCall] = {}
        self._usage: dict[str, Any] = {}
        self.terminal_seen = False

    def on_item(self, event: Any) -> None:
        """Per event: a text delta costs two attribute reads and one call, `record_chunk`."""
        if event.type == "content_block_delta":
            delta = event.delta
            if delta.type == _TEXT_DELTA:
                self._record(delta.text)
            else:
                self._other_delta(event.index, delta)
        else:
            self._other_event(event)

    def _other_delta(self, index: int, delta: Any) -> None:
        kind = delta.type
        if kind == "input_json_delta":
            call = self._calls_by_block.get(index)
            if call is not None and delta.partial_json:
                call.arguments.append(delta.partial_json)
            self._record(None)
        elif kind == "thinking_delta":
            self._choice.reasoning.append(delta.thinking)
            self._record(None)
        # signature and citation deltas annotate a block; they carry no output of their own

    def _other_event(self, event: Any) -> None:
        kind = event.type
        if kind == "message_start":
            message = event.message
            if getattr(message, "id", None):
                self._span.set_attribute(attr.GEN_AI_RESPONSE_ID, message.id)
            if getattr(message, "model", None):
                self._span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, message.model)
            self._take_usage(getattr(message, "usage", None))
        elif kind == "content_block_start":
            block = event.content_block
            if block.type in _TOOL_BLOCKS:
                server = block.type if block.type != "tool_use" else None
                call = ToolCall(id=getattr(block, "id", None), name=getattr(block, "name", None), server=server)
                given_input = getattr(block, "input", None)
                if given_input:  # server tools may arrive with their input whole
                    call.arguments.append(json.dumps(given_input))
                self._calls_by_block[event.index] = call
                self._choice.tool_calls[len(self._choice.tool_calls)] = call
            elif block.type == "text" and getattr(block, "text", ""):
                self._record(block.text)
            elif block.type.endswith("_tool_result"):  # a server tool's result arrives whole
                self._choice.server_results.extend(anthropic.block_parts(block))
        elif kind == "message_delta":
            reason = getattr(event.delta, "stop_reason", None)
            if reason:
                self._choice.finish_reason = reason
            self._take_usage(getattr(event, "usage", None))
        elif kind == "message_stop":
            self.terminal_seen = True

    def _take_usage(self, usage: Any) -> None:
        """message_start has the input counts; message_delta the cumulative output (and any final input) counts."""
        if usage is None:
            return
        for key in _USAGE_KEYS:
            value = getattr(usage, key, None)
            if value is not None:
                self._usage[key] = value
        details = getattr(usage, "output_tokens_details", None)
        if details is not None:
            self._usage["output_tokens_details"] = {"thinking_tokens": getattr(details, "thinking_tokens", None)}

    def outcome(self, text: str) -> dict[str, Any]:
        reason = self._choice.finish_reason
        return {
            "output": lazy_output({0: self._choice}, text),
            "usage": anthropic_usage(self._usage) if self._usage else None,
            "finish_reason": content_parts.finish_reason(reason) if reason else None,
        }


def message_outcome(span: LLMSpan, message: Any) -> dict[str, Any]:
    """The same outcome for a whole (non-streamed) Message."""
    if getattr(message, "id", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_ID, message.id)
    if getattr(message, "model", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, message.model)
    reason = getattr(message, "stop_reason", None)
    usage = getattr(message, "usage", None)
    return {
        "output": LazyOutput(lambda: anthropic.output(message)),
        "usage": anthropic_usage(usage) if usage is not None else None,
        "finish_reason": content_parts.finish_reason(reason) if reason else None,
    }
