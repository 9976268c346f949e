"""Live spans: an open stream shown as spans of its own where logs cannot go, without touching the LLM span.

The end-to-end tests stream through the real `openai` client and export over OTLP/HTTP to a receiver that refuses
logs, as Phoenix and MLflow do; then they replay what arrived under each backend's rule for repeated span ids
(Phoenix: the first span received for an id wins; MLflow: the last one wins, and a trace is in progress until its
root arrives).
"""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from otlp_sink import OtlpSink
from rollout_otel import Rollout, wrap
from rollout_otel._live import LIVE_NAME_SUFFIX
from rollout_otel._receiver import ReceivedSpan
from rollout_otel._watch import StreamWatch
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

OUTPUT = "gen_ai.output.messages"


@pytest.fixture
def fast_span_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # live spans are seen while the stream is open


def _text(span: ReceivedSpan) -> str:
    messages = json.loads(span.attributes.get(OUTPUT, "[]"))
    return "".join(part.get("content", "") for m in messages for part in m["parts"] if part["type"] == "text")


def _stream(server: LocalLLMServer, rollout: Rollout, sink: OtlpSink | None = None) -> tuple[str, list[str]]:
    """A 2.4-second chat stream; returns its text and the live text the receiver held while it was open."""
    client = wrap(openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=scenario_headers(chunks=24, delay=0.1),
    )
    text, seen_open = [], []
    for i, chunk in enumerate(stream):
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if sink is not None and i == 16:  # about 1.6 s in: what a backend shows now
            live = sink.wait_for_spans(2, timeout=10, name="openai.chat.completions" + LIVE_NAME_SUFFIX)
            seen_open = [_text(span) for span in live]
            assert not sink.spans("openai.chat.completions")  # the LLM span itself has not been sent
    return "".join(text), seen_open


def _phoenix(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    """Phoenix's rule: insert on conflict do nothing, keyed by span id."""
    kept: dict[str, ReceivedSpan] = {}
    for span in spans:
        kept.setdefault(span.span_id, span)
    return kept


def _mlflow(spans: list[ReceivedSpan]) -> tuple[dict[str, ReceivedSpan], list[str]]:
    """MLflow's rule: upsert by span id; the trace's state after each arrival (in progress until its root)."""
    kept: dict[str, ReceivedSpan] = {}
    states = []
    for span in spans:
        kept[span.span_id] = span
        states.append("OK" if any(s.parent_span_id is None for s in kept.values()) else "IN_PROGRESS")
    return kept, states


@pytest.mark.integration
def test_a_trace_only_backend_shows_the_text_while_the_stream_runs(
    server: LocalLLMServer, fast_span_export: None
) -> None:
    with OtlpSink(accept=("traces",), refuse_status=405) as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.1, metrics=False)
        try:
            _stream(server, rollout)  # its first update event finds that the endpoint refuses logs
            assert rollout.flush(timeout=5)
            sink.clear()
            text, seen_open = _stream(server, rollout, sink)
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        arrived = sink.spans()

    assert seen_open and seen_open[-1] and text.startswith(seen_open[-1])  # the text so far, while it ran
    (llm,) = [s for s in arrived if not s.attributes.get("rollout.live")]
    live = [s for s in arrived if s.attributes.get("rollout.live")]
    assert llm.name == "openai.chat.completions" and llm.parent_span_id is None
    assert _text(llm) == text and llm.attributes["gen_ai.usage.output_tokens"] > 0
    assert 3 <= len(live) <= 4  # at the start, then 1 and 2 seconds in
    assert len({s.span_id for s in arrived}) == len(arrived)  # no id sent twice
    assert [s.attributes["rollout.live.seq"] for s in live] == list(range(1, len(live) + 1))
    for span in live:
        assert span.name == llm.name + LIVE_NAME_SUFFIX
        assert span.trace_id == llm.trace_id and span.parent_span_id == llm.span_id
        assert text.startswith(_text(span))
        assert span.attributes["rollout.stream.name"] == llm.name
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.start_time_unix_nano == llm.start_time_unix_nano
        assert span.end_time_unix_nano <= llm.end_time_unix_nano
        assert "gen_ai.usage.output_tokens" not in span.attributes
    assert arrived[-1] is llm  # after every live span: never held back, and nothing follows it

    phoenix = _phoenix(arrived)
    assert phoenix[llm.span_id] is llm  # first span wins: the final one, since no live span used its id
    mlflow, states = _mlflow(arrived)
    assert mlflow[llm.span_id] is llm
    assert states[:-1] == ["IN_PROGRESS"] * (len(arrived) - 1) and states[-1] == "OK"


@pytest.mark.integration
def test_the_llm_span_is_the_same_with_and_without_live_spans(server: LocalLLMServer, fast_span_export: None) -> None:
    shapes = []
    for mode in ("on", "off"):
        with OtlpSink() as sink:
            rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.1, metrics=False, live_spans=mode)
            try:
                _stream(server, rollout)
                assert rollout.flush(timeout=5)
            finally:
                rollout.shutdown()
            (llm,) = sink.spans("openai.chat.completions")
            volatile = ("gen_ai.response.id", "gen_ai.response.time_to_first_chunk", "rollout.stream.updates")
            timing = ("rollout.stream.time_to_first_text", "rollout.stream.max_gap")
            shapes.append(
                (
                    llm.name,
                    llm.kind,
                    llm.parent_span_id,
                    {k: v for k, v in llm.attributes.items() if k not in volatile + timing},
                    sorted(llm.attributes),
                )
            )
            assert bool(sink.spans("openai.chat.completions" + LIVE_NAME_SUFFIX)) == (mode == "on")
    assert shapes[0] == shapes[1]


def _live(capture: Capture) -> list[Any]:
    return [s for s in capture.spans() if (s.attributes or {}).get("rollout.live")]


def test_live_spans_are_off_where_logs_go() -> None:
    capture = Capture(stream_update_interval=0.05)
    try:
        with capture.llm("a.b", stream=True) as span:
            span.record_chunk("x")
            time.sleep(0.15)
        assert _live(capture) == [] and capture.processor.live_spans_on() is False
    finally:
        capture.shutdown()


@pytest.mark.parametrize(("settings", "on"), [({"live_spans": "on"}, True), ({"live_spans": "off"}, False)])
def test_live_spans_follow_the_setting(settings: dict[str, Any], on: bool) -> None:
    capture = Capture(stream_update_interval=0.05, **settings)
    try:
        capture.processor.follow_refusals({"logs"})  # even with logs refused, off is off
        assert capture.processor.live_spans_on() is on
    finally:
        capture.shutdown()


def test_auto_turns_live_spans_on_when_logs_are_refused_or_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    refused: set[str] = set()
    capture = Capture(stream_update_interval=0.05)
    try:
        capture.processor.follow_refusals(refused)
        assert not capture.processor.live_spans_on()
        refused.add("metrics")
        assert not capture.processor.live_spans_on()
        refused.add("logs")
        assert capture.processor.live_spans_on()
    finally:
        capture.shutdown()
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")  # no logs leave: live spans stand in for the update events
    capture = Capture(stream_update_interval=0.05)
    try:
        assert capture.processor.live_spans_on()
    finally:
        capture.shutdown()


def test_live_spans_carry_no_text_without_content_capture() -> None:
    capture = Capture(stream_update_interval=0.05, live_spans="on", capture_content=False)
    try:
        with capture.llm("a.b", model="m", stream=True) as span:
            time.sleep(0.1)
            span.record_chunk("secret")
        (live,) = _live(capture)  # the one at the start; no second before 1 s
        attributes = live.attributes or {}
        assert OUTPUT not in attributes and "secret" not in json.dumps(dict(attributes))
        assert attributes["gen_ai.request.model"] == "m" and attributes["rollout.stream.chunks"] == 0
    finally:
        capture.shutdown()


def test_live_spans_are_a_handful_whatever_the_length() -> None:
    """The schedule itself, on a simulated clock: one look a second, as the update thread makes them."""

    class Stream:
        _start_ns = 0
        _chunks = 0
        _seen_ns = 0

        def _identity(self) -> dict[str, Any]:
            return {}

    counts = {}
    for seconds in (10, 60, 3600):
        stream = Stream()
        watch = StreamWatch(stream, 1_000_000_000, 0)  # type: ignore[arg-type]
        sent = 0
        for tick in range(seconds + 1):
            stream._chunks = tick * 50
            sent += watch.live_due(stream._chunks, tick * 1_000_000_000)
        counts[seconds] = sent
    assert counts == {10: 5, 60: 7, 3600: 13}
