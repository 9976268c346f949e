"""A traced call leaves no reference cycle behind: its span (with the content it recorded), the stream proxy and
the provider's response go as soon as the caller lets them go, as they do untraced, not at the cyclic garbage
collector's next full pass. The real provider SDKs over a socket to the bundled local server; the collector is
off while each call runs, and whatever only it could free is counted."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config
from google import genai
from google.genai import types

from rollout_otel import wrap
from rollout_otel.serve import SCENARIO_HEADER, LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as running:
        yield running


def _bedrock(base: str) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=base,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}),
    )
    spec = scenario_headers(chunks=30)[SCENARIO_HEADER]
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: request.headers.update({SCENARIO_HEADER: spec})
    )
    return client


CALLS: dict[str, tuple[Callable[[str], Any], Callable[[Any], Any]]] = {
    "openai chat": (
        lambda base: openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0),
        lambda c: c.chat.completions.create(model="m", messages=MESSAGES, stream=True),
    ),
    "openai responses": (
        lambda base: openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0),
        lambda c: c.responses.create(model="m", input=MESSAGES, stream=True),
    ),
    "anthropic messages": (
        lambda base: anthropic.Anthropic(base_url=base, api_key="k", max_retries=0),
        lambda c: c.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True),
    ),
    "gemini": (
        lambda base: genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=base, retry_options=types.HttpRetryOptions(attempts=1))
        ),
        lambda c: c.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"),
    ),
    "bedrock": (
        _bedrock,
        lambda c: c.converse_stream(modelId="m", messages=[{"role": "user", "content": [{"text": "Hi"}]}]),
    ),
}


def freed_without_collector(run: Callable[[], list[weakref.ref[Any]]]) -> list[bool]:
    """Whether each object `run` names (by weak reference) was gone once `run` returned, the cyclic garbage
    collector off: what only it could free would still be there."""
    gc.collect()
    gc.disable()
    try:
        refs = run()
        return [ref() is None for ref in refs]
    finally:
        gc.enable()


def leaves_a_traceback_cycle(run: Callable[[], Any]) -> bool:
    """Whether `run` leaves an exception's traceback in a cycle: its frames, and whatever their locals hold, then
    wait for the collector. Python 3.10's google-genai does that when a stream is broken out of, untraced too."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return any(isinstance(o, TracebackType) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def read(stream: Any) -> None:
    for _ in stream["stream"] if isinstance(stream, dict) else stream:  # Bedrock's event stream is in a dict
        pass


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("how", ["to the end", "break"])
def test_a_streamed_call_leaves_no_cycle(server: LocalLLMServer, name: str, how: str) -> None:
    make, call = CALLS[name]
    base = server.base_url.removesuffix("/v1")
    cap = Capture()
    try:
        raw, traced = make(base), wrap(make(base), tracer_provider=cap.tracer_provider)

        def once(client: Any) -> list[weakref.ref[Any]]:
            stream = call(client)
            proxy = stream["stream"] if isinstance(stream, dict) else stream
            refs = [weakref.ref(o) for o in (getattr(proxy, "response", None),) if o is not None]
            span = getattr(proxy, "_self_span", None)
            if span is not None:  # the LLM span, which refers to the SDK's span and the content it recorded
                refs.append(weakref.ref(span))
            if how == "break":
                for _ in proxy:
                    break
                if hasattr(proxy, "close"):
                    proxy.close()
            else:
                read(stream)
            return refs

        once(raw), once(traced)  # warm both
        untraced = freed_without_collector(lambda: once(raw))
        response, *span = freed_without_collector(lambda: once(traced)) if untraced else [True]
        if not untraced:  # Gemini's stream has no response attribute: the span alone
            span = freed_without_collector(lambda: once(traced))
        if span != [True] and leaves_a_traceback_cycle(lambda: once(raw)):
            pytest.skip(f"{name}'s own untraced call leaves a traceback cycle here, which holds the traced frames")
        assert span == [True]  # the LLM span went with the call
        assert [response] == untraced or not untraced  # the response as untraced (the SDK may keep a cycle of its own)
        assert len(cap.spans()) == 2
    finally:
        cap.shutdown()


def test_an_async_stream_leaves_no_cycle(server: LocalLLMServer) -> None:
    cap = Capture()
    try:
        freed: dict[str, list[bool]] = {}

        async def main() -> None:
            raw = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
            traced = wrap(
                openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0),
                tracer_provider=cap.tracer_provider,
            )
            for label, client in (("raw", raw), ("traced", traced)) * 2:  # the second round reuses connections
                stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                refs = [weakref.ref(stream.response)]
                if label == "traced":
                    refs.append(weakref.ref(stream._self_span))
                async for _ in stream:
                    pass
                del stream
                freed[label] = [ref() is None for ref in refs]
            await raw.close()
            await traced.close()

        gc.collect()
        gc.disable()
        try:
            asyncio.run(main())
        finally:
            gc.enable()
        assert freed["traced"] == [*freed["raw"], True]  # the response as untraced; the LLM span went
        assert len(cap.spans()) == 2
    finally:
        cap.shutdown()


def test_the_response_close_hook_holds_its_response_weakly() -> None:
    """The hook on the response calls the response's own close, and still works when kept after a close."""
    from rollout_otel.instrumentation._stream import after_close

    class Response:
        closed = 0

        def close(self) -> str:
            self.closed += 1
            return "closed"

    ends: list[str] = []
    response = Response()
    after_close(response, "close", lambda: ends.append("end"))
    assert response.close() == "closed" and response.closed == 1 and ends == ["end"]
    ref = weakref.ref(response)
    gc.disable()
    try:
        del response
        assert ref() is None  # no cycle through the hook: gone by reference counting
    finally:
        gc.enable()


def test_another_libraries_wrapper_on_close_still_runs() -> None:
    """A wrapper another instrumentation put on the class's `close` (wrapt, as APM agents do) is called as it is:
    only a plain method is reached through the weak reference."""
    import wrapt

    from rollout_otel.instrumentation._stream import after_close

    calls: list[str] = []

    class Response:
        def close(self) -> None:
            calls.append("close")

    def other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append("other instrumentation")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(Response, "close", other)
    response = Response()
    after_close(response, "close", lambda: calls.append("end"))
    response.close()
    assert calls == ["other instrumentation", "close", "end"]


def test_the_close_hook_is_sync_or_async_as_the_close_it_hooks() -> None:
    """The hook awaits an async `close` (a coroutine function, a bound one, a mock's) and calls a sync one (a plain
    method, a partial, a callable object) as it is, running the callback after either; a kept reference to a
    collected response closes nothing."""
    import asyncio
    import functools
    import inspect
    from unittest.mock import AsyncMock

    from rollout_otel.instrumentation._stream import after_close

    class Sync:
        def close(self, reason: str = "") -> str:
            return "sync" + reason

    class Async:
        async def aclose(self) -> str:
            return "async"

    class Callable_:
        def __call__(self) -> str:
            return "object"

    ends: list[str] = []
    sync, coro = Sync(), Async()
    after_close(sync, "close", lambda: ends.append("sync"))
    after_close(coro, "aclose", lambda: ends.append("async"))
    assert sync.close("!") == "sync!"
    assert asyncio.run(coro.aclose()) == "async"
    for kind, close in (("partial", functools.partial(str.upper, "p")), ("object", Callable_())):
        holder = type("Holder", (), {})()
        holder.close = close
        after_close(holder, "close", lambda kind=kind: ends.append(kind))
        assert holder.close() == close()

    def marked_close() -> Any:  # a sync function marked a coroutine function: awaited, as asyncio says
        async def closing() -> str:
            ends.append("closed")
            return "marked"

        return closing()

    if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12
        inspect.markcoroutinefunction(marked_close)
    else:
        marked_close._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    marked = type("Marked", (), {})()
    marked.aclose = marked_close
    after_close(marked, "aclose", lambda: ends.append("marked"))
    assert asyncio.iscoroutinefunction(marked.aclose) and asyncio.run(marked.aclose()) == "marked"
    assert ends[-2:] == ["closed", "marked"]  # the callback after the close, not before
    del ends[-2:]
    mocked = type("Mocked", (), {})()
    mocked.aclose = AsyncMock(return_value="mock")
    after_close(mocked, "aclose", lambda: ends.append("mock"))
    assert asyncio.run(mocked.aclose()) == "mock"
    assert ends == ["sync", "async", "partial", "object", "mock"]
    kept = sync.close
    del sync
    assert kept() is None and ends[-1] == "sync"  # the response is gone: nothing to close, the callback still runs
