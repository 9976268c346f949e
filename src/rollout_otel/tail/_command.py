"""`rollout-otel tail`: an OTLP receiver whose records feed a `TailModel`, shown live, as JSON lines or plain lines.

With `--forward URL`, every request received is passed on to a real collector (OTLP/HTTP protobuf), so tail can sit
in front of the normal pipeline.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, TextIO

from .._receiver import OtlpReceiver, ReceivedLog, ReceivedMetric, ReceivedRequest, ReceivedSpan, Unavailable
from .._receiver._hosts import is_loopback
from ._forward import Forwarder
from ._model import TailModel
from ._printers import json_printer, plain_printer

SWEEP_SECONDS: Final = 1.0  # plain and JSON modes forget quiet streams this often, with or without traffic


class TailReceiver(OtlpReceiver):
    """Feeds the model, hands each event to `emit`, and forwards what it received if asked."""

    def __init__(
        self,
        model: TailModel,
        emit: Callable[[dict[str, Any]], None],
        *,
        port: int,
        grpc_port: int,
        host: str = "127.0.0.1",
        forward: Forwarder | None = None,
    ) -> None:
        super().__init__(port=port, grpc_port=grpc_port, host=host)
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
        if self.forward is not None and message is not None and not self.forward.put(request.path, message):
            raise Unavailable("tail's forward queue is full; retry later")
        self.received += 1
        for event in self.model.on_logs(logs) + self.model.on_spans(spans):
            self.emit(event)


def run_tail(
    *,
    port: int,
    grpc_port: int,
    mode: str,
    forward: str | None,
    filters: Iterable[str],
    max_finished: int,
    host: str = "127.0.0.1",
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Receive until Ctrl-C, `q` (or `stop`); `mode` is "view", "json" or "plain"."""
    model = TailModel(max_finished=max_finished, filters=filters)
    emit: Callable[[dict[str, Any]], None]
    if mode == "json":
        emit = json_printer(out)
    elif mode == "plain":
        emit = plain_printer(out)
    else:
        emit = lambda event: None  # noqa: E731 - the view reads the model itself
    forwarder = Forwarder(forward) if forward else None
    receiver = TailReceiver(model, emit, port=port, grpc_port=grpc_port, host=host, forward=forwarder)
    try:
        receiver.start()
    except OSError as exc:
        print(
            f"rollout-otel tail: cannot listen on {host}:{port} / {grpc_port} ({exc}); is a collector running "
            "there? Stop it, pick other ports (--port, --grpc-port), or have it forward to tail",
            file=sys.stderr,
        )
        if forwarder is not None:
            forwarder.close(0)
        return 1
    if not is_loopback(host):
        print(
            f"rollout-otel tail: warning: listening on {host}, not on loopback only: the previews (model output) "
            "your apps send to tail cross that network, and anyone on it can send to tail",
            file=sys.stderr,
            flush=True,
        )
    address = f"{receiver.http_endpoint} (HTTP), {receiver.grpc_endpoint} (gRPC)"
    stop = stop or threading.Event()
    _stop_on_sigterm(stop)
    try:
        if mode == "view":
            _run_view(model, address, stop, forwarder)
        else:
            print(f"rollout-otel tail: listening on {address}", file=sys.stderr, flush=True)
            _run_lines(model, stop, forwarder)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        if forwarder is not None:
            forwarder.close()
    return 0


def _run_lines(model: TailModel, stop: threading.Event, forwarder: Forwarder | None) -> None:
    """Plain and JSON modes: forget quiet streams on time, and say on stderr when forwarding starts failing."""
    said = ""
    while not stop.wait(SWEEP_SECONDS):
        model.snapshot()
        problem = forwarder.status() if forwarder is not None else ""
        if problem != said:
            said = problem
            print(f"rollout-otel tail: forward: {problem}", file=sys.stderr, flush=True)


def _stop_on_sigterm(stop: threading.Event) -> None:
    """`kill` (and a supervisor's stop) ends tail as Ctrl-C does: servers closed, the forward queue sent."""
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _run_view(model: TailModel, address: str, stop: threading.Event, forwarder: Forwarder | None) -> None:
    from ._app import TailApp

    app = TailApp(
        model,
        address=address,
        clock=time.monotonic,
        forward_status=forwarder.status if forwarder is not None else lambda: "",
        should_stop=stop.is_set,
    )
    app.run()
