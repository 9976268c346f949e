"""An OTLP receiver in a process of its own, for load tests that kill it: it appends the `call.index` of every span
it takes to a file, one line per request, and refuses requests over a size as a collector does (gRPC
RESOURCE_EXHAUSTED, HTTP 413).

    python tests/load_receiver.py OUT_FILE HTTP_PORT GRPC_PORT MAX_REQUEST_BYTES
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any

from rollout_otel._receiver import OtlpReceiver, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan


class IndexRecorder(OtlpReceiver):
    """Writes `<payload bytes> <index> <index> ...` per accepted traces request; flushed at once, so a kill -9
    loses nothing it acknowledged."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._out = out
        self._lock = threading.Lock()

    def _record(
        self,
        request: ReceivedRequest,
        spans: Iterable[ReceivedSpan] = (),
        logs: Iterable[ReceivedLog] = (),
        metrics: Iterable[ReceivedMetric] = (),
        *,
        message: Any = None,
    ) -> None:
        indices = [str(s.attributes["call.index"]) for s in spans if "call.index" in s.attributes]
        if not indices:
            return
        with self._lock:
            self._out.write(f"{request.payload_size} {' '.join(indices)}\n")
            self._out.flush()


def main() -> None:
    out_path, http_port, grpc_port, max_body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with open(out_path, "a", encoding="utf-8") as out:
        receiver = IndexRecorder(out, port=http_port, grpc_port=grpc_port, max_body_bytes=max_body)
        receiver.start()
        print(f"ready {receiver.http_port} {receiver.grpc_port}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        receiver.stop()


if __name__ == "__main__":
    main()
