"""The output a span's end records, from what `end()` was given or the stream gathered: its messages (or a value
that is not message-shaped), its finish reasons and a stream's summary."""

from __future__ import annotations

from collections.abc import Sequence
from time import monotonic_ns
from typing import Any

from . import _attributes as attr
from ._content import LazyOutput, OutputMessages, parts, text_output
from ._content._manual import is_output_message_list
from ._safe import bounded, clean_value


def finish_reasons(value: Any) -> list[str]:
    """Finish reasons as a list of encodable strings: one reason, a list of them, or anything str() can show."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [bounded(value)]
    if (value.__class__ is list or value.__class__ is tuple) and len(value) == 1 and value[0].__class__ is str:
        return [bounded(value[0])] if value[0] else []  # one choice, the usual case: what the line below gives
    if isinstance(value, (list, tuple)):
        return clean_value([str(reason) for reason in value if reason])  # type: ignore[no-any-return]
    return [bounded(str(value))]


def output_messages(
    output: Any, text: str, finish_reason: str | Sequence[str] | None, end_reason: str
) -> tuple[OutputMessages | None, Any]:
    """(output messages, a value that is not message-shaped) for what `end()` was given or the chunks gathered."""
    if isinstance(output, OutputMessages):
        return output, None
    if isinstance(output, LazyOutput):
        return OutputMessages(output.build()), None
    if output is None or isinstance(output, str):
        final = output if isinstance(output, str) else text
        if not final:
            return None, None
        reasons = finish_reasons(finish_reason)
        given = reasons[0] if reasons else None
        default = "stop" if end_reason == attr.END_COMPLETED else "error"
        return text_output(final, parts.finish_reason(given, default)), None
    if is_output_message_list(output):
        return OutputMessages(output), None
    return None, output


def stream_summary(llm: Any, found: dict[str, Any], end_reason: str, chars: int, tail: str) -> None:
    """The stream summary of `llm` (an `LLMSpan`): counts, end reason, preview, and the timings the update thread
    settled."""
    found[attr.STREAM_CHUNKS] = llm._chunks
    found[attr.STREAM_CHARS] = chars
    found[attr.STREAM_UPDATES] = llm._updates
    found[attr.STREAM_END_REASON] = end_reason
    if tail:
        found[attr.STREAM_PREVIEW] = tail
    found[attr.STREAM_STALLS] = llm._stalls
    start_ns = llm._start_ns
    if llm._first_text_ns:
        found[attr.STREAM_TIME_TO_FIRST_TEXT] = (llm._first_text_ns - start_ns) / 1e9
    max_gap = llm._max_gap_ns
    if llm._first_chunk_ns:  # the wait for the first chunk is exact, with or without an update thread
        max_gap = max(max_gap, llm._first_chunk_ns - start_ns)
    elif not max_gap:
        max_gap = monotonic_ns() - start_ns  # no chunk at all: it waited throughout
    found[attr.STREAM_MAX_GAP] = max_gap / 1e9
    if llm._on_chunk is not None:  # chunk events on: say how many the size budget or an event limit cut
        dropped = getattr(llm._span, "dropped_events", 0) + llm._events_dropped
        if dropped:
            found[attr.STREAM_CHUNK_EVENTS_DROPPED] = dropped
