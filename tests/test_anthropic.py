"""The Anthropic instrumentation, driven by the real `anthropic` client over a socket to the local LLM server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
import wrapt
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from genai_content import content, output_messages, output_text, parts_of, reply, text_part
from rollout_otel import wrap
from rollout_otel.instrumentation.anthropic import AnthropicInstrumentor
from rollout_otel.serve import (
    DEFAULT_REPLY,
    DEFAULT_THINKING,
    LocalLLMServer,
    count_prompt_tokens,
    reply_deltas,
    scenario_headers,
)
from rollout_otel.testing import Capture
from sdk_features import needs_anthropic_sdk_spans

pytestmark = pytest.mark.anthropic

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]
PROMPT_TOKENS = count_prompt_tokens({"messages": MESSAGES})
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
DELTAS = reply_deltas(DEFAULT_REPLY)
CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "rollout.input",
        "rollout.output",
    }
)


@pytest.fixture
def raw_client(server: LocalLLMServer) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="sk-ant-test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def client(raw_client: anthropic.Anthropic, cap: Capture) -> anthropic.Anthropic:
    return wrap(raw_client, tracer_provider=cap.tracer_provider)


@pytest.fixture
def aclient(server: LocalLLMServer, cap: Capture) -> anthropic.AsyncAnthropic:
    raw = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="sk-ant-test", max_retries=0)
    return wrap(raw, tracer_provider=cap.tracer_provider)


def create(client: Any, **kwargs: Any) -> Any:
    return client.messages.create(model=MODEL, max_tokens=512, messages=MESSAGES, **kwargs)


def helper(client: Any, **kwargs: Any) -> Any:
    return client.messages.stream(model=MODEL, max_tokens=512, messages=MESSAGES, **kwargs)


def only_span(cap: Capture) -> ReadableSpan:
    gc.collect()
    spans = cap.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def text_of(events: list[Any]) -> str:
    return "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")


def tool_call_part(call_id: str, arguments: Any, name: str = "get_weather") -> dict[str, Any]:
    return {"arguments": arguments, "name": name, "id": call_id, "type": "tool_call"}


# -- what a span records --------------------------------------------------------------------------------------


def test_streamed_message_span(client: anthropic.Anthropic, server: LocalLLMServer, cap: Capture) -> None:
    stream = create(client, stream=True, stop_sequences=["END"], system="Be brief.")
    assert isinstance(stream, anthropic.Stream)
    events = list(stream)
    span = only_span(cap)
    a = span.attributes
    assert span.name == "anthropic.messages" and span.kind is otel_trace.SpanKind.CLIENT
    assert a["gen_ai.provider.name"] == "anthropic" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == MODEL and a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.max_tokens"] == 512 and a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    assert a["gen_ai.response.id"] == events[0].message.id and a["gen_ai.response.model"] == MODEL
    found = content(a)
    assert found["gen_ai.system_instructions"] == [text_part("Be brief.")]
    assert found["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text_part("Tell me about streaming.")], "name": None}
    ]
    assert found["gen_ai.output.messages"] == reply(text_part(DEFAULT_REPLY))
    assert "gen_ai.tool.definitions" not in found  # the request had no tools
    assert output_text(a) == text_of(events) == DEFAULT_REPLY
    assert not {"rollout.input", "rollout.output"} & set(a)
    assert a["rollout.stream.preview"] == DEFAULT_REPLY
    assert a["rollout.stream.chunks"] == len(DELTAS) and a["rollout.stream.chars"] == len(DEFAULT_REPLY)
    assert a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)  # end_turn, as the conventions name it
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)  # message_delta's cumulative count, not message_start's 1
    assert a["gen_ai.usage.input_tokens"] == count_prompt_tokens({"system": "Be brief.", "messages": MESSAGES})
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code is StatusCode.UNSET


def test_sampling_parameters_of_older_clients_are_recorded() -> None:
    """anthropic releases before 2.x take temperature, top_p and top_k as arguments."""
    from rollout_otel.instrumentation.anthropic._messages import request_attributes

    found = request_attributes({"temperature": 0.3, "top_p": 0.9, "top_k": 40, "max_tokens": 9, "stream": True}, None)
    assert found == {
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.max_tokens": 9,
    }


def test_cached_tokens_count_as_input_tokens(client: anthropic.Anthropic, cap: Capture) -> None:
    """Anthropic's input_tokens leaves cache reads and writes out; the GenAI attribute counts every input token."""
    stream = create(client, stream=True, extra_headers=scenario_headers(cached=4, cache_write=6))
    first = next(iter(stream))
    assert first.message.usage.input_tokens == PROMPT_TOKENS - 10  # what the provider said, untouched
    stream.close()
    a = cap.span().attributes
    assert a["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 6
    assert "gen_ai.usage.cache_write.input_tokens" not in a


def test_caller_gets_the_very_events_anthropic_produced(client: anthropic.Anthropic, raw_client: Any) -> None:
    stream = create(client, stream=True)
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

    untraced = anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0)
    plain = list(create(untraced, stream=True))
    ignore = {"message": {"id"}}
    assert [e.model_dump(exclude=ignore) for e in received] == [e.model_dump(exclude=ignore) for e in plain]
    assert [type(e) for e in received] == [type(e) for e in plain]


def test_stream_still_behaves_as_the_providers(client: anthropic.Anthropic, cap: Capture) -> None:
    stream = create(client, stream=True)
    assert isinstance(stream, anthropic.Stream)
    assert stream.response.status_code == 200 and stream.response.headers["request-id"].startswith("req_")
    assert next(stream).type == "message_start"
    with stream as same:
        assert same is stream
        assert list(same)
    assert only_span(cap).attributes["rollout.stream.end_reason"] == "completed"


def test_non_streamed_message(client: anthropic.Anthropic, cap: Capture) -> None:
    message = create(client, extra_headers=scenario_headers(cached=2))
    assert isinstance(message, anthropic.types.Message)
    a = only_span(cap).attributes
    assert a["gen_ai.request.stream"] is False
    assert output_messages(a) == reply(text_part(DEFAULT_REPLY))
    assert output_text(a) == message.content[0].text == DEFAULT_REPLY
    assert not {"rollout.input", "rollout.output"} & set(a)
    assert a["gen_ai.response.id"] == message.id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == PROMPT_TOKENS and a["gen_ai.usage.cache_read.input_tokens"] == 2
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert not any(k.startswith("rollout.stream.") for k in a)


def test_tool_use_deltas_are_accumulated(client: anthropic.Anthropic, cap: Capture) -> None:
    events = list(create(client, stream=True, tools=TOOLS))
    pieces = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    a = only_span(cap).attributes
    found = content(a)
    assert found["gen_ai.output.messages"] == reply(
        tool_call_part(events[1].content_block.id, json.loads("".join(pieces))), finish_reason="tool_call"
    )
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    assert found["gen_ai.tool.definitions"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": TOOLS[0]["input_schema"],
            "type": "function",
        }
    ]
    assert output_text(a) == ""
    assert a["rollout.stream.chunks"] == len(pieces) and a["rollout.stream.chars"] == 0
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert "rollout.stream.preview" not in a  # no text to preview


def test_text_and_tool_use_in_one_message(client: anthropic.Anthropic, cap: Capture) -> None:
    message = create(client, tools=TOOLS, extra_headers=scenario_headers(text="Checking the weather."))
    a = only_span(cap).attributes
    assert output_messages(a) == reply(  # the parts in the order of the message's blocks
        text_part("Checking the weather."),
        tool_call_part(message.content[1].id, message.content[1].input),
        finish_reason="tool_call",
    )
    (call,) = parts_of(output_messages(a)[0], "tool_call")
    assert (call["id"], call["name"], call["arguments"]) == (message.content[1].id, "get_weather", {"city": "Paris"})
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)


def test_thinking_is_kept_out_of_the_preview(client: anthropic.Anthropic, cap: Capture) -> None:
    events = list(create(client, stream=True, extra_headers=scenario_headers(thinking=1)))
    a = only_span(cap).attributes
    thinking_chunks = len(reply_deltas(DEFAULT_THINKING))
    assert a["rollout.stream.preview"] == DEFAULT_REPLY == text_of(events)
    assert a["rollout.stream.chunks"] == len(DELTAS) + thinking_chunks  # signature deltas are not chunks
    assert output_messages(a) == reply({"content": DEFAULT_THINKING, "type": "reasoning"}, text_part(DEFAULT_REPLY))
    assert output_text(a) == DEFAULT_REPLY  # the thinking is a reasoning part, not text


def test_content_capture_off_records_counts_only(raw_client: anthropic.Anthropic) -> None:
    capture = Capture(capture_content=False)
    try:
        client = wrap(raw_client, tracer_provider=capture.tracer_provider)
        for _ in create(client, stream=True, tools=TOOLS, extra_headers=scenario_headers(thinking=1, text="secret")):
            pass
        with pytest.raises(anthropic.APIStatusError):
            for _ in create(client, stream=True, extra_headers=scenario_headers(error_after=2, text="secret words")):
                pass
        ok, failed = capture.spans()
        for span in (ok, failed):
            assert not (CONTENT_ATTRIBUTES | {"rollout.stream.preview"}) & set(span.attributes)
            assert "secret" not in str(span.events)
        assert ok.attributes["rollout.stream.chunks"] > 0 and ok.attributes["gen_ai.usage.output_tokens"] > 0
    finally:
        capture.shutdown()


def test_incomplete_message_is_completed_with_its_reason(client: anthropic.Anthropic, cap: Capture) -> None:
    list(create(client, stream=True, extra_headers=scenario_headers(incomplete=1)))
    a = only_span(cap).attributes
    assert a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("length",)
    assert output_messages(a)[0]["finish_reason"] == "length"


# -- every exit path ------------------------------------------------------------------------------------------


def test_break_ends_the_span_at_the_break(client: anthropic.Anthropic, cap: Capture) -> None:
    texts = 0
    for event in create(client, stream=True):
        texts += event.type == "content_block_delta"
        if texts == 3:
            break
    a = cap.span().attributes  # ended already, before any garbage collection
    assert a["rollout.stream.end_reason"] == "closed"
    assert output_messages(a) == reply(text_part("".join(DELTAS[:3])), finish_reason="error")  # no stop reason came
    assert "gen_ai.usage.output_tokens" not in a or a["gen_ai.usage.output_tokens"] == 1  # only message_start's


def test_close_and_with_exit(client: anthropic.Anthropic, cap: Capture) -> None:
    stream = create(client, stream=True)
    next(stream)
    stream.close()
    with create(client, stream=True) as stream:
        next(stream)
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["closed", "closed"]


def test_exception_in_the_callers_loop(client: anthropic.Anthropic, cap: Capture) -> None:
    with pytest.raises(ZeroDivisionError):
        for _ in create(client, stream=True):
            1 / 0  # noqa: B018
    span = cap.span()
    assert span.attributes["rollout.stream.end_reason"] == "closed"
    assert span.status.status_code is StatusCode.UNSET


def test_message_stop_seen_then_stop_is_completed(client: anthropic.Anthropic, cap: Capture) -> None:
    stream = create(client, stream=True)
    for event in stream:
        if event.type == "message_stop":
            break
    assert cap.span().attributes["rollout.stream.end_reason"] == "completed"


def test_connection_dropped_mid_stream(client: anthropic.Anthropic, cap: Capture) -> None:
    events: list[Any] = []
    # What the caller catches depends on the release (the transport's own error, or APIConnectionError wrapping it
    # since anthropic 2.17): the span must name whichever the caller saw.
    with pytest.raises(Exception) as raised:
        for event in create(client, stream=True, extra_headers=scenario_headers(drop_after=5)):
            events.append(event)
    assert "incomplete chunked read" in str(raised.value)
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == type(raised.value).__name__
    assert output_text(span.attributes) == text_of(events) == "".join(DELTAS[:5])
    assert output_messages(span.attributes)[0]["finish_reason"] == "error"


def test_in_stream_error_event(client: anthropic.Anthropic, cap: Capture) -> None:
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for _ in create(client, stream=True, extra_headers=scenario_headers(error_after=4)):
            pass
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == "APIStatusError"
    assert output_messages(span.attributes) == reply(text_part("".join(DELTAS[:4])), finish_reason="error")
    assert [e.name for e in span.events] == ["exception"]


@pytest.mark.parametrize("streamed", [True, False])
def test_rate_limited_call(client: anthropic.Anthropic, cap: Capture, streamed: bool) -> None:
    with pytest.raises(anthropic.RateLimitError):
        create(client, stream=streamed, extra_headers=scenario_headers(status=429))
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert span.attributes.get("rollout.stream.end_reason") == ("error" if streamed else None)


def test_dropped_unfinished_stream_is_abandoned(client: anthropic.Anthropic, cap: Capture) -> None:
    stream = create(client, stream=True)
    next(stream)
    next(stream)
    del stream
    a = only_span(cap).attributes
    assert a["rollout.stream.end_reason"] == "abandoned"


def test_slow_stream_sends_updates(client: anthropic.Anthropic, cap: Capture) -> None:
    for _ in create(client, stream=True, extra_headers=scenario_headers(chunks=30, delay=0.01)):
        pass
    span = cap.span()
    updates = cap.updates(span)
    assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
    assert [u.log_record.attributes["rollout.stream.update.seq"] for u in updates] == list(range(1, len(updates) + 1))
    assert all(u.log_record.trace_id == span.context.trace_id for u in updates)


# -- the messages.stream() helper -----------------------------------------------------------------------------


def test_stream_helper(client: anthropic.Anthropic, cap: Capture) -> None:
    with helper(client, extra_headers=scenario_headers(cached=1)) as stream:
        assert isinstance(stream, anthropic.MessageStream)
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    a = only_span(cap).attributes
    assert text == DEFAULT_REPLY == output_text(a)
    assert output_messages(a) == reply(text_part(DEFAULT_REPLY))
    assert a["gen_ai.request.stream"] is True and a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.id"] == final.id
    assert a["gen_ai.usage.output_tokens"] == final.usage.output_tokens
    assert a["gen_ai.usage.input_tokens"] == PROMPT_TOKENS and a["gen_ai.usage.cache_read.input_tokens"] == 1


def test_stream_helper_final_message_and_until_done(client: anthropic.Anthropic, cap: Capture) -> None:
    with helper(client, tools=TOOLS) as stream:
        message = stream.get_final_message()
    with helper(client) as stream:
        stream.until_done()
    tool_span, text_span = cap.spans()
    (call,) = parts_of(output_messages(tool_span.attributes)[0], "tool_call")
    assert (call["id"], call["name"], call["arguments"]) == (
        message.content[0].id,
        "get_weather",
        message.content[0].input,
    )
    assert output_text(text_span.attributes) == DEFAULT_REPLY
    assert {s.attributes["rollout.stream.end_reason"] for s in (tool_span, text_span)} == {"completed"}


def test_stream_helper_left_early(client: anthropic.Anthropic, cap: Capture) -> None:
    with helper(client) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 2:
                break
        assert cap.spans() == []  # still open: the caller may read on
    a = cap.span().attributes
    assert a["rollout.stream.end_reason"] == "closed"
    assert output_text(a) == "".join(DELTAS[:3])


def test_stream_helper_failure(client: anthropic.Anthropic, cap: Capture) -> None:
    with pytest.raises(anthropic.APIStatusError), helper(client, extra_headers=scenario_headers(error_after=3)) as s:
        s.until_done()
    with pytest.raises(anthropic.RateLimitError), helper(client, extra_headers=scenario_headers(status=429)):
        pass
    failed_stream, refused = cap.spans()
    assert failed_stream.attributes["rollout.stream.end_reason"] == "error"
    assert refused.attributes["error.type"] == "RateLimitError"


def test_stream_helper_never_entered_sends_nothing(client: anthropic.Anthropic, server: LocalLLMServer) -> None:
    before = len(server.requests())
    helper(client)
    gc.collect()
    assert len(server.requests()) == before


# -- async ----------------------------------------------------------------------------------------------------


def test_async_streams_and_helper(aclient: anthropic.AsyncAnthropic, cap: Capture) -> None:
    async def run() -> tuple[str, str, Any]:
        stream = await create(aclient, stream=True)
        assert isinstance(stream, anthropic.AsyncStream)
        streamed = text_of([e async for e in stream])
        async with helper(aclient) as helped:
            helped_text = "".join([t async for t in helped.text_stream])
        whole = await create(aclient)
        return streamed, helped_text, whole

    streamed, helped_text, whole = asyncio.run(run())
    assert streamed == helped_text == whole.content[0].text == DEFAULT_REPLY
    spans = cap.spans()
    assert [output_text(s.attributes) for s in spans] == [DEFAULT_REPLY] * 3
    assert [s.attributes.get("rollout.stream.end_reason") for s in spans] == ["completed", "completed", None]


def test_async_exit_paths(aclient: anthropic.AsyncAnthropic, cap: Capture) -> None:
    async def run() -> None:
        stream = await create(aclient, stream=True)
        async for _ in stream:
            break
        await stream.close()
        async with await create(aclient, stream=True) as stream:
            await stream.__anext__()
        async with helper(aclient) as helped:
            async for _ in helped.text_stream:
                break
        with pytest.raises(anthropic.APIStatusError):
            async for _ in await create(aclient, stream=True, extra_headers=scenario_headers(error_after=2)):
                pass

    asyncio.run(run())
    reasons = [s.attributes["rollout.stream.end_reason"] for s in cap.spans()]
    assert reasons == ["closed", "closed", "closed", "error"]


def test_async_cancellation(aclient: anthropic.AsyncAnthropic, cap: Capture) -> None:
    async def run() -> None:
        async def consume() -> None:
            async for _ in await create(aclient, stream=True, extra_headers=scenario_headers(delay=0.05)):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    span = cap.span()
    assert span.attributes["rollout.stream.end_reason"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["rollout.stream.chunks"] >= 1


def test_many_concurrent_async_streams(aclient: anthropic.AsyncAnthropic, cap: Capture) -> None:
    async def one(i: int) -> str:
        stream = await create(aclient, stream=True, extra_headers=scenario_headers(text=f"reply number {i}"))
        return text_of([e async for e in stream])

    async def run() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(100)))

    texts = asyncio.run(run())
    assert texts == [f"reply number {i}" for i in range(100)]
    assert sorted(output_text(s.attributes) for s in cap.spans()) == sorted(texts)


def test_threads_stream_at_once_without_cross_talk(client: anthropic.Anthropic, cap: Capture) -> None:
    def one(i: int) -> None:
        with helper(client, extra_headers=scenario_headers(text=f"thread {i} says hi")) as stream:
            stream.until_done()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(output_text(s.attributes) for s in cap.spans()) == sorted(f"thread {i} says hi" for i in range(16))


# -- raw responses, wrapping, the instrumentor ------------------------------------------------------------------


def test_with_raw_and_streaming_response(client: anthropic.Anthropic, cap: Capture) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert raw.parse().content[0].text == DEFAULT_REPLY
    with client.messages.with_streaming_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    ) as response:
        text = text_of(list(response.parse()))
    assert text == DEFAULT_REPLY
    assert [output_text(s.attributes) for s in cap.spans()] == [DEFAULT_REPLY, DEFAULT_REPLY]


def test_raw_response_parsed_in_one_chain(
    client: anthropic.Anthropic, cap: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    """The raw response is dropped at once; the span now belongs to the stream `parse()` returned."""
    with caplog.at_level(logging.WARNING, logger="rollout_otel"):
        stream = client.messages.with_raw_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        ).parse()
        gc.collect()
        assert text_of(list(stream)) == DEFAULT_REPLY
    a = only_span(cap).attributes
    assert (output_text(a), a["rollout.stream.end_reason"]) == (DEFAULT_REPLY, "completed")
    assert a["gen_ai.usage.output_tokens"] > 0
    assert [r for r in caplog.records if r.name == "rollout_otel"] == []


def test_async_raw_response_parsed_in_one_chain(aclient: anthropic.AsyncAnthropic, cap: Capture) -> None:
    async def run() -> str:
        raw = await aclient.messages.with_raw_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )
        stream = await raw.parse()
        del raw
        gc.collect()
        return text_of([event async for event in stream])

    assert asyncio.run(run()) == DEFAULT_REPLY
    a = only_span(cap).attributes
    assert (output_text(a), a["rollout.stream.end_reason"]) == (DEFAULT_REPLY, "completed")


def test_streaming_response_read_by_hand_ends_at_block_exit(client: anthropic.Anthropic, cap: Capture) -> None:
    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=64, messages=MESSAGES) as response:
        body = response.json()
        assert cap.spans() == []  # still open inside the block
    (span,) = cap.spans()  # ended by the block's exit, while `response` is still alive
    # the body was read by the caller, not parsed through rollout: no output, though the request was recorded
    assert not {"gen_ai.output.messages", "rollout.output"} & set(span.attributes)
    assert body["content"][0]["text"] == DEFAULT_REPLY
    assert response.is_closed


def test_async_streaming_response_read_by_hand_ends_at_block_exit(
    aclient: anthropic.AsyncAnthropic, cap: Capture
) -> None:
    async def run() -> Any:
        async with aclient.messages.with_streaming_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        ) as response:
            async for _ in response.iter_bytes():
                pass
        assert len(cap.spans()) == 1
        return response

    kept = asyncio.run(run())
    assert kept.is_closed and only_span(cap).attributes["rollout.stream.end_reason"] == "closed"


def test_wrapping_twice_and_copies(client: anthropic.Anthropic, cap: Capture) -> None:
    assert wrap(client) is client
    create(client.with_options(timeout=30))
    create(client)
    assert len(cap.spans()) == 2


def test_wrap_plus_instrumentor_gives_one_span(raw_client: anthropic.Anthropic, cap: Capture) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    try:
        untouched = anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0)
        assert isinstance(anthropic.resources.messages.messages.Messages.__dict__["create"], wrapt.FunctionWrapper)
        create(untouched)
        with helper(untouched) as stream:
            stream.until_done()
        wrapped = wrap(raw_client, tracer_provider=cap.tracer_provider)
        list(create(wrapped, stream=True))
        with helper(wrapped) as stream:
            stream.until_done()
        assert len(cap.spans()) == 4
    finally:
        instrumentor.uninstrument()
    assert not isinstance(anthropic.resources.messages.messages.Messages.__dict__["create"], wrapt.FunctionWrapper)
    create(anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0))
    assert len(cap.spans()) == 4  # uninstrument restored the original methods


def test_beta_messages_are_traced(client: anthropic.Anthropic, cap: Capture) -> None:
    for _ in client.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True):
        pass
    with client.beta.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        stream.until_done()
    assert [output_text(s.attributes) for s in cap.spans()] == [DEFAULT_REPLY, DEFAULT_REPLY]


def test_usage_object_given_to_end_counts_cached_input(client: anthropic.Anthropic, cap: Capture) -> None:
    message = create(
        anthropic.Anthropic(base_url=str(client.base_url), api_key="k"), extra_headers=scenario_headers(cached=5)
    )
    with cap.llm("anthropic.messages", model=MODEL) as span:
        span.end(output=message.content[0].text, usage=message.usage)
    a = cap.span().attributes
    assert a["gen_ai.usage.input_tokens"] == PROMPT_TOKENS and a["gen_ai.usage.cache_read.input_tokens"] == 5


# -- coexisting with the anthropic SDK's own spans ----------------------------------------------------------------


def sdk_spans(cap: Capture) -> list[ReadableSpan]:
    return [s for s in cap.spans() if s.instrumentation_scope.name.startswith("com.anthropic")]


@pytest.fixture
def global_cap(cap: Capture) -> Capture:
    """`cap` installed as the global provider: the anthropic SDK then starts spans of its own."""
    otel_trace.set_tracer_provider(cap.tracer_provider)
    return cap


@needs_anthropic_sdk_spans
def test_sdk_spans_are_left_out_of_traced_calls_by_default(
    raw_client: anthropic.Anthropic, global_cap: Capture
) -> None:
    probe = anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0)
    create(probe)
    assert [s.name for s in sdk_spans(global_cap)] == ["anthropic.messages.create"]  # the SDK traces on its own

    client = wrap(anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0))
    list(create(client, stream=True))
    with helper(client) as stream:
        stream.until_done()
    create(client)
    with pytest.raises(anthropic.NotFoundError):  # a call rollout does not trace keeps the SDK's span
        client.models.list()
    ours = [s for s in global_cap.spans() if s.instrumentation_scope.name == "rollout_otel"]
    assert len(ours) == 3
    assert [s.name for s in sdk_spans(global_cap)] == ["anthropic.messages.create", "anthropic.models.list"]


@needs_anthropic_sdk_spans
def test_sdk_spans_kept_on_request_nest_under_ours(raw_client: anthropic.Anthropic, monkeypatch: Any) -> None:
    capture = Capture(anthropic_sdk_spans=True)
    otel_trace.set_tracer_provider(capture.tracer_provider)
    try:
        client = wrap(anthropic.Anthropic(base_url=str(raw_client.base_url), api_key="k", max_retries=0))
        for _ in create(client, stream=True):
            pass
        with helper(client) as stream:
            stream.until_done()
        ours = [s for s in capture.spans() if s.name == "anthropic.messages"]
        theirs = sdk_spans(capture)
        assert len(ours) == len(theirs) == 2
        for mine, sdk in zip(ours, theirs, strict=True):
            assert sdk.parent is not None and sdk.parent.span_id == mine.context.span_id
            assert sdk.context.trace_id == mine.context.trace_id
    finally:
        capture.shutdown()


def test_sdk_spans_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollout_otel import RolloutConfigError
    from rollout_otel._config import resolve_settings

    monkeypatch.setenv("ROLLOUT_ANTHROPIC_SDK_SPANS", "yes")
    assert resolve_settings().anthropic_sdk_spans is True
    monkeypatch.setenv("ROLLOUT_ANTHROPIC_SDK_SPANS", "sometimes")
    with pytest.raises(RolloutConfigError, match="ROLLOUT_ANTHROPIC_SDK_SPANS='sometimes'"):
        resolve_settings()


def test_wrap_rejects_what_it_cannot_trace() -> None:
    with pytest.raises(TypeError, match=r"anthropic\.Anthropic"):
        wrap(object())


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_what_reaches_an_otlp_receiver(server: LocalLLMServer, protocol: str) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
        rollout = Rollout(endpoint=endpoint, protocol=protocol, stream_update_interval=0.1)
        try:
            client = rollout.wrap(anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0))
            slow = scenario_headers(chunks=40, delay=0.01, cached=3)
            with helper(client, extra_headers=slow) as stream:
                stream.until_done()
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        (span,) = sink.wait_for_spans(1)
        assert span.name == "anthropic.messages"
        updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
        assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
        assert span.attributes["rollout.stream.chunks"] == 40
        assert span.attributes["gen_ai.usage.output_tokens"] == 40
        assert span.attributes["gen_ai.usage.input_tokens"] == PROMPT_TOKENS
        assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 3
        assert output_messages(span.attributes) == reply(text_part("".join(reply_deltas(DEFAULT_REPLY, 40))))
        assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
