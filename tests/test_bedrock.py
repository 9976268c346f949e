"""The Bedrock instrumentation, driven by the real boto3 `bedrock-runtime` client over a socket to the local server.

The server speaks Converse's binary event-stream framing with real CRCs, so botocore's own parser reads every event.
"""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import boto3
import botocore.client
import botocore.eventstream
import pytest
import wrapt
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from genai_content import content, output_messages, output_text, reply, text_part
from rollout_otel import wrap
from rollout_otel.instrumentation.bedrock import BedrockInstrumentor
from rollout_otel.serve import (
    DEFAULT_REPLY,
    DEFAULT_THINKING,
    SCENARIO_HEADER,
    LocalLLMServer,
    reply_deltas,
    scenario_headers,
)
from rollout_otel.testing import Capture
from sdk_features import needs_bedrock_apply_guardrail, needs_bedrock_cache_points, needs_bedrock_reasoning

pytestmark = pytest.mark.bedrock

MODEL = "anthropic.claude-sonnet-4-6-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Tell me about streaming."}]}]
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather for a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}
DELTAS = reply_deltas(DEFAULT_REPLY)


class Scenarios:
    """Sets the local server's scenario header on the next calls (boto3 has no per-call extra headers)."""

    def __init__(self) -> None:
        self.spec = ""

    def __call__(self, request: Any, **_: Any) -> None:
        if self.spec:
            request.headers[SCENARIO_HEADER] = self.spec

    def set(self, **settings: object) -> None:
        self.spec = scenario_headers(**settings)[SCENARIO_HEADER]


def new_client(server: LocalLLMServer, scenarios: Scenarios | None = None) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.bedrock_endpoint_url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    if scenarios is not None:
        client.meta.events.register("before-send.bedrock-runtime.*", scenarios)
    return client


@pytest.fixture
def scenarios() -> Scenarios:
    return Scenarios()


@pytest.fixture
def raw_client(server: LocalLLMServer, scenarios: Scenarios) -> Any:
    return new_client(server, scenarios)


@pytest.fixture
def client(raw_client: Any, cap: Capture) -> Any:
    return wrap(raw_client, tracer_provider=cap.tracer_provider)


def converse(client: Any, **kwargs: Any) -> Any:
    return client.converse(modelId=MODEL, messages=MESSAGES, **kwargs)


def converse_stream(client: Any, **kwargs: Any) -> Any:
    return client.converse_stream(modelId=MODEL, messages=MESSAGES, **kwargs)["stream"]


def only_span(cap: Capture) -> ReadableSpan:
    gc.collect()
    spans = cap.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)


# -- what a span records --------------------------------------------------------------------------------------


@needs_bedrock_cache_points
def test_streamed_converse_span(client: Any, server: LocalLLMServer, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(cached=2, cache_write=1)
    response = client.converse_stream(
        modelId=MODEL,
        messages=MESSAGES,
        system=[{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        inferenceConfig={"maxTokens": 512, "temperature": 0.2, "stopSequences": ["END"]},
    )
    stream = response["stream"]
    assert isinstance(stream, botocore.eventstream.EventStream)  # the caller's object is botocore's
    events = list(stream)
    span = only_span(cap)
    a = span.attributes
    assert span.name == "bedrock.converse" and span.kind is otel_trace.SpanKind.CLIENT
    assert a["gen_ai.provider.name"] == "aws.bedrock" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == MODEL and a["gen_ai.request.stream"] is True
    assert a["gen_ai.request.max_tokens"] == 512 and a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == server.port
    found = content(a)  # validated against the conventions' schemas
    assert found["gen_ai.system_instructions"] == [text_part("Be brief.")]
    assert found["gen_ai.input.messages"] == [
        {"role": "user", "parts": [text_part("Tell me about streaming.")], "name": None}
    ]
    assert found["gen_ai.output.messages"] == reply(text_part(DEFAULT_REPLY))
    assert output_text(a) == text_of(events) == DEFAULT_REPLY
    assert a["rollout.stream.preview"] == DEFAULT_REPLY
    assert a["rollout.stream.chunks"] == len(DELTAS) and a["rollout.stream.end_reason"] == "completed"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    usage = events[-1]["metadata"]["usage"]
    assert a["gen_ai.usage.output_tokens"] == usage["outputTokens"] == len(DELTAS)
    # Bedrock's inputTokens leaves cached tokens out; the conventions count every input token
    assert a["gen_ai.usage.input_tokens"] == usage["inputTokens"] + 2 + 1
    assert a["gen_ai.usage.cache_read.input_tokens"] == 2
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 1
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert span.status.status_code is StatusCode.UNSET


def test_caller_gets_the_very_events_botocore_produced(client: Any, server: LocalLLMServer) -> None:
    traced = list(converse_stream(client))
    plain = list(converse_stream(new_client(server)))
    strip = [{k: v for k, v in e.items() if k != "metadata"} for e in traced]  # latency differs run to run
    assert strip == [{k: v for k, v in e.items() if k != "metadata"} for e in plain]
    assert set(traced[-1]) == {"metadata"}


def test_whole_converse(client: Any, cap: Capture) -> None:
    response = converse(client, inferenceConfig={"maxTokens": 64})
    a = only_span(cap).attributes
    assert a["gen_ai.request.stream"] is False
    assert output_messages(a) == reply(text_part(response["output"]["message"]["content"][0]["text"]))
    assert a["gen_ai.usage.output_tokens"] == response["usage"]["outputTokens"]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert "rollout.stream.end_reason" not in a


@pytest.mark.parametrize("streamed", [True, False])
def test_tool_use(client: Any, cap: Capture, streamed: bool) -> None:
    if streamed:
        events = list(converse_stream(client, toolConfig=TOOL_CONFIG))
        call_id = next(e for e in events if "contentBlockStart" in e)["contentBlockStart"]["start"]["toolUse"]
        call_id = call_id["toolUseId"]
    else:
        response = converse(client, toolConfig=TOOL_CONFIG)
        call_id = response["output"]["message"]["content"][0]["toolUse"]["toolUseId"]
    a = only_span(cap).attributes
    found = content(a)
    assert found["gen_ai.tool.definitions"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "type": "function",
        }
    ]
    tool_call = {"arguments": {"city": "Paris"}, "name": "get_weather", "id": call_id, "type": "tool_call"}
    assert found["gen_ai.output.messages"] == reply(tool_call, finish_reason="tool_call")
    assert "rollout.stream.preview" not in a or a["rollout.stream.preview"] == ""  # tool input is not text


@needs_bedrock_reasoning
def test_reasoning_stays_out_of_the_preview(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(thinking=1, text="Short answer.")
    list(converse_stream(client))
    a = only_span(cap).attributes
    assert a["rollout.stream.preview"] == "Short answer."
    message = output_messages(a)[0]
    assert message["parts"] == [{"content": DEFAULT_THINKING, "type": "reasoning"}, text_part("Short answer.")]


PNG = b"\x89P"


def test_history_with_tool_results_and_images(client: Any, cap: Capture) -> None:
    history = [
        {"role": "user", "content": [{"text": "Weather?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"c": 1}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 21}}]}}]},
    ]
    client.converse(modelId=MODEL, messages=history, toolConfig=TOOL_CONFIG)
    found = content(only_span(cap).attributes)
    assert found["gen_ai.input.messages"] == [
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
            "parts": [{"arguments": {"c": 1}, "name": "get_weather", "id": "t1", "type": "tool_call"}],
            "name": None,
        },
        {
            "role": "user",
            "parts": [{"response": {"temp": 21}, "id": "t1", "type": "tool_call_response"}],
            "name": None,
        },
    ]


def test_content_capture_off_records_counts_only(raw_client: Any) -> None:
    capture = Capture(capture_content=False)
    try:
        list(converse_stream(wrap(raw_client, tracer_provider=capture.tracer_provider)))
        a = capture.span().attributes
        assert not [name for name in a if name.startswith("gen_ai.") and name.endswith(("messages", "instructions"))]
        assert "rollout.stream.preview" not in a
        assert a["rollout.stream.chunks"] == len(DELTAS) and a["gen_ai.usage.output_tokens"] == len(DELTAS)
    finally:
        capture.shutdown()


def test_incomplete_reply_is_completed_with_its_reason(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(incomplete=1)
    list(converse_stream(client))
    a = only_span(cap).attributes
    assert a["rollout.stream.end_reason"] == "completed" and a["gen_ai.response.finish_reasons"] == ("length",)


# -- every exit path ------------------------------------------------------------------------------------------


def test_break_ends_the_span_at_the_break(client: Any, cap: Capture) -> None:
    texts = 0
    for event in converse_stream(client):
        texts += "contentBlockDelta" in event
        if texts == 3:
            break
    a = cap.span().attributes  # ended already, before any garbage collection
    assert a["rollout.stream.end_reason"] == "closed"
    assert output_messages(a) == reply(text_part("".join(DELTAS[:3])), finish_reason="error")
    assert "gen_ai.usage.output_tokens" not in a  # metadata never came


def test_close_and_stopping_after_message_stop(client: Any, cap: Capture) -> None:
    stream = converse_stream(client)
    next(iter(stream))
    stream.close()
    for event in converse_stream(client):
        if "messageStop" in event:
            break
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["closed", "completed"]


def test_connection_dropped_mid_stream(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(drop_after=5)
    events: list[Any] = []
    with pytest.raises(Exception) as raised:
        for event in converse_stream(client):
            events.append(event)
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == type(raised.value).__name__
    assert output_text(span.attributes) == text_of(events) == "".join(DELTAS[:5])


def test_in_stream_exception_event(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(error_after=4)
    with pytest.raises(EventStreamError, match="modelStreamErrorException"):
        for _ in converse_stream(client):
            pass
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["rollout.stream.end_reason"] == "error"
    assert span.attributes["error.type"] == "EventStreamError"
    assert output_messages(span.attributes) == reply(text_part("".join(DELTAS[:4])), finish_reason="error")


@pytest.mark.parametrize("streamed", [True, False])
def test_throttled_call(client: Any, cap: Capture, scenarios: Scenarios, streamed: bool) -> None:
    scenarios.set(status=429)
    with pytest.raises(ClientError) as raised:
        converse_stream(client) if streamed else converse(client)
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    span = cap.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ThrottlingException"  # botocore raises the modeled error class
    assert span.attributes.get("rollout.stream.end_reason") == ("error" if streamed else None)


def test_stream_never_read_is_abandoned_and_a_dropped_iterator_closed(client: Any, cap: Capture) -> None:
    stream = converse_stream(client)
    del stream
    iterator = iter(converse_stream(client))
    next(iterator)
    del iterator  # the iterator's generator closes: the caller stopped reading
    gc.collect()
    assert [s.attributes["rollout.stream.end_reason"] for s in cap.spans()] == ["abandoned", "closed"]


def test_slow_stream_sends_updates(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(chunks=30, delay=0.01)
    for _ in converse_stream(client):
        pass
    span = cap.span()
    updates = cap.updates(span)
    assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
    assert all(u.log_record.trace_id == span.context.trace_id for u in updates)


def test_threads_stream_at_once_without_cross_talk(server: LocalLLMServer, cap: Capture) -> None:
    def one(i: int) -> None:
        scenarios = Scenarios()
        scenarios.set(text=f"thread {i} says hi")
        client = wrap(new_client(server, scenarios), tracer_provider=cap.tracer_provider)
        list(converse_stream(client))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(output_text(s.attributes) for s in cap.spans()) == sorted(f"thread {i} says hi" for i in range(8))


# -- wrapping, the instrumentor, other AWS calls ----------------------------------------------------------------


def test_wrapping_twice_gives_one_span(client: Any, cap: Capture) -> None:
    assert wrap(client) is client
    converse(client)
    assert len(cap.spans()) == 1


def test_wrap_plus_instrumentor_gives_one_span(raw_client: Any, server: LocalLLMServer, cap: Capture) -> None:
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    try:
        assert isinstance(botocore.client.BaseClient.__dict__["_make_api_call"], wrapt.FunctionWrapper)
        converse(new_client(server))
        list(converse_stream(new_client(server)))
        list(converse_stream(wrap(raw_client, tracer_provider=cap.tracer_provider)))
        assert len(cap.spans()) == 3
    finally:
        instrumentor.uninstrument()
    assert not isinstance(botocore.client.BaseClient.__dict__["_make_api_call"], wrapt.FunctionWrapper)
    converse(new_client(server))
    assert len(cap.spans()) == 3  # uninstrument restored the original


@needs_bedrock_apply_guardrail
def test_other_aws_operations_pass_through(server: LocalLLMServer, cap: Capture) -> None:
    """Only Converse calls on bedrock-runtime get a span; the instrumentor patches the class every client shares."""
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    try:
        bedrock = new_client(server)
        with pytest.raises(ClientError):  # the local server knows no such path: a real round trip, no span
            bedrock.apply_guardrail(
                guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "x"}}]
            )
        sqs = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=server.bedrock_endpoint_url,
            aws_access_key_id="a",
            aws_secret_access_key="b",
            config=Config(retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError):
            sqs.list_queues()
        assert cap.spans() == []
    finally:
        instrumentor.uninstrument()


def test_wrap_rejects_other_aws_clients(server: LocalLLMServer) -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with pytest.raises(TypeError, match="bedrock-runtime"):
        wrap(s3)


def test_instrumentor_is_an_entry_point() -> None:
    from importlib.metadata import entry_points

    (found,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "rollout_bedrock"]
    assert found.load() is BedrockInstrumentor


@pytest.mark.integration
def test_what_reaches_an_otlp_receiver(server: LocalLLMServer, scenarios: Scenarios) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.1)
        try:
            client = rollout.wrap(new_client(server, scenarios))
            scenarios.set(chunks=40, delay=0.01)
            list(converse_stream(client))
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        (span,) = sink.wait_for_spans(1)
        assert span.name == "bedrock.converse"
        updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
        assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
        assert span.attributes["rollout.stream.chunks"] == 40 == span.attributes["gen_ai.usage.output_tokens"]
        assert output_messages(span.attributes) == reply(text_part("".join(reply_deltas(DEFAULT_REPLY, 40))))


# -- InvokeModel, in the formats rollout reads ------------------------------------------------------------------

CLAUDE = "us.anthropic.claude-sonnet-4-6-v1:0"  # a cross-region inference profile
NOVA = "amazon.nova-lite-v1:0"


def claude_body(**extra: Any) -> str:
    request = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256, "system": "Be brief."}
    return json.dumps({**request, "messages": [{"role": "user", "content": "Tell me about streaming."}], **extra})


def chunks_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(e["chunk"]["bytes"]) for e in events if "chunk" in e]


def test_invoke_stream_of_an_anthropic_model(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(cached=2)
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body(temperature=0.5))
    assert isinstance(response["body"], botocore.eventstream.EventStream)
    events = list(response["body"])
    decoded = chunks_of(events)  # the caller reads the very bytes Bedrock sent
    assert decoded[-1]["type"] == "message_stop" and "amazon-bedrock-invocationMetrics" in decoded[-1]
    span = only_span(cap)
    a = span.attributes
    assert span.name == "bedrock.invoke_model" and a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.request.model"] == CLAUDE and a["gen_ai.response.model"] == CLAUDE
    assert a["gen_ai.request.max_tokens"] == 256 and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.response.id"] == decoded[0]["message"]["id"]
    found = content(a)
    assert found["gen_ai.system_instructions"] == [text_part("Be brief.")]
    assert found["gen_ai.input.messages"][0]["parts"] == [text_part("Tell me about streaming.")]
    assert found["gen_ai.output.messages"] == reply(text_part(DEFAULT_REPLY))
    assert a["rollout.stream.preview"] == DEFAULT_REPLY and a["rollout.stream.end_reason"] == "completed"
    assert a["rollout.stream.chunks"] == len(DELTAS) and a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 2
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


def test_invoke_stream_tool_use_and_thinking(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    scenarios.set(thinking=1)
    decoded = chunks_of(
        list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body(tools=tools))["body"])
    )
    call_id = next(
        c for c in decoded if c["type"] == "content_block_start" and c["content_block"]["type"] == "tool_use"
    )
    a = only_span(cap).attributes
    assert content(a)["gen_ai.tool.definitions"][0]["name"] == "get_weather"
    (message,) = output_messages(a)
    assert message["finish_reason"] == "tool_call"
    assert message["parts"] == [
        {"content": DEFAULT_THINKING, "type": "reasoning"},
        {
            "arguments": {"city": "Paris"},
            "name": "get_weather",
            "id": call_id["content_block"]["id"],
            "type": "tool_call",
        },
    ]
    assert "rollout.stream.preview" not in a or a["rollout.stream.preview"] == ""


def test_whole_invoke_leaves_the_body_readable(client: Any, cap: Capture) -> None:
    response = client.invoke_model(modelId=CLAUDE, body=claude_body())
    reply_body = json.loads(response["body"].read())  # the caller still reads the whole reply
    a = only_span(cap).attributes
    assert reply_body["content"][0]["text"] == DEFAULT_REPLY == output_text(a)
    assert a["gen_ai.response.id"] == reply_body["id"] and a["gen_ai.request.stream"] is False
    assert a["gen_ai.usage.output_tokens"] == reply_body["usage"]["output_tokens"]


@pytest.mark.parametrize("streamed", [True, False])
def test_invoke_of_a_nova_model(client: Any, cap: Capture, streamed: bool) -> None:
    body = json.dumps({"messages": MESSAGES, "inferenceConfig": {"maxTokens": 99}})
    if streamed:
        list(client.invoke_model_with_response_stream(modelId=NOVA, body=body)["body"])
    else:
        json.loads(client.invoke_model(modelId=NOVA, body=body)["body"].read())
    a = only_span(cap).attributes
    assert a["gen_ai.request.max_tokens"] == 99
    assert output_messages(a) == reply(text_part(DEFAULT_REPLY))
    assert a["gen_ai.usage.output_tokens"] == len(DELTAS)
    assert content(a)["gen_ai.input.messages"][0]["parts"] == [text_part("Tell me about streaming.")]


def test_invoke_of_a_family_rollout_does_not_read(client: Any, cap: Capture) -> None:
    """The span still has the model, the chunk count and the end reason; no content is guessed."""
    events = list(
        client.invoke_model_with_response_stream(modelId="meta.llama3-70b", body=json.dumps({"prompt": "x"}))["body"]
    )
    a = only_span(cap).attributes
    assert a["gen_ai.request.model"] == "meta.llama3-70b" and a["rollout.stream.end_reason"] == "completed"
    assert a["rollout.stream.chunks"] == sum("chunk" in e for e in events)
    assert not [name for name in a if name.endswith("messages")]


def test_invoke_stream_failing_midway(client: Any, cap: Capture, scenarios: Scenarios) -> None:
    scenarios.set(error_after=3)
    with pytest.raises(EventStreamError, match="modelStreamErrorException"):
        list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=claude_body())["body"])
    a = cap.span().attributes
    assert a["rollout.stream.end_reason"] == "error" and a["error.type"] == "EventStreamError"
    assert output_messages(a) == reply(text_part("".join(DELTAS[:3])), finish_reason="error")


# -- review findings: the caller's objects, other wrappers, odd shapes --------------------------------------------


def test_next_on_the_stream_fails_as_on_botocores_own(client: Any, cap: Capture) -> None:
    stream = converse_stream(client)
    with pytest.raises(TypeError):
        next(stream)  # an EventStream is iterable, not an iterator
    assert sum(1 for _ in stream) > 0
    assert only_span(cap).attributes["rollout.stream.end_reason"] == "completed"


def test_uninstrument_under_another_wrapper_keeps_it(server: LocalLLMServer, cap: Capture) -> None:
    """botocore's own instrumentation may patch `_make_api_call` after rollout: uninstrument leaves it in place."""
    seen: list[str] = []

    def other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append(args[0])
        return wrapped(*args, **kwargs)

    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(tracer_provider=cap.tracer_provider)
    original = botocore.client.BaseClient.__dict__["_make_api_call"]
    wrapt.wrap_function_wrapper(botocore.client.BaseClient, "_make_api_call", other)
    try:
        instrumentor.uninstrument()
        converse(new_client(server))
        assert seen == ["Converse"] and cap.spans() == []  # the other wrapper runs, rollout's is off
        instrumentor.instrument(tracer_provider=cap.tracer_provider)
        converse(new_client(server))
        assert len(cap.spans()) == 1  # turned back on, not wrapped twice
    finally:
        instrumentor.uninstrument()
        botocore.client.BaseClient._make_api_call = original.__wrapped__


def test_wrap_rejects_async_clients() -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")

    async def async_call(operation_name: str, api_params: Any) -> Any:
        return {}

    client._make_api_call = async_call  # what an aiobotocore client has
    with pytest.raises(TypeError, match="aiobotocore"):
        wrap(client)


def test_nova_invoke_usage_names_and_nulls_in_anthropic_usage(cap: Capture) -> None:
    from rollout_otel._usage import bedrock_usage
    from rollout_otel.instrumentation.bedrock._invoke import AnthropicChunks
    from rollout_otel.trace import LLMSpan

    usage = bedrock_usage({"inputTokens": 10, "outputTokens": 4, "cacheReadInputTokenCount": 500})
    assert usage == {"input_tokens": 510, "output_tokens": 4, "cache_read_input_tokens": 500}
    span = LLMSpan("bedrock.invoke_model", stream=True, tracer_provider=cap.tracer_provider)
    chunks = AnthropicChunks(span)
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 7, "output_tokens": 1}}}
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": None, "output_tokens": 5},
    }
    for event in (start, delta):
        chunks.on_item({"chunk": {"bytes": json.dumps(event).encode()}})
    assert chunks.outcome("")["usage"] == {"input_tokens": 7, "output_tokens": 5}
    span.end()


def test_a_stubbed_invoke_body_is_left_as_it_is(client: Any, cap: Capture) -> None:
    """Only botocore's StreamingBody is read for the span: a stub's body reaches the caller untouched."""
    import io

    from botocore.stub import Stubber

    body = io.BytesIO(b'{"content": []}')
    with Stubber(client) as stubber:
        stubber.add_response("invoke_model", {"body": body, "contentType": "application/json"})
        response = client.invoke_model(modelId=CLAUDE, body=claude_body())
    assert response["body"] is body and body.tell() == 0
    assert only_span(cap).attributes["gen_ai.request.model"] == CLAUDE
