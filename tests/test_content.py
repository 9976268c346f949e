"""Content in the GenAI conventions' shape, for every input and output shape the providers accept.

Each call goes through the real `openai` / `anthropic` client, over a socket to the bundled server, and every
content attribute is validated against the conventions' JSON schemas (`tests/schemas/`), part by part.
"""

from __future__ import annotations

import base64
import gc
import json
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from genai_content import INPUT, OUTPUT, SYSTEM, TOOLS, content, output_messages, output_text, parts_of
from rollout_otel import wrap
from rollout_otel.serve import DEFAULT_REFUSAL, DEFAULT_THINKING, LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()
PDF = base64.b64encode(b"%PDF-1.4 fake").decode()
WAV = base64.b64encode(b"RIFF fake wav").decode()
WEATHER = {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
CONTENT_KEYS = (INPUT, OUTPUT, SYSTEM, TOOLS, "rollout.input", "rollout.output")


@pytest.fixture
def oai(server: LocalLLMServer, cap: Capture) -> openai.OpenAI:
    return wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )


@pytest.fixture
def claude(server: LocalLLMServer, cap: Capture) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    return wrap(client, tracer_provider=cap.tracer_provider)


def only_span(cap: Capture) -> ReadableSpan:
    gc.collect()
    (span,) = cap.spans()
    assert not {"rollout.input", "rollout.output"} & set(span.attributes)  # sent once, under the gen_ai names
    return span


# -- OpenAI Chat Completions: input -------------------------------------------------------------------------


CHAT_HISTORY: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
    {"role": "user", "name": "alice", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
            },
            {"id": "call_2", "type": "custom", "custom": {"name": "shell", "input": "ls -la"}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "README.md"}]},
    {"role": "assistant", "content": None, "refusal": "I can't run that."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Look at these."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-abc", "filename": "report.pdf"}},
            {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "inline.pdf"}},
        ],
    },
]
CHAT_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}},
    {"type": "custom", "custom": {"name": "shell"}},
]


def test_chat_input_every_shape(oai: openai.OpenAI, cap: Capture) -> None:
    oai.chat.completions.create(model="gpt-4o-mini", messages=CHAT_HISTORY, tools=CHAT_TOOLS, tool_choice="none")
    found = content(only_span(cap).attributes)
    assert SYSTEM not in found  # chat system messages stay messages, as the official instrumentation keeps them
    system, developer, user, assistant, tool1, tool2, refused, media = found[INPUT]
    assert system == {"role": "system", "parts": [{"content": "You are terse.", "type": "text"}], "name": None}
    assert developer["role"] == "developer" and developer["parts"][0]["content"] == "Answer in English."
    assert user["name"] == "alice"
    assert assistant["parts"] == [
        {"content": "Let me check.", "type": "text"},
        {"arguments": {"location": "Paris"}, "name": "get_weather", "id": "call_1", "type": "tool_call"},
        {"arguments": "ls -la", "name": "shell", "id": "call_2", "type": "tool_call"},  # custom tools keep their input
    ]
    assert tool1 == {
        "role": "tool",
        "parts": [{"response": '{"temp": 20}', "id": "call_1", "type": "tool_call_response"}],
        "name": None,
    }
    assert tool2["parts"][0]["response"] == [{"type": "text", "text": "README.md"}]
    assert refused["parts"] == [{"content": "I can't run that.", "type": "text"}]
    assert media["parts"] == [
        {"content": "Look at these.", "type": "text"},
        {"mime_type": None, "modality": "image", "uri": "https://example.com/cat.png", "type": "uri"},
        {"mime_type": "image/png", "modality": "image", "content": PNG, "type": "blob"},
        {"mime_type": "audio/wav", "modality": "audio", "content": WAV, "type": "blob"},
        {"mime_type": "application/pdf", "modality": "document", "file_id": "file-abc", "type": "file"},
        {"mime_type": "application/pdf", "modality": "document", "content": PDF, "type": "blob"},
    ]
    assert found[TOOLS] == [
        {"name": "get_weather", "description": "Weather", "parameters": WEATHER, "type": "function"},
        {"name": "shell", "type": "custom"},
    ]


def test_chat_input_is_what_was_sent(oai: openai.OpenAI, cap: Capture) -> None:
    """A caller that appends the reply to its history while the stream runs does not change the recorded input."""
    history = [{"role": "user", "content": "Hi"}]
    reply = ""
    for chunk in oai.chat.completions.create(model="gpt-4o-mini", messages=history, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            reply += chunk.choices[0].delta.content
            if len(history) == 1:
                history.append({"role": "assistant", "content": "(appended early)"})
    assert [m["role"] for m in content(only_span(cap).attributes)[INPUT]] == ["user"]


# -- OpenAI Chat Completions: output ------------------------------------------------------------------------


def test_chat_stream_output_with_tool_call(oai: openai.OpenAI, cap: Capture) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    for _ in oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=tools,
        stream=True,
        extra_headers=scenario_headers(chunks=4),
    ):
        pass
    span = only_span(cap)
    (message,) = output_messages(span.attributes)
    (call,) = parts_of(message, "tool_call")
    assert call["name"] == "get_weather" and call["arguments"] == {"location": "Paris, France"}
    assert call["id"].startswith("call_")
    assert message["finish_reason"] == "tool_call"  # the conventions' name; the span keeps OpenAI's own
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert message["parts"][0]["type"] == "text"  # the text the model said before calling


def test_chat_refusal_and_several_choices(oai: openai.OpenAI, cap: Capture) -> None:
    for _ in oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Do it"}],
        n=2,
        stream=True,
        extra_headers=scenario_headers(refusal=True),
    ):
        pass
    first, second = output_messages(only_span(cap).attributes)
    assert first["parts"] == second["parts"] == [{"content": DEFAULT_REFUSAL, "type": "text"}]
    assert first["finish_reason"] == second["finish_reason"] == "stop"


def test_chat_whole_completion_with_choices(oai: openai.OpenAI, cap: Capture) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], n=2, extra_headers=scenario_headers(chunks=3)
    )
    span = only_span(cap)
    for index in (0, 1):
        assert output_text(span.attributes, index) == completion.choices[index].message.content
    assert [m["finish_reason"] for m in output_messages(span.attributes)] == ["stop", "stop"]


@pytest.mark.parametrize("how", ["break", "error", "drop"])
def test_chat_stream_cut_short_keeps_its_partial_output(oai: openai.OpenAI, cap: Capture, how: str) -> None:
    headers = {"break": scenario_headers(chunks=20), "error": scenario_headers(error_after=3)}
    headers["drop"] = scenario_headers(drop_after=3)
    received = ""
    try:
        for chunk in oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True, extra_headers=headers[how]
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                received += chunk.choices[0].delta.content
                if how == "break" and len(received) > 10:
                    break
    except Exception:  # APIError, or the transport's own error for a drop on older openai
        pass
    span = only_span(cap)
    (message,) = output_messages(span.attributes)
    assert output_text(span.attributes) == received and received
    assert message["finish_reason"] == "error"  # the provider never said why it stopped: it did not finish
    assert span.attributes["rollout.stream.end_reason"] == ("closed" if how == "break" else "error")


# -- OpenAI Responses ---------------------------------------------------------------------------------------


RESPONSES_ITEMS: list[dict[str, Any]] = [
    {"role": "user", "content": "What is in this image?"},
    {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "Compare them."},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            {"type": "input_image", "file_id": "file-img"},
            {"type": "input_file", "file_id": "file-doc", "filename": "notes.txt"},
            {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF}", "filename": "x.pdf"},
            {"type": "input_file", "file_url": "https://example.com/spec.pdf"},
        ],
    },
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "The user wants a comparison."}]},
    {"type": "function_call", "call_id": "call_a", "name": "get_weather", "arguments": '{"location":"Rome"}'},
    {"type": "function_call", "call_id": "call_b", "name": "get_weather", "arguments": '{"location":"Oslo"}'},
    {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
    {"type": "function_call_output", "call_id": "call_b", "output": "snow"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Rome is sunny."}]},
]


def test_responses_input_every_shape(oai: openai.OpenAI, cap: Capture) -> None:
    tools = [
        {"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER, "strict": False},
        {"type": "web_search"},
    ]
    oai.responses.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        input=RESPONSES_ITEMS,
        tools=tools,
        tool_choice="none",
        extra_headers=scenario_headers(chunks=3),
    )
    found = content(only_span(cap).attributes)
    assert found[SYSTEM] == [{"content": "Be brief.", "type": "text"}]
    first, media, reasoning, calls, out_a, out_b, answer = found[INPUT]
    assert first["parts"] == [{"content": "What is in this image?", "type": "text"}]
    assert media["parts"] == [
        {"content": "Compare them.", "type": "text"},
        {"mime_type": None, "modality": "image", "uri": "https://example.com/a.png", "type": "uri"},
        {"mime_type": None, "modality": "image", "file_id": "file-img", "type": "file"},
        {"mime_type": "text/plain", "modality": "document", "file_id": "file-doc", "type": "file"},
        {"mime_type": "application/pdf", "modality": "document", "content": PDF, "type": "blob"},
        {"mime_type": None, "modality": "document", "uri": "https://example.com/spec.pdf", "type": "uri"},
    ]
    assert reasoning == {
        "role": "assistant",
        "parts": [{"content": "The user wants a comparison.", "type": "reasoning"}],
        "name": None,
    }
    assert calls["role"] == "assistant" and [p["arguments"] for p in calls["parts"]] == [
        {"location": "Rome"},
        {"location": "Oslo"},
    ]  # the calls of one turn, in one message
    assert out_a["parts"] == [{"response": "sunny", "id": "call_a", "type": "tool_call_response"}]
    assert out_b["role"] == "tool"
    assert answer["role"] == "assistant" and answer["parts"] == [{"content": "Rome is sunny.", "type": "text"}]
    assert found[TOOLS] == [
        {"name": "get_weather", "description": "Weather", "parameters": WEATHER, "type": "function"},
        {"name": "web_search", "type": "web_search"},
    ]


def test_responses_instructions_as_items(oai: openai.OpenAI, cap: Capture) -> None:
    instructions = [{"role": "developer", "content": [{"type": "input_text", "text": "Use metric units."}]}]
    oai.responses.create(model="gpt-4o-mini", instructions=instructions, input="Hi")  # type: ignore[arg-type]
    assert content(only_span(cap).attributes)[SYSTEM] == [{"content": "Use metric units.", "type": "text"}]


@pytest.mark.parametrize("stream", [True, False])
def test_responses_output_with_function_call(oai: openai.OpenAI, cap: Capture, stream: bool) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    result = oai.responses.create(model="gpt-4o-mini", input="Weather?", tools=tools, stream=stream)  # type: ignore[call-overload]
    if stream:
        for _ in result:
            pass
    (message,) = output_messages(only_span(cap).attributes)
    (call,) = parts_of(message, "tool_call")
    assert call["name"] == "get_weather" and call["arguments"] == {"location": "Paris, France"}
    assert message["finish_reason"] == "tool_call"


@pytest.mark.parametrize(("scenario", "reason"), [({"incomplete": True}, "length"), ({"failed_after": 3}, "error")])
def test_responses_unfinished_output(oai: openai.OpenAI, cap: Capture, scenario: dict[str, Any], reason: str) -> None:
    text = ""
    for event in oai.responses.create(
        model="gpt-4o-mini", input="Hi", stream=True, extra_headers=scenario_headers(chunks=10, **scenario)
    ):
        if event.type == "response.output_text.delta":
            text += event.delta
    span = only_span(cap)
    (message,) = output_messages(span.attributes)
    assert message["finish_reason"] == reason
    assert output_text(span.attributes) == text and text


def test_responses_stream_closed_early_keeps_what_arrived(oai: openai.OpenAI, cap: Capture) -> None:
    """No terminal event, so no final response: the output is what the deltas delivered (the official has none)."""
    text = ""
    with oai.responses.create(
        model="gpt-4o-mini", input="Hi", stream=True, extra_headers=scenario_headers(chunks=30)
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
                if len(text) > 12:
                    break
    span = only_span(cap)
    assert output_text(span.attributes) == text
    assert output_messages(span.attributes)[0]["finish_reason"] == "error"


# -- Anthropic ----------------------------------------------------------------------------------------------


ANTHROPIC_HISTORY: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Read these."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "inner"}]}},
        ],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "paris"}},
            {
                "type": "web_search_tool_result",
                "tool_use_id": "srvtoolu_1",
                "content": [{"type": "web_search_result", "url": "https://w.example", "title": "W"}],
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "20 degrees"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "as blocks"}]},
        ],
    },
]


def test_anthropic_input_every_shape(claude: anthropic.Anthropic, cap: Capture) -> None:
    tools = [
        {"name": "get_weather", "description": "Weather", "input_schema": WEATHER},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    system = [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Metric."},
    ]
    claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        system=system,  # type: ignore[arg-type]
        messages=ANTHROPIC_HISTORY,  # type: ignore[arg-type]
        tools=tools,  # type: ignore[list-item]
        tool_choice={"type": "none"},
        extra_headers=scenario_headers(chunks=3),
    )
    found = content(only_span(cap).attributes)
    assert found[SYSTEM] == [{"content": "Be brief.", "type": "text"}, {"content": "Metric.", "type": "text"}]
    user, assistant, results = found[INPUT]
    assert user["parts"] == [
        {"content": "Read these.", "type": "text"},
        {"mime_type": "image/png", "modality": "image", "content": PNG, "type": "blob"},
        {"mime_type": None, "modality": "image", "uri": "https://example.com/cat.png", "type": "uri"},
        {"mime_type": "application/pdf", "modality": "document", "content": PDF, "type": "blob"},
        {
            "mime_type": "text/plain",
            "modality": "document",
            "content": base64.b64encode(b"plain doc").decode(),
            "type": "blob",
        },
        {"content": "inner", "type": "text"},
    ]
    assert assistant["parts"] == [
        {"content": "I should call the tool.", "type": "reasoning"},  # redacted thinking is opaque: left out
        {"content": "Checking.", "type": "text"},
        {"arguments": {"location": "Paris"}, "name": "get_weather", "id": "toolu_1", "type": "tool_call"},
        {
            "name": "web_search",
            "server_tool_call": {"type": "web_search", "input": {"query": "paris"}},
            "id": "srvtoolu_1",
            "type": "server_tool_call",
        },
        {
            "server_tool_call_response": {
                "content": [{"type": "web_search_result", "url": "https://w.example", "title": "W"}],
                "type": "web_search",
            },
            "id": "srvtoolu_1",
            "type": "server_tool_call_response",
        },
    ]
    assert results["role"] == "user" and results["parts"] == [
        {"response": "20 degrees", "id": "toolu_1", "type": "tool_call_response"},
        {"response": [{"type": "text", "text": "as blocks"}], "id": "toolu_2", "type": "tool_call_response"},
    ]
    assert found[TOOLS] == [
        {"name": "get_weather", "description": "Weather", "parameters": WEATHER, "type": "function"},
        {"name": "web_search", "type": "web_search_20250305"},
    ]


def test_anthropic_tool_result_holding_sdk_objects(claude: anthropic.Anthropic, cap: Capture) -> None:
    """The reply's own blocks sent back as history (SDK objects, not dicts) are recorded, never raised on."""
    first = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers=scenario_headers(chunks=3),
    )
    history: list[Any] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": first.content}]},
    ]
    claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=history, extra_headers=scenario_headers(chunks=3)
    )
    second = cap.spans()[-1]
    _, assistant, result = content(second.attributes)[INPUT]
    assert assistant["parts"] == [{"content": first.content[0].text, "type": "text"}]  # type: ignore[union-attr]
    assert result["parts"][0]["response"][0]["text"] == first.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [True, False])
def test_anthropic_output_thinking_text_and_tool_use(claude: anthropic.Anthropic, cap: Capture, stream: bool) -> None:
    tools = [{"name": "get_weather", "input_schema": WEATHER}]
    result = claude.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=256,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=tools,  # type: ignore[list-item]
        stream=stream,
        extra_headers=scenario_headers(thinking=True, chunks=4),
    )
    if stream:
        for _ in result:  # type: ignore[union-attr]
            pass
    span = only_span(cap)
    (message,) = output_messages(span.attributes)
    assert [p["type"] for p in message["parts"]] == ["reasoning", "text", "tool_call"]
    assert message["parts"][0]["content"] == DEFAULT_THINKING
    assert message["parts"][2]["arguments"] == {"location": "Paris, France"}
    assert message["finish_reason"] == "tool_call"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_call",)  # normalized, as the official does


def test_anthropic_max_tokens_is_length(claude: anthropic.Anthropic, cap: Capture) -> None:
    with claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=5,
        messages=[{"role": "user", "content": "Hi"}],
        extra_headers=scenario_headers(incomplete=True, chunks=5),
    ) as stream:
        stream.until_done()
    assert output_messages(only_span(cap).attributes)[0]["finish_reason"] == "length"


def test_anthropic_dropped_stream_keeps_partial_tool_input(claude: anthropic.Anthropic, cap: Capture) -> None:
    tools = [{"name": "get_weather", "input_schema": WEATHER}]
    with pytest.raises(Exception) as raised:  # the transport's error, or APIConnectionError since anthropic 2.17
        for _ in claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            messages=[{"role": "user", "content": "Weather?"}],
            tools=tools,  # type: ignore[list-item]
            stream=True,
            extra_headers=scenario_headers(drop_after=2),
        ):
            pass
    span = only_span(cap)
    assert span.attributes["error.type"] == type(raised.value).__name__
    (message,) = output_messages(span.attributes)
    assert message["finish_reason"] == "error"
    (call,) = parts_of(message, "tool_call")
    assert call["name"] == "get_weather" and isinstance(call["arguments"], (str, type(None)))  # cut JSON: kept raw


# -- content capture off --------------------------------------------------------------------------------------


def test_no_content_attribute_without_content_capture(server: LocalLLMServer) -> None:
    capture = Capture(capture_content=False)
    try:
        client = wrap(
            openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=capture.tracer_provider
        )
        client.responses.create(
            model="gpt-4o-mini", instructions="secret", input=RESPONSES_ITEMS, tools=[{"type": "web_search"}]
        )
        claude = wrap(
            anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0),
            tracer_provider=capture.tracer_provider,
        )
        claude.messages.create(model="claude-sonnet-4-6", max_tokens=9, system="secret", messages=ANTHROPIC_HISTORY)  # type: ignore[arg-type]
        for span in capture.spans():
            assert not set(CONTENT_KEYS) & set(span.attributes), span.attributes
            assert "secret" not in json.dumps(dict(span.attributes), default=str)
    finally:
        capture.shutdown()


# -- the encoded fast path ----------------------------------------------------------------------------------------


FAST_PATH_MESSAGES: list[dict[str, Any]] = [
    {"role": "user", "content": "plain"},
    {"role": "user", "content": 'named, with "quotes", é and 😀', "name": "bob"},
    {"role": "assistant", "content": ""},
    {"role": "assistant", "content": None, "tool_calls": [CHAT_HISTORY[3]["tool_calls"][0]]},
    {
        "role": "assistant",
        "content": "two calls",
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "not json"}},
            {"id": None, "type": "function", "function": {"name": "g", "arguments": ""}},
            {"id": "c", "type": "function", "function": {"name": "h", "arguments": ' {"x": [1, 2.5, null]} '}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
    {"role": "assistant", "content": None},  # nothing to show: no message
]


@pytest.mark.parametrize("message", FAST_PATH_MESSAGES)
def test_messages_encoded_directly_equal_the_general_mapping(message: dict[str, Any]) -> None:
    """Common chat messages are encoded straight from the request dict; the JSON must be what mapping gives."""
    from types import SimpleNamespace

    from rollout_otel._content import openai as mapping
    from rollout_otel._content._encode import encode

    fast = mapping.chat_message(message)
    general = mapping.chat_message(SimpleNamespace(**message))  # an object, as SDK types are: the general path
    assert type(general) is not type(fast) or fast is None
    if general is None:
        assert fast is None
        return
    encoded, _ = encode([fast], 10_000)
    assert json.loads(encoded) == json.loads(encode([general], 10_000)[0])
    validate_input = content({INPUT: encoded})
    assert validate_input[INPUT][0]["role"] == message["role"]


# -- values that must cost only themselves ------------------------------------------------------------------------


def test_deeply_nested_or_non_json_arguments_keep_the_rest(cap: Capture) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # deeper than any CPython JSON parser goes (3.13 parses 5,000 levels)
    history = [
        {
            "role": "assistant",
            "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": deep}}],
        },
        {
            "role": "assistant",
            "tool_calls": [{"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": NaN}'}}],
        },
        {"role": "tool", "content": "two keys only"},
    ]
    with cap.llm("openai.chat") as span:
        span.record_input(history)
        span.end(output="fine", usage={"input_tokens": 3, "output_tokens": 1})
    attributes = cap.span().attributes
    first, second, tool = json.loads(attributes[INPUT], parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert first["parts"][0]["arguments"] == deep  # kept as the text it was
    assert second["parts"][0]["arguments"] == '{"x": NaN}'  # not strict JSON: kept as text
    assert tool["parts"] == [{"response": "two keys only", "id": None, "type": "tool_call_response"}]
    assert attributes["gen_ai.usage.input_tokens"] == 3 and output_text(attributes) == "fine"


def test_odd_values_cost_only_themselves(cap: Capture) -> None:
    numpy = pytest.importorskip("numpy")
    with cap.llm("openai.chat") as span:
        span.record_input(
            [{"role": "user", "content": [{"type": ["text"], "text": "bad part"}, {"type": "text", "text": 123}]}]
        )
        span.end(output=numpy.array([0.1, float("nan")]))  # no truth value, and a NaN
    attributes = cap.span().attributes
    assert content(attributes)[INPUT] == [{"role": "user", "parts": [{"content": "123", "type": "text"}], "name": None}]
    assert "rollout.output" in attributes  # its repr: recorded, never raised on


def test_all_the_content_of_a_span_fits_a_default_collector(cap: Capture) -> None:
    from rollout_otel._config import SPAN_CONTENT_BUDGET

    capture = Capture(max_content_bytes=3_000_000)
    try:
        with capture.llm("openai.chat") as span:
            span.record_input({"messages": [{"role": "user", "content": "q" * 2_500_000}], "system": "s" * 2_500_000})
            span.end(output="a" * 2_500_000)
        attributes = capture.span().attributes
        sizes = [
            len(v.encode())
            for k, v in attributes.items()
            if k.startswith("gen_ai.") and isinstance(v, str) and v.startswith("[")
        ]
        assert len(sizes) == 3 and sum(sizes) <= SPAN_CONTENT_BUDGET
        assert attributes["rollout.content.truncated"] is True
        content(attributes)  # every attribute still valid for its schema
    finally:
        capture.shutdown()


def test_a_long_history_of_short_messages_is_cut_by_whole_messages(cap: Capture) -> None:
    history = [{"role": "user", "content": f"message {i:05d} " + "x" * 180} for i in range(5000)]
    with cap.llm("openai.chat") as span:
        span.record_input(history)
    messages = content(cap.span().attributes)[INPUT]
    assert 1000 < len(messages) < 5000
    assert messages[-1]["parts"][0]["content"].startswith("message 04999")  # the newest kept, the oldest gone
    assert len(cap.span().attributes[INPUT].encode()) <= 750_000
