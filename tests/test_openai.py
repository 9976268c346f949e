"""The OpenAI instrumentation, driven by the real `openai` client over a socket to the local LLM server."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from genai_content import content, input_messages, output_messages, output_text, parts_of
from rollout_otel import wrap
from rollout_otel.instrumentation.openai import OpenAIInstrumentor
from rollout_otel.serve import DEFAULT_REPLY, LocalLLMServer, reply_deltas, scenario_headers
from rollout_otel.testing import Capture

MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]
DELTAS = reply_deltas(DEFAULT_REPLY)


def user(text: str) -> dict[str, Any]:
    """One user input message with one text part, as the conventions write it."""
    return {"role": "user", "parts": [{"content": text, "type": "text"}], "name": None}


def reply(text: str, finish_reason: str) -> dict[str, Any]:
    """One assistant output message with one text part."""
    return {
        "role": "assistant",
        "parts": [{"content": text, "type": "text"}],
        "finish_reason": finish_reason,
        "name": None,
    }


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=0.05)
    yield capture
    capture.shutdown()


@pytest.fixture
def client(server: LocalLLMServer, cap: Capture) -> openai.OpenAI:
    raw = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return wrap(raw, tracer_provider=cap.tracer_provider)


@pytest.fixture
def aclient(server: LocalLLMServer, cap: Capture) -> openai.AsyncOpenAI:
    raw = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return wrap(raw, tracer_provider=cap.tracer_provider)


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)


def only_span(cap: Capture) -> ReadableSpan:
    gc.collect()
    spans = cap.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# -- what a span records --------------------------------------------------------------------------------------


def test_streamed_chat_span(client: openai.OpenAI, server: LocalLLMServer, cap: Capture) -> None:
    stream = chat(client, stream=True, stream_options={"include_usage": True}, temperature=0.2, max_tokens=500)
    assert isinstance(stream, openai.Stream)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    span = only_span(cap)
    a = span.attributes
    assert span.name == "openai.chat.completions"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 500
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    assert a["gen_ai.response.id"].startswith("chatcmpl-")
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert text == DEFAULT_REPLY
    assert content(a) == {
        "gen_ai.input.messages": [user("Tell me about streaming.")],
        "gen_ai.output.messages": [reply(text, "stop")],
    }
    assert "rollout.input" not in a and "rollout.output" not in a
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert a["gen_ai.usage.input_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["rollout.stream.chunks"] == len(DELTAS)
    assert a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code is StatusCode.UNSET


def test_usage_is_never_estimated(client: openai.OpenAI, cap: Capture) -> None:
    for _ in chat(client, stream=True):
        pass
    assert not [k for k in only_span(cap).attributes if k.startswith("gen_ai.usage")]


def test_streamed_responses_span(client: openai.OpenAI, cap: Capture) -> None:
    stream = client.responses.create(model="gpt-4o-mini", input="hi", instructions="be brief", stream=True)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    a = only_span(cap).attributes
    assert output_text(a) == "".join(deltas) == DEFAULT_REPLY
    assert output_messages(a) == [reply(DEFAULT_REPLY, "stop")]
    assert a["gen_ai.response.id"].startswith("resp_")
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["rollout.stream.chunks"] == len(DELTAS)
    assert input_messages(a) == [user("hi")]
    assert content(a)["gen_ai.system_instructions"] == [{"content": "be brief", "type": "text"}]


def test_responses_max_output_tokens_maps_to_max_tokens(client: openai.OpenAI, cap: Capture) -> None:
    client.responses.create(model="m", input="hi", max_output_tokens=77)
    assert only_span(cap).attributes["gen_ai.request.max_tokens"] == 77


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_non_streamed_calls(client: openai.OpenAI, cap: Capture, endpoint: str) -> None:
    if endpoint == "chat":
        result = chat(client)
        text = result.choices[0].message.content
    else:
        result = client.responses.create(model="gpt-4o-mini", input="hi")
        text = result.output_text
    a = only_span(cap).attributes
    assert output_text(a) == text == DEFAULT_REPLY
    assert output_messages(a) == [reply(DEFAULT_REPLY, "stop")]
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert a["gen_ai.request.stream"] is False
    assert not [k for k in a if k.startswith("rollout.stream")]


def test_tool_call_deltas_are_accumulated(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True, tools=TOOLS)
    call_deltas = [c.choices[0].delta.tool_calls[0] for c in stream if c.choices and c.choices[0].delta.tool_calls]
    final_args = "".join(d.function.arguments or "" for d in call_deltas)
    call_id = next(d.id for d in call_deltas if d.id)
    a = only_span(cap).attributes
    (message,) = output_messages(a)
    (call,) = message["parts"]
    assert call == {"arguments": json.loads(final_args), "name": "get_weather", "id": call_id, "type": "tool_call"}
    assert call["arguments"]
    assert message["finish_reason"] == "tool_call"
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert content(a)["gen_ai.tool.definitions"] == [
        {
            "name": "get_weather",
            "description": None,
            "parameters": TOOLS[0]["function"]["parameters"],
            "type": "function",
        }
    ]
    assert a["rollout.stream.chunks"] > 1


def test_responses_function_call(client: openai.OpenAI, cap: Capture) -> None:
    responses_tools = [{"type": "function", "name": "get_weather", "parameters": TOOLS[0]["function"]["parameters"]}]
    events = list(client.responses.create(model="m", input="weather?", tools=responses_tools, stream=True))
    (done,) = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
    a = only_span(cap).attributes
    (message,) = output_messages(a)
    (call,) = parts_of(message, "tool_call")
    assert call["name"] == "get_weather"
    assert call["id"] == done.call_id
    assert call["arguments"] == json.loads(done.arguments) and call["arguments"]
    assert message["finish_reason"] == "tool_call"
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_several_choices_are_kept_apart(client: openai.OpenAI, cap: Capture) -> None:
    texts: dict[int, str] = {}
    for c in chat(client, stream=True, n=2):
        for choice in c.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    a = only_span(cap).attributes
    assert output_messages(a) == [reply(texts[0], "stop"), reply(texts[1], "stop")]
    assert a["gen_ai.request.choice.count"] == 2
    assert a["gen_ai.response.finish_reasons"] == ("stop", "stop")


def test_refusal(client: openai.OpenAI, cap: Capture) -> None:
    refusal = "".join(
        c.choices[0].delta.refusal or ""
        for c in chat(client, stream=True, extra_headers=scenario_headers(refusal=True))
    )
    assert "sorry" in refusal
    a = only_span(cap).attributes
    assert output_messages(a) == [reply(refusal, "stop")]  # a refusal is a text part, the only one here


def test_incomplete_response_is_completed_with_its_reason(client: openai.OpenAI, cap: Capture) -> None:
    headers = scenario_headers(incomplete=True)
    for _ in client.responses.create(model="m", input="x", stream=True, extra_headers=headers):
        pass
    a = only_span(cap).attributes
    assert a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("max_output_tokens",)


# -- the caller gets the provider's own objects ---------------------------------------------------------------


def test_caller_iterates_the_very_chunks_openai_produced(client: openai.OpenAI, server: LocalLLMServer) -> None:
    stream = chat(client, stream=True)
    real = stream.__wrapped__
    produced: list[Any] = []
    inner = real._iterator

    def spy() -> Iterator[Any]:
        for item in inner:
            produced.append(item)
            yield item

    real._iterator = spy()
    received = list(stream)
    assert len(received) == len(produced) > 10
    assert all(r is p for r, p in zip(received, produced, strict=True))

    plain = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    untraced = list(plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    ignore = {"id", "created", "system_fingerprint"}
    assert [c.model_dump(exclude=ignore) for c in received] == [c.model_dump(exclude=ignore) for c in untraced]
    assert type(received[0]) is type(untraced[0])


def test_stream_still_behaves_as_the_providers(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    with stream as same:
        assert same is stream
        rest = list(same)
    assert rest
    assert only_span(cap).attributes["rollout.stream.end_reason"] == "completed"


# -- every exit path, sync ------------------------------------------------------------------------------------


def test_break_ends_the_span_at_the_break(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    a = cap.span().attributes  # ended already, before any garbage collection
    assert a["rollout.stream.end_reason"] == "closed"
    assert output_messages(a) == [reply("".join(DELTAS[:3]), "error")]  # no finish reason came


def test_close(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True)
    next(stream)
    next(stream)
    stream.close()
    assert cap.span().attributes["rollout.stream.end_reason"] == "closed"


def test_with_exit(client: openai.OpenAI, cap: Capture) -> None:
    with chat(client, stream=True) as stream:
        next(stream)
    assert cap.span().attributes["rollout.stream.end_reason"] == "closed"


def test_exception_in_the_callers_loop(client: openai.OpenAI, cap: Capture) -> None:
    with pytest.raises(ZeroDivisionError):
        for _ in chat(client, stream=True):
            1 / 0  # noqa: B018
    span = cap.span()
    assert span.attributes["rollout.stream.end_reason"] == "closed"
    assert span.status.status_code is StatusCode.UNSET


def test_terminal_event_seen_then_stop_is_completed(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage is not None:
            break
    assert cap.span().attributes["rollout.stream.end_reason"] == "completed"


def test_connection_dropped_mid_stream(client: openai.OpenAI, cap: Capture) -> None:
    received = 0
    with pytest.raises(Exception) as caught:  # APIConnectionError, or the transport's own error on older openai
        for chunk in chat(client, stream=True, extra_headers=scenario_headers(drop_after=5)):
            received += bool(chunk.choices and chunk.choices[0].delta.content)
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == type(caught.value).__name__
    assert output_messages(span.attributes) == [reply("".join(DELTAS[:received]), "error")]


def test_chat_in_stream_error(client: openai.OpenAI, cap: Capture) -> None:
    with pytest.raises(openai.APIError):
        for _ in chat(client, stream=True, extra_headers=scenario_headers(error_after=4)):
            pass
    a = cap.span().attributes
    assert a["rollout.stream.end_reason"] == "error"
    assert a["error.type"] == "APIError"
    assert output_messages(a) == [reply("".join(DELTAS[:4]), "error")]


@pytest.mark.parametrize(("setting", "event_type"), [("error_after", "error"), ("failed_after", "response.failed")])
def test_responses_in_stream_failure_is_yielded_and_recorded(
    client: openai.OpenAI, cap: Capture, setting: str, event_type: str
) -> None:
    headers = scenario_headers(**{setting: 3})
    events = list(client.responses.create(model="m", input="x", stream=True, extra_headers=headers))
    assert events[-1].type == event_type  # the caller still gets the event
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"]
    assert output_messages(span.attributes) == [reply("".join(DELTAS[:3]), "error")]


def test_rate_limited_call(client: openai.OpenAI, cap: Capture) -> None:
    with pytest.raises(openai.RateLimitError):
        chat(client, stream=True, extra_headers=scenario_headers(status=429))
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes["rollout.stream.end_reason"] == "error"


def test_dropped_unfinished_stream_is_abandoned(client: openai.OpenAI, cap: Capture) -> None:
    stream = chat(client, stream=True)
    next(stream)
    next(stream)
    del stream
    span = only_span(cap)
    assert span.attributes["rollout.stream.end_reason"] == "abandoned"
    assert output_messages(span.attributes) == [reply(DELTAS[0], "error")]


def test_span_context_is_not_left_attached(client: openai.OpenAI, cap: Capture) -> None:
    tracer = cap.tracer_provider.get_tracer("app")
    stream = chat(client, stream=True)
    next(stream)
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    del stream
    with tracer.start_as_current_span("after"):
        pass
    gc.collect()
    after = cap.span("after")
    assert after.parent is None


def chat_suppressed(client: openai.OpenAI) -> None:
    """A streamed call where the application suppressed instrumentation."""
    token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        list(chat(client, stream=True))
    finally:
        otel_context.detach(token)


def llm_spans(cap: Capture) -> list[ReadableSpan]:
    gc.collect()
    return [s for s in cap.spans() if s.name != "handler"]


def test_span_starts_in_the_callers_context(client: openai.OpenAI, cap: Capture) -> None:
    """The context is read once per call (`context_to_trace`): the sampler, the processors and the request all see
    the caller's; suppressed instrumentation and a call rollout already traces get no span."""
    tracer = cap.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as handler:
        list(chat(client, stream=True))
        sampled_out = otel_trace.NonRecordingSpan(otel_trace.SpanContext(handler.get_span_context().trace_id, 7, False))
        with otel_trace.use_span(sampled_out):  # a parent the default sampler follows: not sampled
            list(chat(client, stream=True))
    chat_suppressed(client)
    llm = llm_spans(cap)
    assert len(llm) == 1  # the unsampled one and the suppressed one recorded nothing
    assert llm[0].parent is not None and llm[0].parent.span_id == handler.get_span_context().span_id
    assert llm[0].context.trace_id == handler.get_span_context().trace_id


def test_another_runtime_context_is_read_through_the_api(
    client: openai.OpenAI, cap: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime context of its own (`OTEL_PYTHON_CONTEXT`), even a subclass of the default that keeps the context
    elsewhere, is read through the API: the span's parent and suppression as the application set them."""
    import threading

    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    class ThreadLocalContext(ContextVarsRuntimeContext):
        def __init__(self) -> None:
            super().__init__()
            self._local = threading.local()

        def attach(self, context: otel_context.Context) -> object:
            token = self.get_current()
            self._local.context = context
            return token

        def get_current(self) -> otel_context.Context:
            return getattr(self._local, "context", otel_context.Context())

        def detach(self, token: object) -> None:
            self._local.context = token

    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", ThreadLocalContext())
    tracer = cap.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as handler:
        list(chat(client, stream=True))
    chat_suppressed(client)
    llm = llm_spans(cap)
    assert len(llm) == 1  # the suppressed call recorded nothing
    assert llm[0].parent is not None and llm[0].parent.span_id == handler.get_span_context().span_id


# -- every exit path, async -----------------------------------------------------------------------------------


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_async_streams(aclient: openai.AsyncOpenAI, cap: Capture) -> None:
    async def main() -> None:
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        async for _ in stream:
            pass
        stream = await aclient.responses.create(model="m", input="x", stream=True)
        async for _ in stream:
            pass
        await aclient.chat.completions.create(model="m", messages=MESSAGES)

    run(main())
    spans = cap.spans()
    assert [s.attributes.get("rollout.stream.end_reason") for s in spans] == ["completed", "completed", None]
    assert [output_messages(s.attributes) for s in spans] == [[reply(DEFAULT_REPLY, "stop")]] * 3


def test_async_exit_paths(aclient: openai.AsyncOpenAI, cap: Capture) -> None:
    async def main() -> None:
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async for _ in stream:
            break
        await asyncio.sleep(0.05)  # the loop finalizes the abandoned async generator
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        await stream.__anext__()
        await stream.close()
        async with await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
            await stream.__anext__()
        with pytest.raises(Exception):  # noqa: B017 - whatever this openai raises for a dropped stream
            stream = await aclient.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, extra_headers=scenario_headers(drop_after=2)
            )
            async for _ in stream:
                pass

    run(main())
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["closed", "closed", "closed", "error"]


def test_async_cancellation(aclient: openai.AsyncOpenAI, cap: Capture) -> None:
    async def consume() -> None:
        stream = await aclient.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, extra_headers=scenario_headers(delay=0.05)
        )
        async for _ in stream:
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    span = cap.span()
    assert span.attributes["rollout.stream.end_reason"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET


# -- helpers and raw responses --------------------------------------------------------------------------------


def test_chat_stream_helper(client: openai.OpenAI, cap: Capture) -> None:
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        completion = stream.get_final_completion()
    a = only_span(cap).attributes
    assert output_text(a) == completion.choices[0].message.content == DEFAULT_REPLY
    assert a["rollout.stream.end_reason"] == "completed"


def test_chat_stream_helper_left_early(client: openai.OpenAI, cap: Capture) -> None:
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
    # The helper closes the HTTP response itself; the span ends right there.
    assert cap.span().attributes["rollout.stream.end_reason"] == "closed"


def test_responses_stream_helper(client: openai.OpenAI, cap: Capture) -> None:
    with client.responses.stream(model="m", input="x") as stream:
        final = stream.get_final_response()
    a = only_span(cap).attributes
    assert output_text(a) == final.output_text == DEFAULT_REPLY
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens


def test_with_raw_response(client: openai.OpenAI, cap: Capture) -> None:
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
    assert raw.headers["content-type"].startswith("text/event-stream")
    for _ in raw.parse():
        pass
    raw = client.responses.with_raw_response.create(model="m", input="x")
    assert raw.parse().output_text == DEFAULT_REPLY
    spans = cap.spans()
    assert [output_text(s.attributes) for s in spans] == [DEFAULT_REPLY, DEFAULT_REPLY]


def test_raw_response_parsed_in_one_chain(client: openai.OpenAI, cap: Capture) -> None:
    stream = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True).parse()
    gc.collect()  # the raw response is gone; the stream owns the span
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == DEFAULT_REPLY
    a = only_span(cap).attributes
    assert (output_text(a), a["rollout.stream.end_reason"]) == (DEFAULT_REPLY, "completed")


def test_with_streaming_response(client: openai.OpenAI, cap: Capture) -> None:
    with client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, stream=True) as raw:
        for _ in raw.parse():
            pass
    assert output_text(only_span(cap).attributes) == DEFAULT_REPLY


# -- one span per call ----------------------------------------------------------------------------------------


def test_wrapping_twice_and_copies(client: openai.OpenAI, cap: Capture) -> None:
    assert wrap(client) is client
    chat(client)
    chat(client.with_options(timeout=30))
    assert len(cap.spans()) == 2


def test_wrap_plus_instrumentor_gives_one_span(client: openai.OpenAI, cap: Capture, server: LocalLLMServer) -> None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    completions_class = openai.resources.chat.completions.completions.Completions
    assert isinstance(completions_class.__dict__["create"], wrapt.FunctionWrapper)
    try:
        chat(client)
        plain = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        for _ in plain.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass
        assert len(cap.spans()) == 2
    finally:
        instrumentor.uninstrument()
    plain.chat.completions.create(model="m", messages=MESSAGES)
    assert len(cap.spans()) == 2  # uninstrument restored the original methods
    assert not isinstance(completions_class.__dict__["create"], wrapt.FunctionWrapper)


def test_wrap_rejects_what_it_cannot_trace() -> None:
    with pytest.raises(TypeError, match=r"cannot trace a builtins\.object"):
        wrap(object())


# -- updates and load -----------------------------------------------------------------------------------------


def test_slow_stream_sends_updates(client: openai.OpenAI, cap: Capture) -> None:
    for _ in chat(client, stream=True, extra_headers=scenario_headers(chunks=30, delay=0.01)):
        pass
    span = only_span(cap)
    updates = cap.updates(span)
    assert len(updates) >= 3
    assert span.attributes["rollout.stream.updates"] == len(updates)


def test_many_threads_stream_at_once_without_cross_talk(client: openai.OpenAI, cap: Capture) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            text = f"thread {n} says hello " * 5
            for _ in chat(client, stream=True, extra_headers=scenario_headers(text=text)):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    outputs = sorted(output_text(s.attributes) for s in cap.spans())
    assert outputs == sorted(f"thread {n} says hello " * 5 for n in range(20))


def test_many_concurrent_async_streams(aclient: openai.AsyncOpenAI, cap: Capture) -> None:
    async def one(n: int) -> str:
        text = f"stream {n} " * 4
        stream = await aclient.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, extra_headers=scenario_headers(text=text)
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def main() -> list[str]:
        return await asyncio.gather(*(one(n) for n in range(200)))

    results = run(main())
    assert results == [f"stream {n} " * 4 for n in range(200)]
    spans = cap.spans()
    assert len(spans) == 200
    assert sorted(output_text(s.attributes) for s in spans) == sorted(results)
    assert all(s.attributes["rollout.stream.preview"] == output_text(s.attributes) for s in spans)


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_what_reaches_an_otlp_receiver(server: LocalLLMServer, protocol: str) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
        rollout = Rollout(endpoint=endpoint, protocol=protocol, stream_update_interval=0.1)
        try:
            client = rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0))
            slow = scenario_headers(chunks=40, delay=0.01)
            for _ in chat(client, stream=True, stream_options={"include_usage": True}, extra_headers=slow):
                pass
            for _ in client.responses.create(model="m", input="x", stream=True, extra_headers=slow):
                pass
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        spans = {s.name: s for s in sink.wait_for_spans(2)}
        for name in ("openai.chat.completions", "openai.responses"):
            span = spans[name]
            updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
            assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
            assert span.attributes["rollout.stream.chunks"] == 40
            assert span.attributes["gen_ai.usage.output_tokens"] == 40
            assert output_text(span.attributes) == "".join(reply_deltas(DEFAULT_REPLY, 40))


def test_azure_clients_name_their_provider_and_server() -> None:
    from rollout_otel.instrumentation.openai import _request

    azure = openai.AzureOpenAI(api_key="k", api_version="2024-10-21", azure_endpoint="https://contoso.openai.azure.com")
    assert _request.provider_name(azure) == "azure.ai.openai"
    attributes = _request.request_attributes({"model": "gpt-4o"}, azure)
    assert attributes["server.address"] == "contoso.openai.azure.com"
    assert attributes["server.port"] == 443
    assert wrap(azure) is azure
    assert isinstance(azure.chat.completions.create, wrapt.FunctionWrapper)


def test_instrument_uninstrument_instrument_patches_once() -> None:
    """Hooks registered by each instrument() must not stack wrappers: one uninstrument() restores the originals."""
    import openai.resources.chat.completions.completions as chat_module

    from rollout_otel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument()
    instrumentor.uninstrument()
    instrumentor.instrument()
    instrumentor.instrument()  # a second call is a no-op for BaseInstrumentor, and must stay one
    try:
        create = chat_module.Completions.__dict__["create"]
        assert isinstance(create, wrapt.FunctionWrapper)
        assert not isinstance(create.__wrapped__, wrapt.FunctionWrapper)  # one layer
    finally:
        instrumentor.uninstrument()
    assert not isinstance(chat_module.Completions.__dict__["create"], wrapt.FunctionWrapper)
