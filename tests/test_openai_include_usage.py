"""`openai_include_usage`: usage for chat streams whose caller did not ask for it, with the caller's loop unchanged.

The proof runs the real `openai` client against the local server twice, once untraced and once traced with the
option on, and compares what the caller's loop saw: the same chunks, as many, with the same content and fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from rollout_otel import wrap
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=0.05, openai_include_usage=True)
    yield capture
    capture.shutdown()


def _raw(server: LocalLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def _loop(client: openai.OpenAI, **kwargs: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """The caller's loop: `chunk.choices[0]` on every chunk, as countless programs do."""
    seen = []
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=scenario_headers(chunks=8), **kwargs
    )
    for chunk in stream:
        seen.append((chunk.choices[0].delta.content, chunk.to_dict()))
    return seen


def _without_ids(seen: list[tuple[str | None, dict[str, Any]]]) -> list[tuple[str | None, dict[str, Any]]]:
    return [(text, {k: v for k, v in d.items() if k not in ("id", "created")}) for text, d in seen]


def test_the_callers_loop_sees_exactly_what_it_would_have_seen(server: LocalLLMServer, cap: Capture) -> None:
    untraced = _loop(_raw(server))
    traced = _loop(wrap(_raw(server), tracer_provider=cap.tracer_provider))
    assert len(traced) == len(untraced)
    assert _without_ids(traced) == _without_ids(untraced)  # to_dict() too: no `usage: null` the caller never asked for
    attributes = cap.span().attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] > 0
    assert attributes["rollout.stream.end_reason"] == "completed"
    metrics = cap.metrics()
    assert "gen_ai.client.token.usage" in metrics


def test_next_and_the_stream_helper_never_see_the_usage_chunk(server: LocalLLMServer, cap: Capture) -> None:
    client = wrap(_raw(server), tracer_provider=cap.tracer_provider)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = []
    while True:
        try:
            chunks.append(next(stream))
        except StopIteration:
            break
    assert all(chunk.choices for chunk in chunks)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as helper:
        events = [event.type for event in helper]
        completion = helper.get_final_completion()
    assert "chunk" in events and completion.usage is None  # as without the option: the caller asked for none
    spans = cap.spans()
    assert len(spans) == 2
    assert all((s.attributes or {}).get("gen_ai.usage.output_tokens") for s in spans)


def test_async_loop_is_unchanged(server: LocalLLMServer, cap: Capture) -> None:
    client = wrap(
        openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0),
        tracer_provider=cap.tracer_provider,
    )

    async def main() -> list[str | None]:
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        return [chunk.choices[0].delta.content async for chunk in stream]

    texts = asyncio.run(main())
    assert texts and cap.span().attributes["gen_ai.usage.output_tokens"] > 0  # type: ignore[index]


def test_a_caller_who_chose_is_left_alone(server: LocalLLMServer, cap: Capture) -> None:
    client = wrap(_raw(server), tracer_provider=cap.tracer_provider)
    asked = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert not asked[-1].choices and asked[-1].usage is not None  # asked for it: gets the usage chunk
    declined = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
        )
    )
    assert all(chunk.choices for chunk in declined)
    assert "gen_ai.usage.output_tokens" not in (cap.spans()[-1].attributes or {})


def test_raw_responses_are_left_alone(server: LocalLLMServer, cap: Capture) -> None:
    """A caller reading the raw body would see the extra chunk there: rollout does not ask for it."""
    client = wrap(_raw(server), tracer_provider=cap.tracer_provider)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    assert lines and all('"usage"' not in line for line in lines)


def test_off_by_default(server: LocalLLMServer) -> None:
    capture = Capture(stream_update_interval=0.05)
    try:
        client = wrap(_raw(server), tracer_provider=capture.tracer_provider)
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
        assert "gen_ai.usage.output_tokens" not in (capture.span().attributes or {})
    finally:
        capture.shutdown()
