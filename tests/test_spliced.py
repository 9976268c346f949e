"""A long stream's text spliced into its output block by block: every span is exactly what the usual encoding of the
whole text gives, for the manual API and instrumented streams, completed, cut short or over the size cap."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from rollout_otel import _spliced, trace, wrap
from rollout_otel import trace as trace_module
from rollout_otel._errors import set_raise_internal_errors
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

# Text that escaping changes: quotes, backslashes, newlines, control and non-ASCII characters, an emoji and a
# lone surrogate (which becomes U+FFFD).
PIECES = ['say "hi"', "\\path\\", "line\nnext\t", "\x01\x1f", "héllo wörld", "\U0001f600", "\ud800 lone", " plain"]
SPLICES: list[str] = []  # what the last `both_ways` spliced
CONTENT_KEYS = ("gen_ai.output.messages", "rollout.stream.preview", "rollout.stream.chars", "rollout.content.truncated")


def manual_stream(cap: Capture, deltas: list[str], **end: Any) -> ReadableSpan:
    with trace.llm("openai.chat", stream=True, tracer_provider=cap.tracer_provider) as span:
        for delta in deltas:
            span.record_chunk(delta)
        if end:
            span.end(**end)
    return cap.spans()[-1]


def both_ways(
    monkeypatch: pytest.MonkeyPatch, run: Callable[[Capture], ReadableSpan], **settings: Any
) -> tuple[ReadableSpan, ReadableSpan]:
    """The same stream with its text spliced in (from 100 characters on) and with the usual encoding of it whole."""
    found = []
    spliced: list[str] = []
    real_splice = _spliced.splice

    def counted(encoded: str, blocks: list[str]) -> str:
        spliced.append(result := real_splice(encoded, blocks))
        return result

    monkeypatch.setattr(_spliced, "splice", counted)
    for splice_from in (100, 10**12):
        monkeypatch.setattr(trace_module, "_SPLICE_FROM", splice_from)
        cap = Capture(**settings)
        try:
            found.append(run(cap))
        finally:
            cap.shutdown()
    SPLICES[:] = spliced
    return found[0], found[1]


def content_of(span: ReadableSpan) -> dict[str, Any]:
    """The content attributes, tool-call ids (new on each request) set aside."""
    found = {key: span.attributes.get(key) for key in CONTENT_KEYS}  # type: ignore[union-attr]
    if isinstance(found["gen_ai.output.messages"], str):
        found["gen_ai.output.messages"] = re.sub(r'"call_\w+"', '"call"', found["gen_ai.output.messages"])
    return found


@pytest.mark.parametrize("seal_inside_pair", [False, True])
def test_a_long_manual_stream_is_exactly_the_usual_encoding(
    monkeypatch: pytest.MonkeyPatch, seal_inside_pair: bool
) -> None:
    deltas = [PIECES[i % len(PIECES)] for i in range(3000)]
    if seal_inside_pair:  # an emoji's surrogate halves on both sides of the block sealed at chunk 2,048
        deltas[2047], deltas[2048] = "\ud83d", "\ude00"
    spliced, usual = both_ways(monkeypatch, lambda cap: manual_stream(cap, deltas))
    assert content_of(spliced) == content_of(usual)
    (message,) = json.loads(spliced.attributes["gen_ai.output.messages"])  # type: ignore[arg-type]
    expected = "".join(deltas).replace("\ud800", "\ufffd")
    if seal_inside_pair:
        expected = expected.replace("\ud83d\ude00", "\U0001f600")
    assert message["parts"] == [{"content": expected, "type": "text"}]
    assert [spliced.attributes["gen_ai.output.messages"]] == SPLICES  # spliced, not the usual path
    assert _spliced.PLACEHOLDER not in str(spliced.attributes)


def test_an_explicit_output_wins_and_the_text_still_gives_the_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    deltas = ["chunk "] * 500
    spliced, usual = both_ways(monkeypatch, lambda cap: manual_stream(cap, deltas, output="final answer"))
    assert content_of(spliced) == content_of(usual)
    assert "final answer" in spliced.attributes["gen_ai.output.messages"]  # type: ignore[operator]
    assert SPLICES == []


def test_over_the_size_cap_the_usual_path_cuts_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    deltas = [PIECES[i % len(PIECES)] for i in range(3000)]
    spliced, usual = both_ways(monkeypatch, lambda cap: manual_stream(cap, deltas), max_content_bytes=4000)
    assert content_of(spliced) == content_of(usual)
    assert spliced.attributes["rollout.content.truncated"] is True  # type: ignore[index]
    assert SPLICES == []  # the usual path cut it


def test_with_content_capture_off_nothing_is_kept_or_spliced(monkeypatch: pytest.MonkeyPatch) -> None:
    spliced, usual = both_ways(monkeypatch, lambda cap: manual_stream(cap, ["x" * 50] * 10), capture_content=False)
    assert content_of(spliced) == content_of(usual) == {**dict.fromkeys(CONTENT_KEYS), "rollout.stream.chars": 500}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as running:
        yield running


def chat_span(server: LocalLLMServer, cap: Capture, stop_after: int | None = None, **scenario: Any) -> ReadableSpan:
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        extra_headers=scenario_headers(**scenario),
    )
    try:
        for index, _ in enumerate(stream):
            if stop_after is not None and index >= stop_after:
                break
    except openai.APIConnectionError:  # a dropped connection: the span keeps what arrived
        pass
    del stream
    gc.collect()
    return cap.spans()[-1]


def responses_span(server: LocalLLMServer, cap: Capture, **scenario: Any) -> ReadableSpan:
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    try:
        for _ in client.responses.create(
            model="m", input="Hi", stream=True, extra_headers=scenario_headers(**scenario)
        ):
            pass
    except openai.APIConnectionError:
        pass
    gc.collect()
    return cap.spans()[-1]


@pytest.mark.parametrize(
    ("run", "scenario"),
    [
        (chat_span, {"chunks": 1500}),
        (chat_span, {"chunks": 1500, "tools": 1}),  # text, then a tool call: both in the output message
        (chat_span, {"chunks": 1500, "drop_after": 1200}),  # failed: the text received so far
        (responses_span, {"chunks": 1500}),  # the output from response.completed, its text spliced in slices
        (responses_span, {"chunks": 1500, "drop_after": 1200}),  # no response.completed: the streamed text
    ],
    ids=["chat", "chat-tools", "chat-dropped", "responses", "responses-dropped"],
)
def test_instrumented_streams_are_exactly_the_usual_encoding(
    monkeypatch: pytest.MonkeyPatch,
    server: LocalLLMServer,
    run: Callable[..., ReadableSpan],
    scenario: dict[str, Any],
) -> None:
    spliced, usual = both_ways(monkeypatch, lambda cap: run(server, cap, **scenario))
    assert content_of(spliced) == content_of(usual)
    assert spliced.attributes["rollout.stream.chars"] > 100  # type: ignore[operator]
    assert spliced.attributes["rollout.stream.end_reason"] == usual.attributes["rollout.stream.end_reason"]  # type: ignore[index]
    assert _spliced.PLACEHOLDER not in str(spliced.attributes)
    assert len(SPLICES) == 1  # the stream's blocks, or the final response's text


def test_a_chat_stream_stopped_early_keeps_what_it_received(
    monkeypatch: pytest.MonkeyPatch, server: LocalLLMServer
) -> None:
    spliced, usual = both_ways(monkeypatch, lambda cap: chat_span(server, cap, stop_after=1100, chunks=1500))
    assert content_of(spliced) == content_of(usual)
    assert spliced.attributes["rollout.stream.end_reason"] == "closed"  # type: ignore[index]
    assert len(SPLICES) == 1


def test_a_failing_splice_costs_the_output_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(encoded: str, text: Any) -> str:
        raise RuntimeError("splice failed")

    monkeypatch.setattr(_spliced, "splice", broken)
    monkeypatch.setattr(trace_module, "_SPLICE_FROM", 100)
    set_raise_internal_errors(False)  # logged and swallowed, as in a user's program
    cap = Capture()
    try:
        with trace.llm("openai.chat", stream=True, tracer_provider=cap.tracer_provider) as span:
            span.record_input([{"role": "user", "content": "Hi"}])
            for _ in range(300):
                span.record_chunk("word ")
        (finished,) = cap.spans()
        assert "gen_ai.output.messages" not in finished.attributes  # type: ignore[operator]
        assert "Hi" in finished.attributes["gen_ai.input.messages"]  # type: ignore[index,operator]
        assert finished.attributes["rollout.stream.chars"] == 1500  # type: ignore[index]
        assert _spliced.PLACEHOLDER not in str(finished.attributes)
    finally:
        set_raise_internal_errors(True)
        cap.shutdown()


def test_an_output_the_cap_cut_around_the_placeholder_takes_the_usual_path() -> None:
    """The output encoded with the placeholder is over the cap (a part holds a long list of short items, which the
    cut drops): the usual encoding of the whole text cuts the text first, so the splice must not be taken even if
    what the cut left and the text fit the cap."""
    from rollout_otel._content import OutputMessages, content_attributes

    text = "answer " * 3000  # 21,000 characters: spliced from 16,384

    def messages(content: str) -> OutputMessages:
        items = [{"type": "text", "content": "r"} for _ in range(20_000)]  # short strings: the cut drops them
        parts = [{"type": "text", "content": content}, {"type": "server_tool_result", "result": items}]
        return OutputMessages([{"role": "assistant", "parts": parts, "finish_reason": "stop"}])

    usual = content_attributes(None, messages(text), 30_000, None, 1_000_000)
    with_placeholder = messages(_spliced.PLACEHOLDER)
    content = content_attributes(None, with_placeholder, 30_000, None, 1_000_000)
    spliced = _spliced.spliced_content(
        content, _spliced.SplicedText(text=text), None, with_placeholder, None, 30_000, 1_000_000
    )
    assert spliced == usual
