"""Anthropic Messages: `message_start` to `message_stop` streams and whole Message replies."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

from ._plan import Plan, new_id
from ._scenarios import Cut, CutReached
from ._wire import DROP, Frame, sse

SIGNATURE: Final = {"signature": "c2lnbmF0dXJl"}


def _anthropic_stop_reason(plan: Plan) -> str:
    if plan.scenario.incomplete:
        return "max_tokens"
    return "tool_use" if plan.tool else "end_turn"


def _anthropic_usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.prompt_tokens - plan.cached_tokens - plan.cache_written_tokens,
        "cache_creation_input_tokens": plan.cache_written_tokens,
        "cache_read_input_tokens": plan.cached_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _anthropic_message(plan: Plan, message_id: str, content: list[dict[str, Any]], **state: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        **state,
    }


def _anthropic_blocks(plan: Plan) -> list[tuple[dict[str, Any], Iterable[dict[str, Any]]]]:
    """Each content block as (block at start, its deltas): a thinking block, a text block and/or a tool_use block."""
    blocks: list[tuple[dict[str, Any], Iterable[dict[str, Any]]]] = []
    if plan.thinking:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in plan.thinking]
        blocks.append(
            (
                {"type": "thinking", "thinking": "", "signature": ""},
                [*deltas, {"type": "signature_delta", **SIGNATURE}],
            )
        )
    if plan.deltas or plan.tool is None:
        blocks.append(({"type": "text", "text": ""}, ({"type": "text_delta", "text": p} for p in plan.deltas)))
    if plan.tool:
        start = {"type": "tool_use", "id": new_id("toolu_01", 22), "name": plan.tool.name, "input": {}}
        blocks.append((start, [{"type": "input_json_delta", "partial_json": p} for p in plan.tool.pieces]))
    return blocks


def anthropic_stream(plan: Plan) -> Iterator[Frame]:
    """message_start, then per block start/ping/deltas/stop, then message_delta (stop reason, usage), message_stop."""
    message = _anthropic_message(plan, new_id("msg_01", 22), [], usage=_anthropic_usage(plan, 1))
    yield sse({"type": "message_start", "message": message}, event="message_start")
    budget = plan.budget()
    try:
        for index, (start, deltas) in enumerate(_anthropic_blocks(plan)):
            yield sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
            if index == 0:
                yield sse({"type": "ping"}, event="ping")
            for delta in deltas:
                if delta["type"] != "signature_delta":
                    budget.spend()
                payload = {"type": "content_block_delta", "index": index, "delta": delta}
                yield sse(payload, event="content_block_delta", paced=True)
            budget.check()
            yield sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
    except CutReached as reached:
        overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        yield DROP if reached.cut is Cut.DROP else sse(overloaded, event="error")
        return
    delta = {"stop_reason": _anthropic_stop_reason(plan), "stop_sequence": None}
    usage = {"output_tokens": plan.completion_tokens}
    yield sse({"type": "message_delta", "delta": delta, "usage": usage}, event="message_delta")
    yield sse({"type": "message_stop"}, event="message_stop")


def anthropic_complete(plan: Plan) -> dict[str, Any]:
    """A non-streamed Message with the same content blocks a stream would have built."""
    content: list[dict[str, Any]] = []
    for start, _deltas in _anthropic_blocks(plan):
        if start["type"] == "thinking":
            content.append({"type": "thinking", "thinking": "".join(plan.thinking), **SIGNATURE})
        elif start["type"] == "text":
            content.append({"type": "text", "text": plan.text})
        elif plan.tool:
            content.append({**start, "input": json.loads(plan.tool.arguments)})
    return _anthropic_message(
        plan,
        new_id("msg_01", 22),
        content,
        stop_reason=_anthropic_stop_reason(plan),
        usage=_anthropic_usage(plan, plan.completion_tokens),
    )
