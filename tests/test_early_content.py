"""A large request's content is built on the content worker while the call runs: the span is the same as when
its end builds it, what the caller appends afterwards is not recorded, and a job the worker never started is
built at the end as before. The worker encodes in pieces, byte for byte as `encode` does; a span that ends before
its content is built is ended by the worker, with the end time the caller's end took, waited for by flush and
shutdown."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from rollout_otel import wrap
from rollout_otel._content import _early, _pieces
from rollout_otel._content._early import EarlyRequest, is_large, wait_for_ends
from rollout_otel._content._encode import encode
from rollout_otel._content._openai import chat_messages
from rollout_otel._content._parts import LONG_TEXT, Encoded, encoded_message, encoded_text
from rollout_otel._content._pieces import encode_in_pieces
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.testing import Capture

HISTORY = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " + "x" * 300} for i in range(600)]
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "rollout.content.truncated")


@pytest.fixture
def cap() -> Iterator[Capture]:
    capture = Capture(max_content_bytes=60_000)  # the history is cut: the worker's cut must be the end's
    yield capture
    capture.shutdown()


def stream(server: LocalLLMServer, cap: Capture, messages: list[Any]) -> dict[str, Any]:
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    chunks = client.chat.completions.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        extra_headers=scenario_headers(chunks=5),
    )
    messages.append({"role": "assistant", "content": "appended by the caller after the call"})
    for _ in chunks:
        pass
    messages.pop()
    (span,) = cap.spans()
    return {k: v for k, v in (span.attributes or {}).items() if k in CONTENT_KEYS}


def test_is_large() -> None:
    assert is_large(HISTORY)
    assert is_large({"messages": [{"role": "user", "content": "x" * 70_000}]})
    assert not is_large({"model": "m", "messages": HISTORY[:10], "stream": True})
    limit = _early._LARGE_TEXT
    assert is_large([{"content": "é" * limit}]) and not is_large([{"content": "é" * (limit - 1)}])
    items = _early._LARGE_ITEMS  # counted as the walk visits them, the request itself included
    assert is_large(list(range(items))) and not is_large(list(range(items - 2)))
    assert is_large({"tools": [{"name": str(i)} for i in range(items // 2)]})  # nested: each dict and its value
    assert not is_large((1, [2, (3, {"a": None, "b": 4.0})]))


def test_worker_builds_the_same_content(server: LocalLLMServer, cap: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[EarlyRequest] = []
    submit = _early._worker.submit

    def watched(job: EarlyRequest) -> None:
        built.append(job)
        submit(job)

    monkeypatch.setattr(_early._worker, "submit", watched)
    early = stream(server, cap, list(HISTORY))
    assert len(built) == 1 and built[0]._state == _early._DONE

    cap.span_exporter.clear()
    monkeypatch.setattr(_early, "is_large", lambda value: False)
    monkeypatch.setattr("rollout_otel.trace.is_large", lambda value: False)
    at_end = stream(server, cap, list(HISTORY))

    assert early == at_end
    assert early["rollout.content.truncated"] is True
    assert "appended by the caller" not in early["gen_ai.input.messages"]


def test_a_job_not_started_is_built_at_the_end(
    server: LocalLLMServer, cap: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = threading.Event()
    monkeypatch.setattr(_early._worker, "submit", lambda job: held.set())  # the worker never gets it
    taken = stream(server, cap, list(HISTORY))
    assert held.is_set()

    cap.span_exporter.clear()
    monkeypatch.setattr("rollout_otel.trace.is_large", lambda value: False)
    assert stream(server, cap, list(HISTORY)) == taken


def test_take_waits_for_a_running_job() -> None:
    started, release = threading.Event(), threading.Event()

    class Slow:
        messages, system, tools, rest = [{"role": "user", "parts": []}], None, None, None

    def request() -> Slow:
        started.set()
        release.wait(5)
        return Slow()

    job = EarlyRequest(request, 1000)
    worker = threading.Thread(target=job.run)
    worker.start()
    assert started.wait(5)
    threading.Timer(0.05, release.set).start()
    found = job.take(1000)
    worker.join(5)
    assert found is not None and "gen_ai.input.messages" in found[1]
    assert job.take(2000) == (found[0], {})  # encoded for another cap: built again at the end


# -- the encoding in pieces ---------------------------------------------------------------------------------


def _text(rng: random.Random) -> str:
    """Text of a length around the cut thresholds, with escapes, non-ASCII, pairs and lone surrogates."""
    length = rng.choice([0, 5, 200, 257, 300, 301, 700, 2000, 5000])
    odd = 'ab"\\\n\x01é😀\ud83d\ude00\udc00'
    return "".join(rng.choice(odd) if rng.random() < 0.1 else "x" for _ in range(length))


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([_text(rng), 1, 2.5, None, True, _text(rng)])
    if roll < 0.6:
        return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if roll < 0.7:
        return {"type": "blob", "content": "QUJD" * rng.randint(10, 800), "mime_type": "image/png"}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]


def test_pieces_are_byte_identical_to_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pieces, "SLICE", 300)  # small slices: long strings are measured and quoted in pieces
    paused: list[None] = []
    for seed in range(600):
        rng = random.Random(seed)
        if rng.random() < 0.3:  # a history: messages encoded when mapped, and others as dicts
            value: Any = [
                encoded_message("user", [encoded_text(_text(rng))]) if rng.random() < 0.5 else _value(rng)
                for _ in range(rng.randint(0, 30))
            ]
        else:
            value = _value(rng)
        for cap in (50, 300, 1000, 5000, 100_000):
            assert encode_in_pieces(value, cap, lambda: paused.append(None)) == encode(value, cap), (seed, cap)
    assert paused


def test_pieces_leave_other_values_to_encode() -> None:
    class Model:
        def model_dump(self) -> dict[str, Any]:
            return {"a": "x" * 500}

    for value in ([{"score": float("nan")}, "x" * 400], [Model(), "y" * 400], {1: "x" * 400}, ("x" * 400,)):
        assert encode_in_pieces(value, 300) == encode(value, 300)


def test_a_long_text_is_not_encoded_with_its_message() -> None:
    long, short = {"role": "user", "content": "x" * (LONG_TEXT + 1)}, {"role": "user", "content": "hi"}
    mapped = chat_messages([long, short])
    assert type(mapped[0]) is dict and isinstance(mapped[1], Encoded)  # quoted in pieces, or cut first, later
    assert encode(mapped, 10**6) == encode(chat_messages([dict(long, name=None), short]), 10**6)


# -- a span that ends before its content is built ------------------------------------------------------------


@pytest.fixture
def held_worker() -> Iterator[threading.Event]:
    """The content worker busy with another job until the event is set: what a call queues meanwhile waits."""
    release = threading.Event()

    def hold() -> None:
        release.wait(30)

    _early._worker._put(hold)
    yield release
    release.set()


def test_the_end_is_handed_to_the_worker_with_the_callers_end_time(
    server: LocalLLMServer, cap: Capture, held_worker: threading.Event
) -> None:
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    messages = list(HISTORY)
    chunks = client.chat.completions.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        extra_headers=scenario_headers(chunks=5),
    )
    messages[-1] = {"role": "user", "content": "replaced by the caller after the call"}  # the newest: kept
    messages.append({"role": "assistant", "content": "appended by the caller after the call"})
    before_end = time.time_ns()
    for _ in chunks:
        pass
    after_end = time.time_ns()

    assert cap.span_exporter.get_finished_spans() == ()  # the worker has not ended it yet: the caller went on
    assert not wait_for_ends(0)
    assert not cap.processor.force_flush(0)
    assert "gen_ai.client.operation.duration" in cap.metrics()  # recorded on the caller's thread, at the end

    held_worker.set()
    assert cap.processor.force_flush()  # waits for the worker to end it
    (span,) = cap.span_exporter.get_finished_spans()
    assert span.end_time is not None and before_end <= span.end_time <= after_end
    attributes = span.attributes or {}
    assert attributes["rollout.stream.end_reason"] == "completed"
    recorded = str(attributes["gen_ai.input.messages"])
    assert "after the call" not in recorded and f"message {len(HISTORY) - 1} " in recorded
    assert json.loads(str(attributes["gen_ai.output.messages"]))[0]["parts"]

    cap.span_exporter.clear()  # the same call whose end waits for its content: the same content
    _early._worker.wait_for_ends(5)
    at_end = stream(server, cap, list(HISTORY))
    assert {k: v for k, v in attributes.items() if k in CONTENT_KEYS} == at_end


def test_shutdown_waits_for_an_end_handed_over(server: LocalLLMServer, held_worker: threading.Event) -> None:
    capture = Capture(max_content_bytes=60_000)
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=capture.tracer_provider
    )
    for _ in client.chat.completions.create(
        model="m",
        messages=list(HISTORY),  # type: ignore[arg-type]
        stream=True,
        extra_headers=scenario_headers(chunks=3),
    ):
        pass
    assert capture.span_exporter.get_finished_spans() == ()
    threading.Timer(0.05, held_worker.set).start()
    capture.shutdown()  # the streaming processor waits for the worker before the exporter stops
    (span,) = capture.span_exporter.get_finished_spans()
    assert "gen_ai.input.messages" in (span.attributes or {})


def test_a_multiprocessing_child_ends_its_span_itself(
    server: LocalLLMServer, cap: Capture, held_worker: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_early, "_in_child_process", lambda: True)  # stopped as soon as its task returns
    content = stream(server, cap, list(HISTORY))  # the worker is held: the end builds the content itself
    assert "gen_ai.input.messages" in content
    assert wait_for_ends(0)


def test_ends_handed_over_by_the_parent_are_not_waited_for_in_a_forked_child() -> None:
    worker = _early._Worker()
    release = threading.Event()

    def hold() -> None:
        release.wait(30)

    worker._put(hold)
    ended: list[bool] = []
    worker.end_later(lambda: ended.append(True))
    assert worker.pending == 1 and not worker.wait_for_ends(0)
    worker._after_fork()  # as in a child: the parent's spans are the parent's
    assert worker.pending == 0 and worker.wait_for_ends(0)
    release.set()


def test_rollout_flush_sends_an_end_handed_over(server: LocalLLMServer, held_worker: threading.Event) -> None:
    from otlp_sink import OtlpSink
    from rollout_otel import Rollout

    with OtlpSink() as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, max_content_bytes=60_000)
        try:
            client = rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0))
            for _ in client.chat.completions.create(
                model="m",
                messages=list(HISTORY),  # type: ignore[arg-type]
                stream=True,
                extra_headers=scenario_headers(chunks=3),
            ):
                pass
            threading.Timer(0.05, held_worker.set).start()
            assert rollout.flush(timeout=10)  # the worker ends the span, then the export sends it
            (span,) = sink.spans("openai.chat.completions")
            assert "message 599 " in str(span.attributes["gen_ai.input.messages"])
        finally:
            rollout.shutdown()


def test_a_long_answer_is_spliced_into_the_output_the_worker_builds(
    server: LocalLLMServer, cap: Capture, held_worker: threading.Event
) -> None:
    """A long answer's blocks (never joined on the caller's thread) reach the worker with the span's end: the output
    it builds holds the whole answer, and no placeholder."""
    client = wrap(
        openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=cap.tracer_provider
    )
    chunks = client.chat.completions.create(
        model="m",
        messages=list(HISTORY),  # type: ignore[arg-type]
        stream=True,
        extra_headers=scenario_headers(chunks=6000),
    )
    answer = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert len(answer) >= 16_384  # long enough to be spliced
    assert cap.span_exporter.get_finished_spans() == ()  # handed to the worker

    held_worker.set()
    assert cap.processor.force_flush()
    (span,) = cap.span_exporter.get_finished_spans()
    output = str((span.attributes or {})["gen_ai.output.messages"])
    assert "rollout-otel stream text" not in output
    (message,) = json.loads(output)
    assert message["parts"][0]["content"] == answer


@pytest.mark.parametrize("streaming_processor", [False, True])
def test_a_provider_whose_export_comes_first_gets_the_span_handed_over(
    server: LocalLLMServer, held_worker: threading.Event, streaming_processor: bool
) -> None:
    """Supported set-ups where no flush or shutdown waits for the worker before the export: the SDK provider without
    the streaming processor, or with it added after the span export (as the README's example reads). The span must
    still be exported by the provider's flush and shutdown."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from rollout_otel import StreamingSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if streaming_processor:
        provider.add_span_processor(StreamingSpanProcessor())
    client = wrap(openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0), tracer_provider=provider)
    try:
        for _ in client.chat.completions.create(
            model="m",
            messages=list(HISTORY),  # type: ignore[arg-type]
            stream=True,
            extra_headers=scenario_headers(chunks=3),
        ):
            pass
        threading.Timer(0.2, held_worker.set).start()
        if streaming_processor:
            provider.shutdown()
        else:
            assert provider.force_flush(10_000)
        (span,) = exporter.get_finished_spans()
        assert "message 599 " in str((span.attributes or {})["gen_ai.input.messages"])
    finally:
        held_worker.set()
        wait_for_ends(5)
        provider.shutdown()


def test_take_on_the_worker_inside_its_own_job_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A span abandoned while its request is being built may be collected (its `__del__` ends it) by a garbage
    collection that runs on the worker, inside that very job: a `take()` there must not wait for itself."""
    from types import SimpleNamespace

    monkeypatch.setattr(_early, "_worker", _early._Worker())
    taken: list[Any] = []

    def request() -> Any:
        taken.append(job.take())  # the span's end, run by the collector on the worker in the middle of the job
        return SimpleNamespace(messages=None, system=None, tools=None, rest=None)

    job = EarlyRequest(request, 1000)
    _early._worker.submit(job)
    assert job._done.wait(5), "the worker waits for itself"
    assert taken == [None]  # built by the end itself
