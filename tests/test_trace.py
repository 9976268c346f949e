"""The manual span API: trace.llm(...) and LLMSpan."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import gc
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from genai_content import INPUT, OUTPUT, SYSTEM, TOOLS, content, input_messages, output_messages, output_text
from rollout_otel import _errors, trace
from rollout_otel.testing import Capture

CONTENT_ATTRIBUTES = (INPUT, OUTPUT, SYSTEM, TOOLS, "rollout.input", "rollout.output", "rollout.content.truncated")
MARKER = "...[truncated]"


def _text_message(role: str, text: str, name: str | None = None) -> dict[str, Any]:
    return {"role": role, "parts": [{"content": text, "type": "text"}], "name": name}


def _assistant(text: str, finish_reason: str = "stop") -> dict[str, Any]:
    """The one output message a str output or the gathered chunks become."""
    return {
        "role": "assistant",
        "parts": [{"content": text, "type": "text"}],
        "finish_reason": finish_reason,
        "name": None,
    }


def _no_content(attributes: Any) -> bool:
    return not [key for key in CONTENT_ATTRIBUTES if key in attributes]


def test_streamed_span_records_output_usage_and_summary(cap: Capture) -> None:
    with cap.llm("openai.responses", model="gpt-4.1-mini", stream=True) as span:
        span.record_input({"messages": [{"role": "user", "content": "Hi"}]})
        for delta in ["Hel", "lo", " wor", "ld"]:
            span.record_chunk(delta)
        span.end(usage={"input_tokens": 512, "output_tokens": 128}, finish_reason="stop")

    s = cap.span("openai.responses")
    assert s.kind is SpanKind.CLIENT
    attrs = dict(s.attributes or {})
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert content(attrs) == {
        INPUT: [_text_message("user", "Hi")],
        OUTPUT: [_assistant("Hello world")],
    }
    assert {k: v for k, v in attrs.items() if k not in (INPUT, OUTPUT)} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.request.stream": True,
        "gen_ai.usage.input_tokens": 512,
        "gen_ai.usage.output_tokens": 128,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.response.time_to_first_chunk": pytest.approx(s.attributes["gen_ai.response.time_to_first_chunk"]),
        "rollout.stream.time_to_first_text": pytest.approx(ttfc, abs=0.05),
        "rollout.stream.max_gap": pytest.approx(ttfc, abs=0.05),
        "rollout.stream.stalls": 0,
        "rollout.stream.chunks": 4,
        "rollout.stream.chars": 11,
        "rollout.stream.updates": 0,
        "rollout.stream.end_reason": "completed",
        "rollout.stream.preview": "Hello world",
    }
    assert 0 <= s.attributes["gen_ai.response.time_to_first_chunk"] < 1
    assert s.status.status_code is StatusCode.UNSET


def test_explicit_output_wins_over_chunks(cap: Capture) -> None:
    with cap.llm("x.y", stream=True) as span:
        span.record_chunk("partial")
        span.end(output="final answer")
    attrs = cap.span().attributes
    assert output_messages(attrs) == [_assistant("final answer")]
    assert attrs["rollout.stream.preview"] == "final answer"  # the preview is the tail of the output


def test_structured_output_is_json(cap: Capture) -> None:
    with cap.llm("x.y") as span:
        span.end(output=[{"index": 0, "text": "a", "tool_calls": [], "finish_reason": "stop"}])
    attrs = cap.span().attributes
    assert json.loads(attrs["rollout.output"]) == [{"index": 0, "text": "a", "tool_calls": [], "finish_reason": "stop"}]
    assert content(attrs) == {}  # not messages: no gen_ai.output.messages


def test_block_without_end_finishes_with_accumulated_text(cap: Capture) -> None:
    with cap.llm("openai.chat", stream=True) as span:
        span.record_chunk("a")
        span.record_chunk("b")
    s = cap.span()
    assert output_messages(s.attributes) == [_assistant("ab")]
    assert s.attributes["rollout.stream.end_reason"] == "completed"


def test_second_end_and_calls_after_end_warn_once_each_and_change_nothing(
    cap: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rollout_otel"), cap.llm("x.y", stream=True) as span:
        span.record_chunk("one")
        span.end(output="first")
        span.end(output="second")
        for _ in range(3):  # a loop still feeding an ended span logs once, not once per call
            span.end(output="again")
            span.record_chunk("late")
            span.record_input({"late": True})
            span.set_attribute("late", True)
    s = cap.span()
    assert content(s.attributes) == {OUTPUT: [_assistant("first")]}
    assert s.attributes["rollout.stream.chunks"] == 1
    assert "rollout.input" not in s.attributes
    assert "rollout.output" not in s.attributes
    warnings = [r for r in caplog.records if r.name == "rollout_otel" and r.levelno == logging.WARNING]
    assert [r.getMessage().split("(")[0] for r in warnings] == ["end", "record_chunk", "record_input", "set_attribute"]
    assert len(cap.spans()) == 1


def test_exception_in_block_marks_error_and_propagates(cap: Capture) -> None:
    with pytest.raises(KeyError), cap.llm("x.y", stream=True) as span:
        span.record_chunk("so far")
        raise KeyError("boom")
    s = cap.span()
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["error.type"] == "KeyError"
    assert s.attributes["rollout.stream.end_reason"] == "error"
    assert output_messages(s.attributes) == [_assistant("so far", "error")]
    assert [e.name for e in s.events] == ["exception"]


def test_end_then_exception_does_not_finalize_twice(cap: Capture) -> None:
    with pytest.raises(RuntimeError), cap.llm("x.y") as span:
        span.end(output="done")
        raise RuntimeError("after end")
    s = cap.span()
    assert s.status.status_code is StatusCode.UNSET
    assert output_messages(s.attributes) == [_assistant("done")]


def test_error_given_to_end_as_code_or_exception(cap: Capture) -> None:
    with cap.llm("a.b") as span:
        span.end(error="rate_limit_exceeded")
    with cap.llm("c.d") as span:
        span.end(error=TimeoutError("slow"))
    first, second = cap.spans()
    assert first.attributes["error.type"] == "rate_limit_exceeded"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["error.type"] == "TimeoutError"
    assert second.events[0].name == "exception"


def test_finish_reasons_as_list(cap: Capture) -> None:
    with cap.llm("a.b") as span:
        span.end(finish_reason=["stop", "length"])
    assert cap.span().attributes["gen_ai.response.finish_reasons"] == ("stop", "length")


def test_non_streamed_span_has_no_stream_attributes(cap: Capture) -> None:
    with cap.llm("openai.chat.completions", model="m") as span:
        span.end(output="hi", usage={"prompt_tokens": 3, "completion_tokens": 1})
    attrs = cap.span().attributes
    assert not [k for k in attrs if k.startswith("rollout.stream")]
    assert attrs["gen_ai.request.stream"] is False
    assert output_messages(attrs) == [_assistant("hi")]
    assert attrs["gen_ai.usage.input_tokens"] == 3


def test_provider_operation_and_extra_attributes(cap: Capture) -> None:
    with cap.llm("mycall", provider="azure.ai.openai", operation="text_completion", attributes={"k": "v"}):
        pass
    with cap.llm("anthropic.messages"):
        pass
    first, second = cap.spans()
    assert first.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert first.attributes["gen_ai.operation.name"] == "text_completion"
    assert first.attributes["k"] == "v"
    assert second.attributes["gen_ai.provider.name"] == "anthropic"


def test_span_is_current_inside_block_and_children_nest(cap: Capture) -> None:
    tracer = cap.tracer_provider.get_tracer("tools")
    with cap.llm("openai.responses", stream=True) as span:
        assert otel_trace.get_current_span() is span.otel_span
        with tracer.start_as_current_span("tool"):
            pass
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    tool, llm_span = cap.spans()
    assert tool.parent is not None and tool.parent.span_id == llm_span.context.span_id


def test_async_with_and_plain_with_inside_async_code(cap: Capture) -> None:
    async def main() -> None:
        async with cap.llm("a.async", stream=True) as span:
            await asyncio.sleep(0)
            span.record_chunk("x")
        with cap.llm("b.sync-in-async", stream=True) as span:
            await asyncio.sleep(0)
            span.record_chunk("y")

    asyncio.run(main())
    assert [output_messages(s.attributes) for s in cap.spans()] == [[_assistant("x")], [_assistant("y")]]


def test_cancellation_ends_as_cancelled_not_error(cap: Capture) -> None:
    started = asyncio.Event()

    async def streaming() -> None:
        async with cap.llm("a.b", stream=True) as span:
            span.record_chunk("cut ")
            span.record_chunk("short")
            started.set()
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(streaming())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    s = cap.span()
    assert s.attributes["rollout.stream.end_reason"] == "cancelled"
    assert s.status.status_code is StatusCode.UNSET
    assert content(s.attributes) == {OUTPUT: [_assistant("cut short", "error")]}  # what it got, unfinished


def test_generator_closed_early_ends_as_closed(cap: Capture) -> None:
    def chunks() -> Iterator[str]:
        with cap.llm("a.b", stream=True) as span:
            for delta in ["a", "b", "c"]:
                span.record_chunk(delta)
                yield delta

    gen = chunks()
    assert next(gen) == "a"
    gen.close()
    s = cap.span()
    assert s.attributes["rollout.stream.end_reason"] == "closed"
    assert output_messages(s.attributes) == [_assistant("a", "error")]


def test_unfinished_span_garbage_collected_ends_as_abandoned(cap: Capture) -> None:
    span = cap.llm("a.b", stream=True)
    span.record_chunk("lost")
    del span
    gc.collect()
    s = cap.span()
    assert s.attributes["rollout.stream.end_reason"] == "abandoned"
    assert output_messages(s.attributes) == [_assistant("lost", "error")]


def test_odd_deltas_never_raise(cap: Capture, caplog: pytest.LogCaptureFixture) -> None:
    huge = "x" * 5_000_000
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk(None)
        span.record_chunk("")
        span.record_chunk("héllo ")
        span.record_chunk("👋🏽 ")
        span.record_chunk(b"bytes \xe2\x9c\x93 ")
        span.record_chunk(bytearray(b"\xff"))
        span.record_chunk(42)  # type: ignore[arg-type]
        span.record_chunk(huge)
    attrs = cap.span().attributes
    expected = "héllo 👋🏽 bytes ✓ \ufffd42" + huge
    assert attrs["rollout.stream.chunks"] == 8
    assert attrs["rollout.stream.chars"] == len(expected)
    # the output is over the default 750,000-byte cap: its start is kept, the rest cut with a marker
    (message,) = output_messages(attrs)
    text = output_text(attrs)
    assert message["finish_reason"] == "stop"
    assert text.startswith(expected[:100_000]) and text.endswith(MARKER)
    assert len(attrs[OUTPUT].encode("utf-8")) <= 750_000
    assert attrs["rollout.content.truncated"] is True
    assert attrs["rollout.stream.preview"] == expected[-4096:]
    assert any("expects a str delta" in r.getMessage() for r in caplog.records)


def test_hot_path_swallows_internal_errors_outside_the_test_suite(
    cap: Capture, caplog: pytest.LogCaptureFixture
) -> None:
    class Weird:
        def __bool__(self) -> bool:
            raise RuntimeError("no truth")

    _errors.set_raise_internal_errors(False)
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk(Weird())  # type: ignore[arg-type]
        span.record_chunk("ok")
    assert output_messages(cap.span().attributes) == [_assistant("ok")]
    assert any("Internal error in rollout-otel" in r.getMessage() for r in caplog.records)


def test_preview_is_the_last_n_characters() -> None:
    capture = Capture(stream_preview_chars=5)
    with capture.llm("a.b", stream=True) as span:
        for delta in ["abc", "def", "ghi"]:
            span.record_chunk(delta)
    assert capture.span().attributes["rollout.stream.preview"] == "efghi"
    capture.shutdown()


def test_preview_zero_turns_preview_off() -> None:
    capture = Capture(stream_preview_chars=0)
    with capture.llm("a.b", stream=True) as span:
        span.record_chunk("abc")
    attrs = capture.span().attributes
    assert "rollout.stream.preview" not in attrs
    assert output_messages(attrs) == [_assistant("abc")]
    capture.shutdown()


def test_capture_content_off_keeps_counts_and_usage_only() -> None:
    capture = Capture(capture_content=False, capture_stream_chunks=True)
    with capture.llm("a.b", stream=True) as span:
        span.record_input({"secret": "prompt"})
        span.record_chunk("secret ")
        span.record_chunk("answer")
        span.end(usage={"input_tokens": 1, "output_tokens": 2})
    s = capture.span()
    assert _no_content(s.attributes)
    assert "rollout.stream.preview" not in s.attributes
    assert s.attributes["rollout.stream.chars"] == len("secret answer")
    assert s.attributes["gen_ai.usage.output_tokens"] == 2
    assert [dict(e.attributes or {}) for e in s.events] == [{"rollout.chunk.index": 0}, {"rollout.chunk.index": 1}]
    assert "secret" not in repr(s.to_json())
    capture.shutdown()


def test_span_on_a_provider_without_the_processor_still_gets_output_and_usage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with trace.llm("openai.responses", stream=True, tracer_provider=provider) as span:
        span.record_chunk("hi")
        span.end(usage={"input_tokens": 1, "output_tokens": 1})
    (s,) = exporter.get_finished_spans()
    assert output_messages(s.attributes) == [_assistant("hi")]
    assert s.attributes["gen_ai.usage.output_tokens"] == 1
    assert s.attributes["rollout.stream.updates"] == 0


def test_global_provider_is_used_by_default() -> None:
    capture = Capture()
    otel_trace.set_tracer_provider(capture.tracer_provider)
    with trace.llm("a.b") as span:
        span.end(output="x")
    assert output_messages(capture.span().attributes) == [_assistant("x")]
    capture.shutdown()


def test_environment_settings_apply_without_a_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_CAPTURE_CONTENT", "off")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with trace.llm("a.b", tracer_provider=provider) as span:
        span.record_input({"messages": [{"role": "user", "content": "secret"}], "system": "secret", "n": "secret"})
        span.end(output="secret")
    with trace.llm("a.b", tracer_provider=provider) as span:
        span.record_input("secret")
        span.end(output={"answer": "secret"})
    for s in exporter.get_finished_spans():
        assert _no_content(s.attributes)
        assert "secret" not in repr(s.to_json())


@dataclasses.dataclass
class _Message:
    role: str
    sent: datetime.datetime


class _PydanticLike:
    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return {"mode": mode}


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": [1, 2.5, None, True]}, {"a": [1, 2.5, None, True]}),
        (_Message("user", datetime.datetime(2026, 1, 2, 3, 4, 5)), {"role": "user", "sent": "2026-01-02T03:04:05"}),
        (_PydanticLike(), {"mode": "json"}),
        ({"ids": {1}}, {"ids": [1]}),
        (b"raw", "raw"),
        ("plain text", "plain text"),
    ],
)
def test_record_input_serialises_common_types(cap: Capture, value: Any, expected: Any) -> None:
    with cap.llm("a.b") as span:
        span.record_input(value)
    attrs = cap.span().attributes
    assert json.loads(attrs["rollout.input"]) == expected
    assert content(attrs) == {}  # not messages: no gen_ai.input.messages


def test_record_input_falls_back_to_repr_and_never_raises(cap: Capture) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with cap.llm("a.b") as span:
        span.record_input(cyclic)
        span.end(output="answer")
    attrs = cap.span().attributes
    assert json.loads(attrs["rollout.input"]).startswith("{'self': {")  # its repr: a cycle JSON cannot hold
    assert output_messages(attrs) == [_assistant("answer")]
    cap.span_exporter.clear()
    with cap.llm("a.b") as span:
        span.record_input({"obj": object()})
        span.record_input(_Unprintable())
    assert json.loads(cap.span().attributes["rollout.input"]) == "<unserialisable _Unprintable>"


def test_spans_in_reference_cycles_still_end_when_collected(cap: Capture) -> None:
    for _ in range(50):
        span = cap.llm("a.b", stream=True)
        span.record_chunk("x")
        holder: list[Any] = [span]
        holder.append(holder)
        del span, holder
    gc.collect()
    # A collection the update thread's allocations triggered ends some of them on that thread: wait for it to finish.
    deadline = time.monotonic() + 10
    while len(spans := cap.spans()) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(spans) == 50
    assert {s.attributes["rollout.stream.end_reason"] for s in spans} == {"abandoned"}


def test_a_bad_usage_value_does_not_cost_the_error_status(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.end(usage={"input_tokens": float("nan"), "output_tokens": 3}, error=RuntimeError("boom"))
    s = cap.span()
    assert s.status.status_code is StatusCode.ERROR
    assert s.attributes["gen_ai.usage.output_tokens"] == 3
    assert "gen_ai.usage.input_tokens" not in s.attributes
    assert s.attributes["rollout.stream.end_reason"] == "error"


def test_the_text_buffer_is_freed_when_the_span_ends(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("x" * 1_000_000)
    assert span._text.text() == ""
    assert getattr(span._write, "__self__", None) is span._text


def test_capture_content_off_keeps_exception_messages_out() -> None:
    capture = Capture(capture_content=False)
    content = "".join(["my ", "secret ", "home address"])  # a runtime value, as model output would be
    with pytest.raises(ValueError), capture.llm("a.b", stream=True):
        raise ValueError(content)
    s = capture.span()
    assert "secret" not in repr(s.to_json())
    assert s.attributes["error.type"] == "ValueError"
    assert s.events[0].attributes["exception.type"] == "ValueError"
    capture.shutdown()


def test_bytes_deltas_count_characters_with_content_capture_off() -> None:
    capture = Capture(capture_content=False)
    with capture.llm("a.b", stream=True) as span:
        span.record_chunk("héllo".encode())
    assert capture.span().attributes["rollout.stream.chars"] == 5
    capture.shutdown()


def test_a_model_class_in_the_input_is_named_not_fatal(cap: Capture) -> None:
    class Answer:
        @classmethod
        def model_dump(cls) -> dict[str, Any]:
            raise TypeError("a class, not an instance")

    with cap.llm("a.b") as span:
        span.record_input({"messages": ["hi"], "response_format": Answer})  # messages without roles: not messages
    recorded = json.loads(cap.span().attributes["rollout.input"])
    assert recorded["messages"] == ["hi"]
    assert recorded["response_format"].endswith("Answer")
    cap.span_exporter.clear()
    with cap.llm("a.b") as span:
        span.record_input({"messages": [{"role": "user", "content": "hi"}], "response_format": Answer})
    attrs = cap.span().attributes
    assert input_messages(attrs) == [_text_message("user", "hi")]
    assert json.loads(attrs["rollout.input"]) == {"response_format": f"{__name__}.{Answer.__qualname__}"}


# -- content in the conventions' shape -------------------------------------------------------------------------


def test_readme_quick_start_records_input_and_output_messages(cap: Capture) -> None:
    messages = [{"role": "user", "content": "Write a haiku about telemetry."}]
    with cap.llm("openai.responses", model="gpt-4.1-mini", stream=True) as span:
        span.record_input({"messages": messages})
        full_text = ""
        for delta in ["Spans ", "drift ", "like ", "leaves"]:
            span.record_chunk(delta)
            full_text += delta
        span.end(output=full_text, usage={"input_tokens": 512, "output_tokens": 128})
    attrs = cap.span().attributes
    assert content(attrs) == {
        INPUT: [_text_message("user", "Write a haiku about telemetry.")],
        OUTPUT: [_assistant("Spans drift like leaves")],
    }
    assert (
        attrs[INPUT]
        == '[{"role":"user","parts":[{"content":"Write a haiku about telemetry.","type":"text"}],"name":null}]'
    )
    for absent in ("rollout.input", "rollout.output", "rollout.content.truncated"):
        assert absent not in attrs


def test_a_plain_message_list_is_recorded_as_input_messages(cap: Capture) -> None:
    with cap.llm("openai.chat") as span:
        span.record_input(
            [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                {"role": "user", "content": "Thanks", "name": "ana"},
            ]
        )
    attrs = cap.span().attributes
    assert content(attrs) == {
        INPUT: [
            _text_message("system", "Be brief."),
            _text_message("user", "Weather in Paris?"),
            {
                "role": "assistant",
                "parts": [{"arguments": {"city": "Paris"}, "name": "weather", "id": "c1", "type": "tool_call"}],
                "name": None,
            },
            {"role": "tool", "parts": [{"response": "sunny", "id": "c1", "type": "tool_call_response"}], "name": None},
            _text_message("user", "Thanks", name="ana"),
        ]
    }
    assert "rollout.input" not in attrs


def test_messages_already_in_the_conventions_shape_are_kept(cap: Capture) -> None:
    with cap.llm("x.y") as span:
        span.record_input([{"role": "user", "parts": [{"type": "text", "content": "hi"}], "name": "ana"}])
    assert input_messages(cap.span().attributes) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}], "name": "ana"}
    ]


def test_system_instructions_and_tools_keys(cap: Capture) -> None:
    with cap.llm("x.y") as span:
        span.record_input(
            {
                "messages": [{"role": "user", "content": "hi"}],
                "system": "Be brief.",
                "instructions": "Answer in French.",
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object"}},
                    },
                    {"name": "search", "description": "Search", "input_schema": {"type": "object"}},  # Anthropic's
                ],
            }
        )
    attrs = cap.span().attributes
    assert content(attrs) == {
        INPUT: [_text_message("user", "hi")],
        SYSTEM: [{"content": "Be brief.", "type": "text"}, {"content": "Answer in French.", "type": "text"}],
        TOOLS: [
            {"name": "weather", "description": "Weather", "parameters": {"type": "object"}, "type": "function"},
            {"name": "search", "description": "Search", "parameters": {"type": "object"}, "type": "function"},
        ],
    }
    assert "rollout.input" not in attrs  # nothing beside messages, system, instructions and tools


def test_system_given_as_text_blocks(cap: Capture) -> None:
    with cap.llm("anthropic.messages") as span:
        span.record_input(
            {
                "messages": [{"role": "user", "content": "hi"}],
                "system": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
            }
        )
    assert content(cap.span().attributes)[SYSTEM] == [
        {"content": "One.", "type": "text"},
        {"content": "Two.", "type": "text"},
    ]


def test_keys_beside_the_messages_go_to_rollout_input(cap: Capture) -> None:
    with cap.llm("x.y") as span:
        span.record_input(
            {
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.2,
                "system": "Be brief.",
                "metadata": {"run": 7},
            }
        )
    attrs = cap.span().attributes
    assert input_messages(attrs) == [_text_message("user", "hi")]
    assert content(attrs)[SYSTEM] == [{"content": "Be brief.", "type": "text"}]
    assert json.loads(attrs["rollout.input"]) == {"temperature": 0.2, "metadata": {"run": 7}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Write a haiku.", "Write a haiku."),
        ({"prompt": "hi", "temperature": 0.2}, {"prompt": "hi", "temperature": 0.2}),
        ({"messages": []}, {"messages": []}),
        ({"messages": [{"content": "no role"}]}, {"messages": [{"content": "no role"}]}),
        ([{"content": "no role"}], [{"content": "no role"}]),
        ([1, "two"], [1, "two"]),
        (_PydanticLike(), {"mode": "json"}),
    ],
)
def test_values_that_are_not_messages_go_to_rollout_input(cap: Capture, value: Any, expected: Any) -> None:
    with cap.llm("x.y") as span:
        span.record_input(value)
    attrs = cap.span().attributes
    assert json.loads(attrs["rollout.input"]) == expected
    assert content(attrs) == {}


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        (None, "stop"),
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("end_turn", "stop"),
        ("tool_calls", "tool_call"),
        ("max_tokens", "length"),
        (["max_tokens", "stop"], "length"),
        (("tool_calls",), "tool_call"),
    ],
)
def test_str_output_is_one_assistant_text_message(
    cap: Capture, finish_reason: str | list[str] | None, expected: str
) -> None:
    with cap.llm("x.y") as span:
        span.end(output="The answer.", finish_reason=finish_reason)
    attrs = cap.span().attributes
    assert content(attrs) == {OUTPUT: [_assistant("The answer.", expected)]}
    assert "rollout.output" not in attrs


def test_chunk_gathered_output_takes_the_given_finish_reason(cap: Capture) -> None:
    with cap.llm("x.y", stream=True) as span:
        for delta in ["one ", "two ", "three"]:
            span.record_chunk(delta)
        span.end(finish_reason="length")
    attrs = cap.span().attributes
    assert content(attrs) == {OUTPUT: [_assistant("one two three", "length")]}
    assert output_text(attrs) == attrs["rollout.stream.preview"]


def test_output_of_a_span_ended_by_an_error_says_error(cap: Capture) -> None:
    with pytest.raises(RuntimeError), cap.llm("x.y", stream=True) as span:
        span.record_chunk("half an ")
        raise RuntimeError("connection reset")
    with cap.llm("x.y") as span:
        span.end(output="partial", error=TimeoutError("slow"))
    with cap.llm("x.y") as span:
        span.end(output="partial", error="rate_limit_exceeded", finish_reason="length")  # a given reason wins
    assert [output_messages(s.attributes) for s in cap.spans()] == [
        [_assistant("half an ", "error")],
        [_assistant("partial", "error")],
        [_assistant("partial", "length")],
    ]


def test_no_output_message_without_output(cap: Capture) -> None:
    with cap.llm("x.y", stream=True):
        pass
    with cap.llm("x.y") as span:
        span.end(output="")
    for s in cap.spans():
        assert _no_content(s.attributes)


def test_output_in_the_conventions_shape_is_recorded_as_is(cap: Capture) -> None:
    given = [
        {
            "role": "assistant",
            "parts": [
                {"content": "Let me look.", "type": "text"},
                {"arguments": {"city": "Paris"}, "name": "weather", "id": "c1", "type": "tool_call"},
            ],
            "finish_reason": "tool_call",
            "name": None,
        },
        {"role": "assistant", "parts": [{"content": "Sunny.", "type": "text"}], "finish_reason": "stop", "name": None},
    ]
    with cap.llm("x.y", stream=True) as span:
        span.record_chunk("ignored: an explicit output wins")
        span.end(output=given, finish_reason="length")
    attrs = cap.span().attributes
    assert content(attrs) == {OUTPUT: given}
    assert output_text(attrs, choice=1) == "Sunny."
    assert "rollout.output" not in attrs


@pytest.mark.parametrize(
    "value",
    [
        {"answer": 42, "sources": ["a", "b"]},
        [1, 2, 3],
        [{"text": "no role"}],
        [{"role": "assistant", "content": "a chat message, not the conventions' shape"}],
        42,
    ],
)
def test_output_that_is_not_messages_goes_to_rollout_output(cap: Capture, value: Any) -> None:
    with cap.llm("x.y", stream=True) as span:
        span.record_chunk("gathered")
        span.end(output=value)
    attrs = cap.span().attributes
    assert json.loads(attrs["rollout.output"]) == value
    assert content(attrs) == {}


def test_input_is_what_was_sent_when_record_input_was_called(cap: Capture) -> None:
    conversation = [{"role": "user", "content": "hi"}]
    with cap.llm("x.y") as span:
        span.record_input(conversation)
        conversation.append({"role": "assistant", "content": "hello"})
        span.end(output="hello")
    history = [{"role": "user", "content": "hi"}]
    with cap.llm("x.y") as span:
        span.record_input({"messages": history, "tools": []})
        history.append({"role": "assistant", "content": "hello"})
        span.end(output="hello")
    for s in cap.spans():
        assert input_messages(s.attributes) == [_text_message("user", "hi")]
    assert len(conversation) == len(history) == 2  # the caller's lists are theirs to change


def test_lone_surrogates_become_replacement_characters(cap: Capture) -> None:
    with cap.llm("x.y", stream=True) as span:
        span.record_input({"messages": [{"role": "user", "content": "cut \ud83d emoji"}], "note": "\udc00"})
        span.record_chunk("half \ud83d")
        span.record_chunk(" and 👋 whole")
    with cap.llm("x.y") as span:
        span.end(output="given \udfff")
    streamed, given = cap.spans()
    for s in (streamed, given):
        for key in CONTENT_ATTRIBUTES:
            if isinstance(s.attributes.get(key), str):
                s.attributes[key].encode("utf-8")  # what an exporter does: must not raise
    assert input_messages(streamed.attributes) == [_text_message("user", "cut \ufffd emoji")]
    assert json.loads(streamed.attributes["rollout.input"]) == {"note": "\ufffd"}
    assert output_messages(streamed.attributes) == [_assistant("half \ufffd and 👋 whole")]
    assert output_messages(given.attributes) == [_assistant("given \ufffd")]


def test_content_over_max_content_bytes_is_cut_and_stays_valid() -> None:
    cap_bytes = 1024
    capture = Capture(max_content_bytes=cap_bytes)
    with capture.llm("x.y", stream=True) as span:
        span.record_input(
            {
                "messages": [
                    {"role": "user", "content": "é" * 3000},  # two bytes a character: the cap counts bytes
                    {"role": "assistant", "content": "short"},
                    {"role": "user", "content": "q" * 3000},
                ],
                "system": "s" * 3000,
                "tools": [{"type": "function", "function": {"name": "f", "description": "d" * 3000}}],
                "extra": "x" * 3000,
            }
        )
        for _ in range(100):
            span.record_chunk("ü" * 30)
    attrs = capture.span().attributes
    found = content(attrs)  # parses and validates each: still the conventions' shape
    assert set(found) == {INPUT, OUTPUT, SYSTEM, TOOLS}
    assert attrs["rollout.content.truncated"] is True
    for key in (INPUT, OUTPUT, SYSTEM, TOOLS, "rollout.input"):
        assert len(attrs[key].encode("utf-8")) <= cap_bytes, key
        assert MARKER in attrs[key], key
    assert json.loads(attrs["rollout.input"])["extra"].startswith("x" * 100)
    assert [m["role"] for m in found[INPUT]] == ["user", "assistant", "user"]
    assert found[INPUT][0]["parts"][0]["content"].startswith("é" * 100)
    assert found[INPUT][1]["parts"][0]["content"] == "short"
    text = output_text(attrs)
    assert text.startswith("ü" * 100) and text.endswith(MARKER)
    assert found[OUTPUT][0]["finish_reason"] == "stop"
    capture.shutdown()


def test_content_under_max_content_bytes_is_not_marked_truncated() -> None:
    capture = Capture(max_content_bytes=1024)
    with capture.llm("x.y") as span:
        span.record_input([{"role": "user", "content": "q" * 400}])
        span.end(output="a" * 400)
    attrs = capture.span().attributes
    assert output_text(attrs) == "a" * 400
    assert input_messages(attrs) == [_text_message("user", "q" * 400)]
    assert "rollout.content.truncated" not in attrs
    capture.shutdown()


def test_rollout_output_is_capped_too() -> None:
    capture = Capture(max_content_bytes=1024)
    with capture.llm("x.y") as span:
        span.end(output={"answer": "y" * 5000})
    attrs = capture.span().attributes
    assert len(attrs["rollout.output"].encode("utf-8")) <= 1024
    assert json.loads(attrs["rollout.output"])["answer"].startswith("y" * 100)
    assert attrs["rollout.content.truncated"] is True
    capture.shutdown()


def test_truncated_messages_stay_in_the_conventions_shape() -> None:
    capture = Capture(max_content_bytes=1024)
    with capture.llm("x.y") as span:
        span.record_input([{"role": "user", "content": [{"type": "text", "text": "q" * 200}] * 50}])
    attrs = capture.span().attributes
    assert len(attrs[INPUT].encode("utf-8")) <= 1024
    assert input_messages(attrs)[0]["role"] == "user"
    capture.shutdown()


def test_capture_content_off_records_none_of_the_content() -> None:
    capture = Capture(capture_content=False)
    with capture.llm("x.y", stream=True) as span:
        span.record_input(
            {
                "messages": [{"role": "user", "content": "secret prompt"}],
                "system": "secret system",
                "instructions": "secret instructions",
                "tools": [{"type": "function", "function": {"name": "secret_tool"}}],
                "temperature": 0.2,
            }
        )
        span.record_chunk("secret ")
        span.end(finish_reason="length")
    with capture.llm("x.y") as span:
        span.record_input([{"role": "user", "content": "secret"}])
        span.end(output="secret answer")
    with capture.llm("x.y") as span:
        span.record_input("secret")
        span.end(output={"secret": 1})
    with capture.llm("x.y") as span:
        span.end(output=[{"role": "assistant", "parts": [{"content": "secret", "type": "text"}]}])
    spans = capture.spans()
    assert len(spans) == 4
    for s in spans:
        assert _no_content(s.attributes)
        assert "secret" not in repr(s.to_json())
    capture.shutdown()


def test_the_response_id_and_model_a_stream_names_are_set_at_its_end_and_a_later_set_attribute_wins(
    cap: Capture,
) -> None:
    with cap.llm("chat m", model="m", stream=True) as span:
        span._set_response("resp-1", "m-2025")  # what an instrumentation does at the stream's first chunk
        span.record_chunk("hi")
        mid_stream = dict(span.otel_span.attributes or {})  # type: ignore[attr-defined]
    with cap.llm("chat other", model="m", stream=True) as other:
        other._set_response("resp-2", "m-2025")
        other.set_attribute("gen_ai.response.model", "mine")
        other._set_response(None, "")  # an empty value changes nothing
        other.record_chunk("hi")

    assert "gen_ai.response.id" not in mid_stream  # no SDK call for them mid-stream
    first, second = dict(cap.span("chat m").attributes or {}), dict(cap.span("chat other").attributes or {})
    assert (first["gen_ai.response.id"], first["gen_ai.response.model"]) == ("resp-1", "m-2025")
    assert (second["gen_ai.response.id"], second["gen_ai.response.model"]) == ("resp-2", "mine")
    duration = cap.metrics()["gen_ai.client.operation.duration"].data.data_points  # type: ignore[attr-defined]
    assert sorted(point.attributes.get("gen_ai.response.model") for point in duration) == ["m-2025", "mine"]
