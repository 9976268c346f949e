"""Chat Completions: read streamed chunks (and whole completions) into the span's output, usage and reasons."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from ... import _attributes as attr
from ..._errors import log_internal_error
from ...trace import LLMSpan
from .._outcome import Choice, ToolCall, choice_for, lazy_output
from .._stream import AsyncStreamEnd, StreamEnd


class ChatAccumulator:
    """Gathers a chat stream: choice 0's text goes to the span (preview, updates); the rest is kept here."""

    def __init__(
        self, span: LLMSpan, *, expected_choices: int = 1, usage_requested: bool = False, usage_added: bool = False
    ) -> None:
        self._span = span
        self._record = span.record_chunk
        self._expected_choices = max(1, expected_choices)
        self._usage_requested = usage_requested
        self._choices: dict[int, Choice] = {}
        self._finished = 0
        self._usage: Any = None
        self._seen_id = False
        self.terminal_seen = False
        self.hide = _conceal_added_usage if usage_added else None  # the stream proxy asks it about each chunk

    def on_item(self, chunk: Any) -> None:
        """Per chunk: the common case (one choice, a text delta) costs one call, `record_chunk`."""
        if not self._seen_id:
            self._first_chunk(chunk)
        for choice in chunk.choices:
            delta = choice.delta
            content = delta.content if delta is not None else None
            if content and choice.index == 0 and not delta.tool_calls and not delta.refusal:
                self._record(content)
            elif delta is not None:
                self._other_delta(choice.index, delta)
            if choice.finish_reason:
                self._finish_choice(choice.index, choice.finish_reason)
        if chunk.usage is not None:
            self._usage = chunk.usage
            self.terminal_seen = True  # the usage chunk is the last one before [DONE]

    def items(self, source: Iterable[Any], end: StreamEnd) -> Iterator[Any]:
        """The caller's chunks; choice 0's plain text is recorded in this frame (see `LLMSpan`), the rest by
        `on_item`, so a text chunk costs this generator's step and the text buffer's write."""
        span = self._span
        with end:
            for chunk in source:
                try:
                    try:
                        (choice,) = chunk.choices
                        delta = choice.delta
                        text = delta.content
                    except (ValueError, AttributeError):  # no choice or several, no delta: on_item reads it
                        text = None
                    n = span._chunks
                    if (
                        text
                        and text.__class__ is str
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and choice.index == 0
                        and not choice.finish_reason
                        and not delta.tool_calls
                        and not delta.refusal
                        and chunk.usage is None
                        and self._seen_id
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    else:
                        self.on_item(chunk)
                except Exception:
                    log_internal_error("reading a stream item")
                yield chunk

    async def aitems(self, source: AsyncIterable[Any], end: AsyncStreamEnd) -> AsyncIterator[Any]:
        """The async twin of `items`."""
        span = self._span
        async with end:
            async for chunk in source:
                try:
                    try:
                        (choice,) = chunk.choices
                        delta = choice.delta
                        text = delta.content
                    except (ValueError, AttributeError):
                        text = None
                    n = span._chunks
                    if (
                        text
                        and text.__class__ is str
                        and n & 0x3FF
                        and span._seen_ns
                        and span._on_chunk is None
                        and not span._ended
                        and choice.index == 0
                        and not choice.finish_reason
                        and not delta.tool_calls
                        and not delta.refusal
                        and chunk.usage is None
                        and self._seen_id
                    ):
                        span._chunks = n + 1
                        span._write(text)
                    else:
                        self.on_item(chunk)
                except Exception:
                    log_internal_error("reading a stream item")
                end.left = True  # suspended at the yield: a cancellation here is the caller leaving
                yield chunk
                end.left = False

    def _first_chunk(self, chunk: Any) -> None:
        self._seen_id = True
        self._span._set_response(getattr(chunk, "id", None), getattr(chunk, "model", None))

    def _choice(self, index: int) -> Choice:
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = choice_for(self._span, index)
        return choice

    def _other_delta(self, index: int, delta: Any) -> None:
        """Anything but choice 0's plain text: other choices, refusals, tool-call deltas."""
        reasoning = getattr(delta, "reasoning_content", None)  # OpenAI-compatible reasoning servers
        if not (delta.content or delta.refusal or delta.tool_calls or reasoning):  # a role-only or finishing delta
            if index not in self._choices:  # the choice is there, if empty, in the output (a stream cut after it)
                self._choices[index] = choice_for(self._span, index)
            return
        choice = self._choice(index)
        carried = answered = False
        if delta.content:
            carried = answered = True
            if index == 0:
                self._record(delta.content)
            else:
                choice.text.append(delta.content)
        if delta.refusal:
            carried = answered = True
            choice.refusal.append(delta.refusal)
        if reasoning and isinstance(reasoning, str):
            carried = True
            choice.reasoning.append(reasoning)
        for call_delta in delta.tool_calls or ():
            carried = answered = True
            call = choice.tool_calls.get(call_delta.index)
            if call is None:
                call = choice.tool_calls[call_delta.index] = ToolCall()
            if call_delta.id:
                call.id = call_delta.id
            function = call_delta.function
            if function is not None:
                if function.name:
                    call.name = function.name
                if function.arguments:
                    call.arguments.append(function.arguments)
        if carried and not (index == 0 and delta.content):
            self._record(None)  # a chunk of output that is not choice 0's text: counted, not previewed
        if answered and not self._span._first_text_ns:  # reasoning alone is no answer yet
            self._span._mark_text()

    def _finish_choice(self, index: int, reason: str) -> None:
        self._choice(index).finish_reason = reason
        self._finished += 1
        if self._finished >= self._expected_choices and not self._usage_requested:
            self.terminal_seen = True

    def outcome(self, text: str) -> dict[str, Any]:
        reasons = [self._choices[i].finish_reason or "" for i in sorted(self._choices)]
        return {
            "output": lazy_output(self._choices, text),
            "usage": self._usage,
            "finish_reason": [r for r in reasons if r] or None,
        }


def _conceal_added_usage(chunk: Any) -> bool:
    """For a stream rollout asked for usage: whether `chunk` is the usage-only chunk the caller never asked for
    (rollout reads it, the caller never sees it); any other chunk is left as the caller would have received it."""
    if not chunk.choices and chunk.usage is not None:
        return True
    fields_set = getattr(chunk, "__pydantic_fields_set__", None)
    if fields_set is not None:
        fields_set.discard("usage")  # `usage: null` came only because rollout asked: to_dict() stays the same
    return False


def completion_outcome(span: LLMSpan, completion: Any) -> dict[str, Any]:
    """The same outcome for a whole (non-streamed) ChatCompletion."""
    if getattr(completion, "id", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_ID, completion.id)
    if getattr(completion, "model", None):
        span.set_attribute(attr.GEN_AI_RESPONSE_MODEL, completion.model)
    choices: dict[int, Choice] = {}
    first_text = ""
    for raw in getattr(completion, "choices", None) or ():
        choice = choices[raw.index] = Choice(raw.index, finish_reason=raw.finish_reason)
        message = raw.message
        content = getattr(message, "content", None) or ""
        if raw.index == 0:
            first_text = content
        elif content:
            choice.text.append(content)
        if getattr(message, "refusal", None):
            choice.refusal.append(message.refusal)
        reasoning = getattr(message, "reasoning_content", None)
        if isinstance(reasoning, str) and reasoning:
            choice.reasoning.append(reasoning)
        for i, call in enumerate(getattr(message, "tool_calls", None) or ()):
            function = getattr(call, "function", None) or getattr(call, "custom", None)
            arguments = getattr(function, "arguments", None) or getattr(function, "input", None) or ""
            choice.tool_calls[i] = ToolCall(
                id=getattr(call, "id", None), name=getattr(function, "name", None), arguments=[arguments]
            )
    reasons = [choices[i].finish_reason for i in sorted(choices) if choices[i].finish_reason]
    return {
        "output": lazy_output(choices, first_text),
        "usage": getattr(completion, "usage", None),
        "finish_reason": reasons or None,
    }
