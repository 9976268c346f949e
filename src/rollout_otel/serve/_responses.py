"""OpenAI Responses: the numbered `response.*` event sequence and the whole Response object."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ._plan import Plan, ToolCall
from ._scenarios import Budget, Cut, CutReached
from ._wire import DROP, Frame, sse


def _responses_usage(plan: Plan) -> dict[str, Any]:
    return {
        "input_tokens": plan.prompt_tokens,
        "input_tokens_details": {"cached_tokens": plan.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": plan.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }


@dataclass
class _ResponseState:
    """What a Responses stream has said so far: ids, the next sequence number and the output built up."""

    plan: Plan
    response_id: str = field(default_factory=lambda: "resp_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    message_id: str = field(default_factory=lambda: "msg_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    function_id: str = field(default_factory=lambda: "fc_" + uuid.uuid4().hex + uuid.uuid4().hex[:16])
    sequence: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)

    def event(self, kind: str, *, paced: bool = False, **payload: Any) -> Frame:
        """The next event, numbered; serialised now, so later changes to the output do not leak into it."""
        frame = sse({"type": kind, "sequence_number": self.sequence, **payload}, event=kind, paced=paced)
        self.sequence += 1
        return frame

    def response(self, status: str, *, usage: bool = False, **extra: Any) -> dict[str, Any]:
        """The `response` object as it stands, with this status."""
        plan = self.plan
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": plan.created,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": plan.model,
            "output": self.output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": _responses_usage(plan) if usage else None,
            "user": None,
            "metadata": {},
            **extra,
        }


def _responses_message(state: _ResponseState, budget: Budget) -> Iterator[Frame]:
    """A message output item: item and part added, text deltas, then text, part and item done."""
    index = len(state.output)
    item: dict[str, Any] = {
        "id": state.message_id,
        "type": "message",
        "status": "in_progress",
        "content": [],
        "role": "assistant",
    }
    state.output.append(item)
    where: dict[str, Any] = {"item_id": state.message_id, "output_index": index, "content_index": 0}
    yield state.event("response.output_item.added", output_index=index, item=item)
    part: dict[str, Any] = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    item["content"].append(part)
    yield state.event("response.content_part.added", **where, part=part)
    sent = io.StringIO()  # `part["text"] += piece` would copy the whole text at every delta
    try:
        for piece in state.plan.deltas:
            budget.spend()
            sent.write(piece)
            yield state.event("response.output_text.delta", paced=True, **where, delta=piece, logprobs=[])
        budget.check()
    finally:  # a failure event shows the text sent so far, as the done events show all of it
        part["text"] = sent.getvalue()
    yield state.event("response.output_text.done", **where, text=part["text"], logprobs=[])
    yield state.event("response.content_part.done", **where, part=part)
    item["status"] = "incomplete" if state.plan.scenario.incomplete else "completed"
    yield state.event("response.output_item.done", output_index=index, item=item)


def _responses_function_call(state: _ResponseState, tool: ToolCall, budget: Budget) -> Iterator[Frame]:
    """A function_call output item whose arguments arrive as `response.function_call_arguments.delta` events."""
    index = len(state.output)
    item: dict[str, Any] = {
        "id": state.function_id,
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": tool.call_id,
        "name": tool.name,
    }
    state.output.append(item)
    where: dict[str, Any] = {"item_id": state.function_id, "output_index": index}
    yield state.event("response.output_item.added", output_index=index, item=item)
    for piece in tool.pieces:
        budget.spend()
        item["arguments"] += piece
        yield state.event("response.function_call_arguments.delta", paced=True, **where, delta=piece)
    budget.check()
    yield state.event("response.function_call_arguments.done", **where, name=tool.name, arguments=item["arguments"])
    item["status"] = "incomplete" if state.plan.scenario.incomplete else "completed"
    yield state.event("response.output_item.done", output_index=index, item=item)


def _responses_output(state: _ResponseState, budget: Budget) -> Iterator[Frame]:
    if state.plan.deltas or state.plan.tool is None:
        yield from _responses_message(state, budget)
    if state.plan.tool:
        yield from _responses_function_call(state, state.plan.tool, budget)


def _responses_failure(state: _ResponseState, cut: Cut) -> Iterator[Frame]:
    if cut is Cut.DROP:
        yield DROP
    elif cut is Cut.ERROR:
        yield state.event("error", code="server_error", message="The server had an error.", param=None)
    else:
        error = {"code": "server_error", "message": "The model failed to generate a response."}
        yield state.event("response.failed", response=state.response("failed", error=error))


def responses_stream(plan: Plan) -> Iterator[Frame]:
    """The Responses event sequence: created, in_progress, output items, then completed (or incomplete)."""
    state = _ResponseState(plan)
    yield state.event("response.created", response=state.response("in_progress"))
    yield state.event("response.in_progress", response=state.response("in_progress"))
    try:
        yield from _responses_output(state, plan.budget())
    except CutReached as reached:
        yield from _responses_failure(state, reached.cut)
        return
    if plan.scenario.incomplete:
        details = {"reason": "max_output_tokens"}
        yield state.event(
            "response.incomplete", response=state.response("incomplete", usage=True, incomplete_details=details)
        )
    else:
        yield state.event("response.completed", response=state.response("completed", usage=True))


def response_object(plan: Plan) -> dict[str, Any]:
    """A non-streamed Response: the completed (or incomplete) state a stream would have ended with."""
    state = _ResponseState(plan)
    for _ in _responses_output(state, Budget(None, 0)):
        pass
    if plan.scenario.incomplete:
        return state.response("incomplete", usage=True, incomplete_details={"reason": "max_output_tokens"})
    return state.response("completed", usage=True)
