"""A receiver that went away and came back: what is sent once it is back arrives, over gRPC as over HTTP.

A gRPC channel that failed to connect waits before it tries again (its reconnect back-off, a second at first and
growing), and an export made meanwhile fails at once: spans sent just after a collector restarted were lost. Here the
receiver is stopped while exports keep failing, started again on the same port, and the very next export must land.
"""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace
from rollout_otel._export import new_channel

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


def test_a_fresh_channel_is_never_left_open_by_an_exporter_shut_down() -> None:
    """A refusal that races the exporter's shutdown: the shutdown closed the channel it saw, so no new one may
    stay open after it, nor be made once it is done."""
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9", insecure=True)
    before = exporter._channel
    exporter.shutdown()
    new_channel(exporter)
    assert exporter._channel is before  # shut down: nothing made

    racing = OTLPSpanExporter(endpoint="http://127.0.0.1:9", insecure=True)
    made = racing._initialize_channel_and_stub

    def shut_down_meanwhile() -> None:  # the shutdown lands while the new channel is being made
        made()
        racing._shutdown = True

    racing._initialize_channel_and_stub = shut_down_meanwhile  # type: ignore[method-assign]
    new_channel(racing)
    with pytest.raises(ValueError):  # grpc: "Cannot invoke RPC on closed channel!"
        racing._channel.unary_unary("/x")(b"")
