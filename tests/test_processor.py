"""The streaming SpanProcessor: update events while a stream is open, chunk events on request."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from genai_content import output_messages, output_text
from rollout_otel.testing import Capture

INTERVAL = 0.05


def _stream(capture: Capture, deltas: int, seconds: float, name: str = "a.b") -> None:
    """Record `deltas` chunks spread evenly over `seconds` of wall time."""
    with capture.llm(name, stream=True) as span:
        start = time.monotonic()
        for i in range(deltas):
            span.record_chunk(f"t{i} ")
            target = start + seconds * (i + 1) / deltas
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def test_updates_carry_preview_counts_and_the_span_ids(cap: Capture) -> None:
    _stream(cap, deltas=40, seconds=0.4)
    span = cap.span()
    updates = cap.updates(span)
    seconds = (span.end_time - span.start_time) / 1e9  # 0.4 s, or more on a loaded machine
    assert 4 <= len(updates) <= seconds / 0.05 + 1  # one per 0.05 s interval at most
    seqs = [u.log_record.attributes["rollout.stream.update.seq"] for u in updates]
    assert seqs == list(range(1, len(updates) + 1))
    assert span.attributes["rollout.stream.updates"] == len(updates)
    previous_chunks = 0
    for update in updates:
        record = update.log_record
        attrs = record.attributes
        assert record.trace_id == span.context.trace_id
        assert record.span_id == span.context.span_id
        assert record.event_name == "rollout.stream.update"
        assert attrs["rollout.stream.chunks"] > previous_chunks
        previous_chunks = attrs["rollout.stream.chunks"]
        text = "".join(f"t{i} " for i in range(attrs["rollout.stream.chunks"]))
        assert attrs["rollout.stream.chars"] == len(text)
        assert attrs["rollout.stream.preview"] == text[-4096:]
        assert 0 < attrs["rollout.stream.elapsed"] < (span.end_time - span.start_time) / 1e9
        assert record.timestamp is not None and record.timestamp < span.end_time


def test_update_count_is_bounded_by_duration_not_chunks() -> None:
    counts = []
    for deltas in (20, 20_000):
        capture = Capture(stream_update_interval=0.1)
        _stream(capture, deltas=deltas, seconds=0.6)
        counts.append(len(capture.updates()))
        capture.shutdown()
    assert all(4 <= c <= 7 for c in counts), counts


def test_first_update_comes_within_one_interval_of_the_first_chunk() -> None:
    capture = Capture(stream_update_interval=0.2)
    with capture.llm("a.b", stream=True) as span:
        time.sleep(0.05)
        first_chunk = time.time_ns()
        span.record_chunk("x")
        deadline = time.monotonic() + 1
        while not capture.updates() and time.monotonic() < deadline:
            time.sleep(0.005)
    (update,) = capture.updates()
    assert (update.log_record.timestamp - first_chunk) / 1e9 <= 0.2 + 0.05
    capture.shutdown()


def test_no_update_for_an_interval_without_chunks_and_none_after_the_end(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("one")
        time.sleep(INTERVAL * 6)
        span.record_chunk("two")
        time.sleep(INTERVAL * 3)
    time.sleep(INTERVAL * 4)
    updates = cap.updates()
    assert [u.log_record.attributes["rollout.stream.chunks"] for u in updates] == [1, 2]
    assert cap.span().attributes["rollout.stream.updates"] == 2


def test_streams_without_chunks_and_unstreamed_spans_send_no_updates(cap: Capture) -> None:
    with cap.llm("a.b", stream=True):
        time.sleep(INTERVAL * 3)
    with cap.llm("c.d", stream=False) as span:
        span.record_chunk("x")
        time.sleep(INTERVAL * 3)
    assert cap.updates() == []


def test_concurrent_streams_keep_their_own_updates(cap: Capture) -> None:
    def worker(n: int) -> None:
        with cap.llm(f"stream.{n}", stream=True) as span:
            for i in range(30):
                span.record_chunk(f"[{n}:{i}]")
                time.sleep(0.005)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = cap.spans()
    assert len(spans) == 8
    for span in spans:
        n = span.name.split(".")[1]
        assert output_text(span.attributes) == "".join(f"[{n}:{i}]" for i in range(30))
        for update in cap.updates(span):
            assert f"[{n}:0]" in update.log_record.attributes["rollout.stream.preview"]
            assert f"[{int(n) + 1}:" not in update.log_record.attributes["rollout.stream.preview"]
        assert span.attributes["rollout.stream.updates"] == len(cap.updates(span))


def test_chunk_events_arrive_intact_when_asked_for() -> None:
    capture = Capture(capture_stream_chunks=True)
    with capture.llm("a.b", stream=True) as span:
        for i in range(2_000):
            span.record_chunk(f"c{i}")
        span.record_chunk(None)
    events = capture.span().events
    assert len(events) == 2_001
    assert [e.attributes["rollout.chunk.index"] for e in events] == list(range(2_001))
    assert [e.attributes["rollout.chunk.text"] for e in events] == [f"c{i}" for i in range(2_000)] + [""]
    assert {e.name for e in events} == {"rollout.stream.chunk"}
    assert "rollout.stream.chunk_events_dropped" not in capture.span().attributes
    capture.shutdown()


def test_chunk_events_cut_by_a_limit_are_counted() -> None:
    capture = Capture(capture_stream_chunks=True, max_events=100)
    with capture.llm("a.b", stream=True) as span:
        for i in range(250):
            span.record_chunk(f"c{i}")
    s = capture.span()
    assert len(s.events) == 100
    assert s.attributes["rollout.stream.chunk_events_dropped"] == 150
    capture.shutdown()


def test_no_chunk_events_by_default(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        for i in range(300):
            span.record_chunk(f"c{i}")
    assert cap.span().events == ()


def test_capture_content_off_sends_updates_without_text() -> None:
    capture = Capture(capture_content=False, stream_update_interval=0.05)
    _stream(capture, deltas=10, seconds=0.2)
    updates = capture.updates()
    assert updates
    for update in updates:
        assert "rollout.stream.preview" not in update.log_record.attributes
        assert update.log_record.attributes["rollout.stream.chars"] > 0
    capture.shutdown()


def test_live_preview_attribute_is_kept_on_the_open_span(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("live ")
        deadline = time.monotonic() + 1
        while not cap.updates() and time.monotonic() < deadline:
            time.sleep(0.005)
        live = span.otel_span.attributes  # type: ignore[attr-defined]
        assert live["rollout.stream.preview"] == "live "
        assert live["rollout.stream.chunks"] == 1


def test_shutdown_ends_open_spans_as_abandoned_and_stops_updates(cap: Capture) -> None:
    """At shutdown (at exit too) the exporters are about to stop: a span still open ends now, with what it has."""
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("x")
        cap.processor.shutdown()
        assert not span.is_recording
        span.record_chunk("y")  # ignored, with one warning
        time.sleep(INTERVAL * 3)
    assert cap.updates() == []
    attributes = cap.span().attributes
    (message,) = output_messages(attributes)
    assert message["parts"] == [{"content": "x", "type": "text"}]
    assert message["finish_reason"] == "error"
    assert attributes["rollout.stream.end_reason"] == "abandoned"


def test_other_spans_pass_through_untouched(cap: Capture) -> None:
    with cap.tracer_provider.get_tracer("app").start_as_current_span("plain") as plain:
        plain.set_attribute("k", 1)
    assert dict(cap.span("plain").attributes) == {"k": 1}


def test_a_second_processor_leaves_the_span_to_the_first() -> None:
    first = Capture(stream_preview_chars=3)
    second = Capture(stream_preview_chars=10)
    first.tracer_provider.add_span_processor(second.processor)
    with first.llm("a.b", stream=True) as span:
        span.record_chunk("abcdef")
    assert first.span().attributes["rollout.stream.preview"] == "def"
    first.shutdown()
    second.shutdown()


def test_a_shut_down_processor_gives_the_span_to_a_live_one() -> None:
    """A processor cannot be removed from its provider: once shut down, a later one added after it takes over."""
    first = Capture(stream_preview_chars=3, stream_update_interval=INTERVAL)
    second = Capture(stream_preview_chars=10, stream_update_interval=INTERVAL, capture_stream_chunks=True)
    first.tracer_provider.add_span_processor(second.processor)
    first.processor.shutdown()
    _stream(first, deltas=10, seconds=INTERVAL * 4)
    attributes = first.span().attributes
    assert attributes["rollout.stream.preview"] == "".join(f"t{i} " for i in range(10))[-10:]
    assert [e.name for e in first.span().events] == ["rollout.stream.chunk"] * 10
    assert len(second.updates()) >= 2 and first.updates() == []
    second.shutdown()
    with first.llm("a.b", stream=True) as span:  # with none live, the first one claimed keeps its settings
        span.record_chunk("abcdef")
    assert first.spans()[-1].attributes["rollout.stream.preview"] == "def"
    first.shutdown()


def test_abandoned_stream_is_forgotten_by_the_processor(cap: Capture) -> None:
    span = cap.llm("a.b", stream=True)
    span.record_chunk("x")
    del span
    gc.collect()
    time.sleep(INTERVAL * 2)
    assert cap.processor._open == {}
    assert cap.span().attributes["rollout.stream.end_reason"] == "abandoned"


def test_update_thread_idles_when_no_stream_is_open() -> None:
    capture = Capture(stream_update_interval=0.05)
    ticker = capture.processor._ticker
    calls: list[float] = []
    real_tick = ticker._tick

    def counting_tick() -> bool:
        calls.append(time.monotonic())
        return real_tick()

    ticker._tick = counting_tick
    with capture.llm("a.b", stream=True) as span:
        span.record_chunk("x")
        time.sleep(0.25)
    time.sleep(0.1)  # the tick after the end sees no open stream and stops
    settled = len(calls)
    time.sleep(0.5)  # ten intervals with nothing open
    assert settled >= 3
    assert len(calls) == settled
    capture.shutdown()


def test_a_slow_log_exporter_never_makes_end_wait() -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider

    from rollout_otel import StreamingSpanProcessor
    from rollout_otel._config import resolve_settings
    from rollout_otel.trace import llm

    exporting = threading.Event()

    class SlowExporter(LogRecordExporter):
        def export(self, batch: object) -> LogRecordExportResult:
            exporting.set()
            time.sleep(4.0)
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(SlowExporter()))
    provider = TracerProvider()
    processor = StreamingSpanProcessor(resolve_settings(stream_update_interval=0.05), logger_provider=logs)
    provider.add_span_processor(processor)
    span = llm("a.b", stream=True, tracer_provider=provider)
    span.record_chunk("x")
    assert exporting.wait(2)  # an update is being exported, synchronously, on the update thread
    started = time.monotonic()
    span.end()
    assert time.monotonic() - started < 2.5  # the export in progress takes 4 s: a margin a busy machine keeps
    processor.shutdown()


def test_previews_are_made_encodable(cap: Capture) -> None:
    """A stream cut inside an emoji leaves a lone surrogate: the preview carries U+FFFD, never the surrogate."""
    with cap.llm("openai.chat", stream=True) as span:
        span.record_chunk("tail \ud83d")
        cap.processor._send_updates()
    (update,) = cap.updates()
    previews = [update.log_record.attributes["rollout.stream.preview"], cap.span().attributes["rollout.stream.preview"]]
    assert previews == ["tail \ufffd", "tail \ufffd"]
    assert all(isinstance(p, str) and p.encode("utf-8") for p in previews)  # what the exporter must be able to do


def test_claimed_spans_leave_the_processor_when_collected(cap: Capture) -> None:
    """The processor finds what is still open at shutdown, but keeps no LLM span alive."""
    ended, still_open = cap.llm("a.b"), cap.llm("c.d", stream=True)
    ended.end()
    assert len(cap.processor._live) == 2
    gone = weakref.ref(ended)
    del ended
    gc.collect()
    assert gone() is None
    assert [ref() for ref in cap.processor._live] == [still_open]
    cap.processor.shutdown()
    assert cap.span("c.d").attributes["rollout.stream.end_reason"] == "abandoned"


def test_an_update_handed_over_leaves_nothing_for_the_end_to_wait_for(cap: Capture) -> None:
    with cap.llm("a.b", stream=True) as span:
        span.record_chunk("x")
        deadline = time.monotonic() + 5
        while not cap.updates() and time.monotonic() < deadline:
            time.sleep(INTERVAL / 5)
        assert cap.updates()  # exported: the update thread marks it handed over right after
        watch = cap.processor._open[id(span)]
        while watch.in_flight is not None and time.monotonic() < deadline:
            time.sleep(INTERVAL / 5)
        assert watch.in_flight is None
