"""OpenAI Chat Completions: `chat.completion.chunk` streams and whole `chat.completion` replies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._plan import Plan, new_id
from ._scenarios import Cut, CutReached
from ._wire import DROP, Frame, error_body, sse


def _chat_usage(plan: Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_finish_reason(plan: Plan) -> str:
    if plan.scenario.incomplete:
        return "length"
    return "tool_calls" if plan.tool else "stop"


def _chat_steps(plan: Plan) -> Iterator[tuple[dict[str, Any], bool]]:
    """One choice's deltas in order, each flagged whether it is a content delta (counted, paced, may be cut)."""
    field_name = "refusal" if plan.refusal else "content"
    yield (
        {"role": "assistant", "content": None if plan.refusal else "", "refusal": "" if plan.refusal else None},
        False,
    )
    yield from (({field_name: piece}, True) for piece in plan.deltas)
    if plan.tool:
        tool = plan.tool
        start = {"index": 0, "id": tool.call_id, "type": "function", "function": {"name": tool.name, "arguments": ""}}
        yield ({"tool_calls": [start]}, False)
        yield from (({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, True) for piece in tool.pieces)


def chat_stream(plan: Plan) -> Iterator[Frame]:
    """`chat.completion.chunk`s: choices interleaved delta by delta, then finish reasons, usage and `[DONE]`."""
    head: dict[str, Any] = {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": "fp_rollout",
    }
    usage_null = {"usage": None} if plan.include_usage else {}

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**head, "choices": [choice], **usage_null}

    budget = plan.budget()
    steps = _chat_steps(plan)
    try:
        for delta, counted in steps:
            for index in range(plan.choices):
                if counted:
                    budget.spend()
                yield sse(chunk(index, delta), paced=counted)
        budget.check()
    except CutReached as reached:
        yield DROP if reached.cut is Cut.DROP else sse(error_body(500, "openai", "The server had an error."))
        return
    for index in range(plan.choices):
        yield sse(chunk(index, {}, _chat_finish_reason(plan)))
    if plan.include_usage:
        yield sse({**head, "choices": [], "usage": _chat_usage(plan)})
    yield Frame(b"data: [DONE]\n\n")


def chat_completion(plan: Plan) -> dict[str, Any]:
    """A non-streamed `chat.completion` with one message per choice."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if plan.refusal or (plan.tool and not plan.deltas) else plan.text,
        "refusal": plan.text if plan.refusal else None,
        "annotations": [],
    }
    if plan.tool:
        function = {"name": plan.tool.name, "arguments": plan.tool.arguments}
        message["tool_calls"] = [{"id": plan.tool.call_id, "type": "function", "function": function}]
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": _chat_finish_reason(plan)}
        for i in range(plan.choices)
    ]
    return {
        "id": new_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
        "usage": _chat_usage(plan),
        "service_tier": "default",
        "system_fingerprint": "fp_rollout",
    }
