"""A finished LLM span read into a `FinishedCall`: names, timings, usage, end and finish reasons, the start of the
reply, the prompt and tool calls when captured, every text cleaned and every value read on its own."""

from __future__ import annotations

import json
from typing import Any, Final

from .. import _attributes as attr
from .._receiver import ReceivedSpan
from ._clean import clean, clean_value
from ._rows import FinishedCall
from ._values import count, seconds

TEXT_LIMIT: Final = 4000  # characters of prompt and output kept per call, for the detail pane


def finished_call(span: ReceivedSpan, now: float) -> FinishedCall:
    """The row (and detail) of one finished LLM span."""
    a = span.attributes
    error_type = _text(a.get(attr.ERROR_TYPE))
    output_messages = _messages(a.get(attr.GEN_AI_OUTPUT_MESSAGES))
    return FinishedCall(
        trace_id=clean(span.trace_id, limit=64),
        span_id=clean(span.span_id, limit=64),
        service=_text(span.resource.get("service.name")),
        name=clean(span.name, limit=200),
        model=_text(a.get(attr.GEN_AI_RESPONSE_MODEL) or a.get(attr.GEN_AI_REQUEST_MODEL)),
        duration=max(0, span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
        input_tokens=count(a.get(attr.GEN_AI_USAGE_INPUT_TOKENS)),
        output_tokens=count(a.get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)),
        end_reason=_text(a.get(attr.STREAM_END_REASON)) or ("error" if error_type else ""),
        error_type=error_type,
        output=_output(output_messages, a),
        time_to_first_chunk=seconds(a.get(attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)),
        received_at=now,
        finish_reasons=_finish_reasons(a.get(attr.GEN_AI_RESPONSE_FINISH_REASONS)),
        prompt=_prompt(a),
        tool_calls=_tool_calls(output_messages),
        attributes={clean(k, limit=200): clean_value(v) for k, v in list(a.items())[:96]},
    )


def _text(value: Any, limit: int = 200) -> str:
    return "" if value is None else clean(str(value), limit=limit)


def _messages(raw: Any) -> list[dict[str, Any]]:
    """Messages in the conventions' JSON shape; [] for anything else."""
    if not isinstance(raw, str):
        return []
    try:
        messages = json.loads(raw)
    except ValueError:
        return []
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts = message.get("parts")
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _message_text(message: dict[str, Any]) -> str:
    return "".join(str(p.get("content", "")) for p in _parts(message) if p.get("type") == "text")


def _output(messages: list[dict[str, Any]], a: dict[str, Any]) -> str:
    """The reply: the text parts of the first output message, else its tool calls, else the preview or output."""
    if messages:
        text = _message_text(messages[0])
        if not text:
            calls = _tool_calls(messages)
            text = f"[tool call {', '.join(calls)}]" if calls else ""
        return clean(text, lines=True, limit=TEXT_LIMIT)
    fallback = a.get(attr.STREAM_PREVIEW) or a.get(attr.ROLLOUT_OUTPUT) or ""
    return clean(str(fallback), lines=True, limit=TEXT_LIMIT)


def _prompt(a: dict[str, Any]) -> str:
    """The captured prompt, one `role: text` line per message; "" when content was not captured."""
    messages = _messages(a.get(attr.GEN_AI_INPUT_MESSAGES))
    if messages:
        text = "\n".join(f"{m.get('role', '?')}: {_message_text(m)}" for m in messages)
    else:
        text = str(a.get(attr.ROLLOUT_INPUT) or "")
    return clean(text, lines=True, limit=TEXT_LIMIT)


def _tool_calls(messages: list[dict[str, Any]]) -> list[str]:
    names = [str(p.get("name", "")) for m in messages for p in _parts(m) if p.get("type") == "tool_call"]
    return [clean(n, limit=100) for n in names[:16]]


def _finish_reasons(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return clean(",".join(str(v) for v in value[:8]), limit=100)
    return _text(value, 100)
