"""`rollout-otel tail`'s model fed by the real library over a real socket: a stream from the bundled server that is
slow to start and stalls once mid-stream is shown waiting, stalled, streaming, stalled, streaming, then finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from rollout_otel import Rollout
from rollout_otel.serve import LocalLLMServer, scenario_headers
from rollout_otel.tail import TailModel
from rollout_otel.tail._command import TailReceiver

pytestmark = pytest.mark.integration

FIRST_DELAY = 1.5
STALL = 1.5
CHUNKS = 24
DELAY = 0.05  # between chunks: the stream is seen streaming after the stall too


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


def _states(tail: TailReceiver, done: threading.Event, seen: list[str]) -> None:
    """What tail's views would show for the one stream, every 20 ms, deduplicated."""
    while not done.is_set():
        model = tail.model
        now = model.clock()
        open_streams, finished = model.snapshot(now)[:2]
        state = open_streams[0].state(now, model.stalled_after) if open_streams else "finished" if finished else ""
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        time.sleep(0.02)


def test_a_real_stream_goes_waiting_stalled_streaming_stalled_streaming_finished(tail: TailReceiver) -> None:
    rollout = Rollout(
        endpoint=f"http://127.0.0.1:{tail.http_port}",
        service_name="tail-live",
        stream_update_interval=0.1,
        stall_after=0.5,
        metrics=False,
        live_spans="off",
    )
    seen: list[str] = []
    done = threading.Event()
    watcher = threading.Thread(target=_states, args=(tail, done, seen))
    watcher.start()
    try:
        with LocalLLMServer() as server:
            client = rollout.wrap(openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0))
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers=scenario_headers(
                    chunks=CHUNKS, delay=DELAY, first_delay=FIRST_DELAY, stall=STALL, stall_at=8
                ),
            )
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            client.close()
        assert rollout.flush(timeout=5.0)
        deadline = time.monotonic() + 5.0
        while (not seen or seen[-1] != "finished") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        watcher.join()
        rollout.shutdown()

    assert seen == ["waiting", "STALLED", "streaming", "STALLED", "streaming", "finished"], seen
    events: Any = tail.emit
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stream.opened" and kinds[-1] == "call.finished"
    assert kinds.count("stream.opened") == 1
    stalled = [e for e in events if e["event"] == "stream.stalled"]
    assert stalled and all(e["stall_gap"] >= 0.5 * 0.99 for e in stalled)
    finished = events[-1]
    assert finished["time_to_first_chunk"] >= FIRST_DELAY, finished
    assert finished["end_reason"] == "completed" and finished["output"] == text, finished
    assert finished["duration"] >= FIRST_DELAY + STALL + DELAY * CHUNKS * 0.5
