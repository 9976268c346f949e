"""Nothing lost at production size: requests that fit every receiver, bounded attributes, counted losses.

Receivers here enforce the ordinary limits over real sockets: gRPC's default 4 MiB message limit, and an HTTP
body limit answered with 413. Each test is one way telemetry was lost before (DESIGN §10).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_content import output_text
from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace
from rollout_otel._safe import ATTRIBUTE_MAX_BYTES
from rollout_otel.testing import Capture

pytestmark = pytest.mark.integration

GRPC_LIMIT = 4 * 1024 * 1024  # what a receiver takes by default
FIFTY_KB = "y" * 50_000
DURATION = "gen_ai.client.operation.duration"


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    """A receiver with a collector's ordinary limit: 4 MiB a request, over gRPC and HTTP."""
    with OtlpSink(max_body_bytes=GRPC_LIMIT) as running:
        yield running


def endpoint(sink: OtlpSink, protocol: str) -> str:
    return sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint


def traces_requests(sink: OtlpSink) -> list[Any]:
    return [r for r in sink.requests() if r.path.endswith(("/v1/traces", "TraceService/Export"))]


def send_calls(count: int, content: str = FIFTY_KB, **kwargs: Any) -> None:
    for index in range(count):
        with trace.llm("openai.chat", **kwargs) as span:
            span.set_attribute("call.index", index)
            span.end(output=content)


# -- requests that fit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_batch_of_fifty_kb_spans_arrives_whole_within_the_default_limit(protocol: str) -> None:
    """512 spans of 50 KB are a 25 MB batch: sent as requests of at most 4,000,000 bytes, none refused."""
    with OtlpSink(max_body_bytes=GRPC_LIMIT) as sink:
        rollout = Rollout(endpoint=endpoint(sink, protocol), protocol=protocol, metrics=False)
        try:
            send_calls(600)
            assert rollout.flush(timeout=60)
        finally:
            rollout.shutdown()
        spans = sink.wait_for_spans(600, timeout=30)
        assert sorted(s.attributes["call.index"] for s in spans) == list(range(600))
        sizes = [r.payload_size for r in traces_requests(sink)]
        assert len(sizes) > 1 and max(sizes) <= 4_000_000 and all(r.item_count for r in traces_requests(sink))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_receiver_that_says_too_large_gets_the_batch_split_and_resent(protocol: str) -> None:
    """max_export_bytes above the receiver's limit: RESOURCE_EXHAUSTED or 413 halves the request until it fits."""
    with OtlpSink(max_body_bytes=1_000_000) as sink:  # the HTTP limit; gRPC keeps its 4 MiB
        rollout = Rollout(
            endpoint=endpoint(sink, protocol), protocol=protocol, metrics=False, max_export_bytes=32_000_000
        )
        try:
            send_calls(300)
            assert rollout.flush(timeout=60)
        finally:
            rollout.shutdown()
        spans = sink.wait_for_spans(300, timeout=30)
        assert sorted(s.attributes["call.index"] for s in spans) == list(range(300))


def test_a_span_alone_over_the_limit_loses_content_not_itself(sink: OtlpSink) -> None:
    limit = 200_000
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", metrics=False, max_export_bytes=limit)
    try:
        with trace.llm("openai.chat", attributes={"note": "kept"}) as span:
            span.record_input([{"role": "user", "content": "q" * 600_000}])
            span.end(output="a" * 600_000)
        assert rollout.flush(timeout=20)
    finally:
        rollout.shutdown()
    (span,) = sink.wait_for_spans(1)
    assert span.attributes["rollout.content.truncated"] is True and span.attributes["note"] == "kept"
    assert output_text(span.attributes).startswith("aaa")  # still the conventions' JSON
    json.loads(span.attributes["gen_ai.input.messages"])
    assert max(r.payload_size for r in traces_requests(sink)) <= limit


def test_a_span_the_receiver_refuses_for_size_is_cut_until_it_is_taken() -> None:
    """The receiver's limit is below max_export_bytes and the batch holds one span: that span is cut, not lost."""
    with OtlpSink(max_body_bytes=300_000) as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
        try:
            with trace.llm("openai.chat") as span:
                span.end(output="b" * 700_000)
            assert rollout.flush(timeout=20)
        finally:
            rollout.shutdown()
        (span,) = sink.wait_for_spans(1)
    assert span.attributes["rollout.content.truncated"] is True
    assert output_text(span.attributes).startswith("bbb")


def test_an_update_event_over_the_limit_arrives_cut(sink: OtlpSink) -> None:
    limit = 65_536
    rollout = Rollout(
        endpoint=sink.grpc_endpoint,
        protocol="grpc",
        metrics=False,
        max_export_bytes=limit,
        stream_preview_chars=200_000,
        stream_update_interval=0.05,
    )
    try:
        with trace.llm("openai.chat", stream=True) as span:
            span.record_chunk("p" * 150_000)
            sink.wait_for_logs(1, event_name="rollout.stream.update", timeout=10)
        assert rollout.flush(timeout=10)
    finally:
        rollout.shutdown()
    update = sink.logs("rollout.stream.update")[0]
    assert update.attributes["rollout.content.truncated"] is True
    assert update.attributes["rollout.stream.preview"].startswith("ppp")
    assert update.attributes["rollout.stream.chars"] == 150_000
    requests = [r for r in sink.requests() if "Logs" in r.path or r.path.endswith("/v1/logs")]
    assert requests and max(r.payload_size for r in requests) <= limit


def test_the_largest_documented_settings_give_a_span_a_grpc_receiver_takes(sink: OtlpSink) -> None:
    """max_content_bytes=3,500,000, a 1,000,000-character preview and chunk events: 4.22 MB before, now within."""
    rollout = Rollout(
        endpoint=sink.grpc_endpoint,
        protocol="grpc",
        metrics=False,
        max_content_bytes=3_500_000,
        stream_preview_chars=1_000_000,
        capture_stream_chunks=True,
    )
    try:
        with trace.llm("openai.chat", stream=True) as span:
            span.record_input([{"role": "user", "content": "i" * 3_400_000}])
            for _ in range(800):
                span.record_chunk("c" * 5_000)
        assert rollout.flush(timeout=30)
    finally:
        rollout.shutdown()
    (span,) = sink.wait_for_spans(1, timeout=20)
    assert span.attributes["rollout.stream.chunks"] == 800
    assert max(r.payload_size for r in traces_requests(sink)) <= 4_000_000


# -- bounded attributes -------------------------------------------------------------------------------------------


def test_every_attribute_rollout_writes_is_bounded() -> None:
    cap = Capture()
    huge = "m" * 5_000_000
    with cap.llm("openai.chat", model=huge, attributes={"custom": huge, "tags": [huge, "short"]}) as span:
        span.set_attribute("gen_ai.response.id", huge)
        span.end(output="ok", error=RuntimeError(huge), finish_reason=huge)
    attributes = cap.span().attributes
    for key in ("gen_ai.request.model", "custom", "gen_ai.response.id", "error.type"):
        assert len(str(attributes[key]).encode()) <= ATTRIBUTE_MAX_BYTES, key
    assert attributes["gen_ai.request.model"].startswith("mmm")
    assert sum(len(item) for item in attributes["tags"]) <= ATTRIBUTE_MAX_BYTES
    assert all(len(reason) <= ATTRIBUTE_MAX_BYTES for reason in attributes["gen_ai.response.finish_reasons"])
    (event,) = cap.span().events
    assert all(len(str(value)) <= ATTRIBUTE_MAX_BYTES for value in event.attributes.values())
    assert len(cap.span().status.description or "") <= 2 * ATTRIBUTE_MAX_BYTES
    points = [
        point.attributes
        for metric in cap.metric_reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
        for point in metric.data.data_points
    ]
    assert points and all(len(str(a.get("gen_ai.request.model", ""))) <= ATTRIBUTE_MAX_BYTES for a in points)
    cap.shutdown()


def test_a_5_mb_model_name_costs_no_span_of_its_batch(sink: OtlpSink) -> None:
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", metrics=False)
    try:
        send_calls(20, content="small")
        send_calls(1, content="small", model="x" * 5_000_000, attributes={"custom": "z" * 5_000_000})
        assert rollout.flush(timeout=20)
    finally:
        rollout.shutdown()
    assert len(sink.wait_for_spans(21)) == 21


# -- metrics --------------------------------------------------------------------------------------------------------


def test_five_thousand_models_keep_metrics_flowing_within_the_limit(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8192")  # the 5,000 spans come faster than one export thread sends
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", max_export_bytes=1_000_000)
    try:
        for index in range(5_000):
            with trace.llm("openai.chat", model=f"model-{index:05d}-" + "v" * 200) as span:
                span.end(output="x", usage={"input_tokens": 3, "output_tokens": 4})
        assert rollout.flush(timeout=60)
        sink.wait_for(lambda: sink.metrics(), timeout=10)
        requests = [r for r in sink.requests() if "Metrics" in r.path]
        assert requests and max(r.payload_size for r in requests) <= 1_000_000
        overflow = [p for m in sink.metrics() for p in m.points if p.attributes.get("otel.metric.overflow")]
        assert overflow  # the series past the bound went to the SDK's overflow series
        sink.clear()
        with trace.llm("openai.chat", model="after") as span:
            span.end(output="x")
        assert rollout.flush(timeout=20)
        sink.wait_for(lambda: sink.metrics(), timeout=10)  # metrics did not stop
    finally:
        rollout.shutdown()


def test_a_metrics_request_the_receiver_refuses_for_size_is_split(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_export_bytes above gRPC's 4 MiB: the receiver answers RESOURCE_EXHAUSTED, and the points go in halves."""
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8192")  # the 3,000 spans can come faster than one thread sends
    rollout = Rollout(endpoint=sink.grpc_endpoint, protocol="grpc", max_export_bytes=32_000_000)
    try:
        for index in range(3_000):  # within the series bound (3,906 for 32 MB), 9,000 points of about 1 KB
            with trace.llm("openai.chat", model=f"model-{index:05d}-" + "w" * 1_000) as span:
                span.end(output="x", usage={"input_tokens": 3, "output_tokens": 4})
        assert rollout.flush(timeout=60)
    finally:
        rollout.shutdown()
    models = {p.attributes.get("gen_ai.request.model") for m in sink.metrics(DURATION) for p in m.points}
    assert len(models - {None}) == 3_000
    requests = [r for r in sink.requests() if "Metrics" in r.path]
    assert len(requests) > 1 and max(r.payload_size for r in requests) <= GRPC_LIMIT


# -- counted losses -------------------------------------------------------------------------------------------------


def test_a_full_queue_is_counted_warned_once_and_flush_says_so(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16")
    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
    try:
        (export,) = rollout._span_exports
        with export.inner._batch_processor._export_lock:  # the export thread is busy: the queue fills up
            send_calls(100, content="q")
        assert not rollout.flush(timeout=10)
        send_calls(3, content="q")
        assert rollout.flush(timeout=10)  # nothing lost since the previous flush
    finally:
        rollout.shutdown()
    # Only the queue's lines: another test's Rollout, still shutting down, may log its own loss meanwhile.
    lines = [r.getMessage() for r in caplog.records if "the export queue was full" in r.getMessage()]
    # the first loss at once, the rest summed at shutdown (a minute apart at most otherwise)
    assert len(lines) == 2 and all("OTEL_BSP_MAX_QUEUE_SIZE" in line for line in lines), lines
    counts = [int(line.split("dropped ")[1].split()[0]) for line in lines]
    assert counts[0] == 1 and sum(counts) == 100 - 16
    assert "Queue full" not in caplog.text
    assert len(sink.wait_for_spans(19)) == 19


def test_a_full_update_event_queue_is_counted_too(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "4")
    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False, stream_update_interval=0.05)
    try:
        (export,) = rollout._log_exports
        with export.inner._batch_processor._export_lock:  # the export thread is busy: the queue fills up
            streams = [trace.llm("openai.chat", stream=True) for _ in range(10)]
            for _ in range(6):
                for stream in streams:
                    stream.record_chunk("x")
                time.sleep(0.06)  # an update event per stream and interval
            for stream in streams:
                stream.end()
        assert not rollout.flush(timeout=10)
    finally:
        rollout.shutdown()
    lines = [r.getMessage() for r in caplog.records]
    assert any("update event" in line and "OTEL_BLRP_MAX_QUEUE_SIZE" in line for line in lines), lines


def test_spans_lost_while_the_receiver_was_down_make_the_next_flush_false(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    with OtlpSink() as first:
        port = first.http_port
        rollout = Rollout(endpoint=first.http_endpoint, metrics=False)
    try:
        send_calls(5, content="lost")
        deadline = time.monotonic() + 10
        while rollout._failures.total() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # the export thread sends them, and nothing listens
        with OtlpSink(port=port) as back:
            assert not rollout.flush(timeout=10)  # they were lost since the previous flush
            send_calls(2, content="arrives")
            assert rollout.flush(timeout=10)
            assert len(back.wait_for_spans(2)) == 2
    finally:
        rollout.shutdown()
    assert any("5 were dropped while it failed" in r.getMessage() for r in caplog.records), caplog.text


# -- lifecycle ------------------------------------------------------------------------------------------------------


def test_finished_spans_leave_within_a_second_unless_the_delay_is_set(
    sink: OtlpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rollout_otel import distro

    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
    (export,) = rollout._span_exports
    assert export.inner._batch_processor._schedule_delay_millis == 1000
    rollout.shutdown()
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "300")
    rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
    (export,) = rollout._span_exports
    assert export.inner._batch_processor._schedule_delay_millis == 300
    rollout.shutdown()
    monkeypatch.delenv("OTEL_BSP_SCHEDULE_DELAY")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    processor = distro._span_export_processor(InMemorySpanExporter())
    assert processor._batch_processor._schedule_delay_millis == 1000  # type: ignore[attr-defined]
    processor.shutdown()


def test_without_content_capture_no_error_message_leaves_only_its_type() -> None:
    cap = Capture(capture_content=False)
    secret = "the user's card number is 4111 1111 1111 1111"
    with cap.llm("openai.chat") as span:
        span.end(error=secret)
    with cap.llm("openai.chat") as span:
        span.end(error="rate_limit_exceeded")  # a code is a type: it stays
    with cap.llm("openai.chat") as span:
        span.end(error=ValueError(secret))
    first, code, raised = cap.spans()
    assert first.attributes["error.type"] == "_OTHER" and code.attributes["error.type"] == "rate_limit_exceeded"
    assert raised.attributes["error.type"] == "ValueError"
    exported = repr([(s.attributes, s.status.description, [e.attributes for e in s.events]) for s in cap.spans()])
    data = cap.metric_reader.get_metrics_data()
    # the card's digits with their space: a bare "4111" turns up in the exemplars' random trace ids now and then
    assert secret not in exported and "4111 1111" not in exported and "4111 1111" not in repr(data)
    cap.shutdown()


# -- processes ----------------------------------------------------------------------------------------------------

POOL_APP = """
import concurrent.futures, multiprocessing, os, sys
from rollout_otel import trace

if os.environ.get("USE_ROLLOUT") == "1":
    from rollout_otel import Rollout
    rollout = Rollout(metrics=False)  # at import: spawn and forkserver workers import this module too


def work(index):
    with trace.llm("pool.task") as span:
        span.set_attribute("task", index)
        span.end(output=f"task {index}")
    return os.getpid()


def four(first):
    return [work(index) for index in range(first, first + 4)]


if __name__ == "__main__":
    method, kind = sys.argv[1], sys.argv[2]
    context = multiprocessing.get_context(method)
    if kind == "pool":
        with context.Pool(2) as pool:  # leaving the block terminates the workers: no exit handler runs there
            pids = pool.map(work, range(8))
    elif kind == "executor":
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as executor:
            pids = list(executor.map(work, range(8)))
    else:  # two processes of four spans each, ending normally (os._exit: atexit handlers do not run)
        processes = [context.Process(target=four, args=(first,)) for first in (0, 4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        pids = [p.pid for p in processes]
    print("done", len(set(pids)))
"""


def run_app(
    code: str, tmp_path: Path, env: dict[str, str], *args: str, distro: bool = False
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    command = [sys.executable, str(script), *args]
    if distro:
        command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), *command]
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=90, cwd=tmp_path)


@pytest.mark.parametrize("distro", [False, True], ids=["Rollout", "opentelemetry-instrument"])
@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_pool_workers_export_everything_they_traced(sink: OtlpSink, tmp_path: Path, method: str, distro: bool) -> None:
    assert_eight_of_eight(sink, tmp_path, method, "pool", distro)


@pytest.mark.parametrize("kind", ["executor", "process"])
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_other_multiprocessing_children_export_everything_they_traced(
    sink: OtlpSink, tmp_path: Path, method: str, kind: str
) -> None:
    assert_eight_of_eight(sink, tmp_path, method, kind, distro=False)


def assert_eight_of_eight(sink: OtlpSink, tmp_path: Path, method: str, kind: str, distro: bool) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "USE_ROLLOUT": "0" if distro else "1",
    }
    result = run_app(POOL_APP, tmp_path, env, method, kind, distro=distro)
    assert result.returncode == 0 and result.stdout.startswith("done"), result.stderr
    spans = sink.wait_for_spans(8, name="pool.task", timeout=15)
    assert sorted(s.attributes["task"] for s in spans) == list(range(8))


PRE_FORK_APP = """
import os, sys
from rollout_otel import Rollout, trace

rollout = Rollout(metrics=False)
children = []
for worker in range(2):  # as a pre-fork server does: fork, then each worker serves and exits normally
    pid = os.fork()
    if pid == 0:
        for request in range(3):
            with trace.llm("worker.request") as span:
                span.set_attribute("worker", worker)
                span.end(output="served")
        sys.exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
with trace.llm("parent.request") as span:
    span.end(output="served")
print("done")
"""


def test_pre_fork_workers_keep_exporting(sink: OtlpSink, tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint}
    result = run_app(PRE_FORK_APP, tmp_path, env)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr
    assert len(sink.wait_for_spans(6, name="worker.request")) == 6
    assert len(sink.wait_for_spans(1, name="parent.request")) == 1


# -- distro settings ------------------------------------------------------------------------------------------------

DISTRO_APP = """
from rollout_otel import trace
with trace.llm("openai.chat") as span:
    span.end(output="ok")
print("ran")
"""


@pytest.mark.parametrize(
    ("name", "value", "transport"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC", "grpc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "http"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", "http"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "http"),
        ("OTEL_TRACES_EXPORTER", "otlp,jaeger", "http"),
        ("OTEL_PYTHON_ID_GENERATOR", "xray", "http"),
    ],
)
def test_bad_or_unavailable_otel_choices_get_one_line_and_the_default(
    sink: OtlpSink, tmp_path: Path, name: str, value: str, transport: str
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.grpc_endpoint if transport == "grpc" else sink.http_endpoint,
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        name: value,
    }
    result = run_app(DISTRO_APP, tmp_path, env, distro=True)
    assert result.returncode == 0 and result.stdout.strip() == "ran", result.stderr
    assert "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if name in line]
    assert len(named) == 1, result.stderr
    (span,) = sink.wait_for_spans(1)
    assert span.name == "openai.chat"
    assert {r.transport for r in traces_requests(sink)} == {transport}


# -- the losses say how many, at most once a minute ----------------------------------------------------------------


def test_loss_warnings_are_rate_limited_and_carry_the_count(caplog: pytest.LogCaptureFixture) -> None:
    from rollout_otel._export import DropCount

    drops = DropCount(warn_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="rollout_otel"):
        for _ in range(50):
            drops.add("traces", "queue", 2)
        drops.add("logs", "queue", 1)
        drops.report_pending()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("rollout-otel dropped 2 spans") and "OTEL_BSP_MAX_QUEUE_SIZE" in lines[0]
    assert "dropped 1 update event:" in lines[1] and "OTEL_BLRP_MAX_QUEUE_SIZE" in lines[1]
    assert "dropped 98 spans" in lines[2] and len(lines) == 3
    assert drops.total() == 101


# -- the setting ----------------------------------------------------------------------------------------------------


def test_max_export_bytes_is_validated_like_the_other_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollout_otel import RolloutConfigError
    from rollout_otel._config import resolve_settings

    assert resolve_settings(environ={}).max_export_bytes == 4_000_000
    assert resolve_settings(max_export_bytes=1_000_000, environ={}).max_export_bytes == 1_000_000
    assert resolve_settings(environ={"ROLLOUT_MAX_EXPORT_BYTES": "2000000"}).max_export_bytes == 2_000_000
    for bad in ("-1", "4MB", "100", str(10**9)):
        with pytest.raises(RolloutConfigError, match=r"^ROLLOUT_MAX_EXPORT_BYTES=.*65536 to 67108864"):
            resolve_settings(environ={"ROLLOUT_MAX_EXPORT_BYTES": bad})
    with pytest.raises(RolloutConfigError, match=r"^Rollout\(max_export_bytes=True\)"):
        resolve_settings(max_export_bytes=True, environ={})  # type: ignore[arg-type]
    lenient = resolve_settings(environ={"ROLLOUT_MAX_EXPORT_BYTES": "lots"}, lenient=True)
    assert lenient.max_export_bytes == 4_000_000  # logged, and the default used, where nothing may stop the program
