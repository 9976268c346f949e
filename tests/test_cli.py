"""The demo command and the README's quick start, run as a user would, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_content import output_text
from otlp_sink import OtlpSink
from rollout_otel.serve import DEFAULT_REPLY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    return subprocess.run(
        args, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_demo_prints_updates_while_streaming_then_the_span() -> None:
    result = run([sys.executable, "-m", "rollout_otel.cli", "demo", "--seconds", "1.2", "--interval", "0.25"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "not exporting" in out
    updates = re.findall(r"update #(\d+)\s+chunks=(\d+)", out)
    duration = float(re.search(r"duration\s+([0-9.]+) s", out).group(1))  # type: ignore[union-attr]
    assert 3 <= len(updates) <= duration / 0.25 + 1  # one per interval at most, however long a loaded machine took
    assert [int(seq) for seq, _ in updates] == list(range(1, len(updates) + 1))
    assert out.index("start     the request is sent") < out.index("update #1")  # visible before its first chunk
    assert out.index("update #1") < out.index("finished span 'openai.chat.completions'")
    assert "rollout.stream.end_reason              'completed'" in out
    assert f"rollout.stream.updates                 {len(updates)}" in out
    assert result.stderr == ""


@pytest.mark.integration
def test_demo_exports_to_the_endpoint_it_is_given(sink: OtlpSink) -> None:
    result = run(["rollout-otel", "demo", "--seconds", "0.8", "--interval", "0.2", "--endpoint", sink.http_endpoint])
    assert result.returncode == 0, result.stderr
    assert f"exporting to {sink.http_endpoint}" in result.stdout
    assert f"export to {sink.http_endpoint}: done" in result.stdout
    (span,) = sink.spans("openai.chat.completions")
    updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
    assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
    assert span.resource["service.name"] == "rollout-otel-demo"


@pytest.mark.integration
def test_demo_to_a_trace_only_backend_shows_its_live_spans_in_one_line_each() -> None:
    with OtlpSink(accept={"traces"}) as traces_only:
        result = run(
            ["rollout-otel", "demo", "--seconds", "2.5", "--interval", "0.2", "--endpoint", traces_only.http_endpoint]
        )
        assert result.returncode == 0, result.stderr
        live_lines = [line for line in result.stdout.splitlines() if "live span #" in line]
        assert live_lines and all("(sent as 'openai.chat.completions (live)'" in line for line in live_lines)
        assert result.stdout.count("finished span ") == 1  # the LLM span alone is printed whole
        live = [s for s in traces_only.spans() if s.attributes.get("rollout.live") is True]
        assert len(live) == len(live_lines)


def test_demo_without_an_endpoint_prints_no_live_span() -> None:
    result = run([sys.executable, "-m", "rollout_otel.cli", "demo", "--seconds", "0.6", "--interval", "0.2"])
    assert result.returncode == 0, result.stderr
    assert "live span" not in result.stdout and result.stdout.count("finished span ") == 1


def test_demo_reports_bad_configuration_clearly() -> None:
    result = run(["rollout-otel", "demo"], env={"ROLLOUT_STREAM_PREVIEW_CHARS": "-1"})
    assert result.returncode == 2
    assert "ROLLOUT_STREAM_PREVIEW_CHARS='-1'" in result.stderr
    assert "Traceback" not in result.stderr


def readme_example(heading: str, tmp_path: Path) -> Path:
    """The first Python block after `heading` in the README, as a script."""
    section = (ROOT / "README.md").read_text().split(heading, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    return script


@pytest.mark.integration
def test_readme_quick_start_runs_as_written(sink: OtlpSink, tmp_path: Path) -> None:
    script = readme_example("## Quick start", tmp_path)
    result = run([sys.executable, str(script)], env={"ROLLOUT_ENDPOINT": sink.http_endpoint})
    assert result.returncode == 0, result.stderr
    (span,) = sink.wait_for_spans(1)
    assert span.name == "openai.responses"
    assert output_text(span.attributes) == "Spans drift like leaves"
    assert json.loads(span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"].startswith("Write a haiku")
    assert span.attributes["gen_ai.usage.input_tokens"] == 512
    assert sink.requests()[0].headers["authorization"] == "Bearer ..."


def test_readme_own_providers_example_runs_as_written(tmp_path: Path) -> None:
    script = readme_example("## Your own providers", tmp_path)
    result = run([sys.executable, str(script)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_readme_testing_example_runs_as_written(tmp_path: Path) -> None:
    script = readme_example("## Testing your code", tmp_path)
    result = run([sys.executable, str(script)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_version() -> None:
    from rollout_otel import __version__

    result = run(["rollout-otel", "--version"])
    assert result.returncode == 0 and result.stdout.strip() == f"rollout-otel {__version__}"


def test_ctrl_c_during_the_demo_ends_the_span_closed_and_exits_130() -> None:
    import signal
    import time

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROLLOUT_", "OTEL_"))}
    process = subprocess.Popen(
        ["rollout-otel", "demo", "--seconds", "20", "--interval", "0.2"],
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until the stream is open and updating
        if "update #1" in line:
            break
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 130
    # Prompt, not the rest of the stream: the bound catches waiting, and holds on a loaded 2-core machine.
    assert time.monotonic() - started < 10
    assert "rollout.stream.end_reason              'closed'" in out
    assert "Traceback" not in err and "interrupted" in err and len(err.splitlines()) <= 2


@pytest.mark.integration
def test_serve_runs_the_readme_examples_as_written(sink: OtlpSink, tmp_path: Path) -> None:
    """`rollout-otel serve` prints the lines to paste; with them, every provider's README example runs unchanged."""
    import shlex
    import signal

    prefixes = ("ROLLOUT_", "OTEL_", "OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "AWS_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    server = subprocess.Popen(
        ["rollout-otel", "serve", "--port", "0", "--delay", "0"],
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    expected = {
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GEMINI_API_KEY",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    try:
        assert server.stdout is not None
        exports: dict[str, str] = {}
        for line in server.stdout:
            if line.startswith("export "):
                for assignment in shlex.split(line.removeprefix("export ")):
                    key, _, value = assignment.partition("=")
                    exports[key] = value
            if set(exports) >= expected:
                break
        assert set(exports) == expected
        headings = (
            "## Tracing OpenAI calls",
            "## Tracing Anthropic calls",
            "## Tracing Amazon Bedrock calls (Converse)",
            "## Tracing Google Gemini calls (`google-genai`)",
        )
        for heading in headings:
            script = readme_example(heading, tmp_path)
            result = run([sys.executable, str(script)], env={**exports, "ROLLOUT_ENDPOINT": sink.http_endpoint})
            assert result.returncode == 0, result.stderr
            assert result.stdout == DEFAULT_REPLY, heading
        spans = {s.name: s for s in sink.wait_for_spans(4)}
        assert sorted(spans) == [
            "anthropic.messages",
            "bedrock.converse",
            "gemini.generate_content",
            "openai.chat.completions",
        ]
        for span in spans.values():
            assert output_text(span.attributes) == DEFAULT_REPLY
            assert span.attributes["gen_ai.usage.output_tokens"] > 0
            assert span.attributes["rollout.stream.end_reason"] == "completed"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0
