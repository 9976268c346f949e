"""`rollout-otel tail`: an OTLP receiver whose records feed a `TailModel`, shown live, as JSON lines or plain lines.

With `--forward URL`, every request received is passed on to a real collector (OTLP/HTTP protobuf), so tail can sit
in front of the normal pipeline.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from .._receiver import OtlpReceiver, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan
from ._model import TailModel

FRAME_SECONDS = 0.1  # at most ten frames a second


class TailReceiver(OtlpReceiver):
    """Feeds the model, hands each event to `emit`, and forwards what it received if asked."""

    def __init__(
        self,
        model: TailModel,
        emit: Callable[[dict[str, Any]], None],
        *,
        port: int,
        grpc_port: int,
        forward: Forwarder | None = None,
    ) -> None:
        super().__init__(port=port, grpc_port=grpc_port)
        self.model = model
        self.emit = emit
        self.forward = forward
        self.received = 0

    def _record(
        self,
        request: ReceivedRequest,
        spans: Iterable[ReceivedSpan] = (),
        logs: Iterable[ReceivedLog] = (),
        metrics: Iterable[ReceivedMetric] = (),
        *,
        message: Any = None,
    ) -> None:
        self.received += 1
        if self.forward is not None and message is not None:
            self.forward.put(request.path, message)
        for event in self.model.on_logs(logs) + self.model.on_spans(spans):
            self.emit(event)


class Forwarder:
    """Passes requests on to a collector over OTLP/HTTP from a background thread; a full queue drops, never blocks."""

    def __init__(self, base_url: str, max_queue: int = 1000) -> None:
        self.base_url = base_url.rstrip("/")
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(max_queue)
        self.dropped = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="rollout-otel-tail-forward", daemon=True)
        self._thread.start()

    def put(self, path: str, message: Any) -> None:
        signal_path = path if path.startswith("/v1/") else _HTTP_PATHS.get(path, "")
        try:
            self._queue.put_nowait((signal_path, message.SerializeToString()))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        import urllib.request

        while (item := self._queue.get()) is not None:
            path, body = item
            request = urllib.request.Request(
                self.base_url + path, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            except Exception:
                self.failed += 1

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within `timeout`), then stop."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(max(0.0, deadline - time.monotonic()))


_HTTP_PATHS = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "/v1/traces",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "/v1/logs",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "/v1/metrics",
}


def _json_printer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False)
        with lock:
            out.write(line + "\n")
            out.flush()

    return emit


def _plain_printer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    """One readable line per event: for logs and pipes, where a live view cannot draw."""
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        kind = event["event"]
        who = f"{event['service']} {event['name']} {event['model']}".strip()
        if kind == "call.finished":
            reason = event["end_reason"] or "whole"
            error = f" {event['error_type']}" if event["error_type"] else ""
            line = (
                f"finished  {who}  {reason.upper()}{error}  {event['duration']:.2f}s  "
                f"tokens {event['input_tokens']}/{event['output_tokens']}  {event['output'][:80]!r}"
            )
        else:
            word = "opened  " if kind == "stream.opened" else "update  "
            line = (
                f"{word}  {who}  {event['elapsed']:.1f}s  chunks {event['chunks']}  "
                f"{event['chars_per_second']:.0f} chars/s  {event['preview'][-80:]!r}"
            )
        with lock:
            out.write(line + "\n")
            out.flush()

    return emit


def run_tail(
    *,
    port: int,
    grpc_port: int,
    mode: str,
    forward: str | None,
    filters: Iterable[str],
    max_finished: int,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Receive until Ctrl-C (or `stop`); `mode` is "view", "json" or "plain"."""
    model = TailModel(max_finished=max_finished, filters=filters)
    forwarder = Forwarder(forward) if forward else None
    emit: Callable[[dict[str, Any]], None]
    if mode == "json":
        emit = _json_printer(out)
    elif mode == "plain":
        emit = _plain_printer(out)
    else:
        emit = lambda event: None  # noqa: E731 - the view reads the model itself
    receiver = TailReceiver(model, emit, port=port, grpc_port=grpc_port, forward=forwarder)
    try:
        receiver.start()
    except OSError as exc:
        print(
            f"rollout-otel tail: cannot listen on 127.0.0.1:{port} / {grpc_port} ({exc}); is a collector running "
            "there? Stop it, pick other ports (--port, --grpc-port), or have it forward to tail",
            file=sys.stderr,
        )
        return 1
    address = f"{receiver.http_endpoint} (HTTP), {receiver.grpc_endpoint} (gRPC)"
    stop = stop or threading.Event()
    _stop_on_sigterm(stop)
    try:
        if mode == "view":
            _run_view(model, address, stop)
        else:
            print(f"rollout-otel tail: listening on {address}", file=sys.stderr, flush=True)
            while not stop.wait(0.2):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        if forwarder is not None:
            forwarder.close()
    return 0


def _stop_on_sigterm(stop: threading.Event) -> None:
    """`kill` (and a supervisor's stop) ends tail as Ctrl-C does: servers closed, the forward queue sent."""
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _run_view(model: TailModel, address: str, stop: threading.Event) -> None:
    from rich.console import Console
    from rich.live import Live

    from ._view import render

    console = Console()
    drawn_version, drawn_at = -1, 0.0
    with Live(console=console, auto_refresh=False, screen=False) as live:
        while not stop.wait(FRAME_SECONDS):
            now = time.monotonic()
            # Redraw on news, and once a second for the clocks (elapsed, stalled); a frame costs tens of ms.
            if model.version != drawn_version or now - drawn_at >= 1.0:
                drawn_version, drawn_at = model.version, now
                live.update(render(model, address=address), refresh=True)
