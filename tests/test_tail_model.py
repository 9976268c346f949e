"""What `rollout-otel tail` knows about a stream, from its request to its span: records posted over a real socket as
an instrumented app sends them (start, updates, stall, the span), read back from the model and the JSON events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollout_otel.tail import TailModel
from rollout_otel.tail._command import TailReceiver
from tail_otlp import llm_span, logs_body, post, received_log, stall, start, traces_body, update


class Events(list[dict[str, Any]]):
    def __call__(self, event: dict[str, Any]) -> None:
        self.append(event)


@pytest.fixture
def tail() -> Iterator[TailReceiver]:
    receiver = TailReceiver(TailModel(), Events(), port=0, grpc_port=0).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def state(tail: TailReceiver, span_id: str) -> str:
    model = tail.model
    now = model.clock()
    (stream,) = [s for s in model.snapshot(now)[0] if s.span_id == span_id]
    return stream.state(now, model.stalled_after)


def test_a_stream_appears_from_its_request_and_follows_its_records(tail: TailReceiver) -> None:
    span_id = "00f067aa0ba902b7"
    assert post(tail.http_port, "/v1/logs", logs_body([start(span_id)]))[0] == 200
    assert state(tail, span_id) == "waiting"  # seen before its first chunk

    assert post(tail.http_port, "/v1/logs", logs_body([stall(span_id, gap=5.0, chunks=0, elapsed=5.0)]))[0] == 200
    assert state(tail, span_id) == "STALLED"  # no first chunk for five seconds

    records = [update(span_id, chunks=12, elapsed=6.0, preview="Hello", gen_ai__response__time_to_first_chunk=5.5)]
    assert post(tail.http_port, "/v1/logs", logs_body(records))[0] == 200
    assert state(tail, span_id) == "streaming"  # the next chunk ends the stall

    span = llm_span(span_id, rollout__stream__end_reason="completed", gen_ai__response__finish_reasons=["length"])
    assert post(tail.http_port, "/v1/traces", traces_body([span]))[0] == 200
    assert tail.model.snapshot()[0] == []
    events: Any = tail.emit
    assert [e["event"] for e in events] == ["stream.opened", "stream.stalled", "stream.update", "call.finished"]
    assert [e.get("state") for e in events[:3]] == ["waiting", "STALLED", "streaming"]
    assert events[1]["stall_gap"] == 5.0 and events[-1]["finish_reasons"] == "length"
    assert events[0]["name"] == "openai.chat.completions" and events[0]["model"] == "gpt-4o-mini"

    # A record that arrives after its span (through a collector) does not reopen the stream.
    post(tail.http_port, "/v1/logs", logs_body([update(span_id, chunks=13, elapsed=6.5)]))
    assert tail.model.snapshot()[0] == []


def test_chars_per_second_is_over_the_last_seconds() -> None:
    clock = [0.0]
    model = TailModel(clock=lambda: clock[0])
    # 10 chars/s for 10 seconds, then 100 chars/s: the rate shows the change, not the whole-stream average.
    chars = 0
    for second in range(1, 16):
        chars += 10 if second <= 10 else 100
        clock[0] = float(second)
        model.on_logs(
            [
                received_log(
                    "rollout.stream.update",
                    "a" * 16,
                    rollout__stream__chars=chars,
                    rollout__stream__chunks=second,
                    rollout__stream__elapsed=float(second),
                )
            ]
        )
    (stream,) = model.snapshot()[0]
    assert stream.rate == pytest.approx(100.0)
    assert stream.chars / stream.elapsed < 50  # what the old whole-stream average would have said
