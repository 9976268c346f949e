"""GenAI client metrics: one set of measurements per LLM call, manual or instrumented, in memory and on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from rollout_otel import RolloutConfigError, trace, wrap
from rollout_otel._config import reset_environment_settings, resolve_settings
from rollout_otel._metrics import SECONDS_BUCKETS, TOKEN_BUCKETS
from rollout_otel.serve import LocalLLMServer, count_prompt_tokens, scenario_headers
from rollout_otel.testing import Capture

# The released names, spelled out here on purpose: dashboards written for the official instrumentation use these.
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
TPOC = "gen_ai.client.operation.time_per_output_chunk"
TOKENS = "gen_ai.client.token.usage"
MESSAGES = [{"role": "user", "content": "Tell me about streaming."}]


def points(cap: Capture, name: str) -> list[Any]:
    metric = cap.metrics().get(name)
    return list(metric.data.data_points) if metric is not None else []


def one_point(cap: Capture, name: str) -> Any:
    found = points(cap, name)
    assert len(found) == 1, (name, [dict(p.attributes) for p in found])
    return found[0]


def tokens(cap: Capture, token_type: str) -> list[Any]:
    """The token usage points of one `gen_ai.token.type`."""
    return [p for p in points(cap, TOKENS) if p.attributes["gen_ai.token.type"] == token_type]


# -- the manual API -------------------------------------------------------------------------------------------


def test_streamed_call_records_every_metric_once(cap: Capture) -> None:
    attributes = {"server.address": "llm.internal", "server.port": 8443, "gen_ai.request.temperature": 0.2}
    started = time.monotonic()
    with cap.llm("openai.chat", model="gpt-4o", stream=True, attributes=attributes) as span:
        time.sleep(0.05)
        chunk_times = []
        for _ in range(11):
            span.record_chunk("word ")
            chunk_times.append(time.monotonic())
            time.sleep(0.01)
        span.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
        span.end(
            usage={"input_tokens": 30, "output_tokens": 11, "cache_read_input_tokens": 8, "reasoning_output_tokens": 2}
        )
    ended_at = time.monotonic()
    elapsed = ended_at - started
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "server.address": "llm.internal",
        "server.port": 8443,
        "rollout.stream.end_reason": "completed",
    }  # request parameters such as temperature stay on the span: metrics keep low-cardinality attributes
    duration = one_point(cap, DURATION)
    assert dict(duration.attributes) == expected
    assert duration.count == 1 and 0.15 < duration.sum <= elapsed
    assert tuple(duration.explicit_bounds) == SECONDS_BUCKETS
    ttfc = one_point(cap, TTFC)
    # Upper bounds from the test's own clock, so that a loaded machine's longer sleeps cannot break them.
    assert dict(ttfc.attributes) == expected and 0.05 <= ttfc.sum <= chunk_times[0] - started
    per_chunk = one_point(cap, TPOC)
    assert per_chunk.count == 1 and 0.009 < per_chunk.sum <= (ended_at - chunk_times[0]) / 10  # the mean of 10 gaps
    for token_type, value in (("input", 30), ("output", 11)):  # cache and reasoning counts are parts of these
        (histogram,) = tokens(cap, token_type)
        assert (histogram.count, histogram.sum) == (1, value)
        assert tuple(histogram.explicit_bounds) == TOKEN_BUCKETS
        assert dict(histogram.attributes) == {**expected, "gen_ai.token.type": token_type}
    assert set(cap.metrics()) == {DURATION, TTFC, TPOC, TOKENS}  # no name outside the released conventions


def test_units_instruments_and_buckets_follow_the_conventions(cap: Capture) -> None:
    with cap.llm("openai.chat", model="m", stream=True) as span:
        span.record_chunk("a")
        span.record_chunk("b")
        span.end(usage={"input_tokens": 0, "output_tokens": 2})
    found = cap.metrics()
    assert {name: found[name].unit for name in (DURATION, TTFC, TPOC)} == dict.fromkeys((DURATION, TTFC, TPOC), "s")
    assert found[TOKENS].unit == "{token}"
    for metric in found.values():  # every one a histogram with the conventions' (and util-genai's) boundaries
        assert hasattr(metric.data.data_points[0], "bucket_counts")
    assert SECONDS_BUCKETS == (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
    assert tuple(4**i for i in range(14)) == TOKEN_BUCKETS
    for name in (DURATION, TTFC, TPOC):
        assert tuple(found[name].data.data_points[0].explicit_bounds) == SECONDS_BUCKETS
    assert sorted((p.attributes["gen_ai.token.type"], p.sum) for p in points(cap, TOKENS)) == [
        ("input", 0),  # reported as 0: a real measurement, as the official instrumentation records it
        ("output", 2),
    ]


def test_metric_names_come_from_the_semantic_conventions_package() -> None:
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

    from rollout_otel import _metrics

    assert _metrics.DURATION == gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION == DURATION
    assert _metrics.TOKEN_USAGE == gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE == TOKENS
    assert _metrics.TIME_TO_FIRST_CHUNK == gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK == TTFC
    assert _metrics.TIME_PER_OUTPUT_CHUNK == gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK == TPOC


def test_non_streamed_call_has_no_chunk_timings_or_end_reason(cap: Capture) -> None:
    with cap.llm("anthropic.messages", model="claude") as span:
        span.end(output="hi", usage={"input_tokens": 5, "output_tokens": 1})
    assert "rollout.stream.end_reason" not in one_point(cap, DURATION).attributes
    assert points(cap, TTFC) == points(cap, TPOC) == []
    assert [p.sum for p in tokens(cap, "output")] == [1]


def test_errors_carry_error_type_on_duration_only(cap: Capture) -> None:
    with pytest.raises(TimeoutError), cap.llm("openai.chat", model="m", stream=True) as span:
        span.record_chunk("partial")
        raise TimeoutError("slow")
    duration = one_point(cap, DURATION)
    assert duration.attributes["error.type"] == "TimeoutError"
    assert duration.attributes["rollout.stream.end_reason"] == "error"
    assert "error.type" not in one_point(cap, TTFC).attributes
    assert points(cap, TPOC) == []  # one chunk: no interval after the first
    assert points(cap, TOKENS) == []  # no usage reported: none recorded, never estimated


def test_end_reasons_split_the_series(cap: Capture) -> None:
    async def cancelled() -> None:
        async with cap.llm("openai.chat", model="m", stream=True) as span:
            span.record_chunk("x")
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())
    with cap.llm("openai.chat", model="m", stream=True) as span:
        span.record_chunk("x")
    reasons = sorted(p.attributes["rollout.stream.end_reason"] for p in points(cap, DURATION))
    assert reasons == ["cancelled", "completed"]
    assert all("error.type" not in p.attributes for p in points(cap, DURATION))


def test_metrics_are_recorded_once_per_call_however_many_chunks(cap: Capture) -> None:
    for _ in range(3):
        with cap.llm("openai.chat", model="m", stream=True) as span:
            for _ in range(5000):
                span.record_chunk("t")
    assert one_point(cap, DURATION).count == 3
    assert one_point(cap, TPOC).count == 3


def test_metrics_off() -> None:
    capture = Capture(metrics=False)
    try:
        with capture.llm("openai.chat", model="m", stream=True) as span:
            span.record_chunk("x")
            span.end(usage={"input_tokens": 1, "output_tokens": 1})
        assert capture.metrics() == {}
        assert len(capture.spans()) == 1
    finally:
        capture.shutdown()


def test_metrics_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_METRICS", "off")
    assert resolve_settings().metrics is False
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    assert resolve_settings().metrics_exporter == ()
    monkeypatch.setenv("ROLLOUT_METRICS", "sometimes")
    with pytest.raises(RolloutConfigError, match="ROLLOUT_METRICS='sometimes'"):
        resolve_settings()


def test_spans_no_rollout_processor_claims_use_the_global_meter_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    otel_metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    with trace.llm("openai.chat", model="m", tracer_provider=TracerProvider()) as span:
        span.end(output="ok")
    names = [m.name for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert names == [DURATION]
    monkeypatch.setenv("ROLLOUT_METRICS", "false")
    reset_environment_settings()
    with trace.llm("openai.chat", model="m", tracer_provider=TracerProvider()) as span:
        span.end(output="ok")
    duration = next(
        m
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == DURATION
    )
    assert duration.data.data_points[0].count == 1  # the second call recorded nothing


# -- instrumented calls ---------------------------------------------------------------------------------------


def test_instrumented_openai_calls(server: LocalLLMServer, cap: Capture) -> None:
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=scenario_headers(chunks=20, cached=4),
    )
    for _ in stream:
        pass
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for i, _ in enumerate(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)):
        if i == 2:
            break
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers=scenario_headers(status=429)
        )
    durations = {
        (p.attributes.get("rollout.stream.end_reason"), p.attributes.get("error.type")): p
        for p in points(cap, DURATION)
    }
    assert set(durations) == {("completed", None), (None, None), ("closed", None), (None, "RateLimitError")}
    completed = durations[("completed", None)].attributes
    assert completed["gen_ai.provider.name"] == "openai" and completed["gen_ai.response.model"] == "gpt-4o-mini"
    assert completed["server.address"] == "127.0.0.1" and completed["server.port"] == server.port
    assert "gen_ai.response.model" not in durations[(None, "RateLimitError")].attributes
    prompt = count_prompt_tokens({"messages": MESSAGES})
    inputs = {p.attributes.get("rollout.stream.end_reason"): p for p in tokens(cap, "input")}
    assert set(inputs) == {"completed", None}  # the two calls that reported usage: the stream and the whole call
    assert inputs["completed"].sum == inputs[None].sum == prompt  # cached tokens are part of the input count
    assert {p.attributes.get("rollout.stream.end_reason") for p in points(cap, TTFC)} == {"completed", "closed"}


def test_instrumented_anthropic_stream_counts_cached_input(server: LocalLLMServer, cap: Capture) -> None:
    client = wrap(
        anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0),
        tracer_provider=cap.tracer_provider,
    )
    headers = scenario_headers(chunks=12, cached=3, cache_write=5)
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES, extra_headers=headers
    ) as s:
        s.until_done()
    prompt = count_prompt_tokens({"messages": MESSAGES})
    assert [p.sum for p in tokens(cap, "input")] == [prompt]  # cache reads and writes included, as conventions count
    assert [p.sum for p in tokens(cap, "output")] == [12]
    (span,) = cap.spans()
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == 3
    assert span.attributes["gen_ai.usage.cache_creation.input_tokens"] == 5  # the only cache-write name Phoenix reads
    assert one_point(cap, DURATION).attributes["gen_ai.provider.name"] == "anthropic"


# -- on the wire ----------------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_metrics_reach_an_otlp_receiver(server: LocalLLMServer, protocol: str) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
        rollout = Rollout(endpoint=endpoint, protocol=protocol, service_name="metrics-test")
        try:
            client = rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0))
            for _ in client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=scenario_headers(chunks=10, delay=0.005),
            ):
                pass
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        by_name = {m.name: m for m in sink.metrics()}
        duration = by_name[DURATION]
        assert (duration.kind, duration.unit, duration.scope_name) == ("histogram", "s", "rollout_otel")
        assert duration.resource["service.name"] == "metrics-test"
        (point,) = duration.points
        assert point.count == 1 and point.sum > 0.05
        assert point.explicit_bounds == SECONDS_BUCKETS and sum(point.bucket_counts) == 1
        assert point.attributes == {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini",
            "server.address": "127.0.0.1",
            "server.port": server.port,
            "rollout.stream.end_reason": "completed",
        }
        (per_chunk,) = by_name[TPOC].points
        # From the first content chunk (not the role-only one) to the end: 5 ms a chunk on the server, less where the
        # client reads a late first chunk and the next ones at once.
        assert per_chunk.count == 1 and per_chunk.sum >= 0.002
        usage = by_name[TOKENS]
        assert (usage.kind, usage.unit) == ("histogram", "{token}")
        (output,) = [p for p in usage.points if p.attributes["gen_ai.token.type"] == "output"]
        assert output.explicit_bounds == tuple(float(b) for b in TOKEN_BUCKETS) and (output.count, output.sum) == (
            1,
            10,
        )


def latest_points(sink: Any, name: str) -> list[Any]:
    """The newest point of each series: exports are cumulative, so a flush and then a shutdown send each twice."""
    latest: dict[frozenset[tuple[str, Any]], Any] = {}
    for metric in sorted(sink.metrics(name), key=lambda m: m.received_at):
        for point in metric.points:
            latest[frozenset(point.attributes.items())] = point
    return list(latest.values())


def _calls_that_end_every_way(client: openai.OpenAI) -> tuple[int, str]:
    """A whole call, a stream read to its end, one the caller closes early, and three that fail.

    Returns the output tokens the server reported, and the class of the error the dropped stream raised.
    """
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    streamed: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    reported = [whole.usage.completion_tokens if whole.usage else 0]
    with_usage = client.chat.completions.create(
        **streamed, stream_options={"include_usage": True}, extra_headers=scenario_headers(chunks=6)
    )
    reported += [chunk.usage.completion_tokens for chunk in with_usage if chunk.usage]
    with client.chat.completions.create(**streamed, extra_headers=scenario_headers(chunks=50)) as early:
        for index, _ in enumerate(early):
            if index == 3:
                break
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**streamed, extra_headers=scenario_headers(status=429))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(**streamed, extra_headers=scenario_headers(error_after=4)):
            pass
    with pytest.raises(Exception) as dropped:  # APIConnectionError, or the transport's own error on older openai
        for _ in client.chat.completions.create(**streamed, extra_headers=scenario_headers(drop_after=5)):
            pass
    return sum(reported), type(dropped.value).__name__


@pytest.mark.integration
@pytest.mark.parametrize("route", ["receiver", "rotel"])
def test_errors_early_stops_and_whole_calls_on_the_wire(server: LocalLLMServer, route: str) -> None:
    """Each way a call ends is its own duration series at the receiver, directly or through the rotel collector."""
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout
    from rotel_collector import RotelCollector

    with OtlpSink() as sink:
        with contextlib.ExitStack() as stack:
            if route == "rotel":
                endpoint = stack.enter_context(RotelCollector(sink.grpc_endpoint)).http_endpoint
            else:
                endpoint = sink.http_endpoint
            rollout = Rollout(endpoint=endpoint, service_name="metrics-test")
            try:
                reported_output, dropped = _calls_that_end_every_way(
                    rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0))
                )
                assert rollout.flush(timeout=5)
            finally:
                rollout.shutdown()
        # rotel forwards on exit; both routes have delivered everything here
        durations = latest_points(sink, DURATION)
        series = {
            (p.attributes.get("rollout.stream.end_reason"), p.attributes.get("error.type")): p.count for p in durations
        }
        assert series == {
            (None, None): 1,
            ("completed", None): 1,
            ("closed", None): 1,
            ("error", "RateLimitError"): 1,
            ("error", "APIError"): 1,
            ("error", dropped): 1,
        }
        assert all(p.explicit_bounds == SECONDS_BUCKETS for p in durations)
        assert {m.unit for m in sink.metrics(DURATION)} == {"s"}
        first_chunk = latest_points(sink, TTFC)
        assert sum(p.count for p in first_chunk) == 4  # every stream that got a chunk, failed ones included
        assert all("error.type" not in p.attributes for p in first_chunk)
        assert {m.unit for m in sink.metrics(TOKENS)} == {"{token}"}
        output = sum(p.sum for p in latest_points(sink, TOKENS) if p.attributes["gen_ai.token.type"] == "output")
        assert reported_output > 6 and output == reported_output  # streams without usage add nothing


@pytest.mark.integration
def test_a_rollout_after_one_was_shut_down_still_exports_metrics() -> None:
    """`with Rollout(): ...` twice in one process (notebooks, test suites): the first one's provider is dead."""
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        for round_ in range(2):
            with Rollout(endpoint=sink.http_endpoint) as rollout:
                with trace.llm("openai.chat", model=f"m{round_}") as span:
                    span.end(output="hi", usage={"input_tokens": 3, "output_tokens": 2})
                assert rollout.flush(timeout=5)
        models = sorted(p.attributes["gen_ai.request.model"] for p in latest_points(sink, DURATION))
        assert models == ["m0", "m1"]
        assert sum(p.sum for p in latest_points(sink, TOKENS) if p.attributes["gen_ai.token.type"] == "output") == 4


@pytest.mark.integration
def test_flush_exports_metrics_through_a_meter_provider_already_installed() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        exporter = OTLPMetricExporter(endpoint=f"{sink.http_endpoint}/v1/metrics")
        installed = MeterProvider(
            metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=600_000)]
        )
        otel_metrics.set_meter_provider(installed)
        rollout = Rollout(endpoint=sink.http_endpoint)
        try:
            assert rollout.meter_provider is installed
            with trace.llm("openai.chat", model="m") as span:
                span.end(output="hi", usage={"input_tokens": 3, "output_tokens": 2})
            assert rollout.flush(timeout=5)  # the reader's own interval is ten minutes away
            assert [p.count for p in latest_points(sink, DURATION)] == [1]
        finally:
            rollout.shutdown()
            installed.shutdown()


@pytest.mark.integration
@pytest.mark.parametrize("switch", ["argument", "exporter_none"])
def test_metrics_off_sends_none(server: LocalLLMServer, switch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        if switch == "exporter_none":
            monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
            rollout = Rollout(endpoint=sink.http_endpoint)
        else:
            rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
        try:
            client = rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0))
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert rollout.flush(timeout=5)
        finally:
            rollout.shutdown()
        assert len(sink.spans()) == 1
        assert sink.metrics() == []
        assert [r for r in sink.requests() if r.path.endswith("metrics") or "Metrics" in r.path] == []


# -- recorded off the caller's thread ------------------------------------------------------------------------


def _end_one_call(cap: Capture, **usage: int) -> Any:
    with cap.llm("openai.chat", model="gpt-4o", stream=True) as span:
        span.record_chunk("word ")
        span.record_chunk("word ")
        span.end(usage=usage or {"input_tokens": 3, "output_tokens": 2})
    return cap.spans()[-1]


def test_the_callers_thread_makes_no_sdk_metrics_call(cap: Capture) -> None:
    import sys
    import threading

    sdk_calls: list[str] = []
    caller = threading.get_ident()

    def watch(frame: Any, event: str, _arg: Any) -> None:
        in_sdk_metrics = "opentelemetry/sdk/metrics" in frame.f_code.co_filename
        if event == "call" and in_sdk_metrics and threading.get_ident() == caller:
            sdk_calls.append(frame.f_code.co_name)

    _end_one_call(cap)  # the first call on a meter provider makes its instruments
    span = cap.llm("openai.chat", model="gpt-4o", stream=True)
    span.record_chunk("word ")
    sys.setprofile(watch)
    try:
        span.end(usage={"input_tokens": 3, "output_tokens": 2})
    finally:
        sys.setprofile(None)
    assert sdk_calls == []
    assert one_point(cap, DURATION).count == 2  # a collection records what is queued first
    assert len(tokens(cap, "input")) == 1


def test_the_metrics_thread_records_without_a_collection(cap: Capture) -> None:
    from rollout_otel._metrics import metrics_for

    _end_one_call(cap)
    queue = metrics_for(cap.meter_provider)._queue
    assert queue is not None
    deadline = time.monotonic() + 30
    while len(queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not len(queue)
    assert one_point(cap, DURATION).count == 1


def test_the_before_collection_instrument_is_never_exported(cap: Capture) -> None:
    _end_one_call(cap)
    names = set(cap.metrics())
    assert DURATION in names and not any(name.startswith("rollout.") for name in names)


def test_an_exemplar_points_at_the_llm_span(cap: Capture) -> None:
    span = _end_one_call(cap)
    exemplars = list(one_point(cap, DURATION).exemplars)
    assert exemplars, "the SDK's default trace-based filter keeps a measurement made in a sampled span's context"
    assert {(e.trace_id, e.span_id) for e in exemplars} == {(span.context.trace_id, span.context.span_id)}


def test_a_call_beyond_the_queue_bound_records_at_once(cap: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    from rollout_otel import _metrics_queue
    from rollout_otel._metrics import metrics_for

    metrics = metrics_for(cap.meter_provider)
    monkeypatch.setattr(_metrics_queue, "MAX_QUEUED", 2)
    monkeypatch.setattr(_metrics_queue._thread, "wake", lambda: False)  # a metrics thread that cannot start
    for _ in range(5):
        _end_one_call(cap)
    assert metrics._queue is not None and len(metrics._queue) == 2
    assert one_point(cap, DURATION).count == 5
    assert not len(metrics._queue)


def test_a_metrics_thread_that_could_not_start_is_tried_again(
    cap: Capture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from rollout_otel import _metrics_queue
    from rollout_otel._metrics import metrics_for
    from rollout_otel._ticker import Ticker

    ticker = Ticker(0.5, _metrics_queue._tick, "rollout-otel-metrics-test", cannot_start="no metrics thread (test)")
    monkeypatch.setattr(_metrics_queue, "_thread", ticker)
    real_start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with caplog.at_level("WARNING", logger="rollout_otel"):
        _end_one_call(cap)
    assert any(r.getMessage() == "no metrics thread (test)" for r in caplog.records)
    monkeypatch.setattr(threading.Thread, "start", real_start)
    _end_one_call(cap)  # the next call starts the thread, which records both
    queue = metrics_for(cap.meter_provider)._queue
    assert queue is not None
    deadline = time.monotonic() + 30
    while len(queue) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not len(queue)
    assert one_point(cap, DURATION).count == 2
    ticker.shutdown()


def test_a_collection_waits_for_the_call_the_metrics_thread_is_recording(cap: Capture) -> None:
    import threading

    from rollout_otel._metrics import metrics_for

    _end_one_call(cap)
    metrics = metrics_for(cap.meter_provider)
    metrics.record_queued()
    real = metrics._record_now
    inside = threading.Event()

    def slow(call: Any) -> None:
        inside.set()
        time.sleep(0.5)
        real(call)

    metrics._queue._record = slow  # type: ignore[union-attr]
    _end_one_call(cap)
    recorder = threading.Thread(target=metrics.record_queued)  # the metrics thread's part, taken in hand
    recorder.start()
    assert inside.wait(30)
    assert not len(metrics._queue)  # type: ignore[arg-type]  # taken, not yet recorded
    assert one_point(cap, DURATION).count == 2  # the collection waited for it
    recorder.join(30)


def test_one_bad_queued_call_costs_only_itself(cap: Capture, caplog: pytest.LogCaptureFixture) -> None:
    from rollout_otel._errors import set_raise_internal_errors
    from rollout_otel._metrics import metrics_for

    set_raise_internal_errors(False)  # logged and swallowed, as in a user's program
    metrics = metrics_for(cap.meter_provider)
    metrics.record(
        {"gen_ai.request.model": "m"},
        duration_s=1.0,
        error_type=None,
        end_reason=None,
        first_chunk_s=None,
        per_chunk_s=None,
        usage=None,  # type: ignore[arg-type]  # no .get(): this call's record fails
    )
    _end_one_call(cap)
    with caplog.at_level("WARNING", logger="rollout_otel"):
        durations = points(cap, DURATION)
    assert sum(p.count for p in durations) == 2  # the bad call's duration went in before its usage failed
    assert len(tokens(cap, "output")) == 1
    assert any("(recording metrics)" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_record_the_parents_queued_calls(cap: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from rollout_otel import _metrics_queue
    from rollout_otel._metrics import metrics_for

    metrics = metrics_for(cap.meter_provider)
    monkeypatch.setattr(_metrics_queue._thread, "wake", lambda: False)  # keep the parent's call queued
    _end_one_call(cap)
    assert metrics._queue is not None and len(metrics._queue) == 1

    def child(results: Any) -> None:
        results.put((len(metrics._queue or ()), sum(p.count for p in points(cap, DURATION))))

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=child, args=(results,))
    process.start()
    queued_in_child, recorded_in_child = results.get(timeout=60)
    process.join(60)
    assert (queued_in_child, recorded_in_child) == (0, 0)
    assert one_point(cap, DURATION).count == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_waits_for_the_call_being_recorded(cap: Capture) -> None:
    """A child must not inherit an SDK lock held by the metrics thread, which it does not have."""
    import multiprocessing
    import threading

    from rollout_otel._metrics import metrics_for

    _end_one_call(cap)
    metrics = metrics_for(cap.meter_provider)
    metrics.record_queued()
    sdk_lock = threading.Lock()  # stands for the aggregation lock a record holds
    inside = threading.Event()
    real = metrics._record_now

    def holding_a_lock(call: Any) -> None:
        with sdk_lock:
            inside.set()
            time.sleep(0.5)
            real(call)

    metrics._queue._record = holding_a_lock  # type: ignore[union-attr]
    _end_one_call(cap)
    recorder = threading.Thread(target=metrics.record_queued)
    recorder.start()
    assert inside.wait(30)

    def child(results: Any) -> None:
        results.put(sdk_lock.acquire(timeout=5))

    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=child, args=(results,))
    process.start()  # forks once the record in progress is done
    assert results.get(timeout=60) is True
    process.join(60)
    recorder.join(30)
    assert one_point(cap, DURATION).count == 2
