"""What a provider call produced, gathered by an accumulator and handed to `LLMSpan._finish` once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .._content import LazyOutput, OutputMessages, parts
from .._content._parts import Message, Part


class ProviderError(Exception):
    """A failure the provider reported inside a stream or response rather than raising it."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.error_type = code  # recorded as error.type: the provider's own code


@dataclass
class ToolCall:
    """One tool call, assembled from its deltas; `server` for a tool the provider runs itself."""

    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    server: str | None = None  # the block kind (server_tool_use, mcp_tool_use) when the provider runs the tool

    def part(self) -> Part:
        arguments = "".join(self.arguments)
        if self.server is None:
            return parts.tool_call(self.id, self.name, arguments)
        name = self.name or self.server
        kind = self.server if self.server == "mcp_tool_use" else name
        payload = {"type": kind, "input": parts.parse_arguments(arguments)}
        return parts.server_tool_call(self.id, name, payload)


class _Discarded(list[Any]):
    """A list that keeps nothing: with content capture off, what would never be exported is never buffered."""

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _DiscardingToolCalls(dict[int, ToolCall]):
    """Tool calls whose arguments are not kept (content capture off): a 100 MB argument costs no memory."""

    def __setitem__(self, key: int, call: ToolCall) -> None:
        call.arguments = _Discarded()
        super().__setitem__(key, call)


@dataclass
class Choice:
    """One output choice (one of `n`), apart from the text LLMSpan already keeps for choice 0. With `keep` off
    (content capture off) its text, reasoning, refusal and tool-call arguments are counted by the span, not kept."""

    index: int
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    server_results: list[Part] = field(default_factory=list)  # server tool results, which arrive whole
    finish_reason: str | None = None
    keep: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        if not self.keep:
            self.text, self.refusal, self.reasoning, self.server_results = (_Discarded() for _ in range(4))
            calls, self.tool_calls = self.tool_calls, _DiscardingToolCalls()
            for key, call in calls.items():
                self.tool_calls[key] = call

    def message(self, text: str) -> Message:
        """This choice as an output message: reasoning, text, refusal, tool calls, in the order models emit them."""
        found: list[Part] = []
        if self.reasoning:
            found.append(parts.reasoning("".join(self.reasoning)))
        if text:
            found.append(parts.text(text))
        if self.refusal:
            found.append(parts.text("".join(self.refusal)))
        if self.tool_calls:
            found.extend(self.tool_calls[i].part() for i in sorted(self.tool_calls))
        if self.server_results:
            found.extend(self.server_results)
        return parts.output_message(found, parts.finish_reason(self.finish_reason))


def choice_for(span: Any, index: int) -> Choice:
    """A choice that keeps its content only where `span` (an LLMSpan) captures content."""
    settings = getattr(span, "_settings", None)
    return Choice(index, keep=settings is None or bool(settings.capture_content))


def lazy_output(choices: dict[int, Choice], first_text: str) -> LazyOutput:
    """The output messages of these choices, built only if content is recorded (with capture on, at the end)."""
    return LazyOutput(lambda: output_messages(choices, first_text))


def output_messages(choices: dict[int, Choice], first_text: str) -> OutputMessages:
    """One output message per choice; choice 0's text is the one the span gathered."""
    if 0 not in choices and first_text:
        choices = {0: Choice(0), **choices}
    if choices.keys() == {0}:  # one choice, the usual case: no sort, no generator
        return OutputMessages([choices[0].message(first_text)])
    return OutputMessages(
        choices[i].message(first_text if i == 0 else "".join(choices[i].text)) for i in sorted(choices)
    )


class Accumulator(Protocol):
    """Reads each item of a provider stream; `on_item` runs once per chunk, so it must stay cheap."""

    terminal_seen: bool

    def on_item(self, item: Any) -> None: ...

    def outcome(self, text: str) -> dict[str, Any]:
        """Keyword arguments for `LLMSpan._finish`: output, usage, finish_reason, error."""
        ...
