"""Where the streaming pieces meet: start records, the providers' own item loops and the span's timing fields.

Real SDKs over a socket to the bundled server; the update thread is held back where a test needs the order in
which a loaded machine may run things.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import openai
import pytest
from botocore.config import Config
from openai.types.chat import ChatCompletionChunk

from rollout_otel import wrap
from rollout_otel.instrumentation.openai._chat import ChatAccumulator
from rollout_otel.serve import SCENARIO_HEADER, LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(stream_update_interval=0.05, stall_after=0.2)
    yield capture
    capture.shutdown()


def test_a_stream_that_ends_before_the_update_thread_runs_still_has_its_start_record(
    server: LocalLLMServer, cap: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine (or the first stream of a process, while the thread starts) the update thread may come
    round only after a short stream has ended: its start record must not be lost."""
    monkeypatch.setattr(cap.processor._ticker, "wake", lambda: None)  # the update thread never gets to run
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0), tracer_provider=cap.tracer_provider
    )
    for _ in client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True, extra_headers=scenario_headers(chunks=3)
    ):
        pass
    with cap.llm("manual.stream", stream=True) as span:
        span.record_chunk("a")
    client.close()
    spans = cap.spans()
    assert len(spans) == 2
    for span_ in spans:
        (start,) = cap.events("rollout.stream.start", span_)
        record = start.log_record
        assert record.span_id == span_.context.span_id
        assert record.timestamp is not None and span_.start_time is not None
        assert abs(record.timestamp - span_.start_time) < 50_000_000  # the request's time, as the thread stamps it
    assert cap.events("rollout.stream.update") == []  # nothing else is sent from the caller's thread


def _chunk(index: int, **delta: object) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": index, "delta": delta, "finish_reason": None}],
        }
    )


@pytest.mark.parametrize(
    "first",
    [
        _chunk(1, content="the second choice's answer"),  # n>1: the choices' deltas come in any order
        _chunk(0, tool_calls=[{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}]),
        _chunk(0, refusal="I can't"),
    ],
    ids=["other-choice", "tool-call", "refusal"],
)
def test_time_to_first_text_is_the_first_answer_even_when_choice_0s_text_comes_later(
    cap: Capture, first: ChatCompletionChunk
) -> None:
    with cap.llm("openai.chat", stream=True) as span:
        accumulator = ChatAccumulator(span, expected_choices=2)
        accumulator.on_item(first)
        answered_by = (time.monotonic_ns() - span._start_ns) / 1e9
        time.sleep(0.3)
        accumulator.on_item(_chunk(0, content="choice 0's text"))
        span._finish(caller=None, **accumulator.outcome(""))
    attributes = cap.span().attributes or {}
    assert attributes["gen_ai.response.time_to_first_chunk"] <= answered_by
    assert attributes["rollout.stream.time_to_first_text"] <= answered_by  # not moved on by choice 0's text


def _converse_stream(server: LocalLLMServer, cap: Capture, **scenario: Any) -> Any:
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
    traced = wrap(client, tracer_provider=cap.tracer_provider)
    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    return traced.converse_stream(modelId="anthropic.claude-sonnet-4-6-v1:0", messages=messages)["stream"]


@pytest.mark.bedrock
def test_a_bedrock_stream_closed_from_another_thread_ends_closed_not_failed(
    server: LocalLLMServer, cap: Capture
) -> None:
    """close() from another thread makes the reading thread's next read fail (botocore's own error, as unwrapped):
    the caller stopped the stream, the provider did not fail."""
    stream = _converse_stream(server, cap, chunks=200, delay=0.01)
    received: list[Any] = []
    failures: list[BaseException] = []
    asked = threading.Event()

    def read() -> None:
        try:
            for event in stream:
                received.append(event)
                if len(received) == 10:
                    asked.set()
        except Exception as exc:  # what the unwrapped stream raises too
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    assert asked.wait(10)
    stream.close()
    reader.join(10)
    attributes = cap.span().attributes or {}
    assert attributes["rollout.stream.end_reason"] == "closed", dict(attributes)
    assert "error.type" not in attributes
    assert cap.span().status.is_ok


@pytest.mark.parametrize("resume", ["for", "next"])
def test_a_stream_read_on_after_its_span_ended_is_the_callers_to_read_and_nothing_is_logged(
    server: LocalLLMServer, cap: Capture, caplog: pytest.LogCaptureFixture, resume: str
) -> None:
    """`for ... break`, then reading on: the span ended at the break (DESIGN §7); what follows is the caller's own
    business, read as unwrapped, without warnings about rollout's own bookkeeping."""
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0), tracer_provider=cap.tracer_provider
    )
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], stream=True, extra_headers=scenario_headers(chunks=8)
    )
    texts: list[str] = []
    with caplog.at_level("WARNING", logger="rollout_otel"):
        for chunk in stream:
            texts.append(chunk.choices[0].delta.content or "")
            if len(texts) == 4:
                break
        if resume == "for":
            texts += [c.choices[0].delta.content or "" for c in stream if c.choices]
        else:
            while True:
                try:
                    chunk = next(stream)
                except StopIteration:
                    break
                texts.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    client.close()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("rollout_otel")] == []
    attributes = cap.span().attributes or {}
    assert attributes["rollout.stream.end_reason"] == "closed" and attributes["rollout.stream.chunks"] == 3
    assert len([t for t in texts if t]) == 8  # every chunk reached the caller
