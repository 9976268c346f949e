"""`--forward URL`: pass every request on to a collector (OTLP/HTTP protobuf) from one background thread.

The queue is bounded in bytes, not requests: when it is full, the request is refused (HTTP 503, gRPC UNAVAILABLE)
so the sending app retries and, if that fails too, warns; nothing is dropped silently. Failures are counted and the
latest one is kept, for the screen.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Final

from .._receiver import GRPC_METHODS
from ._clean import clean

MAX_QUEUE_BYTES: Final = 32 * 1024 * 1024
_HTTP_PATHS: Final = {method: f"/v1/{signal}" for signal, method in GRPC_METHODS.items()}


class Forwarder:
    """Sends what `put` accepted, in order; `put` says False when the queue is full."""

    def __init__(self, base_url: str, *, max_bytes: int = MAX_QUEUE_BYTES, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.queued_bytes = 0
        self.refused = 0
        self.sent = 0
        self.failed = 0
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="rollout-otel-tail-forward", daemon=True)
        self._thread.start()

    def put(self, path: str, message: Any) -> bool:
        """Queue one request (its protobuf message); False, and nothing queued, when over the byte bound."""
        signal_path = path if path.startswith("/v1/") else _HTTP_PATHS.get(path, "")
        body = message.SerializeToString()
        with self._lock:
            if self.queued_bytes + len(body) > self.max_bytes:
                self.refused += 1
                return False
            self.queued_bytes += len(body)
        self._queue.put((signal_path, body))
        return True

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            path, body = item
            try:
                self._send(path, body)
            finally:
                with self._lock:
                    self.queued_bytes -= len(body)

    def _send(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(
            self.base_url + path, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            self.sent += 1
        except urllib.error.HTTPError as exc:
            self._failed(f"HTTP {exc.code} from {self.base_url}")
        except Exception as exc:
            self._failed(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")

    def _failed(self, why: str) -> None:
        with self._lock:
            self.failed += 1
            self.last_error = clean(why, limit=200)

    def status(self) -> str:
        """One line for the screen: "" while every request got through."""
        with self._lock:
            failed, refused, last = self.failed, self.refused, self.last_error
        parts = []
        if failed:
            parts.append(f"{failed} failed ({last})")
        if refused:
            parts.append(f"{refused} refused (queue full, 503)")
        return ", ".join(parts)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within `timeout`), then stop."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(max(0.0, deadline - time.monotonic()))
