"""The manual span API: trace.llm(...) and LLMSpan."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from rollout_otel import _errors, trace
from rollout_otel.testing import Capture


def test_streamed_span_records_output_usage_and_summary(cap: Capture) -> None:
    with cap.llm("openai.responses", model="gpt-4.1-mini", stream=True) as span:
        span.record_input({"messages": [{"role": "user", "content": "Hi"}]})
        for delta in ["Hel", "lo", " wor", "ld"]:
            span.record_chunk(delta)
        span.end(usage={"input_tokens": 512, "output_tokens": 128}, finish_reason="stop")

    s = cap.span("openai.responses")
    assert s.kind is SpanKind.CLIENT
    assert dict(s.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.request.stream": True,
        "rollout.input": '{"messages":[{"role":"user","content":"Hi"}]}',
        "rollout.output": "Hello world",
        "gen_ai.usage.input_tokens": 512,
        "gen_ai.usage.output_tokens": 128,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.response.time_to_first_chunk": pytest.approx(s.attributes["gen_ai.response.time_to_first_chunk"]),
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
    assert attrs["rollout.output"] == "final answer"
    assert attrs["rollout.stream.preview"] == "final answer"  # the preview is the tail of the output


def test_structured_output_is_json(cap: Capture) -> None:
    with cap.llm("x.y") as span:
        span.end(output=[{"index": 0, "text": "a", "tool_calls": [], "finish_reason": "stop"}])
    assert json.loads(cap.span().attributes["rollout.output"]) == [
        {"index": 0, "text": "a", "tool_calls": [], "finish_reason": "stop"}
    ]


def test_block_without_end_finishes_with_accumulated_text(cap: Capture) -> None:
    with cap.llm("openai.chat", stream=True) as span:
        span.record_chunk("a")
        span.record_chunk("b")
    s = cap.span()
    assert s.attributes["rollout.output"] == "ab"
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
    assert s.attributes["rollout.output"] == "first"
    assert s.attributes["rollout.stream.chunks"] == 1
    assert "rollout.input" not in s.attributes
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
    assert s.attributes["rollout.output"] == "so far"
    assert [e.name for e in s.events] == ["exception"]


def test_end_then_exception_does_not_finalize_twice(cap: Capture) -> None:
    with pytest.raises(RuntimeError), cap.llm("x.y") as span:
        span.end(output="done")
        raise RuntimeError("after end")
    s = cap.span()
    assert s.status.status_code is StatusCode.UNSET
    assert s.attributes["rollout.output"] == "done"


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
    assert attrs["rollout.output"] == "hi"
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
    assert [s.attributes["rollout.output"] for s in cap.spans()] == ["x", "y"]


def test_cancellation_ends_as_cancelled_not_error(cap: Capture) -> None:
    started = asyncio.Event()

    async def streaming() -> None:
        async with cap.llm("a.b", stream=True) as span:
            span.record_chunk("part")
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
    assert s.attributes["rollout.output"] == "a"


def test_unfinished_span_garbage_collected_ends_as_abandoned(cap: Capture) -> None:
    span = cap.llm("a.b", stream=True)
    span.record_chunk("lost")
    del span
    gc.collect()
    s = cap.span()
    assert s.attributes["rollout.stream.end_reason"] == "abandoned"
    assert s.attributes["rollout.output"] == "lost"


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
    assert attrs["rollout.output"] == expected
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
    assert cap.span().attributes["rollout.output"] == "ok"
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
    assert attrs["rollout.output"] == "abc"
    capture.shutdown()


def test_capture_content_off_keeps_counts_and_usage_only() -> None:
    capture = Capture(capture_content=False, capture_stream_chunks=True)
    with capture.llm("a.b", stream=True) as span:
        span.record_input({"secret": "prompt"})
        span.record_chunk("secret ")
        span.record_chunk("answer")
        span.end(usage={"input_tokens": 1, "output_tokens": 2})
    s = capture.span()
    assert "rollout.input" not in s.attributes
    assert "rollout.output" not in s.attributes
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
    assert s.attributes["rollout.output"] == "hi"
    assert s.attributes["gen_ai.usage.output_tokens"] == 1
    assert s.attributes["rollout.stream.updates"] == 0


def test_global_provider_is_used_by_default() -> None:
    capture = Capture()
    otel_trace.set_tracer_provider(capture.tracer_provider)
    with trace.llm("a.b") as span:
        span.end(output="x")
    assert capture.span().attributes["rollout.output"] == "x"
    capture.shutdown()


def test_environment_settings_apply_without_a_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_CAPTURE_CONTENT", "off")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with trace.llm("a.b", tracer_provider=provider) as span:
        span.record_input("secret")
        span.end(output="secret")
    (s,) = exporter.get_finished_spans()
    assert "rollout.input" not in s.attributes and "rollout.output" not in s.attributes


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
    assert json.loads(cap.span().attributes["rollout.input"]) == expected


def test_record_input_falls_back_to_repr_and_never_raises(cap: Capture) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with cap.llm("a.b") as span:
        span.record_input(cyclic)
    assert json.loads(cap.span().attributes["rollout.input"]) == "{'self': {...}}"
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
    spans = cap.spans()
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
        span.record_input({"messages": ["hi"], "response_format": Answer})
    recorded = json.loads(cap.span().attributes["rollout.input"])
    assert recorded["messages"] == ["hi"]
    assert recorded["response_format"].endswith("Answer")
