"""What a provider call produced, gathered by an accumulator and handed to `LLMSpan._finish` once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A failure the provider reported inside a stream or response rather than raising it."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.error_type = code  # recorded as error.type: the provider's own code


@dataclass
class ToolCall:
    """One tool call, assembled from its deltas."""

    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": "".join(self.arguments)}


@dataclass
class Choice:
    """One output choice (one of `n`), apart from the text LLMSpan already keeps for choice 0."""

    index: int
    text: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)  # Anthropic's extended thinking
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None

    def is_plain_text(self) -> bool:
        return not self.refusal and not self.tool_calls and not self.thinking

    def as_json(self, text: str) -> dict[str, Any]:
        item: dict[str, Any] = {"index": self.index, "text": text}
        if self.refusal:
            item["refusal"] = "".join(self.refusal)
        if self.thinking:
            item["thinking"] = "".join(self.thinking)
        item["tool_calls"] = [self.tool_calls[i].as_json() for i in sorted(self.tool_calls)]
        item["finish_reason"] = self.finish_reason
        return item


def structured_output(choices: dict[int, Choice], first_text: str) -> list[dict[str, Any]] | None:
    """The JSON list of DESIGN section 7, or None when the output is plain text of one choice."""
    if not choices or (len(choices) == 1 and 0 in choices and choices[0].is_plain_text()):
        return None
    return [choices[i].as_json(first_text if i == 0 else "".join(choices[i].text)) for i in sorted(choices)]


class Accumulator(Protocol):
    """Reads each item of a provider stream; `on_item` runs once per chunk, so it must stay cheap."""

    terminal_seen: bool

    def on_item(self, item: Any) -> None: ...

    def outcome(self, text: str) -> dict[str, Any]:
        """Keyword arguments for `LLMSpan._finish`: output, usage, finish_reason, error."""
        ...
