"""Start and stall records and one clock for time to first chunk, for every provider's real SDK and the manual API.

Each stream comes from the local LLM server over a socket: `first_delay` makes the model slow to start (after its
bookkeeping events: OpenAI's role chunk, Responses' `response.created`, Anthropic's `message_start`), `stall` pauses
it once mid-stream. Times are checked from below only (the server's own sleeps), so a loaded machine cannot break
them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import boto3
import openai
import pytest
from botocore.config import Config
from google import genai
from google.genai import types
from opentelemetry.sdk.trace import ReadableSpan

from rollout_otel import trace, wrap
from rollout_otel.serve import DEFAULT_THINKING, SCENARIO_HEADER, LocalLLMServer, reply_deltas, scenario_headers
from rollout_otel.testing import Capture

FIRST_DELAY = 0.6
STALL = 0.6
STALL_AFTER = 0.2
CHUNKS = 6

Caller = Callable[[LocalLLMServer, Capture, dict[str, Any]], None]


def _openai(server: LocalLLMServer, cap: Capture) -> openai.OpenAI:
    raw = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    return wrap(raw, tracer_provider=cap.tracer_provider)


def openai_chat(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    stream = _openai(server, cap).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=scenario_headers(**scenario),
    )
    for _ in stream:
        pass


def openai_responses(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    stream = _openai(server, cap).responses.create(
        model="gpt-4.1-mini", input="Hi", stream=True, extra_headers=scenario_headers(**scenario)
    )
    for _ in stream:
        pass


def anthropic_messages(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    raw = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="sk-ant-test", max_retries=0)
    client = wrap(raw, tracer_provider=cap.tracer_provider)
    stream = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=512,
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        extra_headers=scenario_headers(**scenario),
    )
    for _ in stream:
        pass
    raw.close()


def gemini(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    options = types.HttpOptions(base_url=server.anthropic_base_url, retry_options=types.HttpRetryOptions(attempts=1))
    client = wrap(genai.Client(api_key="gemini-test-key", http_options=options), tracer_provider=cap.tracer_provider)
    config = {"http_options": {"headers": scenario_headers(**scenario)}}
    for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi", config=config):
        pass


def _bedrock(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> Any:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.bedrock_endpoint_url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    spec = scenario_headers(**scenario)[SCENARIO_HEADER]

    def set_scenario(request: Any, **_: Any) -> None:
        request.headers[SCENARIO_HEADER] = spec

    client.meta.events.register("before-send.bedrock-runtime.*", set_scenario)
    return wrap(client, tracer_provider=cap.tracer_provider)


def bedrock_converse(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    client = _bedrock(server, cap, scenario)
    response = client.converse_stream(
        modelId="anthropic.claude-sonnet-4-6-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}]
    )
    for _ in response["stream"]:
        pass


def bedrock_invoke(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    client = _bedrock(server, cap, scenario)
    body = json.dumps(
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512, "messages": [{"role": "user", "content": "Hi"}]}
    )
    response = client.invoke_model_with_response_stream(modelId="anthropic.claude-sonnet-4-6-v1:0", body=body)
    for _ in response["body"]:
        pass


def manual(server: LocalLLMServer, cap: Capture, scenario: dict[str, Any]) -> None:
    """The manual API over the same local stream, read with httpx: one record_chunk per content delta."""
    raw = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    with cap.llm("manual.chat", model="m", stream=True) as span:
        stream = raw.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            extra_headers=scenario_headers(**scenario),
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                span.record_chunk(chunk.choices[0].delta.content)


CALLERS: dict[str, Caller] = {
    "openai.chat": openai_chat,
    "openai.responses": openai_responses,
    "anthropic": anthropic_messages,
    "gemini": gemini,
    "bedrock.converse": bedrock_converse,
    "bedrock.invoke": bedrock_invoke,
    "manual": manual,
}


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=0.05, stall_after=STALL_AFTER)
    yield capture
    capture.shutdown()


def _llm_span(cap: Capture) -> ReadableSpan:
    spans = cap.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


@pytest.mark.parametrize("caller", list(CALLERS))
def test_start_stall_and_time_to_first_chunk(caller: str, server: LocalLLMServer, cap: Capture) -> None:
    """A slow start and a stall mid-stream: one start record, stall records before and after the first chunk, and a
    time to first chunk that waited for the first output, not for the provider's bookkeeping events."""
    CALLERS[caller](server, cap, {"chunks": CHUNKS, "first_delay": FIRST_DELAY, "stall": STALL, "stall_at": 3})
    span = _llm_span(cap)
    attributes = span.attributes or {}

    (start,) = cap.events("rollout.stream.start", span)
    record = start.log_record
    assert record.trace_id == span.context.trace_id and record.span_id == span.context.span_id
    assert record.attributes is not None
    assert record.attributes["rollout.stream.name"] == span.name
    assert record.attributes["gen_ai.provider.name"] == attributes["gen_ai.provider.name"]
    assert "rollout.stream.preview" not in record.attributes
    assert record.timestamp is not None and span.start_time is not None
    assert abs(record.timestamp - span.start_time) < 50_000_000  # stamped with the request's time

    stalls = [s.log_record for s in cap.events("rollout.stream.stall", span)]
    assert attributes["rollout.stream.stalls"] == len(stalls)
    before = [s for s in stalls if s.attributes is not None and s.attributes["rollout.stream.chunks"] == 0]
    during = [s for s in stalls if s.attributes is not None and s.attributes["rollout.stream.chunks"] > 0]
    assert before and during, [dict(s.attributes or {}) for s in stalls]
    for stall in stalls:
        assert stall.attributes is not None and stall.span_id == span.context.span_id
        assert stall.attributes["rollout.stream.gap"] >= STALL_AFTER * 0.99
        assert stall.attributes["rollout.stream.elapsed"] >= stall.attributes["rollout.stream.gap"]
    assert all(s.timestamp is not None and span.end_time is not None and s.timestamp < span.end_time for s in stalls)

    ttfc = attributes["gen_ai.response.time_to_first_chunk"]
    assert ttfc >= FIRST_DELAY
    assert attributes["rollout.stream.time_to_first_text"] >= ttfc
    assert attributes["rollout.stream.max_gap"] >= ttfc
    points = cap.metrics()["gen_ai.client.operation.time_to_first_chunk"].data.data_points
    assert [p.sum for p in points] == [pytest.approx(ttfc)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("caller", ["anthropic", "gemini", "bedrock.converse"])
def test_reasoning_stops_time_to_first_chunk_but_not_time_to_first_text(
    caller: str, server: LocalLLMServer, cap: Capture
) -> None:
    thinking = len(reply_deltas(DEFAULT_THINKING))
    CALLERS[caller](server, cap, {"chunks": CHUNKS, "thinking": True, "stall": STALL, "stall_at": thinking})
    attributes = _llm_span(cap).attributes or {}
    ttfc = attributes["gen_ai.response.time_to_first_chunk"]
    assert attributes["rollout.stream.time_to_first_text"] - ttfc >= STALL * 0.8  # the text came after the pause


def test_a_fast_stream_has_no_stall(server: LocalLLMServer, cap: Capture) -> None:
    openai_chat(server, cap, {"chunks": CHUNKS})
    span = _llm_span(cap)
    assert cap.events("rollout.stream.stall", span) == []
    assert (span.attributes or {})["rollout.stream.stalls"] == 0


def test_stall_after_zero_turns_stall_records_off(server: LocalLLMServer) -> None:
    capture = Capture(stream_update_interval=0.05, stall_after=0)
    try:
        openai_chat(server, capture, {"chunks": CHUNKS, "first_delay": 0.3})
        span = _llm_span(capture)
        assert capture.events("rollout.stream.stall") == []
        assert (span.attributes or {})["rollout.stream.stalls"] == 0
        assert len(capture.events("rollout.stream.start")) == 1
    finally:
        capture.shutdown()


def test_a_stall_repeats_every_stall_after_and_the_next_chunk_ends_it() -> None:
    capture = Capture(stream_update_interval=0.05, stall_after=0.1)
    try:
        with capture.llm("a.b", stream=True) as span:
            span.record_chunk("a")
            time.sleep(0.45)  # at least four stall periods
            span.record_chunk("b")
            time.sleep(0.05)
        llm_span = _llm_span(capture)
        stalls = [s.log_record.attributes for s in capture.events("rollout.stream.stall")]
        gaps = [a["rollout.stream.gap"] for a in stalls if a["rollout.stream.chunks"] == 1]
        assert len(gaps) >= 2 and gaps == sorted(gaps)  # one stall, repeated while it lasts
        # The second chunk ended it: a busy machine may report a new stall after it, measured from that chunk.
        after = [a["rollout.stream.gap"] for a in stalls if a["rollout.stream.chunks"] != 1]
        assert all(a["rollout.stream.chunks"] in (1, 2) for a in stalls) and all(gap < gaps[-1] for gap in after)
        assert (llm_span.attributes or {})["rollout.stream.max_gap"] >= gaps[-1]
    finally:
        capture.shutdown()


def test_manual_chunks_without_text_stop_the_first_chunk_clock_only(cap: Capture) -> None:
    with trace.llm("a.b", stream=True, tracer_provider=cap.tracer_provider) as span:
        span.record_chunk(None)
        time.sleep(0.2)
        span.record_chunk("text")
    attributes = _llm_span(cap).attributes or {}
    assert attributes["rollout.stream.time_to_first_text"] - attributes["gen_ai.response.time_to_first_chunk"] >= 0.2
