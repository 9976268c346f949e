"""Where the merged export pieces meet: live spans, refused signals, drop counting and the content worker.

Each test is a defect found where two of them meet (DESIGN §9, §10), over real sockets to a local receiver.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from otlp_sink import OtlpSink
from rollout_otel import Rollout, trace
from rollout_otel._content._early import EarlyRequest

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


FIRST_EXPORT_APP = """
import sys, time
from rollout_otel import Rollout, trace

rollout = Rollout(endpoint=sys.argv[2], protocol=sys.argv[1], live_spans="on", stream_update_interval=0.05)
before = set(sys.modules)
with trace.llm("openai.chat", model="m", stream=True) as span:
    span.record_input([{"role": "user", "content": f"message {i}"} for i in range(300)])  # the content worker's
    span.record_chunk("a")
    time.sleep(0.3)  # update events and live spans go out on the update thread
    span.record_chunk("b")
    span.end(usage={"input_tokens": 1, "output_tokens": 1})
assert rollout.flush(timeout=10)
print(sorted(set(sys.modules) - before))
rollout.shutdown()
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_export_threads_import_nothing_after_set_up(tmp_path: Path, protocol: str) -> None:
    """A module a background thread is importing when the program forks stays locked in the child for good: a pool
    worker forked while the parent's first export imported one (the HTTP transport imports `netrc` per request)
    hung on its own first export. Everything the export path needs is imported when `Rollout()` sets it up."""
    with OtlpSink() as sink:
        endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
        script = tmp_path / "app.py"
        script.write_text(FIRST_EXPORT_APP)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
        result = subprocess.run(
            [sys.executable, str(script), protocol, endpoint], env=clean, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]", result.stdout


FORK_APP = """
import os, sys
from rollout_otel import Rollout, trace

rollout = Rollout(endpoint=sys.argv[1], metrics=False)

def call(name):
    with trace.llm(name) as span:
        span.end(output="ok")
    assert rollout.flush(timeout=10)

call("parent.before")  # the exporter keeps its connection open for the next request
pid = os.fork()
if pid == 0:
    call("child")
    os._exit(0)
os.waitpid(pid, 0)
call("parent.after")
"""


class _PeerRecorder(http.server.BaseHTTPRequestHandler):
    """Answers every OTLP/HTTP export with 200 over keep-alive connections, noting the client port of each."""

    protocol_version = "HTTP/1.1"
    peers: list[int] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/traces":
            self.peers.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_forked_child_exports_over_a_connection_of_its_own(tmp_path: Path) -> None:
    """Parent and child writing to one inherited keep-alive socket interleave their requests: the receiver answers
    400 and both lose what they sent. A child opens its own connections."""
    _PeerRecorder.peers = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PeerRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        script = tmp_path / "app.py"
        script.write_text(FORK_APP)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
        clean["OTEL_LOGS_EXPORTER"] = "none"
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = subprocess.run(
            [sys.executable, str(script), endpoint], env=clean, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        parent_before, child, parent_after = _PeerRecorder.peers
        assert child != parent_before
        assert parent_after == parent_before  # the parent keeps its own connection
    finally:
        server.shutdown()
        server.server_close()


POOL_HOLE_APP = """
import multiprocessing, sys
from rollout_otel import Rollout, trace

rollout = Rollout(endpoint=sys.argv[1], metrics=False)

def task(index):
    for call in range(3):
        with trace.llm("pool.task") as span:
            span.end(output="ok")
    return index

if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(task, range(4)))
"""


def test_a_pool_worker_is_not_held_by_a_collector_that_does_not_answer(tmp_path: Path) -> None:
    """A pool worker exports each span before its task returns; against a collector that takes the connection but
    never answers, that held every traced call for the exporter's whole time-out (here 60 s: 12 calls, 12 minutes)."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # connections complete in the kernel's backlog; nothing ever answers
    try:
        script = tmp_path / "app.py"
        script.write_text(POOL_HOLE_APP)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
        clean.update({"OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_TIMEOUT": "60"})
        endpoint = f"http://127.0.0.1:{hole.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, str(script), endpoint], env=clean, capture_output=True, text=True, timeout=100
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[0, 1, 2, 3]"
    finally:
        hole.close()


def test_a_request_being_built_when_the_program_forks_is_built_again_in_the_child() -> None:
    """The content worker does not survive a fork: a child that ends a span whose request the parent's worker was
    building waited for it forever. The child builds it itself."""
    started, release = threading.Event(), threading.Event()

    class Sent:
        messages, system, tools, rest = [{"role": "user", "parts": []}], None, None, None

    def request() -> Sent:
        started.set()
        release.wait(10)
        return Sent()

    job = EarlyRequest(request, 1000)
    worker = threading.Thread(target=job.run, daemon=True)
    worker.start()
    assert started.wait(5)  # running on the worker when the program forks
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status, and never returns to pytest
        ok = False
        try:
            taken: list[object] = []
            taker = threading.Thread(target=lambda: taken.append(job.take(1000)), daemon=True)
            taker.start()
            taker.join(10)  # a child that would wait forever fails the test instead of hanging it
            ok = taken == [None] and isinstance(job(), Sent)
        finally:
            os._exit(0 if ok else 1)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        worker.join(5)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
