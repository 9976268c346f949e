"""Fault injection: one bad value, one internal failure or one misuse costs only itself, leaks nothing, and never
raises into the program. Each case went wrong before rollout-otel guarded against it; together they are the
"What rollout-otel guarantees" section of the README.

The export path is real wherever a user meets it: the OTLP exporters over sockets to a receiver the tests start,
the real `openai` client against the bundled server, programs run in subprocesses for exit and start-up.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_content import output_messages, output_text
from otlp_sink import OtlpSink
from rollout_otel import Rollout, RolloutConfigError, StreamingSpanProcessor, trace, wrap
from rollout_otel._config import resolve_settings
from rollout_otel._errors import set_raise_internal_errors
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

pytestmark = pytest.mark.integration
LONE = "\ud83d"  # half an emoji: what json.loads of a cut "\ud83d\ude00" gives
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "rollout.input", "rollout.output")


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as server:
        yield server


@pytest.fixture
def lenient() -> Iterator[None]:
    """These tests provoke failures inside tracing on purpose: they must be logged, as a user's program sees them."""
    set_raise_internal_errors(False)
    yield
    set_raise_internal_errors(True)


def run_python(
    code: str, env: dict[str, str], tmp_path: Path, *, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, str(script)], env={**clean, **env}, capture_output=True, text=True, timeout=timeout
    )


# -- 1. unencodable text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_lone_surrogates_cost_no_span_and_no_attribute(sink: OtlpSink, protocol: str) -> None:
    """300 spans in one batch, half with a lone surrogate in every text they carry: all arrive, every attribute kept.

    (Before, one such span made the exporter drop the whole batch: 1,000 sent, 488 received.)"""
    endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
    rollout = Rollout(endpoint=endpoint, protocol=protocol, metrics=False)
    try:
        for i in range(300):
            bad = LONE if i % 2 else ""
            with (
                pytest.raises(ValueError),
                trace.llm(
                    f"openai.chat{bad}", model=f"gpt{bad}", stream=True, attributes={"app.note": f"n{bad}"}
                ) as span,
            ):
                span.record_input([{"role": "user", "content": f"q{bad}"}])
                span.record_chunk(f"a{bad}")
                span.set_attribute("app.tags", [f"t{bad}", "ok"])
                raise ValueError(f"boom{bad}")
        assert rollout.flush(timeout=10)
    finally:
        rollout.shutdown()
    spans = sink.wait_for_spans(300, timeout=10)
    assert len(spans) == 300
    bad_spans = [s for s in spans if "\ufffd" in s.name]
    assert len(bad_spans) == 150
    span = bad_spans[0]
    assert span.attributes["gen_ai.request.model"] == "gpt\ufffd"
    assert span.attributes["app.note"] == "n\ufffd" and span.attributes["app.tags"] == ["t\ufffd", "ok"]
    assert output_text(span.attributes) == "a\ufffd"
    assert json.loads(span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == "q\ufffd"
    assert span.attributes["rollout.stream.preview"] == "a\ufffd"
    (event,) = span.events
    assert event.attributes["exception.message"] == "boom\ufffd"
    assert span.status_message == "ValueError: boom\ufffd"


def test_a_lone_surrogate_from_the_provider(sink: OtlpSink, llm: LocalLLMServer) -> None:
    """The real openai client streams text cut inside an emoji: the span arrives, the text with U+FFFD."""
    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
    try:
        client = rollout.wrap(openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0))
        for _ in client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],  # the client itself cannot send a lone surrogate
            stream=True,
            extra_headers=scenario_headers(text=f"cut {LONE} here"),
        ):
            pass
        assert rollout.flush(timeout=5)
    finally:
        rollout.shutdown()
    (span,) = sink.wait_for_spans(1)
    assert output_text(span.attributes) == "cut \ufffd here"
    assert span.attributes["rollout.stream.preview"] == "cut \ufffd here"


# -- 2. out-of-range numbers --------------------------------------------------------------------------------------


def test_out_of_range_token_counts_cost_only_themselves(cap: Capture, caplog: pytest.LogCaptureFixture) -> None:
    numpy = pytest.importorskip("numpy")
    for usage in ({"input_tokens": 2**64, "output_tokens": 5}, {"input_tokens": 3, "output_tokens": 1e300}):
        with cap.llm("openai.chat", model="m") as span:
            span.end(output="x", usage=usage)
    with cap.llm("openai.chat", model="m") as span:
        span.end(output="y", usage={"input_tokens": Decimal("7"), "output_tokens": numpy.int64(2)})
    first, second, third = cap.spans()
    assert "gen_ai.usage.input_tokens" not in first.attributes and first.attributes["gen_ai.usage.output_tokens"] == 5
    assert second.attributes["gen_ai.usage.input_tokens"] == 3 and "gen_ai.usage.output_tokens" not in second.attributes
    assert (third.attributes["gen_ai.usage.input_tokens"], third.attributes["gen_ai.usage.output_tokens"]) == (7, 2)
    assert len([r for r in caplog.records if "left out the token count" in r.getMessage()]) == 2
    usage = [p for p in cap.metrics()["gen_ai.client.token.usage"].data.data_points]
    assert sorted((p.attributes["gen_ai.token.type"], p.sum) for p in usage) == [("input", 10), ("output", 7)]


def test_metrics_keep_flowing_after_an_absurd_count(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.http_endpoint)
    try:
        with trace.llm("openai.chat", model="m") as span:
            span.end(output="x", usage={"input_tokens": 2**64, "output_tokens": 1})
        with trace.llm("openai.chat", model="m") as span:
            span.end(output="x", usage={"input_tokens": 4, "output_tokens": 1})
        assert rollout.flush(timeout=5)
    finally:
        rollout.shutdown()
    points = [p for m in sink.metrics("gen_ai.client.token.usage") for p in m.points]
    assert points and {p.attributes["gen_ai.token.type"] for p in points} == {"input", "output"}


# -- 3. the update thread cannot start ----------------------------------------------------------------------------


def test_no_update_thread_costs_the_updates_only(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch, lenient: None
) -> None:
    real_start = threading.Thread.start

    def refuse(thread: threading.Thread) -> None:
        if thread.name == "rollout-otel-updates":
            raise RuntimeError("can't start new thread")
        real_start(thread)

    rollout = Rollout(endpoint=sink.http_endpoint, stream_update_interval=0.05, metrics=False)
    try:
        monkeypatch.setattr(threading.Thread, "start", refuse)
        with trace.llm("openai.chat", stream=True) as span:  # must not raise
            span.record_chunk("a")
            time.sleep(0.2)
        monkeypatch.setattr(threading.Thread, "start", real_start)
        with trace.llm("openai.chat", stream=True) as span:  # the next stream tries again, and gets updates
            span.record_chunk("b")
            sink.wait_for_logs(1, timeout=5)
        monkeypatch.setattr(threading.Thread, "start", refuse)
    finally:
        rollout.shutdown()  # never "cannot join thread before it is started": the exporters are flushed
    assert sorted(output_text(s.attributes) for s in sink.wait_for_spans(2)) == ["a", "b"]


def test_tracer_provider_shutdown_flushes_with_a_never_started_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(StreamingSpanProcessor(resolve_settings(environ={})))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.shutdown()  # the update thread never started: shutting it down must not raise
    assert exporter.get_finished_spans() == ()


# -- 4. size limits -----------------------------------------------------------------------------------------------


def test_a_10_mb_output_arrives_over_grpc_cut_to_the_cap(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", metrics=False)
    try:
        with trace.llm("openai.chat") as span:
            span.end(output="x" * 10_000_000)
        assert rollout.flush(timeout=10)
    finally:
        rollout.shutdown()
    (span,) = sink.wait_for_spans(1)
    encoded = span.attributes["gen_ai.output.messages"]
    assert len(encoded.encode()) <= 750_000 and span.attributes["rollout.content.truncated"] is True
    assert output_text(span.attributes).endswith("...[truncated]")


def test_a_huge_stream_with_chunk_events_stays_within_the_span_budget(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", capture_stream_chunks=True, metrics=False)
    chunks = 60_000  # four times what the span budget holds as events
    try:
        with trace.llm("openai.chat", stream=True) as span:
            for _ in range(chunks):
                span.record_chunk("token ")
        assert rollout.flush(timeout=20)
    finally:
        rollout.shutdown()
    (span,) = sink.wait_for_spans(1, timeout=20)
    kept = len(span.events)
    assert 0 < kept < chunks
    assert span.attributes["rollout.stream.chunk_events_dropped"] == chunks - kept
    assert [e.attributes["rollout.chunk.index"] for e in span.events] == list(range(kept))  # the first ones kept
    assert span.attributes["rollout.stream.chunks"] == chunks


# -- 5. a shared set-up -------------------------------------------------------------------------------------------


def test_shutting_down_one_of_two_rollouts_leaves_the_other_working(sink: OtlpSink) -> None:
    library = Rollout(endpoint=sink.http_endpoint, metrics=False)
    application = Rollout(endpoint=sink.http_endpoint, metrics=False)  # joins the library's set-up
    library.shutdown()
    with trace.llm("openai.chat") as span:
        span.end(output="still traced")
    assert application.flush(timeout=5)
    application.shutdown()
    (span,) = sink.wait_for_spans(1)
    assert output_text(span.attributes) == "still traced"
    assert not application.flush(timeout=1)  # both shut down now


# -- 6. streams open at exit ----------------------------------------------------------------------------------------


def test_streams_open_at_exit_end_abandoned(sink: OtlpSink, llm: LocalLLMServer, tmp_path: Path) -> None:
    code = f"""
    import threading, time, openai
    from rollout_otel import Rollout, trace
    rollout = Rollout(endpoint={sink.http_endpoint!r}, metrics=False)
    client = rollout.wrap(openai.OpenAI(base_url={llm.base_url!r}, api_key="k", max_retries=0))
    stream = client.chat.completions.create(
        model="m", messages=[{{"role": "user", "content": "hi"}}], stream=True,
        extra_headers={{"x-rollout-scenario": "chunks=50;delay=0.05"}},
    )
    next(stream); next(stream)                      # half-read, never closed
    entered = trace.llm("manual.open", stream=True).__enter__()
    entered.record_chunk("never exited")
    def worker():
        with trace.llm("daemon.stream", stream=True) as span:
            while True:
                span.record_chunk("x")
                time.sleep(0.01)
    threading.Thread(target=worker, daemon=True).start()
    time.sleep(0.2)
    print("exiting", time.monotonic())
    """
    result = run_python(code, {}, tmp_path)
    exited = time.monotonic()  # system-wide on Linux: comparable with the child's last reading
    assert result.returncode == 0, result.stderr
    # The exit alone, not start-up: open streams must not hold it (the daemon stream never ends by itself).
    assert exited - float(result.stdout.split()[-1]) < 8
    spans = {s.name: s for s in sink.wait_for_spans(3)}
    assert set(spans) == {"openai.chat.completions", "manual.open", "daemon.stream"}
    for span in spans.values():
        assert span.attributes["rollout.stream.end_reason"] == "abandoned"
    assert output_text(spans["manual.open"].attributes) == "never exited"
    assert output_text(spans["openai.chat.completions"].attributes)  # what the half-read stream delivered


# -- 7, 8. nothing leaks without content capture --------------------------------------------------------------------


def test_no_user_text_without_content_capture(llm: LocalLLMServer) -> None:
    capture = Capture(capture_content=False)
    try:
        client = wrap(
            openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0), tracer_provider=capture.tracer_provider
        )
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stop=["SECRET-STOP"])
        with pytest.raises(KeyError), capture.llm("manual.fail") as span:
            span.record_chunk("x")
            {"a": 1}["SECRET-KEY"]  # the source line holds a string literal
        for span in capture.spans():
            dumped = json.dumps(
                {**dict(span.attributes), "events": [dict(e.attributes) for e in span.events]}, default=str
            )
            assert "SECRET" not in dumped, dumped
        trace_text = capture.spans()[-1].events[0].attributes["exception.stacktrace"]
        assert "test_faults.py" in trace_text and "line" in trace_text  # where it was raised is kept
    finally:
        capture.shutdown()


def test_a_second_rollout_that_turns_content_off_wins(sink: OtlpSink, caplog: pytest.LogCaptureFixture) -> None:
    first = Rollout(endpoint=sink.http_endpoint, metrics=False)  # a library's, with the defaults
    second = Rollout(endpoint=sink.http_endpoint, metrics=False, capture_content=False)
    try:
        with trace.llm("openai.chat", stream=True) as span:
            span.record_input([{"role": "user", "content": "private"}])
            span.record_chunk("private reply")
        assert second.flush(timeout=5)
    finally:
        second.shutdown()
        first.shutdown()
    (span,) = sink.wait_for_spans(1)
    assert not set((*CONTENT_KEYS, "rollout.stream.preview")) & set(span.attributes)
    assert "the strictest setting wins" in caplog.text


# -- 9. API keys ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["sk-abc\r\nX-Injected: 1", "sk-ключ", "sk-\x00"])
def test_api_keys_that_cannot_be_a_header_fail_at_once_redacted(key: str) -> None:
    with pytest.raises(RolloutConfigError, match="api_key") as info:
        Rollout(api_key=key)
    assert key not in str(info.value) and "sk-" not in str(info.value)


def test_an_api_key_over_plain_http_to_another_host_gets_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    Rollout(api_key="sk-1", endpoint="http://collector.internal:4318", metrics=False).shutdown(timeout=0.5)
    Rollout(api_key="sk-1", endpoint="http://127.0.0.1:4318", metrics=False).shutdown(timeout=0.5)
    warnings = [r.getMessage() for r in caplog.records if "plain http://" in r.getMessage()]
    assert len(warnings) == 1 and "collector.internal" in warnings[0] and "sk-1" not in warnings[0]


# -- 10, 11, 13. errors never reach the program; one bad value costs only itself ------------------------------


@pytest.mark.parametrize("name", [None, 5])
def test_a_name_that_is_not_a_string_is_logged_and_the_block_runs(cap: Capture, name: Any) -> None:
    ran = False
    with cap.llm(name) as span:
        span.record_chunk("x")
        ran = True
    assert ran and cap.span().name == ("llm" if name is None else "5")


def test_a_span_processor_that_raises_leaves_the_block_untraced(caplog: pytest.LogCaptureFixture) -> None:
    class Raising(SimpleSpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            raise RuntimeError("user processor bug")

    provider = TracerProvider()
    provider.add_span_processor(Raising(InMemorySpanExporter()))
    ran = []
    with trace.llm("openai.chat", stream=True, tracer_provider=provider) as span:
        span.record_chunk("x")
        span.set_attribute("k", "v")
        ran.append(True)
    assert ran == [True] and not span.is_recording
    assert "could not start the span" in caplog.text


def test_keyboard_interrupt_in_next_ends_the_span_closed_at_once(
    llm: LocalLLMServer, cap: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = wrap(openai.OpenAI(base_url=llm.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider)
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    next(stream)
    monkeypatch.setattr(openai.Stream, "__next__", lambda self: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        next(stream)
    (span,) = cap.spans()  # ended now, not when the stream is collected
    assert span.attributes["rollout.stream.end_reason"] == "closed"


def test_a_bad_finish_reason_costs_only_itself(cap: Capture) -> None:
    with cap.llm("openai.chat", stream=True) as span:
        span.record_chunk("x")
        span.end(finish_reason=5)  # type: ignore[arg-type]
    attributes = cap.span().attributes
    assert attributes["gen_ai.response.finish_reasons"] == ("5",)
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert output_messages(attributes)[0]["finish_reason"] == "5"


# -- 12. fork -------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_export_the_parents_open_span(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
    try:
        with trace.llm("openai.chat", stream=True) as span:
            span.record_chunk("parent ")
            pid = os.fork()
            if pid == 0:  # the child: go on as a worker would, then exit through the normal shutdown
                try:
                    span.record_chunk("child")
                    rollout.shutdown(timeout=2)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            span.record_chunk("end")
        assert rollout.flush(timeout=5)
    finally:
        rollout.shutdown()
    time.sleep(0.3)
    spans = sink.spans()
    assert len(spans) == 1 and output_text(spans[0].attributes) == "parent end"


# -- 15. bad OTEL_* values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-5"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "abc"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-3"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "soon"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "never"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization"),
    ],
)
def test_bad_otel_values_fail_rollout_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(RolloutConfigError) as info:
        Rollout()
    assert str(info.value).startswith(f"{name}=")


def test_bad_otel_values_under_opentelemetry_instrument_are_logged_once_and_defaulted(
    sink: OtlpSink, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "from rollout_otel import trace\nwith trace.llm('openai.chat') as s:\n    s.end(output='ok')\nprint('ran')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    env = {
        **clean,
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_BSP_MAX_QUEUE_SIZE": "-5",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    result = subprocess.run(
        ["opentelemetry-instrument", sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "ran", result.stderr
    named = [line for line in result.stderr.splitlines() if "OTEL_BSP_MAX_QUEUE_SIZE" in line]
    assert len(named) == 1 and "default" in named[0]
    assert [s.name for s in sink.wait_for_spans(1)] == ["openai.chat"]


# -- 16. flush against a collector that never answers ----------------------------------------------------------


def test_repeated_flushes_share_one_thread_against_a_silent_collector(lenient: None) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # accepts connections (the kernel does) and never answers
    port = silent.getsockname()[1]
    rollout = Rollout(endpoint=f"http://127.0.0.1:{port}", metrics=False)
    try:
        with trace.llm("openai.chat") as span:
            span.end(output="x")
        results = [rollout.flush(timeout=0.02) for _ in range(50)]
        assert not any(results)
        flushing = [t for t in threading.enumerate() if t.name == "rollout-otel-flush"]
        assert len(flushing) <= 1
    finally:
        rollout.shutdown(timeout=0.5)
        silent.close()


def test_keyboard_interrupt_in_anext_ends_the_span_closed_at_once(
    llm: LocalLLMServer, cap: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        client = wrap(
            openai.AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
        )
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        await stream.__anext__()

        async def interrupted(self: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(openai.AsyncStream, "__anext__", interrupted)
        with pytest.raises(KeyboardInterrupt):
            await stream.__anext__()
        (span,) = cap.spans()  # ended now, not when the stream is collected
        assert span.attributes["rollout.stream.end_reason"] == "closed"

    import asyncio

    asyncio.run(main())


def test_a_joined_rollout_sees_the_failures_of_the_shared_exports() -> None:
    with OtlpSink(accept=("logs",), refuse_status=400) as sink:  # every span export fails with 400
        owner = Rollout(endpoint=sink.http_endpoint, metrics=False)
        joined = Rollout(endpoint=sink.http_endpoint, metrics=False)
        try:
            with trace.llm("openai.chat") as span:
                span.end(output="x")
            assert not joined.flush(timeout=5)
        finally:
            joined.shutdown(timeout=1)
            owner.shutdown(timeout=1)


def test_chunk_events_in_any_script_keep_the_span_under_a_collectors_limit() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    capture = Capture(capture_stream_chunks=True, max_content_bytes=3_500_000)
    try:
        for delta in ("ascii ", "漢字かな", "😀😀"):  # 40,000 chunks each: past the budget at any width
            with capture.llm("openai.chat", stream=True) as span:
                for _ in range(40_000):
                    span.record_chunk(delta)
        for span in capture.spans():
            size = len(encode_spans([span]).SerializeToString())
            assert size < 4 * 1024 * 1024, size
            assert span.attributes["rollout.stream.chunk_events_dropped"] > 0
    finally:
        capture.shutdown()
