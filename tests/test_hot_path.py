"""The token hot path, held by exact call counts: a text chunk costs two calls (the stream loop's step and the
text buffer's write), whatever the provider; the span still gets every chunk's text."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from rollout_otel.instrumentation import anthropic as rollout_anthropic
from rollout_otel.instrumentation._calls import Endpoint, start_span
from rollout_otel.instrumentation._stream import TracedAsyncStream, TracedStream
from rollout_otel.instrumentation.openai import _endpoints as rollout_openai
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

SHORT, LONG = 100, 300  # under 1,024 chunks: no compaction step inside the measured stretch
MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=3600)  # no update tick resets the gap clock during the count
    # Nor does the update thread run at all: a stream it has not come round to sends its start record from its end,
    # so whether it ran first would change the fixed cost of one count and not of the other.
    capture.processor._ticker.wake = lambda: None  # type: ignore[method-assign]
    yield capture
    capture.shutdown()


def chat_items(server: LocalLLMServer, chunks: int) -> list[Any]:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    return list(
        client.chat.completions.create(
            model="m",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=scenario_headers(chunks=chunks),
        )
    )


def responses_items(server: LocalLLMServer, chunks: int) -> list[Any]:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    return list(
        client.responses.create(model="m", input="Hi", stream=True, extra_headers=scenario_headers(chunks=chunks))
    )


def anthropic_items(server: LocalLLMServer, chunks: int) -> list[Any]:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    return list(
        client.messages.create(
            model="m",
            max_tokens=64,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            extra_headers=scenario_headers(chunks=chunks),
        )
    )


class Replay:
    """A provider stream that hands out the SDK objects it was given."""

    response = None

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    async def __aiter__(self) -> AsyncIterator[Any]:
        for item in self.items:
            yield item


def calls(run: Callable[[], Any]) -> int:
    """Python calls made by `run`, without the garbage collector's: a collection that happens to fall inside (its
    timing depends on every thread's allocations) runs finalizers of objects that have nothing to do with `run`."""
    gc.collect()
    gc.disable()
    try:
        profile = cProfile.Profile()
        profile.enable()
        run()
        profile.disable()
    finally:
        gc.enable()
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


def items_read(stream: Any, count: int) -> int:
    """Calls made while reading `count` items of `stream`, its end (after the last item) left out."""
    iterator = iter(stream)
    found = calls(lambda: [next(iterator) for _ in range(count)])
    for _ in iterator:
        pass
    return found


PATHS = [
    (
        "openai.chat",
        rollout_openai.CHAT,
        {"model": "m", "stream": True, "stream_options": {"include_usage": True}},
        chat_items,
    ),
    ("openai.responses", rollout_openai.RESPONSES, {"model": "m", "stream": True}, responses_items),
    ("anthropic.messages", rollout_anthropic.MESSAGES, {"model": "m", "stream": True}, anthropic_items),
]


@pytest.mark.parametrize(("name", "endpoint", "kwargs", "read"), PATHS, ids=[p[0] for p in PATHS])
def test_a_text_chunk_costs_two_calls(
    server: LocalLLMServer,
    cap: Capture,
    name: str,
    endpoint: Endpoint,
    kwargs: dict[str, Any],
    read: Callable[[LocalLLMServer, int], list[Any]],
) -> None:
    kept = {n: read(server, n) for n in (SHORT, LONG)}

    def traced(items: list[Any]) -> int:
        span = start_span(endpoint, None, kwargs, cap.tracer_provider, stream=True)
        assert span is not None
        return items_read(TracedStream(Replay(items), span, endpoint.accumulator(span, kwargs)), len(items))

    traced(kept[SHORT])  # warm: first-use imports and caches are no per-chunk cost
    extra = {n: traced(kept[n]) - items_read(Replay(kept[n]), len(kept[n])) for n in kept}
    assert (extra[LONG] - extra[SHORT]) / (len(kept[LONG]) - len(kept[SHORT])) == 2.0

    spans = cap.spans()
    assert [s.attributes["rollout.stream.chunks"] for s in spans] == [SHORT, SHORT, LONG]  # type: ignore[index]
    assert all(s.attributes["rollout.stream.end_reason"] == "completed" for s in spans)  # type: ignore[index]


def test_async_text_chunks_cost_two_calls(server: LocalLLMServer, cap: Capture) -> None:
    endpoint, kwargs = rollout_openai.RESPONSES, {"model": "m", "stream": True}
    kept = {n: responses_items(server, n) for n in (SHORT, LONG)}
    tail = 4  # the terminal events: the stream's end is left out of the count, as `items_read` leaves it out

    async def read(stream: Any, count: int) -> int:
        """Calls made while reading `count` items of `stream` (not its start, not its end), then the rest."""
        iterator = stream.__aiter__()
        gc.collect()
        gc.disable()
        try:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(count):
                await iterator.__anext__()
            profile.disable()
        finally:
            gc.enable()
        async for _ in iterator:
            pass
        return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]

    def count(traced: bool, items: list[Any]) -> int:
        async def main() -> int:
            stream: Any = Replay(items)
            if traced:
                span = start_span(endpoint, None, kwargs, cap.tracer_provider, stream=True)
                assert span is not None
                stream = TracedAsyncStream(stream, span, endpoint.accumulator(span, kwargs))
            return await read(stream, len(items) - tail)

        return asyncio.run(main())

    count(True, kept[SHORT])
    extra = {n: count(True, kept[n]) - count(False, kept[n]) for n in kept}
    assert (extra[LONG] - extra[SHORT]) / (len(kept[LONG]) - len(kept[SHORT])) == 2.0
    assert [s.attributes["rollout.stream.chunks"] for s in cap.spans()] == [SHORT, SHORT, LONG]  # type: ignore[index]
