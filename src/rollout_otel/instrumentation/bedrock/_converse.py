"""Bedrock Converse: the request as GenAI attributes, and its event stream (or whole response) as the outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from ... import _attributes as attr
from ..._content import LazyOutput, Request, bedrock
from ..._content import parts as content_parts
from ..._errors import log_internal_error
from ..._usage import bedrock_usage
from ...trace import LLMSpan
from .._calls import server_attributes_from_url
from .._outcome import ToolCall, choice_for, lazy_output
from .._stream import StreamEnd

_PARAMETERS: Final = (
    ("maxTokens", attr.GEN_AI_REQUEST_MAX_TOKENS),
    ("temperature", attr.GEN_AI_REQUEST_TEMPERATURE),
    ("topP", attr.GEN_AI_REQUEST_TOP_P),
)


def request_attributes(params: Mapping[str, Any], endpoint_url: str | None) -> dict[str, Any]:
    """`inferenceConfig`'s parameters and stop sequences, and the server the client talks to."""
    found: dict[str, Any] = {}
    config = params.get("inferenceConfig")
    if config is not None and (config.__class__ is dict or isinstance(config, Mapping)):  # a dict: no ABC check
        for key, name in _PARAMETERS:  # `in` and `[]`: no call for the parameters a call leaves out
            value = config[key] if key in config else None  # noqa: SIM401
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found[name] = value
        stop = config.get("stopSequences")
        if isinstance(stop, (list, tuple)) and stop:
            found[attr.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
    found.update(server_attributes_from_url(endpoint_url))
    return found


def converse_input(params: Mapping[str, Any]) -> Callable[[], Request]:
    """What was sent, mapped only when the span ends (lists copied: the caller may change them meanwhile)."""
    messages = list(params.get("messages") or ())
    system, tool_config = params.get("system"), params.get("toolConfig")
    return lambda: Request(
        messages=bedrock.messages(messages),
        system=bedrock.system_instructions(system),
        tools=bedrock.tool_definitions(tool_config),
    )


class ConverseAccumulator:
    """Gathers a ConverseStream's events: text deltas go to the span; tool input, reasoning and usage stay here.

    Reasoning and tool-input deltas are chunks (output the model streamed) but never enter the preview.
    """

    def __init__(self, span: LLMSpan) -> None:
        self._span = span
        self._record = span.record_chunk
        self._choice = choice_for(span, 0)
        self._calls_by_block: dict[int, ToolCall] = {}
        self._usage: Any = None
        self.terminal_seen = False

    def on_item(self, event: Any) -> None:
        """Per event: a text delta costs one call, `record_chunk` (membership tests and subscripts are no calls)."""
        if "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block["delta"]
            if "text" in delta:
                self._record(delta["text"])
            else:
                self._other_delta(block.get("contentBlockIndex"), delta)
        else:
            self._other_event(event)

    def items(self, source: Iterable[Any], end: StreamEnd) -> Iterator[Any]:
        """The caller's events; a text delta is recorded in this frame (see `LLMSpan`), the rest by `on_item`."""
        span = self._span
        with end:
            for event in source:
                try:
                    n = span._chunks
                    if (
                        "contentBlockDelta" in event
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and "text" in (delta := event["contentBlockDelta"]["delta"])
                        and (text := delta["text"]).__class__ is str
                        and text
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    else:
                        self.on_item(event)
                except Exception:
                    log_internal_error("reading a stream item")
                yield event

    def _other_delta(self, index: Any, delta: Mapping[str, Any]) -> None:
        if "toolUse" in delta:
            call = self._calls_by_block.get(index)
            piece = delta["toolUse"].get("input")
            if call is not None and piece:
                call.arguments.append(piece)
            self._record(None)
            if not self._span._first_text_ns:  # a tool call is the answer; reasoning is not
                self._span._mark_text()
        elif "reasoningContent" in delta:
            text = delta["reasoningContent"].get("text")
            if text:
                self._choice.reasoning.append(text)
                self._record(None)
        # citations and signatures annotate a block; they carry no output of their own

    def _other_event(self, event: Mapping[str, Any]) -> None:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if isinstance(use, Mapping):
                call = ToolCall(id=use.get("toolUseId"), name=use.get("name"))
                self._calls_by_block[start.get("contentBlockIndex")] = call
                self._choice.tool_calls[len(self._choice.tool_calls)] = call
        elif "messageStop" in event:
            self._choice.finish_reason = event["messageStop"].get("stopReason")
            self.terminal_seen = True
        elif "metadata" in event:
            self._usage = event["metadata"].get("usage")

    def outcome(self, text: str) -> dict[str, Any]:
        reason = self._choice.finish_reason
        return {
            "output": lazy_output({0: self._choice}, text),
            "usage": bedrock_usage(self._usage) if self._usage else None,
            "finish_reason": content_parts.finish_reason(reason) if reason else None,
        }


def converse_outcome(span: LLMSpan, response: Any) -> dict[str, Any]:
    """The same outcome for a whole Converse response."""
    if not isinstance(response, Mapping):
        return {}
    reason = response.get("stopReason")
    usage = response.get("usage")
    return {
        "output": LazyOutput(lambda: bedrock.output(response)),
        "usage": bedrock_usage(usage) if usage else None,
        "finish_reason": content_parts.finish_reason(reason) if reason else None,
    }
