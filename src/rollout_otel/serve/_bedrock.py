"""Bedrock Runtime: Converse and InvokeModel, whole or streamed in `application/vnd.amazon.eventstream` framing."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ._anthropic import SIGNATURE, anthropic_complete, anthropic_stream
from ._plan import Plan
from ._scenarios import Cut, CutReached
from ._wire import DROP, Frame, encode_json


def _event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One `application/vnd.amazon.eventstream` message: prelude, string headers, payload, both CRC32s.

    The CRCs are real, so botocore's own parser reads the stream exactly as it reads Bedrock's.
    """
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + len(value.encode()).to_bytes(2, "big") + value.encode()
        for name, value in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _bedrock_event(kind: str, payload: Mapping[str, Any], paced: bool = False) -> Frame:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    data = _event_message(headers, encode_json({**payload, "p": "abcdef"}))  # Bedrock pads its events
    return Frame(data, paced, event=kind, payload={kind: payload})


def _bedrock_exception(kind: str, message: str) -> Frame:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return Frame(_event_message(headers, encode_json({"message": message})), event="exception")


def _bedrock_stop_reason(plan: Plan) -> str:
    if plan.scenario.incomplete:
        return "max_tokens"
    return "tool_use" if plan.tool else "end_turn"


def _bedrock_usage(plan: Plan) -> dict[str, Any]:
    fresh = plan.prompt_tokens - plan.cached_tokens - plan.cache_written_tokens
    return {
        "inputTokens": fresh,
        "outputTokens": plan.completion_tokens,
        "totalTokens": fresh + plan.completion_tokens,
        "cacheReadInputTokens": plan.cached_tokens,
        "cacheWriteInputTokens": plan.cache_written_tokens,
    }


def _bedrock_blocks(plan: Plan) -> list[tuple[dict[str, Any] | None, Iterable[dict[str, Any]]]]:
    """Each content block as (its `start`, if it has one; its deltas): reasoning, text, tool use."""
    blocks: list[tuple[dict[str, Any] | None, Iterable[dict[str, Any]]]] = []
    if plan.thinking:
        deltas = [{"reasoningContent": {"text": piece}} for piece in plan.thinking]
        blocks.append((None, [*deltas, {"reasoningContent": SIGNATURE}]))
    if plan.deltas or plan.tool is None:
        blocks.append((None, ({"text": piece} for piece in plan.deltas)))
    if plan.tool:
        start = {"toolUse": {"toolUseId": "tooluse_" + plan.tool.call_id[5:], "name": plan.tool.name}}
        blocks.append((start, [{"toolUse": {"input": piece}} for piece in plan.tool.pieces]))
    return blocks


def converse_stream(plan: Plan) -> Iterator[Frame]:
    """messageStart, per block (start), deltas, stop, then messageStop and metadata (usage, latency)."""
    started = time.monotonic()
    yield _bedrock_event("messageStart", {"role": "assistant"})
    budget = plan.budget()
    try:
        for index, (start, deltas) in enumerate(_bedrock_blocks(plan)):
            if start is not None:
                yield _bedrock_event("contentBlockStart", {"contentBlockIndex": index, "start": start})
            for delta in deltas:
                if "signature" not in delta.get("reasoningContent", {}):
                    budget.spend()
                yield _bedrock_event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}, paced=True)
            budget.check()
            yield _bedrock_event("contentBlockStop", {"contentBlockIndex": index})
    except CutReached as reached:
        failure = _bedrock_exception("modelStreamErrorException", "The model stream failed.")
        yield DROP if reached.cut is Cut.DROP else failure
        return
    yield _bedrock_event("messageStop", {"stopReason": _bedrock_stop_reason(plan)})
    latency = int((time.monotonic() - started) * 1000)
    yield _bedrock_event("metadata", {"usage": _bedrock_usage(plan), "metrics": {"latencyMs": latency}})


def converse_complete(plan: Plan) -> dict[str, Any]:
    """A whole Converse response with the blocks a stream would have built."""
    content: list[dict[str, Any]] = []
    for start, _deltas in _bedrock_blocks(plan):
        if start is not None and plan.tool:
            tool_use = {**start["toolUse"], "input": json.loads(plan.tool.arguments)}
            content.append({"toolUse": tool_use})
        elif plan.thinking and not content:
            text = {"text": "".join(plan.thinking), **SIGNATURE}
            content.append({"reasoningContent": {"reasoningText": text}})
        else:
            content.append({"text": plan.text})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _bedrock_stop_reason(plan),
        "usage": _bedrock_usage(plan),
        "metrics": {"latencyMs": 1},
    }


def is_anthropic_model(model: str) -> bool:
    """A Bedrock model id (or cross-region inference profile) of an Anthropic model."""
    return model.startswith("anthropic.") or ".anthropic." in model


def _invoke_family(plan: Plan) -> Callable[[Plan], Iterator[Frame]]:
    """InvokeModel bodies are the model family's own: Anthropic's Messages events, or Nova's Converse-shaped ones."""
    return anthropic_stream if is_anthropic_model(plan.model) else converse_stream


def invoke_stream(plan: Plan) -> Iterator[Frame]:
    """InvokeModelWithResponseStream: each of the family's events base64-encoded in a `chunk` event's `bytes`."""
    for frame in _invoke_family(plan)(plan):
        if frame.drop:
            yield frame
        elif frame.event in ("error", "exception"):
            yield _bedrock_exception("modelStreamErrorException", "The model stream failed.")
        elif frame.payload is not None:
            payload = frame.payload
            if payload.get("type") == "message_stop":  # Bedrock appends its own metrics to Anthropic's last event
                metrics = {"inputTokenCount": plan.prompt_tokens, "outputTokenCount": plan.completion_tokens}
                payload = {**payload, "amazon-bedrock-invocationMetrics": metrics}
            encoded = base64.b64encode(encode_json(payload)).decode("ascii")
            headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
            yield Frame(_event_message(headers, encode_json({"bytes": encoded})), frame.paced)


def invoke_complete(plan: Plan) -> dict[str, Any]:
    return anthropic_complete(plan) if _invoke_family(plan) is anthropic_stream else converse_complete(plan)
