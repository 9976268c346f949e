"""A receiver that went away and came back: what is sent once it is back arrives, over gRPC as over HTTP.

A gRPC channel that failed to connect waits before it tries again (its reconnect back-off, a second at first and
growing), and an export made meanwhile fails at once: spans sent just after a collector restarted were lost. Here the
receiver is stopped while exports keep failing, started again on the same port, and the very next export must land.
"""

from __future__ import annotations

import time

import pytest

from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace

pytestmark = pytest.mark.integration


def one_call(name: str) -> None:
    with trace.llm(name) as span:
        span.end(output="x")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_the_first_export_after_the_receiver_is_back_arrives(protocol: str) -> None:
    with OtlpSink() as first:
        port = first.grpc_port if protocol == "grpc" else first.http_port
        endpoint = first.grpc_endpoint if protocol == "grpc" else first.http_endpoint
        rollout = Rollout(endpoint=endpoint, protocol=protocol, metrics=False)
        one_call("before")
        assert rollout.flush(timeout=10)
    try:
        for _ in range(40):  # down: each export is refused, as while a collector restarts
            one_call("lost")
            assert not rollout.flush(timeout=10)
            time.sleep(0.02)
        lost = rollout._failures.total()
        assert lost == 40
        sink = OtlpSink(port=port) if protocol != "grpc" else OtlpSink(grpc_port=port)
        with sink as back:
            one_call("after")
            assert rollout.flush(timeout=10)  # nothing lost since the previous flush
            assert [s.name for s in back.wait_for_spans(1)] == ["after"]
        assert rollout._failures.total() == lost
    finally:
        rollout.shutdown(timeout=2)
