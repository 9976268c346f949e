"""`rollout-otel tail` against what it is sent: every attack of the adversarial review, as a test.

Terminal injection and markup in names, compression bombs and bad chunked framing, DNS rebinding (the Host header),
bad values in one record, a dead or slow collector behind `--forward`, streams that never end, bad arguments.
"""

from __future__ import annotations

import gzip
import io
import json
import resource
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

from rollout_otel import cli
from rollout_otel._receiver._body import BodyTooLarge, MalformedBody, decompress
from rollout_otel._receiver._hosts import HostCheck
from rollout_otel.tail import TailModel
from rollout_otel.tail._app import TailApp
from rollout_otel.tail._command import TailReceiver
from rollout_otel.tail._forward import Forwarder
from rollout_otel.tail._printers import json_printer, plain_printer
from tail_otlp import (
    llm_span,
    logs_body,
    post,
    received_log,
    received_span,
    start,
    traces_body,
    update,
)

# OSC 52 (write the clipboard), set the title, clear the screen, a C1 CSI, a bell.
HOSTILE = "ok\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x07\x1b[2J\x9b31m\x07end"
pytestmark = pytest.mark.anyio
RAW_CONTROLS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


class Collected:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture
def tail() -> Iterator[TailReceiver]:
    receiver = TailReceiver(TailModel(), Collected(), port=0, grpc_port=0).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in RAW_CONTROLS)


# -- text ------------------------------------------------------------------------------------------------------


def hostile_model() -> TailModel:
    model = TailModel()
    model.on_logs(
        [
            received_log(
                "rollout.stream.update",
                "a" * 16,
                service=HOSTILE,
                rollout__stream__name=HOSTILE,
                gen_ai__request__model=HOSTILE,
                rollout__stream__preview=HOSTILE,
                rollout__stream__chunks=3,
            )
        ]
    )
    model.on_spans([received_span("b" * 16, service=HOSTILE, error__type=HOSTILE, gen_ai__request__model=HOSTILE)])
    return model


def test_control_characters_never_leave_the_model_raw() -> None:
    model = hostile_model()
    streams, finished, _ = model.snapshot()
    texts = [streams[0].name, streams[0].model, streams[0].service, streams[0].preview or ""]
    texts += [finished[0].error_type, finished[0].service, finished[0].model, json.dumps(finished[0].attributes)]
    for text in texts:
        assert no_raw_controls(text), text
        assert "\\x1b]52" in text or "\\\\x1b]52" in text  # shown escaped, not lost


@pytest.mark.parametrize("printer", [json_printer, plain_printer])
def test_plain_and_json_lines_carry_no_control_characters(printer: Any) -> None:
    out = io.StringIO()
    emit = printer(out)
    model = TailModel()
    hostile = {"rollout__stream__name": HOSTILE, "rollout__stream__preview": HOSTILE, "rollout__stream__chunks": 2}
    for event in model.on_logs([received_log("rollout.stream.update", "a" * 16, service=HOSTILE, **hostile)]):
        emit(event)
    for event in model.on_spans([received_span("b" * 16, service=HOSTILE, error__type=HOSTILE)]):
        emit(event)
    text = out.getvalue()
    assert text.count("\n") == 2 and no_raw_controls(text.replace("\n", ""))
    assert "\x9b" not in text and "\x1b" not in text


async def test_the_console_shows_hostile_text_escaped() -> None:
    app = TailApp(hostile_model(), address="test", ticking=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
    assert no_raw_controls(screen) and "\\x1b" in screen


async def test_names_are_never_parsed_as_markup() -> None:
    model = TailModel()
    model.on_logs(
        [
            received_log(
                "rollout.stream.update",
                "a" * 16,
                service="[bold]svc",
                gen_ai__request__model="gpt-4o[/]",
                rollout__stream__name="[/]name[link=x]",
                rollout__stream__preview="[red]not red[/red] [/]",
            )
        ]
    )
    model.on_spans([received_span("b" * 16, error__type="Err[/]", service="[/]")])
    app = TailApp(model, address="[/]", ticking=False)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")  # the detail pane draws the same texts again
        await pilot.pause()
        detail = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        await pilot.press("escape")
        await pilot.pause()
        screen = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
    assert "gpt-4o[/]" in screen and "[/]name[link=x]" in screen and "Err[/]" in screen
    assert "[red]not red[/red]" in detail
    assert app.return_code in (None, 0)


# -- bodies ----------------------------------------------------------------------------------------------------


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bomb(size: int, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "wbits"), [("gzip", zlib.MAX_WBITS | 16), ("deflate", zlib.MAX_WBITS), ("deflate", -zlib.MAX_WBITS)]
)
def test_compression_bombs_stop_at_the_limit(encoding: str, wbits: int) -> None:
    body = bomb(512 << 20, wbits)  # 512 MiB of zeros in about half a megabyte
    before = max_rss_mb()
    with pytest.raises(BodyTooLarge):
        decompress(body, encoding, 4 << 20)
    assert max_rss_mb() - before < 64  # never the whole expansion in memory


def test_decompression_within_the_limit_is_exact() -> None:
    payload = b"otlp" * 1000
    two_members = gzip.compress(payload[:100]) + gzip.compress(payload[100:])
    assert decompress(two_members, "gzip", len(payload)) == payload
    assert decompress(zlib.compress(payload), "deflate", len(payload)) == payload
    with pytest.raises(BodyTooLarge):
        decompress(gzip.compress(payload), "gzip", len(payload) - 1)
    with pytest.raises(MalformedBody):
        decompress(gzip.compress(payload)[:-20], "gzip", 10**6)


def test_a_bomb_over_http_gets_413_and_tail_goes_on(tail: TailReceiver) -> None:
    tail.max_body_bytes = 1 << 20
    status, _ = post(tail.http_port, "/v1/logs", bomb(64 << 20, zlib.MAX_WBITS | 16), {"Content-Encoding": "gzip"})
    assert status == 413
    status, _ = post(tail.http_port, "/v1/logs", logs_body([start("c" * 16)]))
    assert status == 200 and tail.model.open_count() == 1


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Bytes on a socket, for requests http.client will not send; the status line back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + body)
        return conn.recv(4096).split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("chunks", "status"),
    [
        (b"-1\r\nxx\r\n0\r\n\r\n", b"400"),  # a negative size
        (b"0x10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", b"400"),  # not plain hex
        (b" 4\r\nxxxx\r\n0\r\n\r\n", b"400"),  # blanks before the size
        (b"fffffffffffffffff\r\n", b"400"),  # more digits than any size
        (b"7fffffffffffffff\r\n", b"413"),  # a size over the limit
        (b"4\r\nxxxxyy\r\n0\r\n\r\n", b"400"),  # chunk data longer than its size
    ],
)
def test_chunked_framing_is_strict(tail: TailReceiver, chunks: bytes, status: bytes) -> None:
    head = (
        f"POST /v1/logs HTTP/1.1\nHost: 127.0.0.1:{tail.http_port}\nContent-Type: application/x-protobuf\n"
        "Transfer-Encoding: chunked\n\n"
    )
    assert raw_request(tail.http_port, head, chunks).split(b" ")[1] == status


def test_a_content_length_that_is_not_a_number_gets_400(tail: TailReceiver) -> None:
    head = "POST /v1/logs HTTP/1.1\nHost: localhost\nContent-Type: application/x-protobuf\nContent-Length: -5\n\n"
    assert raw_request(tail.http_port, head).split(b" ")[1] == b"400"


# -- Host ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosts", "status"),
    [
        (["rebind.example.com"], b"421"),  # a DNS-rebinding page names its own domain
        (["rebind.example.com:4318"], b"421"),
        ([], b"421"),
        (["localhost", "localhost"], b"421"),
        (["localhost:4318"], b"200"),
        (["127.0.0.1"], b"200"),
        (["[::1]:4318"], b"200"),
    ],
)
def test_http_needs_a_loopback_host_header(tail: TailReceiver, hosts: list[str], status: bytes) -> None:
    body = logs_body([start("d" * 16)])
    lines = "".join(f"Host: {h}\n" for h in hosts)
    head = f"POST /v1/logs HTTP/1.1\n{lines}Content-Type: application/x-protobuf\nContent-Length: {len(body)}\n\n"
    assert raw_request(tail.http_port, head, body).split(b" ")[1] == status
    assert tail.model.open_count() == (1 if status == b"200" else 0)


def test_host_rules_on_other_interfaces() -> None:
    loopback, bridge, everywhere = HostCheck("127.0.0.1"), HostCheck("172.17.0.1"), HostCheck("0.0.0.0")
    assert not loopback.allows(["host.docker.internal:4319"]) and not loopback.allows(["172.17.0.1"])
    assert bridge.allows(["172.17.0.1:4319"]) and bridge.allows(["host.docker.internal:4319"])
    assert bridge.allows(["localhost"]) and not bridge.allows(["10.0.0.5"]) and not bridge.allows(["evil.example"])
    assert everywhere.allows(["10.0.0.5:4319"]) and everywhere.allows(["host.docker.internal"])
    assert not everywhere.allows(["evil.example:4319"])
    assert everywhere.url_host == "127.0.0.1" and HostCheck("::1").url_host == "[::1]"


# -- bad values ------------------------------------------------------------------------------------------------


def test_a_bad_value_costs_only_itself(tail: TailReceiver) -> None:
    records = [
        update("1" * 16, chunks=5, elapsed=1.0, rollout__stream__chunks="many"),  # a string chunk count
        update("2" * 16, chunks=7, elapsed=float("nan"), preview="fine"),  # a NaN elapsed
        update("3" * 16, chunks=9, elapsed=1.0, rollout__stream__chars=float("inf")),
    ]
    assert post(tail.http_port, "/v1/logs", logs_body(records))[0] == 200
    spans = [
        llm_span("4" * 16, gen_ai__usage__output_tokens=float("nan"), gen_ai__usage__input_tokens="ten"),
        llm_span("5" * 16, gen_ai__usage__output_tokens=12, gen_ai__response__time_to_first_chunk=-3.0),
    ]
    assert post(tail.http_port, "/v1/traces", traces_body(spans))[0] == 200
    streams, finished, totals = tail.model.snapshot()
    by_id = {s.span_id: s for s in streams}
    assert set(by_id) == {"1" * 16, "2" * 16, "3" * 16} and totals.bad_records == 0
    assert by_id["1" * 16].chunks == 0 and by_id["2" * 16].preview == "fine" and by_id["3" * 16].chunks == 9
    calls = {c.span_id: c for c in finished}
    assert calls["4" * 16].output_tokens is None and calls["4" * 16].input_tokens is None
    assert calls["5" * 16].output_tokens == 12 and calls["5" * 16].time_to_first_chunk is None


class Broken(TailReceiver):
    def _record(self, request: Any, spans: Any = (), logs: Any = (), metrics: Any = (), *, message: Any = None) -> None:
        raise RuntimeError("a bug in what takes the records in")


def test_every_failure_gets_an_otlp_status_over_http_and_grpc() -> None:
    receiver = Broken(TailModel(), Collected(), port=0, grpc_port=0).start()
    try:
        status, body = post(receiver.http_port, "/v1/logs", logs_body([start("e" * 16)]))
        assert status == 500 and b"RuntimeError" in body
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            stub = logs_service_pb2_grpc.LogsServiceStub(channel)
            request = logs_service_pb2.ExportLogsServiceRequest.FromString(logs_body([start("e" * 16)]))
            with pytest.raises(grpc.RpcError) as caught:
                stub.Export(request, timeout=5)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
    finally:
        receiver.stop()


# -- forwarding ------------------------------------------------------------------------------------------------


def test_forwarding_to_a_dead_collector_is_shown_not_silent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    forwarder = Forwarder(f"http://127.0.0.1:{dead}", timeout=2)
    receiver = TailReceiver(TailModel(), Collected(), port=0, grpc_port=0, forward=forwarder).start()
    try:
        assert post(receiver.http_port, "/v1/logs", logs_body([start("f" * 16)]))[0] == 200
        deadline = time.monotonic() + 10
        while not forwarder.failed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert forwarder.failed == 1 and "1 failed" in forwarder.status() and "URLError" in forwarder.status()
    finally:
        receiver.stop()
        forwarder.close(1)


def test_a_full_forward_queue_answers_503_and_unavailable() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers: the queue fills
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        body = logs_body([start("1" * 16)])
        forwarder = Forwarder(f"http://127.0.0.1:{silent.getsockname()[1]}", max_bytes=3 * len(body), timeout=3)
        receiver = TailReceiver(TailModel(), Collected(), port=0, grpc_port=0, forward=forwarder).start()
        try:
            statuses = [post(receiver.http_port, "/v1/logs", body)[0] for _ in range(6)]
            assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {503}
            with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
                stub = logs_service_pb2_grpc.LogsServiceStub(channel)
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Export(logs_service_pb2.ExportLogsServiceRequest.FromString(body), timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "refused (queue full, 503)" in forwarder.status()
        finally:
            receiver.stop()
            forwarder.close(0.1)


# -- memory ----------------------------------------------------------------------------------------------------


def test_quiet_streams_are_forgotten_without_any_view() -> None:
    """Plain and JSON modes never draw: taking in records is enough to forget streams that went quiet."""
    clock = [0.0]
    model = TailModel(clock=lambda: clock[0], forget_after=60.0)
    for i in range(50):
        model.on_logs([received_log("rollout.stream.start", f"{i + 1:016x}")])
    clock[0] = 61.0
    model.on_logs([received_log("rollout.stream.start", "f" * 16)])
    assert model.open_count() == 1


def test_open_streams_are_capped() -> None:
    model = TailModel(max_open=100)
    model.on_logs([received_log("rollout.stream.start", f"{i + 1:016x}") for i in range(250)])
    assert model.open_count() == 100


def test_json_mode_sweeps_on_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    from rollout_otel.tail import _command

    swept = threading.Event()
    monkeypatch.setattr(_command, "SWEEP_SECONDS", 0.05)
    monkeypatch.setattr(TailModel, "snapshot", lambda self, now=None: swept.set())
    stop = threading.Event()
    out = io.StringIO()
    options: dict[str, Any] = {"port": 0, "grpc_port": 0, "mode": "json", "forward": None, "filters": ()}
    options.update(max_finished=5, out=out, stop=stop)
    runner = threading.Thread(target=_command.run_tail, kwargs=options, daemon=True)
    runner.start()
    try:
        assert swept.wait(10)
    finally:
        stop.set()
        runner.join(10)


# -- arguments -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "abc"],
        ["--port", "70000"],
        ["--grpc-port", "-1"],
        ["--max-finished", "0"],
        ["--forward", "ftp://collector"],
        ["--forward", "http://"],
        ["--nonsense"],
    ],
)
def test_bad_arguments_get_one_line_and_status_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["tail", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rollout-otel tail: ") and "Traceback" not in err
