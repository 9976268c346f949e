"""Arize Phoenix and MLflow, started from the suite, show a ten-second stream traced by rollout-otel: the text so far
while it runs (live spans), then one LLM span with the full output and usage, and every span that was sent.

Run with `bash tests/backends/install.sh && python -m pytest -m backends -n 0`. Each backend runs as a process of
its own on 127.0.0.1 with a temporary SQLite store, once per session; each stream goes to a project (Phoenix) or
experiment (MLflow) of its own and is read back through the backend's own API (GraphQL, `MlflowClient`).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
from openai import OpenAI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.trace import format_span_id, format_trace_id, set_span_in_context

from backends.install import MLFLOW, PHOENIX
from backends.readback import ShownSpan, message_text
from backends.servers import BackendProcess, missing, mlflow_process, phoenix_process
from backends.targets import Destination, MlflowTarget, PhoenixTarget, Target
from conftest import reset_otel_globals
from rollout_otel import Rollout, _config
from rollout_otel.serve import LocalLLMServer, scenario_headers

pytestmark = [pytest.mark.backends, pytest.mark.integration, pytest.mark.timeout(900)]

LLM_SPAN = "openai.chat.completions"
CHUNKS, DELAY = 100, 0.1  # a ten-second stream
LOOK_EVERY = 0.5  # seconds between reads of the backend while the stream is open
SETTLE_TIMEOUT = 60.0  # after the end, how long every ended span may take to be readable
# Each run: backend, live_spans, and whether the call is made inside a parent span of the caller's (a request
# handler, say) or is the root of its trace, as in a script.
RUNS = {
    "phoenix-on": ("phoenix", "on", False),
    "phoenix-auto": ("phoenix", "auto", True),
    "phoenix-off": ("phoenix", "off", True),
    "mlflow-on": ("mlflow", "on", False),
    "mlflow-auto": ("mlflow", "auto", True),
    "mlflow-off": ("mlflow", "off", True),
}
LIVE = [run for run, (_, mode, _) in RUNS.items() if mode != "off"]
NOT_LIVE = [run for run, (_, mode, _) in RUNS.items() if mode == "off"]


# -- the backends, once per session ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BackendProcess | str]]:
    """Both backends launched at once, so their cold starts overlap; a backend not installed gets the reason."""
    root = tmp_path_factory.mktemp("backends")
    found: dict[str, BackendProcess | str] = {}
    try:
        for backend, make in ((PHOENIX, phoenix_process), (MLFLOW, mlflow_process)):
            reason = missing(backend)
            found[backend.name] = reason if reason is not None else make(root / backend.name).launch()
        yield found
    finally:
        for process in found.values():
            if isinstance(process, BackendProcess):
                process.stop()


def _healthy(found: BackendProcess | str, make: type[Target]) -> Iterator[Target]:
    if isinstance(found, str):
        pytest.skip(found)
    found.wait_healthy()
    target = make(found)
    try:
        target.warm_up()
        yield target
    finally:
        target.close()


@pytest.fixture(scope="session")
def phoenix(launched: dict[str, BackendProcess | str]) -> Iterator[Target]:
    yield from _healthy(launched["phoenix"], PhoenixTarget)


@pytest.fixture(scope="session")
def mlflow(launched: dict[str, BackendProcess | str]) -> Iterator[Target]:
    yield from _healthy(launched["mlflow"], MlflowTarget)


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as server:
        yield server


# -- one streamed call per run, read while it is open and after it ended ---------------------------------------------


@dataclass(frozen=True)
class Look:
    """One read of the backend that began and ended while the stream was open."""

    elapsed: float
    received: str  # the text the caller had received when the read began
    spans: list[ShownSpan]


@dataclass(frozen=True)
class StreamRun:
    """What the caller got, what the process ended, and what the backend showed during and after the stream."""

    name: str
    text: str
    chunks: int
    usage: tuple[int, int] | None  # prompt and completion tokens, from the stream's usage chunk
    error: BaseException | None
    ended: list[ReadableSpan]  # every span ended in the process: what was sent
    looks: list[Look]
    flushed: bool
    shown: list[ShownSpan]  # the backend's spans once every ended span was there, or the time ran out

    @property
    def llm_span(self) -> ReadableSpan:
        (span,) = [span for span in self.ended if span.name == LLM_SPAN]
        return span


class _Consumer(threading.Thread):
    """The caller's loop, on a thread of its own so the test can read the backend meanwhile."""

    def __init__(self, stream: Any) -> None:
        super().__init__(name="stream-consumer", daemon=True)
        self.stream = stream
        self.pieces: list[str] = []
        self.usage: tuple[int, int] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for chunk in self.stream:
                if chunk.choices:
                    self.pieces.append(chunk.choices[0].delta.content or "")
                if chunk.usage is not None:
                    self.usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        except BaseException as error:  # reported by the tests, not lost on this thread
            self.error = error

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _look_while_open(consumer: _Consumer, destination: Destination) -> list[Look]:
    looks = []
    started = time.monotonic()
    while consumer.is_alive():
        received = consumer.text
        spans = destination.read()
        if consumer.is_alive():  # the read ended before the stream did
            looks.append(Look(time.monotonic() - started, received, spans))
        consumer.join(LOOK_EVERY)
    return looks


def _settled(destination: Destination, ended: list[ReadableSpan]) -> list[ShownSpan]:
    """The destination's spans once every ended span is there (the backend stores them a moment after it answers)."""
    wanted = {format_span_id(span.context.span_id) for span in ended}
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        shown = destination.read()
        if wanted <= {span.span_id for span in shown} or time.monotonic() > deadline:
            return shown
        time.sleep(0.5)


def _environment(mode: str, destination: Destination) -> dict[str, str]:
    """What a user of this backend sets: live spans, the project's resource attribute, the experiment's header."""
    env = {"ROLLOUT_LIVE_SPANS": mode}
    if destination.resource:
        env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(f"{k}={v}" for k, v in destination.resource.items())
    if destination.headers:
        env["OTEL_EXPORTER_OTLP_HEADERS"] = ",".join(f"{k}={v}" for k, v in destination.headers.items())
    return env


def _stream_through(name: str, target: Target, server: LocalLLMServer) -> StreamRun:
    _, mode, in_parent = RUNS[name]
    destination = target.destination(f"{name}-{uuid.uuid4().hex[:8]}")
    with pytest.MonkeyPatch.context() as patch:
        for variable in list(os.environ):
            if variable.startswith(("ROLLOUT_", "OTEL_")):
                patch.delenv(variable)
        for variable, value in _environment(mode, destination).items():
            patch.setenv(variable, value)
        reset_otel_globals()
        _config.reset_environment_settings()
        rollout = Rollout(endpoint=target.endpoint, service_name="rollout-real-backends")
        ledger = InMemorySpanExporter()
        rollout.tracer_provider.add_span_processor(SimpleSpanProcessor(ledger))
        try:
            client = rollout.wrap(OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0))
            tracer = rollout.tracer_provider.get_tracer("caller")
            with tracer.start_as_current_span("handle request") if in_parent else nullcontext():
                stream = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "Explain streaming in a paragraph."}],
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers=scenario_headers(chunks=CHUNKS, delay=DELAY),
                )
                consumer = _Consumer(stream)
                consumer.start()
                looks = _look_while_open(consumer, destination)
                consumer.join(60)
                assert not consumer.is_alive(), "the stream did not end"
            flushed = rollout.flush(timeout=30)
        finally:
            rollout.shutdown(timeout=30)
            reset_otel_globals()
            _config.reset_environment_settings()
    ended = list(ledger.get_finished_spans())
    return StreamRun(
        name=name,
        text=consumer.text,
        chunks=len([piece for piece in consumer.pieces if piece]),
        usage=consumer.usage,
        error=consumer.error,
        ended=ended,
        looks=looks,
        flushed=flushed,
        shown=_settled(destination, ended),
    )


@pytest.fixture(scope="module")
def run(request: pytest.FixtureRequest, llm_server: LocalLLMServer) -> StreamRun:
    """One stream per run name, shared by the tests of that run (tests ask for it with indirect parametrization)."""
    name: str = request.param
    target: Target = request.getfixturevalue(RUNS[name][0])
    return _stream_through(name, target, llm_server)


def _describe(looks: list[Look]) -> str:
    return "; ".join(
        f"{look.elapsed:.1f}s: {[(s.name, (s.output_text or '')[:30]) for s in look.spans]}" for look in looks
    )


# -- while the stream is open ----------------------------------------------------------------------------------------


@pytest.mark.xfail(strict=False, reason="needs live spans")
@pytest.mark.parametrize("run", LIVE, indirect=True)
def test_the_text_so_far_is_shown_while_the_stream_is_open(run: StreamRun) -> None:
    assert run.error is None, run.error
    assert len(run.looks) >= 5, f"the backend was read only {len(run.looks)} times while the stream was open"
    partial = [
        (look, span)
        for look in run.looks
        for span in look.spans
        if span.output_text and span.output_text != run.text and span.output_text in run.text
    ]
    assert partial, f"no span showed part of the text while the stream was open: {_describe(run.looks)}"


@pytest.mark.parametrize("run", NOT_LIVE, indirect=True)
def test_without_live_spans_nothing_is_shown_before_the_end(run: StreamRun) -> None:
    """The control for the test above: its reads would see nothing if live spans were not there."""
    assert run.error is None, run.error
    assert len(run.looks) >= 5, f"the backend was read only {len(run.looks)} times while the stream was open"
    assert all(not look.spans for look in run.looks), _describe(run.looks)


# -- after the end ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", list(RUNS), indirect=True)
def test_one_llm_span_holds_the_full_output_and_usage(run: StreamRun) -> None:
    assert run.error is None, run.error
    assert run.chunks == CHUNKS and run.usage is not None and run.flushed
    llm_spans = [span for span in run.shown if span.name == LLM_SPAN]
    assert len(llm_spans) == 1, [(span.name, span.span_id) for span in run.shown]
    (shown,) = llm_spans
    assert shown.span_id == format_span_id(run.llm_span.context.span_id)  # the final span, under its own id
    assert shown.output_text == run.text  # what the chat view renders: the whole text the caller received
    assert (shown.input_tokens, shown.output_tokens) == run.usage
    # and the conventions' attributes themselves, as the backend keeps them
    assert message_text(shown.attribute(GEN_AI_OUTPUT_MESSAGES)) == run.text
    assert (shown.attribute(GEN_AI_USAGE_INPUT_TOKENS), shown.attribute(GEN_AI_USAGE_OUTPUT_TOKENS)) == run.usage
    assert shown.attribute("rollout.stream.end_reason") == "completed"


@pytest.mark.parametrize("run", list(RUNS), indirect=True)
def test_every_span_sent_is_kept_and_no_trace_is_left_open(run: StreamRun) -> None:
    shown = {span.span_id: span for span in run.shown}
    for ended in run.ended:
        span_id = format_span_id(ended.context.span_id)
        assert span_id in shown, f"{ended.name} ({span_id}) never reached {run.name}"
        assert shown[span_id].name == ended.name
        assert shown[span_id].trace_id == format_trace_id(ended.context.trace_id)
    assert {LLM_SPAN, *(["handle request"] if RUNS[run.name][2] else [])} <= {span.name for span in run.ended}
    left_open = {span.trace_id for span in run.shown if span.trace_state == "IN_PROGRESS"}
    assert not left_open, f"traces left IN_PROGRESS: {left_open}"
    if RUNS[run.name][0] == "mlflow":
        assert {span.trace_state for span in run.shown} == {"OK"}


# -- the harness itself ----------------------------------------------------------------------------------------------


def _output(text: str) -> str:
    return json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}])


@pytest.mark.parametrize("backend", ["phoenix", "mlflow"])
def test_a_span_sent_before_its_parent_is_shown_with_its_text(request: pytest.FixtureRequest, backend: str) -> None:
    """What live spans rely on, and proof that the reads above can see them: a span whose parent has not arrived
    yet is shown at once with its text (MLflow: in a trace still IN_PROGRESS), and the trace completes when the
    parent arrives."""
    target: Target = request.getfixturevalue(backend)
    destination = target.destination(f"harness-{uuid.uuid4().hex[:8]}")
    exporter = OTLPSpanExporter(endpoint=f"{target.endpoint}/v1/traces", headers=destination.headers)
    provider = TracerProvider(resource=Resource.create({"service.name": "harness", **destination.resource}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # each span leaves as it ends
    tracer = provider.get_tracer("harness")
    try:
        parent = tracer.start_span(LLM_SPAN, attributes={"gen_ai.operation.name": "chat"})
        child = tracer.start_span("partial", context=set_span_in_context(parent))
        child.set_attributes({"gen_ai.operation.name": "chat", GEN_AI_OUTPUT_MESSAGES: _output("The text so")})
        child.end()
        child_id = format_span_id(child.get_span_context().span_id)
        partial = _wait_for(lambda: destination.span(child_id))
        assert partial.output_text == "The text so"
        assert partial.parent_id == format_span_id(parent.get_span_context().span_id)
        assert partial.trace_state == ("IN_PROGRESS" if backend == "mlflow" else None)  # MLflow waits for the root
        parent.set_attributes({GEN_AI_OUTPUT_MESSAGES: _output("The text so far."), GEN_AI_USAGE_OUTPUT_TOKENS: 4})
        parent.end()
        whole = _wait_for(lambda: destination.span(format_span_id(parent.get_span_context().span_id)))
        assert (whole.output_text, whole.output_tokens) == ("The text so far.", 4)
        assert {span.trace_state for span in destination.read()} == {"OK" if backend == "mlflow" else None}
    finally:
        provider.shutdown()


def _wait_for(read: Callable[[], ShownSpan | None], timeout: float = 30.0) -> ShownSpan:
    deadline = time.monotonic() + timeout
    while (found := read()) is None:
        assert time.monotonic() < deadline, "the backend did not show the span"
        time.sleep(0.25)
    return found
