"""A large request's content is built on the content worker while the call runs: the span is the same as when
its end builds it, what the caller appends afterwards is not recorded, and a job the worker never started is
built at the end as before."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from rollout_otel import wrap
from rollout_otel._content import _early
from rollout_otel._content._early import EarlyRequest, is_large
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
