"""Where the merged export pieces meet: live spans, refused signals, drop counting and the content worker.

Each test is a defect found where two of them meet (DESIGN §9, §10), over real sockets to a local receiver.
"""

from __future__ import annotations

import time

import pytest

from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace

pytestmark = pytest.mark.integration


def _one_call(rollout: Rollout, index: int) -> None:
    with trace.llm("openai.chat", model="m", tracer_provider=rollout.tracer_provider) as span:
        span.set_attribute("call.index", index)
        span.end(output="ok")


def test_spans_refused_once_with_404_are_counted_and_sent_again_when_the_endpoint_takes_them() -> None:
    """A 404 switches off logs and metrics (trace-only backends), never spans: a traces endpoint that answered 404
    once (a proxy during a deploy, a collector still starting) must get the next spans, and each lost one counts."""
    with OtlpSink(accept=("logs", "metrics"), refuse_status=404) as sink:
        rollout = Rollout(endpoint=sink.http_endpoint, metrics=False)
        try:
            _one_call(rollout, 0)
            assert not rollout.flush(timeout=5)  # refused: lost, and flush says so
            sink.accept = frozenset({"traces", "logs", "metrics"})
            _one_call(rollout, 1)
            assert rollout.flush(timeout=5)
            deadline = time.monotonic() + 5
            while not sink.spans() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [s.attributes.get("call.index") for s in sink.spans()] == [1]
        finally:
            rollout.shutdown()
