"""The Gemini instrumentation, driven by the real `google-genai` client over a socket to the local LLM server.

The server speaks `:generateContent` and `:streamGenerateContent?alt=sse` as the Gemini API does.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest
import wrapt
from google import genai
from google.genai import errors, types
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from genai_content import content, output_messages, output_text, reply, text_part
from rollout_otel import wrap
from rollout_otel.instrumentation.google_genai import GoogleGenAIInstrumentor
from rollout_otel.serve import (
    DEFAULT_REPLY,
    DEFAULT_THINKING,
    LocalLLMServer,
    count_prompt_tokens,
    reply_deltas,
    scenario_headers,
)
from rollout_otel.testing import Capture

pytestmark = pytest.mark.gemini

MODEL = "gemini-2.5-flash"
PROMPT = "Tell me about streaming."
DELTAS = reply_deltas(DEFAULT_REPLY)
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather for a city",
            parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
)


def new_client(server: LocalLLMServer) -> genai.Client:
    options = types.HttpOptions(base_url=server.anthropic_base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="gemini-test-key", http_options=options)


@pytest.fixture
def client(server: LocalLLMServer, cap: Capture) -> genai.Client:
    return wrap(new_client(server), tracer_provider=cap.tracer_provider)


def config(**scenario: Any) -> dict[str, Any]:
    """A request config selecting the local server's scenario (google-genai sends per-call headers this way)."""
    extra = scenario.pop("extra", {})
    return {"http_options": {"headers": scenario_headers(**scenario)}, **extra}


def stream(client: genai.Client, **kwargs: Any) -> Any:
    return client.models.generate_content_stream(model=MODEL, contents=kwargs.pop("contents", PROMPT), **kwargs)


def only_span(cap: Capture) -> ReadableSpan:
    gc.collect()
    spans = cap.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


# -- what a span records --------------------------------------------------------------------------------------


def test_streamed_generate_content_span(client: genai.Client, server: LocalLLMServer, cap: Capture) -> None:
    settings = {"system_instruction": "Be brief.", "temperature": 0.2, "max_output_tokens": 512}
    chunks = list(stream(client, config=config(cached=3, extra={**settings, "stop_sequences": ["END"]})))
    span = only_span(cap)
    a = span.attributes
    assert span.name == "gemini.generate_content" and span.kind is otel_trace.SpanKind.CLIENT
    assert a["gen_ai.provider.name"] == "gcp.gemini" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == MODEL and a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 512
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    assert a["gen_ai.response.id"] == chunks[0].response_id and a["gen_ai.response.model"] == MODEL
    found = content(a)  # validated against the conventions' schemas
    assert found["gen_ai.system_instructions"] == [text_part("Be brief.")]
    assert found["gen_ai.input.messages"] == [{"role": "user", "parts": [text_part(PROMPT)], "name": None}]
    assert found["gen_ai.output.messages"] == reply(text_part(DEFAULT_REPLY))
    assert output_text(a) == "".join(c.text or "" for c in chunks) == DEFAULT_REPLY
    assert a["rollout.stream.preview"] == DEFAULT_REPLY
    assert a["rollout.stream.chunks"] == len(DELTAS) and a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    prompt = count_prompt_tokens({"systemInstruction": "Be brief.", "contents": [PROMPT]})
    assert a["gen_ai.usage.input_tokens"] == chunks[-1].usage_metadata.prompt_token_count == prompt
    assert a["gen_ai.usage.cache_read.input_tokens"] == 3  # Gemini's prompt count already holds them
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.skipif(
    "continuation_token" not in types.Candidate.model_fields, reason="this google-genai has no automatic continuation"
)
def test_a_stream_resumed_in_hops_counts_each_hop_once(client: genai.Client, cap: Capture) -> None:
    """google-genai resumes a long answer in new requests (continuation tokens, on by default), each under its own
    response id, and gives each chunk the earlier hops' usage added to its own: the span's usage is the last one."""
    chunks = list(stream(client, config=config(hops=3, chunks=12)))
    assert len({c.response_id for c in chunks}) == 3  # three requests, four text deltas each
    a = only_span(cap).attributes
    usage = chunks[-1].usage_metadata  # what the SDK says the three requests cost, together
    assert a["gen_ai.usage.output_tokens"] == usage.candidates_token_count == 12  # not 4 + 8 + 12
    assert a["gen_ai.usage.input_tokens"] == usage.prompt_token_count
    assert output_text(a) == "".join(c.text or "" for c in chunks) and a["rollout.stream.chunks"] == 12
    assert a["gen_ai.response.finish_reasons"] == ("stop",)  # the hops' CONTINUATION stays the SDK's own
    assert a["gen_ai.response.id"] == chunks[0].response_id


def test_whole_generate_content(client: genai.Client, cap: Capture) -> None:
    response = client.models.generate_content(model=MODEL, contents=PROMPT, config={"candidate_count": 1})
    a = only_span(cap).attributes
    assert a["gen_ai.request.stream"] is False and a["gen_ai.request.choice.count"] == 1
    assert output_messages(a) == reply(text_part(response.text))
    assert a["gen_ai.usage.output_tokens"] == response.usage_metadata.candidates_token_count
    assert "rollout.stream.end_reason" not in a


def test_thoughts_are_reasoning_and_stay_out_of_the_preview(client: genai.Client, cap: Capture) -> None:
    list(stream(client, config=config(thinking=1, text="Short answer.")))
    a = only_span(cap).attributes
    assert a["rollout.stream.preview"] == "Short answer."
    assert output_messages(a)[0]["parts"] == [
        {"content": DEFAULT_THINKING, "type": "reasoning"},
        text_part("Short answer."),
    ]
    thoughts = len(reply_deltas(DEFAULT_THINKING))
    assert a["gen_ai.usage.reasoning.output_tokens"] == thoughts
    assert a["gen_ai.usage.output_tokens"] == len(reply_deltas("Short answer.")) + thoughts  # thoughts are output


@pytest.mark.parametrize("streamed", [True, False])
def test_function_call(client: genai.Client, cap: Capture, streamed: bool) -> None:
    settings = {"tools": [WEATHER]}
    if streamed:
        list(stream(client, config=settings))
    else:
        client.models.generate_content(model=MODEL, contents=PROMPT, config=settings)
    found = content(only_span(cap).attributes)
    assert found["gen_ai.tool.definitions"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "type": "function",
        }
    ]
    (message,) = found["gen_ai.output.messages"]
    assert message["parts"] == [
        {"arguments": {"city": "Paris"}, "name": "get_weather", "id": None, "type": "tool_call"}
    ]


def test_history_with_function_response_and_inline_data(client: genai.Client, cap: Capture) -> None:
    history = [
        types.Content(
            role="user",
            parts=[types.Part(text="Weather?"), types.Part.from_bytes(data=b"\x89P", mime_type="image/png")],
        ),
        types.Content(role="model", parts=[types.Part.from_function_call(name="get_weather", args={"city": "Paris"})]),
        {"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"temp": 21}}}]},
    ]
    client.models.generate_content(model=MODEL, contents=history)
    assert content(only_span(cap).attributes)["gen_ai.input.messages"] == [
        {
            "role": "user",
            "parts": [
                text_part("Weather?"),
                {"mime_type": "image/png", "modality": "image", "content": "iVA=", "type": "blob"},
            ],
            "name": None,
        },
        {
            "role": "assistant",
            "parts": [{"arguments": {"city": "Paris"}, "name": "get_weather", "id": None, "type": "tool_call"}],
            "name": None,
        },
        {
            "role": "user",
            "parts": [{"response": {"temp": 21}, "id": "get_weather", "type": "tool_call_response"}],
            "name": None,
        },
    ]


def test_incomplete_reply(client: genai.Client, cap: Capture) -> None:
    list(stream(client, config=config(incomplete=1)))
    a = only_span(cap).attributes
    assert a["rollout.stream.end_reason"] == "completed" and a["gen_ai.response.finish_reasons"] == ("length",)


def test_chat_sessions_give_one_span_per_message(client: genai.Client, server: LocalLLMServer, cap: Capture) -> None:
    chat = client.chats.create(model=MODEL)
    for _ in chat.send_message_stream("Hello"):
        pass
    chat.send_message("And again?")
    first, second = sorted(cap.spans(), key=lambda s: s.start_time)
    assert content(first.attributes)["gen_ai.input.messages"][0]["parts"] == [text_part("Hello")]
    sent = content(second.attributes)["gen_ai.input.messages"]  # the history the chat sent, as this SDK curates it
    wire = server.requests()[-1].body["contents"]
    assert [m["role"] for m in sent] == [{"model": "assistant"}.get(c["role"], c["role"]) for c in wire]
    assert sent[0]["parts"][0]["content"] == wire[0]["parts"][0]["text"]
    assert sent[-1]["parts"] == [text_part("And again?")]


def test_content_capture_off_records_counts_only(server: LocalLLMServer) -> None:
    capture = Capture(capture_content=False)
    try:
        raw = new_client(server)  # kept referenced: a collected google-genai client closes its connection
        list(stream(wrap(raw, tracer_provider=capture.tracer_provider)))
        a = capture.span().attributes
        assert not [name for name in a if name.endswith(("messages", "instructions"))]
        assert "rollout.stream.preview" not in a and a["rollout.stream.chunks"] == len(DELTAS)
    finally:
        capture.shutdown()


# -- every exit path ------------------------------------------------------------------------------------------


def test_break_and_close(client: genai.Client, cap: Capture) -> None:
    for i, _ in enumerate(stream(client)):
        if i == 2:
            break
    a = cap.span().attributes
    assert a["rollout.stream.end_reason"] == "closed"
    assert output_messages(a) == reply(text_part("".join(DELTAS[:3])), finish_reason="error")
    traced = stream(client)
    next(traced)
    traced.close()
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["closed", "closed"]


def test_connection_dropped_mid_stream(client: genai.Client, cap: Capture) -> None:
    received: list[str] = []
    with pytest.raises(Exception) as raised:  # the transport's own error, as google-genai lets it through
        for chunk in stream(client, config=config(drop_after=5)):
            received.append(chunk.text or "")
    a = cap.span().attributes
    assert cap.span().status.status_code is StatusCode.ERROR
    assert a["rollout.stream.end_reason"] == "error" and a["error.type"] == type(raised.value).__name__
    assert output_text(a) == "".join(received) == "".join(DELTAS[:5])


def test_in_stream_error(client: genai.Client, cap: Capture) -> None:
    with pytest.raises(errors.ServerError):
        list(stream(client, config=config(error_after=4)))
    a = cap.span().attributes
    assert a["rollout.stream.end_reason"] == "error" and a["error.type"] == "ServerError"
    assert output_messages(a) == reply(text_part("".join(DELTAS[:4])), finish_reason="error")


@pytest.mark.parametrize("streamed", [True, False])
def test_rate_limited_call(client: genai.Client, cap: Capture, streamed: bool) -> None:
    with pytest.raises(errors.ClientError) as raised:
        if streamed:
            list(stream(client, config=config(status=429)))
        else:
            client.models.generate_content(model=MODEL, contents=PROMPT, config=config(status=429))
    assert raised.value.code == 429
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "ClientError"


def test_slow_stream_sends_updates(client: genai.Client, cap: Capture) -> None:
    list(stream(client, config=config(chunks=30, delay=0.01)))
    span = cap.span()
    updates = cap.updates(span)
    assert len(updates) == span.attributes["rollout.stream.updates"] >= 2


def test_async_stream_whole_and_cancellation(client: genai.Client, cap: Capture) -> None:
    async def main() -> None:
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT):
            pass
        await client.aio.models.generate_content(model=MODEL, contents=PROMPT)

        async def slow() -> None:
            async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents=PROMPT, config=config(chunks=50, delay=0.05)
            ):
                pass

        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    spans = sorted(cap.spans(), key=lambda s: s.start_time)
    assert [s.attributes.get("rollout.stream.end_reason") for s in spans] == ["completed", None, "cancelled"]
    assert output_text(spans[1].attributes) == DEFAULT_REPLY


def test_threads_stream_at_once_without_cross_talk(client: genai.Client, cap: Capture) -> None:
    def one(i: int) -> None:
        list(stream(client, config=config(text=f"thread {i} says hi")))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(output_text(s.attributes) for s in cap.spans()) == sorted(f"thread {i} says hi" for i in range(8))


# -- wrapping and the instrumentor ------------------------------------------------------------------------------


def test_wrap_plus_instrumentor_gives_one_span(server: LocalLLMServer, client: genai.Client, cap: Capture) -> None:
    from google.genai import models

    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    try:
        assert isinstance(models.Models.__dict__["generate_content_stream"], wrapt.FunctionWrapper)
        other = new_client(server)
        list(stream(other))
        other.models.generate_content(model=MODEL, contents=PROMPT)
        list(stream(client))  # wrapped and instrumented
        assert len(cap.spans()) == 3
    finally:
        instrumentor.uninstrument()
    assert not isinstance(models.Models.__dict__["generate_content_stream"], wrapt.FunctionWrapper)
    list(stream(other))
    assert len(cap.spans()) == 3


def test_instrumentor_is_an_entry_point() -> None:
    from importlib.metadata import entry_points

    (found,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "rollout_google_genai"]
    assert found.load() is GoogleGenAIInstrumentor


@pytest.mark.integration
def test_what_reaches_an_otlp_receiver(server: LocalLLMServer) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.1)
        try:
            traced = rollout.wrap(new_client(server))
            list(stream(traced, config=config(chunks=40, delay=0.01)))
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        (span,) = sink.wait_for_spans(1)
        assert span.name == "gemini.generate_content"
        updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
        assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
        assert span.attributes["rollout.stream.chunks"] == 40 == span.attributes["gen_ai.usage.output_tokens"]
        assert output_messages(span.attributes) == reply(text_part("".join(reply_deltas(DEFAULT_REPLY, 40))))


# -- review findings: odd shapes, closing, function-calling loops -------------------------------------------------


def test_async_stream_aclose_and_break_close_the_sdk_generator(client: genai.Client, cap: Capture) -> None:
    async def main() -> None:
        traced = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
        await traced.aclose()  # an async generator has aclose() only: the proxy must not ask for close()
        traced = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
        async for _ in traced:
            break  # the loop's async-generator hook closes the proxy's iterator soon after
        for _ in range(20):
            await asyncio.sleep(0.01)
            if traced.__wrapped__.ag_frame is None:
                break
        assert traced.__wrapped__.ag_frame is None  # the SDK's generator closed too, in order

    asyncio.run(main())
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["closed", "closed"]


def test_single_part_file_nested_lists_and_code_execution_are_recorded(client: genai.Client, cap: Capture) -> None:
    uploaded = types.File(uri="https://files.example/abc", mime_type="application/pdf", name="files/abc")
    client.models.generate_content(
        model=MODEL, contents=types.Part.from_text(text="one part"), config={"system_instruction": types.Part(text="S")}
    )
    client.models.generate_content(model=MODEL, contents=[["a", "b"], uploaded, "c"])
    code = types.Part(executable_code=types.ExecutableCode(code="print(1)", language="PYTHON"))
    client.models.generate_content(model=MODEL, contents=[types.Content(role="model", parts=[code])])
    first, second, third = (content(s.attributes) for s in sorted(cap.spans(), key=lambda s: s.start_time))
    assert first["gen_ai.input.messages"][0]["parts"] == [text_part("one part")]
    assert first["gen_ai.system_instructions"] == [text_part("S")]
    assert second["gen_ai.input.messages"][0]["parts"] == [
        text_part("a"),
        text_part("b"),
        {"mime_type": "application/pdf", "modality": "document", "uri": "https://files.example/abc", "type": "uri"},
        text_part("c"),
    ]
    (part,) = third["gen_ai.input.messages"][0]["parts"]
    assert part["type"] == "server_tool_call" and part["server_tool_call"]["code"] == "print(1)"


def test_function_call_replies_finish_as_tool_call(client: genai.Client, cap: Capture) -> None:
    list(stream(client, config={"tools": [WEATHER]}))
    client.models.generate_content(model=MODEL, contents=PROMPT, config={"tools": [WEATHER]})
    for span in cap.spans():
        assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
        assert output_messages(span.attributes)[0]["finish_reason"] == "tool_call"


def test_blocked_prompt_and_usage_of_several_requests(cap: Capture) -> None:
    from rollout_otel.instrumentation._stream import StreamEnd
    from rollout_otel.instrumentation.google_genai._generate import GenerateAccumulator, generate_outcome
    from rollout_otel.trace import LLMSpan

    blocked = types.GenerateContentResponse(
        prompt_feedback=types.GenerateContentResponsePromptFeedback(block_reason="SAFETY")
    )
    span = LLMSpan("gemini.generate_content", tracer_provider=cap.tracer_provider)
    assert generate_outcome(span, blocked)["finish_reason"] == ["content_filter"]
    span.end()

    def chunk(
        response_id: str | None, prompt: int, output: int, call: bool = False, finish: bool = False
    ) -> types.GenerateContentResponse:
        usage = types.GenerateContentResponseUsageMetadata(prompt_token_count=prompt, candidates_token_count=output)
        part = types.Part(function_call=types.FunctionCall(name="f")) if call else types.Part(text="t")
        candidate = types.Candidate(
            content=types.Content(role="model", parts=[part]), finish_reason=types.FinishReason.STOP if finish else None
        )
        return types.GenerateContentResponse(response_id=response_id, candidates=[candidate], usage_metadata=usage)

    def usage_of(*items: types.GenerateContentResponse) -> Any:
        """The usage read chunk by chunk by `on_item`, checked against `items` (its text chunks on the fast path)."""
        found = []
        for fast in (False, True):
            span = LLMSpan("gemini.generate_content", stream=True, tracer_provider=cap.tracer_provider)
            acc = GenerateAccumulator(span)
            if fast:
                source = iter(items)
                for _ in acc.items(source, StreamEnd(None, span, acc, source)):
                    pass
            else:
                for item in items:
                    acc.on_item(item)
            found.append(acc.outcome("")["usage"])
            span.end()
        assert found[0] == found[1]
        return found[0]

    # two requests of one function-calling loop: the first ends with its call and its finish reason
    assert usage_of(chunk("r1", 8, 1), chunk("r1", 8, 5, call=True, finish=True), chunk("r2", 23, 4)) == {
        "input_tokens": 31,
        "output_tokens": 9,
    }
    # the same when the second request's chunks name no response
    assert usage_of(chunk("r1", 8, 1), chunk("r1", 8, 5, call=True, finish=True), chunk(None, 23, 4)) == {
        "input_tokens": 31,
        "output_tokens": 9,
    }
    # one request whose parallel calls come in two hops: the SDK cleared the first hop's CONTINUATION
    assert usage_of(chunk("h1", 8, 3, call=True), chunk("h2", 8, 7, call=True, finish=True)) == {
        "input_tokens": 8,
        "output_tokens": 7,
    }
    # one request resumed in three hops (automatic continuation): each hop's chunks carry the earlier hops' usage
    assert usage_of(chunk("h1", 8, 3), chunk("h2", 8, 7), chunk("h3", 8, 12)) == {
        "input_tokens": 8,
        "output_tokens": 12,
    }
    # both: request 1 resumed once and ending with a call, then request 2 resumed once
    assert usage_of(
        chunk("a1", 8, 3), chunk("a2", 8, 6, call=True, finish=True), chunk("b1", 23, 2), chunk("b2", 23, 5)
    ) == {
        "input_tokens": 31,
        "output_tokens": 11,
    }


def test_usage_of_chunks_read_on_the_fast_path_is_each_requests_latest(cap: Capture) -> None:
    """`items` notes a text chunk's usage only when the next chunk comes by `on_item` or the outcome is read: the
    sums are those of reading every chunk, for two requests of a function-calling loop and for a stream left in
    the middle of a request."""
    from rollout_otel.instrumentation._stream import StreamEnd
    from rollout_otel.instrumentation.google_genai._generate import GenerateAccumulator
    from rollout_otel.trace import LLMSpan

    def chunk(response_id: str, output: int | None, text: str | None = None, finish: bool = False) -> Any:
        part = types.Part(text=text) if text is not None else types.Part(function_call=types.FunctionCall(name="f"))
        candidate = types.Candidate(
            content=types.Content(role="model", parts=[part]),
            finish_reason=types.FinishReason.STOP if finish else None,
        )
        usage = (
            types.GenerateContentResponseUsageMetadata(prompt_token_count=10, candidates_token_count=output)
            if output is not None
            else None
        )
        return types.GenerateContentResponse(response_id=response_id, candidates=[candidate], usage_metadata=usage)

    # request 1's text, one chunk of it without usage, then its function call; request 2's text
    first = [chunk("r1", i, f"a{i} ") for i in range(1, 5)] + [chunk("r1", None, "a5 "), chunk("r1", 6, finish=True)]
    second = [chunk("r2", i, f"b{i} ") for i in range(1, 6)] + [chunk("r2", 6, "end", finish=True)]

    def usage_of(items: list[Any], stop_after: int | None = None, fast: bool = True) -> Any:
        span = LLMSpan("gemini.generate_content", stream=True, tracer_provider=cap.tracer_provider)
        acc = GenerateAccumulator(span)
        if fast:
            source = iter(items)
            reader = acc.items(source, StreamEnd(None, span, acc, source))
            for i, _ in enumerate(reader):
                if i + 1 == stop_after:
                    break
        else:
            for item in items[:stop_after]:
                acc.on_item(item)
        usage = acc.outcome("")["usage"]
        span.end()
        return usage

    whole = first + second
    assert usage_of(whole) == usage_of(whole, fast=False) == {"input_tokens": 20, "output_tokens": 12}
    for stop in (3, 5, 6, 9):  # in request 1, right after its chunk without usage, at its function call, in request 2
        assert usage_of(whole, stop) == usage_of(whole, stop, fast=False)
    assert usage_of(whole, 5) == {"input_tokens": 10, "output_tokens": 4}  # the latest chunk that had usage
    assert usage_of(whole, 9) == {"input_tokens": 20, "output_tokens": 9}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"temperature": 0.2, "max_output_tokens": 512}, {"temperature": 0.2, "max_tokens": 512}),
        (
            {"topP": 0.9, "maxOutputTokens": 64, "candidateCount": 2},
            {"top_p": 0.9, "max_tokens": 64, "choice.count": 2},
        ),
        ({"top_k": 5, "topK": 7}, {"top_k": 5}),  # the snake_case name first, as the SDK reads it
        ({"top_k": None, "topK": 7, "seed": True}, {"top_k": 7}),  # a bool is no number of these
        (
            types.GenerateContentConfig(temperature=0.5, seed=3, presence_penalty=0.1),
            {"temperature": 0.5, "seed": 3, "presence_penalty": 0.1},
        ),
        (types.GenerateContentConfig(), {}),
    ],
    ids=["dict", "camel-case", "both-names", "none-and-bool", "config-object", "empty-config-object"],
)
def test_request_parameters_from_every_config_shape(config: Any, expected: dict[str, Any]) -> None:
    """Read with `in` and `[]` from a dict or a config object's fields: the same values the SDK's names give."""
    from collections import UserDict

    from rollout_otel.instrumentation.google_genai._generate import request_attributes

    def parameters(value: Any) -> dict[str, Any]:
        found = request_attributes({"config": value}, None)
        return {k.removeprefix("gen_ai.request."): v for k, v in found.items() if k.startswith("gen_ai.request.")}

    assert parameters(config) == expected
    if isinstance(config, dict) and all(key.islower() for key in config):  # another mapping: read name by name
        assert parameters(UserDict(config)) == expected


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://generativelanguage.example/", {"server.address": "generativelanguage.example", "server.port": 443}),
        ("http://127.0.0.1:8080/v1", {"server.address": "127.0.0.1", "server.port": 8080}),
        ("http://[::1]:9/", {"server.address": "::1", "server.port": 9}),
        ("http://host:notaport/", {}),
        ("no scheme", {}),
        (None, {}),
    ],
)
def test_server_attributes_from_a_base_url(base_url: Any, expected: dict[str, Any]) -> None:
    """Parsed once per URL (google-genai and boto3 keep theirs as text): each call gets a dict of its own."""
    from rollout_otel.instrumentation._calls import server_attributes_from_url

    for _ in range(2):
        found = server_attributes_from_url(base_url)
        assert found == expected
        found["changed"] = True  # what one span's attributes become is not the next one's
