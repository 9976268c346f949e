"""The reply text: the default paragraphs and the token-like deltas replies and prompt counts are made of."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_REPLY: Final = (
    "Streaming responses arrive as a sequence of small deltas, each carrying a word or a fragment of one. "
    "A client that prints them as they come feels fast, because the first words appear within a fraction of a "
    "second, even when the whole answer takes several seconds to finish. Tracing such a call is harder than "
    "tracing an ordinary request: the interesting part happens between the first byte and the last, and a span "
    "that only records the final text hides slow starts, stalls in the middle, and connections that drop before "
    "the end. Good telemetry keeps a short preview and reports progress while the stream is still open."
)
DEFAULT_REFUSAL: Final = "I'm sorry, but I can't help with that request."
DEFAULT_THINKING: Final = "The user asks about streaming, so I should explain deltas and why tracing them is hard."

MAX_DELTA_CHARS: Final = 8
"""Longest text delta: a word longer than this is split, the way tokenizers split rare words."""

_TOKEN_RE: Final = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def tokenize(text: str) -> list[str]:
    """Split `text` into token-like deltas: a word or one punctuation mark with its leading whitespace.

    Deltas are 1 to `MAX_DELTA_CHARS` characters and join back to exactly `text`; the same function counts
    prompt tokens, so usage numbers stay consistent with what was sent.
    """
    deltas: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        deltas.extend(token[i : i + MAX_DELTA_CHARS] for i in range(0, len(token), MAX_DELTA_CHARS))
    return deltas


def reply_deltas(text: str, count: int | None = None) -> list[str]:
    """The deltas of `text`, or exactly `count` deltas made by cycling its words (for very long streams)."""
    return list(Deltas.of(text, count))


@dataclass(frozen=True)
class Deltas:
    """A reply's deltas, generated as they are sent, so `chunks=10000000` costs nothing before its first byte."""

    first: tuple[str, ...] = ()
    again: tuple[str, ...] = ()
    count: int = 0

    @classmethod
    def of(cls, text: str, count: int | None = None) -> Deltas:
        """The deltas of `text`, or exactly `count` of them, cycling its words (the default reply's if it has none)."""
        first = tokenize(text)
        if count is None:
            return cls(tuple(first), (), len(first))
        if not first:
            text, first = DEFAULT_REPLY, tokenize(DEFAULT_REPLY)
        again = first if text[:1].isspace() else tokenize(" " + text)
        return cls(tuple(first), tuple(again), count)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        yield from self.first[: self.count]
        left = self.count - len(self.first)
        while left > 0:
            yield from self.again[:left]
            left -= len(self.again)

    def text(self) -> str:
        """All the deltas joined, built from whole cycles rather than delta by delta."""
        head = "".join(self.first[: self.count])
        left = self.count - len(self.first)
        if left <= 0:
            return head
        cycles, rest = divmod(left, len(self.again))
        return head + "".join(self.again) * cycles + "".join(self.again[:rest])


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a message (its role and type tags aside), wherever the API nests it."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in ("role", "type"):
                yield from _strings(item)
    elif isinstance(value, Sequence):
        for item in value:
            yield from _strings(item)


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A deterministic prompt size: 3 tokens per message plus its text's deltas, plus 3 to prime the reply.

    The system prompt / instructions count as one more message; a string `input` counts as one message.
    """
    messages: list[Any] = [body[key] for key in ("system", "instructions", "systemInstruction") if body.get(key)]
    conversation = body.get("messages", body.get("input", body.get("contents", [])))
    messages.extend([conversation] if isinstance(conversation, str) else list(conversation or []))
    return 3 + sum(3 + sum(_token_count(text) for text in _strings(message)) for message in messages)


def _token_count(text: str) -> int:
    """`len(tokenize(text))` without building the list (prompts can be large)."""
    return sum(-(-len(match.group()) // MAX_DELTA_CHARS) for match in _TOKEN_RE.finditer(text))
