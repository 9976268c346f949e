"""The local LLM server speaks exactly what the real `openai` and `anthropic` clients expect, failures included.

Everything goes over a real socket: recent clients use `httpx2`, which transport mocks do not intercept.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from rollout_otel.serve import (
    DEFAULT_REFUSAL,
    DEFAULT_REPLY,
    SCENARIO_HEADER,
    LocalLLMServer,
    Scenario,
    count_prompt_tokens,
    reply_deltas,
    scenario_headers,
    tokenize,
)
from rollout_otel.serve._plan import Plan, hop_token
from rollout_otel.serve._scenarios import CutReached

needs_anthropic = pytest.mark.anthropic
pytestmark = pytest.mark.integration

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is streaming hard to trace?"}]
DELTAS = tokenize(DEFAULT_REPLY)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "kelvin"]}},
            "required": ["location", "unit"],
            "additionalProperties": False,
        },
    },
}
RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL["function"]}
ANTHROPIC_TOOL = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
H = scenario_headers


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def oai(server: LocalLLMServer) -> Iterator[Any]:
    client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="module")
def claude(server: LocalLLMServer) -> Iterator[Any]:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test-key", max_retries=0)
    yield client
    client.close()


def chat(oai: Any, **kwargs: Any) -> Any:
    return oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)


def raw_post(
    server: LocalLLMServer, path: str, body: dict[str, Any], scenario: str = ""
) -> tuple[int, dict[str, str], str]:
    """POST without any client library: status, lower-cased headers and the decoded (de-chunked) body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json", SCENARIO_HEADER: scenario})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a server-sent event stream."""
    events = []
    for block in text.strip("\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines.get("event"), lines["data"]))
    return events


# --------------------------------------------------------------------------------------------------------------------
# Text, scenarios, bookkeeping


def test_reply_text_is_token_like_and_exact() -> None:
    assert "".join(DELTAS) == DEFAULT_REPLY
    assert 80 <= len(DEFAULT_REPLY.split()) <= 120
    assert all(1 <= len(d) <= 8 for d in DELTAS)
    assert DELTAS[:4] == ["Streamin", "g", " respons", "es"]  # long words are split, like rare words
    long = reply_deltas(DEFAULT_REPLY, 2000)
    assert len(long) == 2000 and all(1 <= len(d) <= 8 for d in long)
    assert DEFAULT_REPLY + " " + DEFAULT_REPLY in "".join(long)  # cycled with a space between repetitions
    assert "".join(reply_deltas("héllo, wörld!")) == "héllo, wörld!"


def test_scenarios_parse_layer_and_round_trip() -> None:
    scenario = Scenario.parse("chunks=5; delay=0.5;tools=1;text=a%3Bb%20c")
    assert (scenario.chunks, scenario.delay, scenario.tools, scenario.text) == (5, 0.5, True, "a;b c")
    assert Scenario.parse(scenario.to_spec()) == scenario
    assert scenario.with_spec("chunks=7").chunks == 7 and scenario.with_spec("chunks=7").delay == 0.5
    assert Scenario.parse(H(text="x; y=1", drop_after=2)[SCENARIO_HEADER]) == Scenario(text="x; y=1", drop_after=2)
    for bad in ("chunk=5", "status=200", "delay=-1", "tools=maybe", "hops=0", "hops=101"):
        with pytest.raises(ValueError):
            Scenario.parse(bad)


def test_bad_scenario_is_a_400_and_requests_are_recorded(oai: Any, server: LocalLLMServer) -> None:
    server.clear_requests()
    with pytest.raises(openai.BadRequestError, match="unknown scenario setting"):
        chat(oai, extra_headers={SCENARIO_HEADER: "chunkz=3"})
    chat(oai, extra_headers=H(chunks=1))
    first, second = server.requests()
    assert (first.method, first.path, second.path) == ("POST", "/v1/chat/completions", "/v1/chat/completions")
    assert second.headers[SCENARIO_HEADER] == "chunks=1" and second.headers["authorization"] == "Bearer test-key"
    assert second.body == {"model": "gpt-4o-mini", "messages": MESSAGES}


def test_server_wide_default_scenario_and_header_override() -> None:
    with LocalLLMServer(default_scenario="text=server%20default") as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0)
        assert chat(client).choices[0].message.content == "server default"
        assert chat(client, extra_headers=H(text="header")).choices[0].message.content == "header"
        client.close()


def test_unknown_path_is_404_and_connection_is_kept_alive(server: LocalLLMServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True})
    conn.request("POST", "/v1/nope", "{}")
    assert conn.getresponse().read() and conn.sock is not None
    sock = conn.sock
    for _ in range(2):  # two streams and a JSON reply over the same socket
        conn.request("POST", "/v1/chat/completions", body, {SCENARIO_HEADER: "chunks=3"})
        response = conn.getresponse()
        assert response.getheader("transfer-encoding") == "chunked"
        assert response.read().decode().endswith("data: [DONE]\n\n")
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": MESSAGES}))
    assert json.loads(conn.getresponse().read())["object"] == "chat.completion"
    assert conn.sock is sock
    conn.close()


# --------------------------------------------------------------------------------------------------------------------
# Chat Completions


def test_chat_stream_shape(oai: Any) -> None:
    chunks = list(chat(oai, stream=True))
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].system_fingerprint
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_REPLY
    assert len([c for c in chunks if c.choices[0].delta.content]) == len(DELTAS)
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop" and last.delta.content is None and last.delta.role is None


def test_chat_stream_include_usage(oai: Any) -> None:
    chunks = list(chat(oai, stream=True, stream_options={"include_usage": True}))
    assert all(c.usage is None for c in chunks[:-1]) and chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage.completion_tokens == len(DELTAS)
    assert usage.prompt_tokens == count_prompt_tokens({"messages": MESSAGES}) == 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0 and usage.completion_tokens_details.reasoning_tokens == 0
    cached = list(chat(oai, stream=True, stream_options={"include_usage": True}, extra_headers=H(cached=10)))
    assert cached[-1].usage.prompt_tokens_details.cached_tokens == 10


def test_chat_not_streamed(oai: Any) -> None:
    completion = chat(oai, extra_headers=H(text="Short answer."))
    assert completion.object == "chat.completion" and completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "Short answer." and completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 3)


def test_chat_n2_interleaves_choices(oai: Any) -> None:
    chunks = list(chat(oai, stream=True, n=2, stream_options={"include_usage": True}, extra_headers=H(chunks=4)))
    indexed = [(c.choices[0].index, c.choices[0].delta.content) for c in chunks if c.choices]
    assert [i for i, content in indexed if content][:4] == [0, 1, 0, 1]
    texts = ["".join(content or "" for i, content in indexed if i == n) for n in (0, 1)]
    assert texts == ["".join(DELTAS[:4])] * 2
    finishes = [
        (c.choices[0].index, c.choices[0].finish_reason) for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [(0, "stop"), (1, "stop")]
    assert chunks[-1].usage.completion_tokens == 8
    assert [c.message.content for c in chat(oai, n=2, extra_headers=H(chunks=4)).choices] == [texts[0]] * 2


def test_chat_stream_tool_call(oai: Any) -> None:
    chunks = list(chat(oai, stream=True, tools=[WEATHER_TOOL], stream_options={"include_usage": True}))
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0].id.startswith("call_") and calls[0].type == "function" and calls[0].function.name == "get_weather"
    assert all(call.index == 0 for call in calls) and len(calls) > 3
    arguments = "".join(call.function.arguments or "" for call in calls)
    assert json.loads(arguments) == {"location": "Paris, France", "unit": "celsius"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens == len(calls) - 1  # the first tool_calls delta carries no arguments
    message = chat(oai, tools=[WEATHER_TOOL]).choices[0].message
    assert message.content is None and message.tool_calls[0].function.arguments == arguments


def test_chat_stream_helper_tool_call_and_text(oai: Any) -> None:
    with oai.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL], extra_headers=H(text="Checking.", tools=1)
    ) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"content.delta", "content.done", "tool_calls.function.arguments.delta"} <= kinds
    message = final.choices[0].message
    assert message.content == "Checking." and final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls[0].function.parsed_arguments == {"location": "Paris, France", "unit": "celsius"}


def test_chat_stream_helper_pydantic_tool(oai: Any) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Lookup(pydantic.BaseModel):
        city: str
        days: int
        metric: bool

    with oai.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, tools=[openai.pydantic_function_tool(Lookup)]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.parsed_arguments == Lookup(city="Paris", days=3, metric=True)


def test_chat_stream_helper_text_and_refusal(oai: Any) -> None:
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == DEFAULT_REPLY
    refused = list(chat(oai, stream=True, extra_headers=H(refusal=1)))
    assert "".join(c.choices[0].delta.refusal or "" for c in refused) == DEFAULT_REFUSAL
    assert all(c.choices[0].delta.content is None for c in refused)
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, extra_headers=H(refusal=1)) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert "refusal.delta" in kinds and final.choices[0].message.refusal == DEFAULT_REFUSAL
    assert chat(oai, extra_headers=H(refusal=1)).choices[0].message.refusal == DEFAULT_REFUSAL


def test_chat_raw_and_streaming_response(oai: Any) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, extra_headers=H(chunks=2))
    assert raw.headers["x-request-id"].startswith("req_") and raw.parse().choices[0].message.content == "Streaming"
    raw_stream = oai.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in raw_stream.parse()) == DEFAULT_REPLY
    with oai.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True, extra_headers=H(chunks=3)
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and len(lines) == 1 + 3 + 1 + 1
    with oai.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES, stream=True) as response:
        assert "".join(c.choices[0].delta.content or "" for c in response.parse()) == DEFAULT_REPLY


def test_chat_long_streams(oai: Any, server: LocalLLMServer) -> None:
    chunks = list(chat(oai, stream=True, stream_options={"include_usage": True}, extra_headers=H(chunks=2000)))
    assert len(chunks) == 1 + 2000 + 1 + 1 and chunks[-1].usage.completion_tokens == 2000
    status, _, body = raw_post(server, "/v1/chat/completions", {"model": "m", "stream": True}, "chunks=20000")
    assert status == 200 and body.count("\n\n") == 1 + 20000 + 1 + 1 and body.endswith("data: [DONE]\n\n")


def test_chat_async(server: LocalLLMServer) -> None:
    async def main() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            stream = await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            chunks = [chunk async for chunk in stream]
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
            assert chunks[-1].usage.completion_tokens == len(DELTAS)
            completion = await client.chat.completions.create(model="m", messages=MESSAGES, n=2)
            assert [c.message.content for c in completion.choices] == [DEFAULT_REPLY] * 2
            async with client.chat.completions.stream(model="m", messages=MESSAGES, tools=[WEATHER_TOOL]) as helper:
                final = await helper.get_final_completion()
            assert final.choices[0].message.tool_calls[0].function.parsed_arguments["unit"] == "celsius"
            stream = await client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True, extra_headers=H(drop_after=2)
            )
            received = []
            with pytest.raises(openai.APIConnectionError):
                async for chunk in stream:
                    received.append(chunk)
            assert len(received) == 1 + 2

    asyncio.run(main())


# --------------------------------------------------------------------------------------------------------------------
# Chat failure modes


def test_chat_error_status(oai: Any, server: LocalLLMServer) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        chat(oai, stream=True, extra_headers=H(status=429))
    assert caught.value.response.headers["retry-after"] == "0"
    assert caught.value.code == "rate_limit_exceeded" and caught.value.body["type"] == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        chat(oai, extra_headers=H(status=503))
    server.clear_requests()
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        oai.with_options(max_retries=2).chat.completions.create(
            model="m", messages=MESSAGES, extra_headers=H(status=429)
        )
    # retry-after-ms: 1 makes retries immediate; the clients' own backoff would take over 1.1 s for two retries
    assert time.monotonic() - started < 1.0 and len(server.requests()) == 3


def test_chat_drop_mid_stream(oai: Any) -> None:
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(oai, stream=True, extra_headers=H(drop_after=5)):
            received.append(chunk)
    assert len(received) == 1 + 5  # the role chunk, then exactly five deltas
    with pytest.raises(openai.APIConnectionError):
        chat(oai, extra_headers=H(drop_after=5))
    with pytest.raises(openai.APIConnectionError):  # a failure point past the end still fails, before finish_reason
        received = []
        for chunk in chat(oai, stream=True, extra_headers=H(text="Hi there", drop_after=99)):
            received.append(chunk)
    assert [c.choices[0].finish_reason for c in received] == [None, None, None]


def test_chat_in_stream_error(oai: Any) -> None:
    received = []
    with pytest.raises(openai.APIError, match="The server had an error") as caught:
        for chunk in chat(oai, stream=True, extra_headers=H(error_after=3)):
            received.append(chunk)
    assert len(received) == 1 + 3 and caught.value.body["type"] == "server_error"
    with (
        pytest.raises(openai.APIError),
        oai.chat.completions.stream(model="m", messages=MESSAGES, extra_headers=H(error_after=3)) as stream,
    ):
        stream.get_final_completion()
    with pytest.raises(openai.InternalServerError):
        chat(oai, extra_headers=H(error_after=3))


def test_chat_incomplete_is_finish_reason_length(oai: Any) -> None:
    chunks = list(chat(oai, stream=True, extra_headers=H(incomplete=1, chunks=3)))
    assert chunks[-1].choices[0].finish_reason == "length"
    with (
        pytest.raises(openai.LengthFinishReasonError),
        oai.chat.completions.stream(model="m", messages=MESSAGES, extra_headers=H(incomplete=1)) as stream,
    ):
        stream.get_final_completion()


# --------------------------------------------------------------------------------------------------------------------
# Responses


def test_responses_stream_events(oai: Any) -> None:
    events = list(oai.responses.create(model="gpt-4o-mini", input="Why?", instructions="Be brief.", stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") == len(DELTAS)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert len({events[0].response.id, events[1].response.id, events[-1].response.id}) == 1
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(e.delta for e in deltas) == DEFAULT_REPLY and deltas[0].logprobs == []
    assert len({e.item_id for e in deltas}) == 1 and deltas[0].item_id == events[2].item.id
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == DEFAULT_REPLY
    assert completed.usage.input_tokens == count_prompt_tokens({"input": "Why?", "instructions": "Be brief."})
    assert completed.usage.output_tokens == len(DELTAS) and completed.usage.input_tokens_details.cached_tokens == 0
    assert completed.usage.total_tokens == completed.usage.input_tokens + completed.usage.output_tokens
    assert completed.usage.output_tokens_details.reasoning_tokens == 0


def test_responses_not_streamed(oai: Any) -> None:
    response = oai.responses.create(
        model="gpt-4o-mini", input=[{"role": "user", "content": "Hi"}], extra_headers=H(cached=2)
    )
    assert response.object == "response" and response.status == "completed" and response.output_text == DEFAULT_REPLY
    assert response.usage.output_tokens == len(DELTAS) and response.usage.input_tokens_details.cached_tokens == 2
    raw = oai.responses.with_raw_response.create(model="m", input="Hi", extra_headers=H(chunks=2))
    assert raw.parse().output_text == "Streaming"


def test_responses_stream_helper(oai: Any) -> None:
    with oai.responses.stream(model="gpt-4o-mini", input="Why?") as stream:
        snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert snapshots[-1] == DEFAULT_REPLY and final.output_text == DEFAULT_REPLY


def test_responses_function_call(oai: Any) -> None:
    events = list(oai.responses.create(model="m", input="Weather?", tools=[RESPONSES_TOOL], stream=True))
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert len(deltas) > 3 and "".join(e.delta for e in deltas) == done.arguments
    assert events[-1].response.usage.output_tokens == len(deltas)
    with oai.responses.stream(
        model="m", input="Weather?", tools=[RESPONSES_TOOL], extra_headers=H(text="Let me see.")
    ) as stream:
        final = stream.get_final_response()
    message, call = final.output
    assert message.type == "message" and final.output_text == "Let me see."
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    assert call.parsed_arguments == {"location": "Paris, France", "unit": "celsius"}
    plain = oai.responses.create(model="m", input="Weather?", tools=[RESPONSES_TOOL])
    assert [item.type for item in plain.output] == ["function_call"]


def test_responses_streaming_response(oai: Any) -> None:
    with oai.responses.with_streaming_response.create(
        model="m", input="x", stream=True, extra_headers=H(chunks=1)
    ) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[0] == "event: response.created" and lines[-2] == "event: response.completed"
    assert all(line.startswith(("event: ", "data: ")) for line in lines) and "data: [DONE]" not in lines


def test_responses_failures(oai: Any) -> None:
    errored = list(oai.responses.create(model="m", input="x", stream=True, extra_headers=H(error_after=4)))
    assert errored[-1].type == "error" and errored[-1].code == "server_error"
    assert [e.type for e in errored].count("response.output_text.delta") == 4
    assert errored[-1].sequence_number == len(errored) - 1
    failed = list(oai.responses.create(model="m", input="x", stream=True, extra_headers=H(failed_after=4)))
    assert failed[-1].type == "response.failed" and failed[-1].response.status == "failed"
    assert failed[-1].response.error.code == "server_error"
    with oai.responses.stream(model="m", input="x", extra_headers=H(failed_after=2)) as stream:
        last = list(stream)[-1]
    assert last.type == "response.failed" and last.response.output[0].content[0].text == "Streaming"
    with pytest.raises(openai.APIConnectionError):
        list(oai.responses.create(model="m", input="x", stream=True, extra_headers=H(drop_after=4)))
    with pytest.raises(openai.RateLimitError):
        oai.responses.create(model="m", input="x", stream=True, extra_headers=H(status=429))
    with pytest.raises(openai.InternalServerError):
        oai.responses.create(model="m", input="x", extra_headers=H(failed_after=4))


def test_responses_incomplete(oai: Any) -> None:
    events = list(oai.responses.create(model="m", input="x", stream=True, extra_headers=H(incomplete=1, chunks=3)))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.usage.output_tokens == 3
    with (
        oai.responses.stream(model="m", input="x", extra_headers=H(incomplete=1)) as stream,
        pytest.raises(RuntimeError, match=r"response\.completed"),
    ):
        stream.get_final_response()
    assert oai.responses.create(model="m", input="x", extra_headers=H(incomplete=1)).status == "incomplete"


def test_responses_async(server: LocalLLMServer) -> None:
    async def main() -> None:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0) as client:
            stream = await client.responses.create(model="m", input="x", stream=True)
            events = [event async for event in stream]
            assert events[-1].response.output_text == DEFAULT_REPLY
            async with client.responses.stream(model="m", input="x", tools=[RESPONSES_TOOL]) as helper:
                final = await helper.get_final_response()
            assert final.output[0].parsed_arguments["unit"] == "celsius"
            errored = [
                e
                async for e in await client.responses.create(
                    model="m", input="x", stream=True, extra_headers=H(error_after=1)
                )
            ]
            assert errored[-1].type == "error"

    asyncio.run(main())


# --------------------------------------------------------------------------------------------------------------------
# Anthropic Messages


def claude_create(client: Any, **kwargs: Any) -> Any:
    return client.messages.create(
        model="claude-sonnet-4-6", max_tokens=256, system="Be brief.", messages=MESSAGES[1:], **kwargs
    )


def test_anthropic_wire_format(server: LocalLLMServer) -> None:
    body = {"model": "c", "max_tokens": 9, "messages": MESSAGES[1:], "stream": True}
    status, headers, text = raw_post(server, "/v1/messages", body, "chunks=2")
    events = sse_events(text)
    assert status == 200 and headers["request-id"].startswith("req_")
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(json.loads(data)["type"] == name for name, data in events)


@needs_anthropic
def test_anthropic_stream(claude: Any) -> None:
    events = list(claude_create(claude, stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"] and types[-3:] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the client swallows `ping`
    usage = events[0].message.usage
    assert usage.input_tokens == count_prompt_tokens({"system": "Be brief.", "messages": MESSAGES[1:]})
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (0, 0)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == DEFAULT_REPLY
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == len(DELTAS)


@needs_anthropic
def test_anthropic_not_streamed_and_helper(claude: Any) -> None:
    message = claude_create(claude, extra_headers=H(cached=4))
    assert message.type == "message" and message.content[0].text == DEFAULT_REPLY and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (20 - 4, 4)
    assert message.usage.output_tokens == len(DELTAS)
    with claude.messages.stream(model="c", max_tokens=64, messages=MESSAGES[1:]) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed_text == DEFAULT_REPLY == final.content[0].text and final.usage.output_tokens == len(DELTAS)


@needs_anthropic
def test_anthropic_thinking_and_cache_writes(claude: Any) -> None:
    from rollout_otel.serve import DEFAULT_THINKING

    with claude.messages.stream(
        model="c", max_tokens=64, messages=MESSAGES[1:], extra_headers=H(thinking=1, cached=2, cache_write=3)
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == DEFAULT_THINKING and thinking.signature
    assert text.text == DEFAULT_REPLY
    usage = final.usage
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (2, 3)
    prompt = count_prompt_tokens({"messages": MESSAGES[1:]})
    assert usage.input_tokens == prompt - 5
    assert usage.output_tokens == len(DELTAS) + len(reply_deltas(DEFAULT_THINKING))
    whole = claude_create(claude, extra_headers=H(thinking=1))
    assert [b.type for b in whole.content] == ["thinking", "text"] and whole.content[0].thinking == DEFAULT_THINKING


@needs_anthropic
def test_anthropic_tool_use(claude: Any) -> None:
    events = list(claude_create(claude, stream=True, tools=[ANTHROPIC_TOOL]))
    assert events[1].content_block.type == "tool_use" and events[1].content_block.input == {}
    partial = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert len(partial) > 3 and json.loads("".join(partial)) == {"location": "Paris, France", "unit": "celsius"}
    assert events[-2].delta.stop_reason == "tool_use"
    with claude.messages.stream(
        model="c", max_tokens=64, messages=MESSAGES[1:], tools=[ANTHROPIC_TOOL], extra_headers=H(text="Checking.")
    ) as stream:
        final = stream.get_final_message()
    text_block, tool_block = final.content
    assert text_block.text == "Checking." and tool_block.name == "get_weather" and tool_block.input["unit"] == "celsius"
    assert claude_create(claude, tools=[ANTHROPIC_TOOL]).content[0].input["location"] == "Paris, France"


@needs_anthropic
def test_anthropic_failures(claude: Any) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude_create(claude, stream=True, extra_headers=H(status=429))
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "0"
    with pytest.raises(anthropic.InternalServerError):
        claude_create(claude, extra_headers=H(status=529))
    received = []
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for event in claude_create(claude, stream=True, extra_headers=H(error_after=3)):
            received.append(event)
    assert len([e for e in received if e.type == "content_block_delta"]) == 3
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(
            model="c", max_tokens=9, messages=MESSAGES[1:], extra_headers=H(error_after=3)
        ) as stream,
    ):
        stream.get_final_message()
    # A dropped stream surfaces as the transport's error, or (anthropic 2.17 and later) APIConnectionError around it.
    with pytest.raises(Exception, match="incomplete chunked read"):
        list(claude_create(claude, stream=True, extra_headers=H(drop_after=3)))
    with pytest.raises(anthropic.APIConnectionError):
        claude_create(claude, extra_headers=H(drop_after=3))
    assert claude_create(claude, extra_headers=H(incomplete=1)).stop_reason == "max_tokens"


@needs_anthropic
def test_anthropic_async(server: LocalLLMServer) -> None:
    async def main() -> None:
        async with anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0) as client:
            stream = await client.messages.create(model="c", max_tokens=9, messages=MESSAGES[1:], stream=True)
            events = [event async for event in stream]
            assert events[-1].type == "message_stop"
            async with client.messages.stream(model="c", max_tokens=9, messages=MESSAGES[1:]) as helper:
                final = await helper.get_final_message()
            assert final.content[0].text == DEFAULT_REPLY
            with pytest.raises(anthropic.APIStatusError):
                stream = await client.messages.create(
                    model="c", max_tokens=9, messages=MESSAGES[1:], stream=True, extra_headers=H(error_after=1)
                )
                async for _ in stream:
                    pass

    asyncio.run(main())


# --------------------------------------------------------------------------------------------------------------------
# Slow streams and stopping


def test_delay_paces_the_deltas(oai: Any) -> None:
    arrivals = []
    started = time.monotonic()
    for chunk in chat(oai, stream=True, extra_headers=H(chunks=5, delay=0.06)):
        if chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    # When a chunk arrived can only be later than when the server sent it (a busy client can read two at once), so
    # the pacing shows in the arrival times, never in the gaps between them.
    assert len(arrivals) == 5 and all(arrival >= 0.05 * (n + 1) for n, arrival in enumerate(arrivals))


def test_first_delay_and_stall_wait_once_where_asked(oai: Any) -> None:
    arrivals = []
    started = time.monotonic()
    for chunk in chat(oai, stream=True, extra_headers=H(chunks=6, first_delay=0.3, stall=0.4, stall_at=3)):
        if chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    # Lower bounds only: the waits are sleeps the server must do; a loaded machine can only make them longer.
    assert len(arrivals) == 6 and arrivals[0] >= 0.25  # a little under the server's sleep: clocks read apart
    assert arrivals[2] >= 0.25 and arrivals[3] >= 0.65  # the stall came before the fourth delta


def test_stop_returns_quickly_during_a_slow_stream() -> None:
    server = LocalLLMServer(default_scenario="stall_at=1;stall=30").start()  # one delta, then a 30 s pause
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    received: list[Any] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for chunk in chat(client, stream=True):
                received.append(chunk)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 5
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3  # not the 30 s pause
    thread.join(5)
    assert not thread.is_alive() and isinstance(errors[0], openai.APIConnectionError)
    server.stop()  # idempotent
    client.close()


def test_the_first_delay_and_the_stall_are_each_waited_once_before_their_delta() -> None:
    """Where the one-off waits fall, read from the reply's plan (the timing test above can only give lower bounds)."""
    scenario = Scenario.parse("chunks=6;first_delay=0.3;stall=0.4;stall_at=3")
    plan = Plan.build({"model": "m", "stream": True}, scenario, "openai", "chat")
    assert [plan.extra_wait(sent) for sent in range(6)] == [0.3, 0.0, 0.0, 0.4, 0.0, 0.0]


def test_gemini_hops_resume_with_the_token_of_the_part_before(server: LocalLLMServer) -> None:
    """`hops=N`: each part but the last ends with CONTINUATION and the token that asks for the next part."""
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    contents = [{"role": "user", "parts": [{"text": "Hi"}]}]

    def post(body: dict[str, Any]) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            headers = {"content-type": "application/json", **H(hops=2, chunks=6)}
            connection.request("POST", path, json.dumps(body), headers)
            reply = connection.getresponse()
            return reply.status, reply.read().decode()
        finally:
            connection.close()

    def events(body: dict[str, Any]) -> list[Any]:
        status, text = post(body)
        assert status == 200, text
        return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]

    first = events({"contents": contents})
    candidate = first[-1]["candidates"][0]
    assert candidate["finishReason"] == "CONTINUATION" and first[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    second = events({"contents": contents, "continuationToken": candidate["continuationToken"]})
    assert second[-1]["candidates"][0]["finishReason"] == "STOP" and first[0]["responseId"] != second[0]["responseId"]
    parts = [part for event in first + second for part in event["candidates"][0]["content"]["parts"]]
    assert "".join(part["text"] for part in parts) == "".join(DELTAS[:6])
    status, text = post({"contents": contents, "continuationToken": "bm9wZQ=="})
    assert status == 400 and "resumes no part of this reply" in text


def test_gemini_hops_count_failures_stalls_and_the_first_delay_over_the_whole_reply() -> None:
    def plan(hop: int, **settings: Any) -> Plan:
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
        if hop:
            body["continuationToken"] = hop_token(hop)
        return Plan.build(body, Scenario(hops=3, chunks=12, **settings), "gemini", "generate")

    assert [plan(hop).hop_deltas() for hop in range(3)] == [(0, 4), (4, 8), (8, 12)]
    thoughts = len(plan(0, thinking=True).thinking)  # sent with the first request
    assert [plan(hop, thinking=True).sent_before for hop in range(3)] == [0, 4 + thoughts, 8 + thoughts]
    first_delay = plan(0, first_delay=5.0)
    assert first_delay.extra_wait(first_delay.sent_before) == 5.0  # the first request waits
    later = plan(1, first_delay=5.0)
    assert later.extra_wait(later.sent_before) == 0.0  # a resumed one does not
    stall = plan(1, stall=2.0)  # half the reply: 6 deltas in, in the second request
    assert [stall.extra_wait(sent) for sent in range(4, 8)] == [0.0, 0.0, 2.0, 0.0]
    budget = plan(1, drop_after=6).budget()  # the second request starts at 4 deltas sent: the cut comes 2 in
    budget.spend()
    budget.spend()
    with pytest.raises(CutReached):
        budget.spend()
