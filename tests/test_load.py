"""Load on loopback: 200 calls a second with 50 KB of content each, against receivers with ordinary limits (gRPC's
default 4 MiB, an HTTP receiver answering 413 above 20 MiB), and a receiver killed with SIGKILL mid-run.

The receiver runs in a process of its own (tests/load_receiver.py) so that it can be killed as a collector dies.
The short runs belong to the fast suite; the 60-second ones are marked `load` and run apart
(`python -m pytest -m load -n 0 -s tests/test_load.py`, which prints what each run measured).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rollout_otel import Rollout, trace

pytestmark = pytest.mark.integration

RATE = 200  # calls a second
CONTENT = ("All work and no play makes a long answer. " * 1_200)[:50_000]  # 50 KB
HTTP_LIMIT = 20 * 1024 * 1024
GRPC_LIMIT = 4 * 1024 * 1024
RECEIVER = Path(__file__).with_name("load_receiver.py")


class Receiver:
    """tests/load_receiver.py in a subprocess, on fixed ports once started, so it can come back where it was."""

    def __init__(self, out: Path, max_body: int) -> None:
        self.out = out
        self.max_body = max_body
        self.http_port = 0
        self.grpc_port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(RECEIVER),
                str(self.out),
                str(self.http_port),
                str(self.grpc_port),
                str(self.max_body),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().split()
        assert ready and ready[0] == "ready", ready
        self.http_port, self.grpc_port = int(ready[1]), int(ready[2])

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def endpoint(self, protocol: str) -> str:
        return f"http://127.0.0.1:{self.grpc_port if protocol == 'grpc' else self.http_port}"

    def received(self) -> tuple[set[int], int, int]:
        """The call indices received, how many requests carried them, and the largest request's payload."""
        indices: set[int] = set()
        requests = largest = 0
        if self.out.exists():
            for line in self.out.read_text().splitlines():
                size, *found = line.split()
                indices.update(int(i) for i in found)
                requests += 1
                largest = max(largest, int(size))
        return indices, requests, largest


@pytest.fixture
def receiver(tmp_path: Path, protocol: str) -> Iterator[Receiver]:
    """gRPC with its default 4 MiB message limit; HTTP answering 413 above 20 MiB."""
    running = Receiver(tmp_path / "received.txt", GRPC_LIMIT if protocol == "grpc" else HTTP_LIMIT)
    running.start()
    yield running
    running.stop()


@dataclass
class Run:
    """What a load run did: when each call ended, and how fast the calls really went."""

    ended_at: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.ended_at) / self.seconds if self.seconds else 0.0


def drive(seconds: float, run: Run, rate: int = RATE) -> None:
    """`rate` calls a second for `seconds`, each an LLM span carrying CONTENT as its output."""
    started = time.monotonic()
    total = int(seconds * rate)
    for index in range(total):
        ahead = started + index / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        with trace.llm("load.call", model="load-model", attributes={"call.index": index}) as span:
            span.record_input([{"role": "user", "content": "Tell me a long story."}])
            span.end(output=CONTENT, usage={"input_tokens": 8, "output_tokens": 12_000})
        run.ended_at[index] = time.monotonic()
    run.seconds = time.monotonic() - started


def report(what: str, run: Run, received: set[int], requests: int, largest: int, flush_s: float) -> None:
    print(
        f"\n{what}: {len(run.ended_at)} calls in {run.seconds:.1f} s ({run.rate:.0f}/s), {len(received)} received "
        f"in {requests} requests, largest {largest:,} bytes, final flush {flush_s:.1f} s"
    )


def steady_run(receiver: Receiver, protocol: str, seconds: float) -> None:
    rollout = Rollout(endpoint=receiver.endpoint(protocol), protocol=protocol)
    run = Run()
    try:
        drive(seconds, run)
        started = time.monotonic()
        assert rollout.flush(timeout=60)
        flush_s = time.monotonic() - started
    finally:
        rollout.shutdown(timeout=10)
    received, requests, largest = receiver.received()
    report(f"{protocol} {seconds:.0f} s", run, received, requests, largest, flush_s)
    assert received == set(run.ended_at), f"{len(set(run.ended_at) - received)} calls lost"
    assert largest <= 4_000_000


def killed_run(receiver: Receiver, protocol: str, seconds: float, caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL the receiver a third of the way in, bring it back a little later on the same ports."""
    rollout = Rollout(endpoint=receiver.endpoint(protocol), protocol=protocol, metrics=False)
    run = Run()
    back_at: list[float] = []

    def kill_and_restart() -> None:
        time.sleep(seconds / 3)
        receiver.kill()
        time.sleep(min(2.0, seconds / 6))
        receiver.start()
        back_at.append(time.monotonic())

    chaos = threading.Thread(target=kill_and_restart)
    try:
        with caplog.at_level(logging.WARNING, logger="rollout_otel"):
            chaos.start()
            drive(seconds, run)
            chaos.join(30)
            started = time.monotonic()
            flushed = rollout.flush(timeout=60)
            flush_s = time.monotonic() - started
    finally:
        rollout.shutdown(timeout=10)
    received, requests, largest = receiver.received()
    lost = set(run.ended_at) - received
    report(f"{protocol} {seconds:.0f} s, killed", run, received, requests, largest, flush_s)
    (back,) = back_at
    after = {index for index, ended in run.ended_at.items() if ended > back}
    reported = rollout._failures.total()
    print(f"lost {len(lost)}, {len(lost & after)} of them after the receiver came back; reported lost {reported}")
    assert after and not (after & lost), f"{len(after & lost)} calls lost after the receiver came back"
    assert lost, "the kill cost nothing: the test did not test"
    assert not flushed  # what was lost since the previous flush
    # Everything lost is reported. A kill -9 between the receiver reading a request and answering it makes that one
    # batch both arrive and count as lost: the exporter sends one batch at a time, of at most 512 spans.
    assert len(lost) <= reported <= len(lost) + 512, f"lost {len(lost)}, reported {reported}"
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert lines, caplog.text  # and said so, with the count


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_short_run_at_200_calls_a_second_loses_nothing(receiver: Receiver, protocol: str) -> None:
    steady_run(receiver, protocol, seconds=3)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_short_run_with_the_receiver_killed_loses_nothing_after_it_is_back(
    receiver: Receiver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    killed_run(receiver, protocol, seconds=6, caplog=caplog)


@pytest.mark.load
@pytest.mark.timeout(600)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_sixty_seconds_at_200_calls_a_second_lose_nothing(receiver: Receiver, protocol: str) -> None:
    steady_run(receiver, protocol, seconds=60)


@pytest.mark.load
@pytest.mark.timeout(600)
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_receiver_killed_mid_run_loses_nothing_after_it_is_back(
    receiver: Receiver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    killed_run(receiver, protocol, seconds=60, caplog=caplog)
