"""`rollout-otel tail`, run as a user runs it: a real instrumented app streams slowly from the bundled server to a
running tail, and what tail prints (JSON lines, plain lines, the live view in a pseudo-terminal) is read back."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyte
import pytest

from otlp_sink import OtlpSink
from rollout_otel._receiver import ReceivedLog, ReceivedSpan
from rollout_otel.serve import LocalLLMServer
from rollout_otel.tail import TailModel
from rollout_otel.tail._view import call_cells, layout, stream_cells
from rotel_collector import RotelCollector

pytestmark = pytest.mark.integration

APP = """
import os, openai
from opentelemetry import trace as otel
from rollout_otel import Rollout, trace
rollout = Rollout(stream_update_interval=0.2)
client = rollout.wrap(openai.OpenAI(base_url=os.environ["LLM"], api_key="k", max_retries=0))
with trace.llm("agent.step", model="planner") as step:
    with otel.get_tracer("app").start_as_current_span("tool.search"):
        pass
    step.end(output="planned")
for chunk in client.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
    stream_options={"include_usage": True},
    extra_headers={"x-rollout-scenario": os.environ.get("SCENARIO", "chunks=25;delay=0.08")},
):
    pass
rollout.shutdown()
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as server:
        yield server


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_"))}
    env.update(extra)
    return env


def start_app(
    llm: LocalLLMServer, port: int, tmp_path: Path, scenario: str = "chunks=25;delay=0.08"
) -> subprocess.Popen[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    env = clean_env(
        LLM=llm.base_url, ROLLOUT_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_SERVICE_NAME="tail-app", SCENARIO=scenario
    )
    return subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def start_tail(*args: str, stdout: Any = subprocess.PIPE) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        ["rollout-otel", "tail", "--port", str(port), "--grpc-port", str(free_port()), *args],
        env=clean_env(COLUMNS="220", LINES="60", TERM="xterm-256color"),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_listening(port)
    return process, port


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"tail did not listen on {port}")


def test_json_lines_follow_a_stream_from_open_to_finished(llm: LocalLLMServer, tmp_path: Path) -> None:
    tail, port = start_tail("--json")
    try:
        app = start_app(llm, port, tmp_path)
        assert app.wait(timeout=60) == 0, app.stderr.read() if app.stderr else ""
        time.sleep(0.5)
    finally:
        tail.terminate()
        out, err = tail.communicate(timeout=10)
    assert tail.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    stream = [e for e in events if e["name"] == "openai.chat.completions"]
    kinds = [e["event"] for e in stream]
    assert kinds[0] == "stream.opened" and kinds[-1] == "call.finished" and kinds.count("stream.update") >= 3
    opened = stream[0]
    assert (opened["service"], opened["model"]) == ("tail-app", "gpt-4o-mini")
    first = next(e for e in stream if e["preview"])  # the first update (a start record has no preview yet)
    assert first["time_to_first_chunk"] > 0
    chunks = [e["chunks"] for e in stream[:-1]]
    assert chunks == sorted(chunks) and chunks[-1] < 25  # seen growing while the stream was open
    finished = stream[-1]
    assert finished["end_reason"] == "completed" and finished["output_tokens"] == 25
    assert finished["output"].startswith(first["preview"][:10])
    (step,) = [e for e in events if e["name"] == "agent.step"]
    assert step["end_reason"] == "" and step["output"] == "planned" and step["children"] == ["tool.search"]


def test_plain_lines_without_a_terminal(llm: LocalLLMServer, tmp_path: Path) -> None:
    tail, port = start_tail()  # stdout is a pipe: lines, not a redrawn screen
    try:
        app = start_app(llm, port, tmp_path)
        assert app.wait(timeout=60) == 0
        time.sleep(0.5)
    finally:
        tail.terminate()
        out, _ = tail.communicate(timeout=10)
    lines = out.splitlines()
    assert any(line.startswith("opened") and "gpt-4o-mini" in line for line in lines)
    assert any(line.startswith("finished") and "COMPLETED" in line for line in lines)
    assert not ANSI.search(out)


def test_the_console_in_a_terminal_shows_the_stream_live_and_quits_on_q(llm: LocalLLMServer, tmp_path: Path) -> None:
    """The real command in a pseudo-terminal, rendered by pyte as a user sees it: the alternate screen, the preview on
    screen before the stream ends, then its result; `q` quits with status 0 and restores the screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    port = free_port()
    env = {k: v for k, v in clean_env(TERM="xterm-256color").items() if k not in ("COLUMNS", "LINES")}
    tail = subprocess.Popen(
        ["rollout-otel", "tail", "--port", str(port), "--grpc-port", str(free_port())],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,  # where Textual draws
    )
    os.close(slave)
    screen = pyte.Screen(120, 40)
    stream = pyte.ByteStream(screen)
    raw = bytearray()

    def shown() -> str:
        return "\n".join(screen.display)

    def read_for(seconds: float, until: str | None = None, *also: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and all(text in shown() for text in (until, *also))):
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    return
                raw.extend(data)
                stream.feed(data)

    try:
        wait_listening(port)
        # 40 chunks 0.3 s apart: the stream stays open about 12 s, so a busy machine still sees it live.
        app = start_app(llm, port, tmp_path, scenario="chunks=40;delay=0.3")
        started = time.monotonic()
        read_for(45, "Streaming", "streaming", "open 1")
        waited = time.monotonic() - started
        state = f"after {waited:.1f} s: tail {tail.poll()}, app {app.poll()}, last bytes {bytes(raw[-300:])!r}"
        assert app.poll() is None, "the stream should still be running; " + state
        assert b"\x1b[?1049h" in raw  # the alternate screen
        screen_now = shown()
        assert "Streaming" in screen_now and "streaming" in screen_now and "open 1" in screen_now, (
            f"{state}\n{screen_now}"
        )
        assert app.wait(timeout=60) == 0
        read_for(10, until="completed")
        assert "completed" in shown() and "finished" in shown()
        for keys in (b"/", b"agent\r", b"j", b"\r"):  # filter, select, open the detail pane
            os.write(master, keys)
            read_for(1)
        read_for(5, until="child spans")
        assert "agent.step" in shown() and "tool.search" in shown()  # the child span under its LLM span
        os.write(master, b"\x1b")
        read_for(5, until="p50/p95")
        os.write(master, b"q")
        assert tail.wait(timeout=30) == 0  # Textual's exit, on a machine at load 12, took over 10 s once
        read_for(0.5)
        assert b"\x1b[?1049l" in raw  # the screen the user had is back
    finally:
        if tail.poll() is None:
            tail.terminate()
            tail.wait(timeout=10)
        os.close(master)


def test_forward_into_the_rotel_collector_loses_nothing(llm: LocalLLMServer, tmp_path: Path) -> None:
    with OtlpSink() as sink, RotelCollector(sink.grpc_endpoint) as collector:
        tail, port = start_tail("--json", "--forward", collector.http_endpoint)
        try:
            app = start_app(llm, port, tmp_path)
            assert app.wait(timeout=60) == 0
            time.sleep(0.5)
        finally:
            tail.terminate()
            out, _ = tail.communicate(timeout=15)
        seen = [json.loads(line) for line in out.splitlines()]
        # One tail event per stream record: opened (its start record), each update, each stall.
        records = [e for e in seen if e["event"] in ("stream.opened", "stream.update", "stream.stalled")]
        spans = sink.wait_for_spans(3, timeout=10)  # agent.step, tool.search, the stream
        logs = sink.wait_for_logs(len(records), timeout=10)
    assert sorted(s.name for s in spans) == ["agent.step", "openai.chat.completions", "tool.search"]
    assert [log.event_name for log in logs].count("rollout.stream.start") == 1
    assert len(logs) == len(records)
    assert sink.metrics()  # metrics pass through too


def test_garbage_never_kills_tail(llm: LocalLLMServer, tmp_path: Path) -> None:
    import http.client

    tail, port = start_tail("--json")
    try:
        for body, content_type in ((b"\xff\xfe garbage", "application/x-protobuf"), (b"{", "application/json")):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": content_type})
            assert conn.getresponse().status == 400
            conn.close()
        app = start_app(llm, port, tmp_path)
        assert app.wait(timeout=60) == 0
        time.sleep(0.5)
    finally:
        tail.terminate()
        out, _ = tail.communicate(timeout=10)
    assert any(json.loads(line)["event"] == "call.finished" for line in out.splitlines())


# -- the model and the view, in process -------------------------------------------------------------------------


def _log(span_id: str, *, elapsed: float, chunks: int, preview: str | None, service: str = "svc") -> ReceivedLog:
    attributes: dict[str, Any] = {
        "rollout.stream.chunks": chunks,
        "rollout.stream.chars": chunks * 4,
        "rollout.stream.elapsed": elapsed,
        "rollout.stream.name": "openai.chat.completions",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    if preview is not None:
        attributes["rollout.stream.preview"] = preview
    return ReceivedLog(
        "rollout.stream.update",
        None,
        attributes,
        "t" * 32,
        span_id,
        0,
        0,
        9,
        {"service.name": service},
        "rollout_otel",
        0.0,
        "http",
    )


def _span(span_id: str, reason: str, *, error: str = "") -> ReceivedSpan:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    if reason:
        attributes["rollout.stream.end_reason"] = reason
    if error:
        attributes["error.type"] = error
    return ReceivedSpan(
        "openai.chat.completions",
        "t" * 32,
        span_id,
        None,
        3,
        attributes,
        [],
        0,
        "",
        0,
        2_000_000_000,
        {"service.name": "svc"},
        "rollout_otel",
        0.0,
        "http",
    )


def screen_of(model: TailModel, now: float | None = None) -> str:
    """The rows the console would show at 200 columns, as text."""
    now = time.monotonic() if now is None else now
    streams, finished, totals = model.snapshot(now)
    columns = layout(200)
    lines = [" ".join(c.plain for c in stream_cells(s, columns, now, model.stalled_after)) for s in streams]
    lines += [" ".join(c.plain for c in call_cells(c, columns)) for c in finished]
    return "\n".join(lines) + f"\nduration p50 {totals.duration_p50} p95 {totals.duration_p95}"


def test_each_end_reason_is_shown_distinctly_and_memory_is_bounded() -> None:
    model = TailModel(max_finished=6)
    for i, reason in enumerate(["completed", "closed", "cancelled", "abandoned", "error", "", "completed"]):
        model.on_spans([_span(f"{i:016x}", reason, error="RateLimitError" if reason == "error" else "")])
    _streams, finished, totals = model.snapshot()
    assert len(finished) == 6 and totals.finished == 7 and totals.errors == 1  # the last six kept, all counted
    text = screen_of(model)
    for word in ("closed", "cancelled", "abandoned", "ERROR", "RateLimitError", "whole"):
        assert word in text, word
    assert "duration p50 2.0 p95 2.0" in text


def test_content_free_streams_show_counts_only_and_stalled_streams_are_marked() -> None:
    model = TailModel(stalled_after=5.0, forget_after=60.0)
    model.on_logs([_log("a" * 16, elapsed=1.0, chunks=10, preview=None)])
    text = screen_of(model)
    assert "content capture off" in text and "10" in text
    later = time.monotonic() + 10
    assert "STALLED" in screen_of(model, now=later)
    assert model.snapshot(now=time.monotonic() + 120)[0] == []  # gone quiet: forgotten


def test_filters_keep_only_the_named_services_or_models() -> None:
    model = TailModel(filters=["other"])
    assert model.on_logs([_log("b" * 16, elapsed=1.0, chunks=3, preview="x")]) == []
    model = TailModel(filters=["svc"])
    assert [e["event"] for e in model.on_logs([_log("b" * 16, elapsed=1.0, chunks=3, preview="x")])] == [
        "stream.opened"
    ]
