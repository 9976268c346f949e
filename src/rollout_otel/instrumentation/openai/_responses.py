"""Responses API: read streamed events (and whole responses) into the span's output, usage and reasons."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from ... import _attributes as attr
from ..._content import LazyOutput, openai
from ..._errors import log_internal_error
from ...trace import LLMSpan
from .._outcome import Choice, ProviderError, ToolCall, choice_for, lazy_output
from .._stream import AsyncStreamEnd, StreamEnd

_TEXT_DELTA = "response.output_text.delta"
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})
_REASONING_DELTAS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})
# Events that repeat a text part whole after its deltas (the terminal ones too: their response's output)
_WHOLE_TEXT = frozenset({"response.output_text.done", "response.content_part.done", "response.output_item.done"})
# Events with nothing to read: the stream loop passes them by without a call
_NOTHING_TO_READ = frozenset({"response.in_progress", "response.content_part.added", "response.queued"})


def _finish_reason(response: Any) -> str | None:
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        return getattr(details, "reason", None) or "incomplete"
    if status == "completed":
        return "stop"
    return status


class ResponsesAccumulator:
    """Gathers a Responses event stream: text deltas go to the span; tool calls and the final response here."""

    def __init__(self, span: LLMSpan) -> None:
        self._span = span
        self._record = span.record_chunk
        self._choice = choice_for(span, 0)
        self._calls_by_item: dict[str, ToolCall] = {}
        self._final: Any = None
        self._error: ProviderError | None = None
        self._ids: tuple[Any, Any] = (None, None)  # the response id and model the span has
        self.terminal_seen = False

    def on_item(self, event: Any) -> None:
        """Per event: a text delta costs one call, `record_chunk`; anything else goes to `_other_event`."""
        if event.type == _TEXT_DELTA:
            self._record(event.delta)
        else:
            self._other_event(event)

    def items(self, source: Iterable[Any], end: StreamEnd) -> Iterator[Any]:
        """The caller's events; a text delta is recorded in this frame (see `LLMSpan`), the rest as `on_item` does."""
        span = self._span
        with end:
            for event in source:
                try:
                    n = span._chunks
                    if (
                        event.type == _TEXT_DELTA
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and (text := event.delta).__class__ is str
                        and text
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    elif (kind := event.type) == _TEXT_DELTA:
                        self._record(event.delta)
                    elif kind in _WHOLE_TEXT:
                        self._held_by(event, kind)
                    elif kind not in _NOTHING_TO_READ:
                        self._other_event(event)
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
                        event.type == _TEXT_DELTA
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and (text := event.delta).__class__ is str
                        and text
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    elif (kind := event.type) == _TEXT_DELTA:
                        self._record(event.delta)
                    elif kind in _WHOLE_TEXT:
                        self._held_by(event, kind)
                    elif kind not in _NOTHING_TO_READ:
                        self._other_event(event)
                except Exception:
                    log_internal_error("reading a stream item")
                end.left = True  # suspended at the yield: a cancellation here is the caller leaving
                yield event
                end.left = False

    def _other_event(self, event: Any) -> None:
        kind = event.type
        if kind == "response.created":
            self._response_ids(event.response)
        elif kind == "response.refusal.delta":
            self._choice.refusal.append(event.delta)
            self._record(None)
            self._answered()
        elif kind in _REASONING_DELTAS:  # output the model streamed, kept out of the preview
            self._choice.reasoning.append(event.delta)
            self._record(None)
        elif kind == "response.output_item.added":
            item = event.item
            if getattr(item, "type", None) == "function_call":
                call = ToolCall(id=getattr(item, "call_id", None), name=getattr(item, "name", None))
                self._calls_by_item[getattr(item, "id", None) or str(len(self._calls_by_item))] = call
                self._choice.tool_calls[len(self._choice.tool_calls)] = call
        elif kind == "response.function_call_arguments.delta":
            target = self._calls_by_item.get(event.item_id)
            if target is not None:
                target.arguments.append(event.delta)
            self._record(None)
            self._answered()
        elif kind in _WHOLE_TEXT:
            self._held_by(event, kind)
        elif kind in _TERMINAL:
            self.terminal_seen = True
            self._final = event.response
            self._response_ids(event.response)
            self._held_by(event, kind)
            if kind == "response.failed":
                error = getattr(event.response, "error", None)
                self._error = ProviderError(
                    getattr(error, "code", None) or "response.failed", getattr(error, "message", None) or ""
                )
        elif kind == "error":
            self._error = ProviderError(getattr(event, "code", None) or "error", getattr(event, "message", None) or "")

    def _held_by(self, event: Any, kind: str) -> None:
        """An event repeats streamed text whole: the span's buffer refers to the event's str and lets its own copy
        go, so the text is not kept twice beside the events the caller holds. Each such event moves the reference on
        to the newest one; a text that is not exactly what was streamed changes nothing.

        One frame, plain attribute reads (the SDK's event models declare these fields): an event built without one
        of them is skipped, which costs memory only."""
        adopt = self._span._adopt_text
        try:
            if kind == "response.output_text.done":
                adopt(event.text)
                return
            if kind == "response.content_part.done":
                part = event.part
                if part.type == "output_text":
                    adopt(part.text)
                return
            for item in (event.item,) if kind == "response.output_item.done" else event.response.output or ():
                if item.type == "message":
                    for part in item.content or ():
                        if part.type == "output_text":
                            adopt(part.text)
        except AttributeError:
            pass

    def _answered(self) -> None:
        """Output that counts as the answer (not reasoning) has begun: the time to first text stops."""
        if not self._span._first_text_ns:
            self._span._mark_text()

    def _response_ids(self, response: Any) -> None:
        """The response's id and model, set once: the terminal event repeats what `response.created` named."""
        try:  # the SDK's Response declares both: plain reads, no call
            ids = (response.id, response.model)
        except AttributeError:
            ids = (getattr(response, "id", None), getattr(response, "model", None))
        if ids != self._ids:
            self._ids = ids
            self._span._set_response(*ids)

    def outcome(self, text: str) -> dict[str, Any]:
        final = self._final
        self._choice.finish_reason = _finish_reason(final) if final is not None else None
        if self._choice.tool_calls and self._choice.finish_reason == "stop":
            self._choice.finish_reason = "tool_calls"
        return {
            "output": _output(final, {0: self._choice}, text),
            "usage": getattr(final, "usage", None),
            "finish_reason": self._choice.finish_reason,
            "error": self._error,
        }


def _output(final: Any, choices: dict[int, Choice], text: str) -> LazyOutput:
    """The final response's items when it has them (every part, in order), else what the stream delivered."""
    if final is not None and getattr(final, "output", None):
        return LazyOutput(lambda: openai.responses_output(final))
    return lazy_output(choices, text)


def response_outcome(span: LLMSpan, response: Any) -> dict[str, Any]:
    """The same outcome for a whole (non-streamed) Response."""
    if getattr(response, "id", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_ID, response.id)
    if getattr(response, "model", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, response.model)
    reason = _finish_reason(response)
    calls = any(getattr(item, "type", None) in _CALL_ITEMS for item in getattr(response, "output", None) or ())
    if calls and reason == "stop":
        reason = "tool_calls"
    output = LazyOutput(lambda: openai.responses_output(response))
    error = None
    if getattr(response, "status", None) == "failed":
        failure = getattr(response, "error", None)
        code = getattr(failure, "code", None) or "response.failed"
        error = ProviderError(code, getattr(failure, "message", "") or "")
    return {
        "output": output,
        "usage": getattr(response, "usage", None),
        "finish_reason": reason,
        "error": error,
    }
