"""How streams end when the caller stops in unusual ways, and what stays in memory with content capture off.

Gemini over a socket to the local LLM server, as a user meets it; the accumulators fed with the SDK's own chunk
types where only their buffers are in question.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import threading
import tracemalloc
from typing import Any

import pytest
from google import genai
from google.genai import types
from openai.types.chat import ChatCompletionChunk

from rollout_otel import wrap
from rollout_otel._content import Request, content_attributes, parts
from rollout_otel.instrumentation.openai._chat import ChatAccumulator
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

MODEL = "gemini-2.5-flash"


@pytest.fixture
def client(server: LocalLLMServer, cap: Capture) -> genai.Client:
    options = types.HttpOptions(base_url=server.anthropic_base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return wrap(genai.Client(api_key="gemini-test-key", http_options=options), tracer_provider=cap.tracer_provider)


def slow(**scenario: Any) -> dict[str, Any]:
    return {"http_options": {"headers": scenario_headers(**scenario)}}


@pytest.mark.gemini
def test_a_gemini_stream_closed_from_another_thread_ends_closed_at_the_chunks_delivered(
    client: genai.Client, cap: Capture
) -> None:
    traced = client.models.generate_content_stream(model=MODEL, contents="hi", config=slow(chunks=201, delay=0.01))
    received: list[Any] = []
    asked = threading.Event()

    def read() -> None:
        for chunk in traced:
            received.append(chunk)
            if len(received) == 24:
                asked.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert asked.wait(10)
    traced.close()  # from this thread, while the reader waits inside the SDK's generator for the next chunk
    reader.join(10)
    assert not reader.is_alive()
    span = cap.span()
    assert span.attributes["rollout.stream.end_reason"] == "closed"
    assert 24 <= len(received) < 201
    assert span.attributes["rollout.stream.chunks"] == len(received)


@pytest.mark.gemini
def test_a_gemini_async_stream_left_by_break_under_asyncio_run_ends_closed(client: genai.Client, cap: Capture) -> None:
    async def main() -> None:
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="hi"):
            break  # and return at once: asyncio.run finalizes the stream while shutting down

    asyncio.run(main())
    gc.collect()
    assert cap.span().attributes["rollout.stream.end_reason"] == "closed"


def test_a_cut_blob_part_stays_valid_base64() -> None:
    data = base64.b64encode(bytes(range(256)) * 4_000).decode()  # about 1.4 MB of base64
    request = Request(
        messages=[parts.input_message("user", [parts.text("see"), parts.blob("image/png", "image", data)])]
    )
    found = content_attributes(request, None, 100_000)
    assert found["rollout.content.truncated"] is True
    (message,) = json.loads(found["gen_ai.input.messages"])
    blob = message["parts"][1]
    assert blob["type"] == "blob" and len(blob["content"]) < len(data)
    assert data.startswith(blob["content"])
    base64.b64decode(blob["content"], validate=True)  # raises on a marker or a broken quantum


def chunk(index: int, **delta: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": None}],
        }
    )


def test_without_content_capture_nothing_that_is_not_exported_is_buffered() -> None:
    cap = Capture(capture_content=False)
    with cap.llm("openai.chat", stream=True) as span:
        accumulator = ChatAccumulator(span, expected_choices=2)
        accumulator.on_item(chunk(0, tool_calls=[{"index": 0, "id": "t", "function": {"name": "f", "arguments": ""}}]))
        tracemalloc.start()
        for index in range(20):  # a 20 MB tool call, 20 MB of reasoning and 20 MB of a second choice's text
            piece = str(index) + "a" * 1_000_000  # each chunk brings new text, freed unless someone keeps it
            accumulator.on_item(chunk(0, tool_calls=[{"index": 0, "function": {"arguments": piece}}]))
            accumulator.on_item(chunk(0, reasoning_content=piece))
            accumulator.on_item(chunk(1, content=piece))
        del piece
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        span._finish(caller=None, **accumulator.outcome(""))
    assert held < 2_000_000  # not 60 MB
    attributes = cap.span().attributes
    assert attributes["rollout.stream.chunks"] == 61 and "gen_ai.output.messages" not in attributes
    cap.shutdown()


def test_a_choice_that_only_named_its_role_keeps_its_place() -> None:
    """A stream cut after choice 0's role-only delta: its (empty) message stays first, choice 1's second."""
    cap = Capture()
    with cap.llm("openai.chat", stream=True) as span:
        accumulator = ChatAccumulator(span, expected_choices=2)
        accumulator.on_item(chunk(0, role="assistant", content=""))
        accumulator.on_item(chunk(1, role="assistant", content=""))
        accumulator.on_item(chunk(1, content="other"))
        span._finish(caller=None, **accumulator.outcome(""))
    messages = json.loads(cap.span().attributes["gen_ai.output.messages"])
    assert len(messages) == 2 and messages[1]["parts"] == [{"type": "text", "content": "other"}]
    assert not any(part.get("content") for part in messages[0]["parts"])
    cap.shutdown()


def test_with_content_capture_the_same_stream_keeps_everything() -> None:
    cap = Capture()
    with cap.llm("openai.chat", stream=True) as span:
        accumulator = ChatAccumulator(span, expected_choices=2)
        accumulator.on_item(chunk(0, tool_calls=[{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{"}}]))
        accumulator.on_item(chunk(0, tool_calls=[{"index": 0, "function": {"arguments": "}"}}]))
        accumulator.on_item(chunk(0, reasoning_content="thought"))
        accumulator.on_item(chunk(1, content="other"))
        span._finish(caller=None, **accumulator.outcome(""))
    messages = json.loads(cap.span().attributes["gen_ai.output.messages"])
    assert [p["type"] for p in messages[0]["parts"]] == ["reasoning", "tool_call"]
    assert messages[1]["parts"] == [{"type": "text", "content": "other"}]
    cap.shutdown()
