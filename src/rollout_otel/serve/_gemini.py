"""Gemini: `:generateContent` and `:streamGenerateContent?alt=sse` replies."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from ._plan import Plan, hop_token, new_id
from ._scenarios import Cut, CutReached
from ._wire import DROP, Frame, sse


def _gemini_usage(plan: Plan, output_tokens: int, thoughts: int) -> dict[str, Any]:
    usage = {
        "promptTokenCount": plan.prompt_tokens,  # Gemini counts cached tokens in the prompt count
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": plan.prompt_tokens + output_tokens + thoughts,
    }
    if plan.cached_tokens:
        usage["cachedContentTokenCount"] = plan.cached_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _gemini_finish_reason(plan: Plan) -> str:
    return "MAX_TOKENS" if plan.scenario.incomplete else "STOP"  # Gemini finishes a function call with STOP too


def _gemini_chunk(plan: Plan, response_id: str, parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0, **candidate}],
        "usageMetadata": {"promptTokenCount": plan.prompt_tokens, "totalTokenCount": plan.prompt_tokens},
        "modelVersion": plan.model,
        "responseId": response_id,
    }


def _gemini_function_call(plan: Plan) -> dict[str, Any]:
    assert plan.tool is not None
    return {"functionCall": {"name": plan.tool.name, "args": json.loads(plan.tool.arguments)}}


def gemini_stream(plan: Plan) -> Iterator[Frame]:
    """One chunk per thought or text delta, the function call whole, then the finish reason and usage.

    With `hops`, this request sends its part of the reply only (the thoughts with the first, the call with the last);
    each part but the last ends with `CONTINUATION` and the token that asks for the next."""
    response_id = new_id("", 22)
    budget = plan.budget()
    hops, hop = plan.scenario.hops, plan.hop
    last_hop = hop == hops - 1
    thinking = plan.thinking if hop == 0 else ()
    start, stop = plan.hop_deltas()
    tool = plan.tool if last_hop else None
    try:
        for piece in thinking:
            budget.spend()
            yield sse(_gemini_chunk(plan, response_id, [{"text": piece, "thought": True}]), paced=True)
        for piece in itertools.islice(plan.deltas, start, stop):
            budget.spend()
            yield sse(_gemini_chunk(plan, response_id, [{"text": piece}]), paced=True)
        if tool:
            for _ in tool.pieces:  # the call arrives whole, but costs its tokens
                budget.spend()
            yield sse(_gemini_chunk(plan, response_id, [_gemini_function_call(plan)]), paced=True)
        budget.check()
    except CutReached as reached:
        error = {"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}
        yield DROP if reached.cut is Cut.DROP else sse(error)
        return
    if last_hop:
        last = _gemini_chunk(plan, response_id, [], finishReason=_gemini_finish_reason(plan))
    else:
        last = _gemini_chunk(plan, response_id, [], finishReason="CONTINUATION", continuationToken=hop_token(hop + 1))
    last["candidates"][0]["content"]["parts"] = [{"text": ""}]
    output = stop - start + (len(tool.pieces) if tool else 0)
    last["usageMetadata"] = _gemini_usage(plan, output, len(thinking))
    yield sse(last)


def gemini_complete(plan: Plan) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if plan.thinking:
        parts.append({"text": "".join(plan.thinking), "thought": True})
    if plan.deltas:
        parts.append({"text": plan.text})
    if plan.tool:
        parts.append(_gemini_function_call(plan))
    reply = _gemini_chunk(plan, new_id("", 22), parts, finishReason=_gemini_finish_reason(plan))
    output = len(plan.deltas) + (len(plan.tool.pieces) if plan.tool else 0)
    reply["usageMetadata"] = _gemini_usage(plan, output, len(plan.thinking))
    return reply
