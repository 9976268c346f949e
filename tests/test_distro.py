"""`opentelemetry-instrument python app.py`: an unmodified OpenAI app traced end to end, in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from genai_content import output_text
from otlp_sink import OtlpSink, ReceivedSpan
from rollout_otel.serve import DEFAULT_REPLY, LocalLLMServer, reply_deltas

pytestmark = pytest.mark.integration

APP = """
from openai import OpenAI

client = OpenAI(max_retries=0)
stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "hi"}],
    stream=True,
    stream_options={"include_usage": True},
)
print("".join(c.choices[0].delta.content or "" for c in stream if c.choices), end="")
"""
CHUNKS = 30


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(default_scenario=f"chunks={CHUNKS};delay=0.03") as server:
        yield server


@pytest.fixture
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


def run_app(
    llm: LocalLLMServer, tmp_path: Path, env: dict[str, str], app: str = APP, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `app` under opentelemetry-instrument with a clean OpenTelemetry environment plus `env`."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(app))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROLLOUT_", "OPENAI_"))}
    base.update(OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY="sk-app", ROLLOUT_STREAM_UPDATE_INTERVAL="0.2")
    # Other OpenAI instrumentations (the benchmark's anchors) register as "openai"; keep them out of the way.
    base["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai"
    if pythonpath:
        base["PYTHONPATH"] = pythonpath
    base.update(env)
    command = ["opentelemetry-instrument", sys.executable, str(script)]
    return subprocess.run(command, env=base, capture_output=True, text=True, timeout=60, check=False)


def ours(sink: OtlpSink) -> list[ReceivedSpan]:
    """Spans from rollout-otel (other instrumentations may be installed beside it)."""
    return [s for s in sink.spans() if s.scope_name == "rollout_otel"]


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_unmodified_app_is_traced_with_updates_before_the_span(
    llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path, protocol: str
) -> None:
    endpoint = sink.grpc_endpoint if protocol == "grpc" else sink.http_endpoint
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_SERVICE_NAME": "app"}
    result = run_app(llm, tmp_path, env)
    assert result.returncode == 0, result.stderr
    expected = "".join(reply_deltas(DEFAULT_REPLY, CHUNKS))
    assert result.stdout == expected
    (span,) = ours(sink)
    assert span.name == "openai.chat.completions"
    assert span.transport == ("grpc" if protocol == "grpc" else "http")
    assert span.resource["service.name"] == "app"
    assert output_text(span.attributes) == expected
    assert span.attributes["gen_ai.usage.output_tokens"] == CHUNKS
    assert span.attributes["rollout.stream.end_reason"] == "completed"
    updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
    assert len(updates) == span.attributes["rollout.stream.updates"] >= 2
    assert all(u.received_at < span.received_at for u in updates)  # exported while the stream was open
    # The distro's MeterProvider exports the GenAI metrics, flushed when the program exits.
    (duration,) = [p for m in sink.metrics("gen_ai.client.operation.duration") for p in m.points]
    assert duration.count == 1 and duration.attributes["rollout.stream.end_reason"] == "completed"
    assert duration.attributes["gen_ai.provider.name"] == "openai"
    usage = [p for m in sink.metrics("gen_ai.client.token.usage") for p in m.points]
    (output,) = [p for p in usage if p.attributes["gen_ai.token.type"] == "output"]
    assert (output.count, output.sum) == (1, CHUNKS)


ANTHROPIC_APP = """
import asyncio
from anthropic import Anthropic, AsyncAnthropic

messages = [{"role": "user", "content": "hi"}]
with Anthropic(max_retries=0).messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=messages) as stream:
    print("".join(stream.text_stream), end="|")

async def main():
    stream = await AsyncAnthropic(max_retries=0).messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=messages, stream=True
    )
    async for event in stream:
        pass

asyncio.run(main())
"""


def test_unmodified_anthropic_app_is_traced_with_one_span_per_call(
    llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "ANTHROPIC_BASE_URL": llm.anthropic_base_url,
        "ANTHROPIC_API_KEY": "sk-ant-app",
    }
    result = run_app(llm, tmp_path, env, app=ANTHROPIC_APP)
    assert result.returncode == 0, result.stderr
    expected = "".join(reply_deltas(DEFAULT_REPLY, CHUNKS))
    assert result.stdout == expected + "|"
    spans = ours(sink)
    assert [s.name for s in spans] == ["anthropic.messages", "anthropic.messages"]
    for span in spans:
        assert span.attributes["gen_ai.provider.name"] == "anthropic"
        assert output_text(span.attributes) == expected
        assert span.attributes["rollout.stream.end_reason"] == "completed"
        assert span.attributes["gen_ai.usage.output_tokens"] == CHUNKS
        assert [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
    # The anthropic SDK traces on its own under a global provider; rollout keeps its span out of traced calls.
    assert [s.name for s in sink.spans() if s.scope_name.startswith("com.anthropic")] == []


def test_anthropic_sdk_spans_on_request(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "ANTHROPIC_BASE_URL": llm.anthropic_base_url,
        "ANTHROPIC_API_KEY": "sk-ant-app",
        "ROLLOUT_ANTHROPIC_SDK_SPANS": "true",
    }
    result = run_app(llm, tmp_path, env, app=ANTHROPIC_APP)
    assert result.returncode == 0, result.stderr
    mine = {s.span_id: s for s in ours(sink)}
    theirs = [s for s in sink.spans() if s.scope_name.startswith("com.anthropic")]
    assert len(mine) == len(theirs) == 2
    assert {s.parent_span_id for s in theirs} == set(mine)  # each SDK span nests under rollout's span of its call


def test_disabled_by_name(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,rollout_openai",
    }
    result = run_app(llm, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert ours(sink) == []


def test_rollout_variables_apply(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    env = {
        "ROLLOUT_ENDPOINT": sink.http_endpoint,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # ROLLOUT_ENDPOINT ranks above it
        "ROLLOUT_API_KEY": "rk-auto-123",
        "ROLLOUT_CAPTURE_CONTENT": "false",
        "ROLLOUT_CAPTURE_STREAM_CHUNKS": "yes",
        "ROLLOUT_METRICS": "false",
    }
    result = run_app(llm, tmp_path, env)
    assert result.returncode == 0, result.stderr
    (span,) = ours(sink)
    assert not [
        k
        for k in span.attributes
        if k.startswith(
            ("rollout.input", "rollout.output", "gen_ai.input", "gen_ai.output", "gen_ai.system", "gen_ai.tool")
        )
    ]
    assert len(span.events) == CHUNKS
    assert all("rollout.chunk.text" not in e.attributes for e in span.events)
    requests = [r for r in sink.requests() if r.path in ("/v1/traces", "/v1/logs")]
    assert requests and all(r.headers["authorization"] == "Bearer rk-auto-123" for r in requests)
    assert [m.name for m in sink.metrics() if m.name.startswith("gen_ai.")] == []  # ROLLOUT_METRICS=false


def test_bad_rollout_value_is_logged_and_the_program_runs(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint, "ROLLOUT_STREAM_PREVIEW_CHARS": "-3"}
    result = run_app(llm, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "ROLLOUT_STREAM_PREVIEW_CHARS='-3'" in result.stderr
    assert "Using 4096 for stream_preview_chars instead" in result.stderr
    (span,) = ours(sink)
    assert span.attributes["rollout.stream.preview"]  # traced with the defaults


def test_rollout_and_wrap_in_an_instrumented_app_give_one_set_of_spans(
    llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path
) -> None:
    app = (
        "import rollout_otel\nrollout = rollout_otel.Rollout()\n"
        + APP.replace("client = OpenAI(max_retries=0)", "client = rollout.wrap(OpenAI(max_retries=0))")
        + "\nrollout.flush()\n"
    )
    result = run_app(llm, tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint}, app=app)
    assert result.returncode == 0, result.stderr
    spans = ours(sink)
    assert [s.name for s in spans] == ["openai.chat.completions"]
    (span,) = spans
    updates = [u for u in sink.logs("rollout.stream.update") if u.span_id == span.span_id]
    assert len(updates) == span.attributes["rollout.stream.updates"]  # each update exported once


def _fake_distribution(root: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """An installed-looking distribution (dist-info with entry points) made of the given modules."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)


def test_picked_by_name_when_another_distro_is_installed(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    _fake_distribution(
        vendor,
        "acme_otel",
        "[opentelemetry_distro]\nacme = acme_distro:Distro\n\n[opentelemetry_configurator]\nacme = acme_distro:Conf\n",
        {
            "acme_distro": (
                "from opentelemetry.instrumentation.distro import BaseDistro\n"
                "from opentelemetry.sdk._configuration import _BaseConfigurator\n"
                "class Distro(BaseDistro):\n    def _configure(self, **kw): raise SystemExit('acme distro used')\n"
                "class Conf(_BaseConfigurator):\n    def _configure(self, **kw): raise SystemExit('acme conf used')\n"
            )
        },
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint,
        "OTEL_PYTHON_DISTRO": "rollout_otel",
        "OTEL_PYTHON_CONFIGURATOR": "rollout_otel",
    }
    result = run_app(llm, tmp_path, env, pythonpath=str(vendor))
    assert result.returncode == 0, result.stderr
    assert "acme distro used" not in result.stderr and "acme conf used" not in result.stderr
    assert len(ours(sink)) == 1


def test_unsupported_openai_version_logs_clearly(llm: LocalLLMServer, sink: OtlpSink, tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "openai").mkdir(parents=True)
    (old / "openai" / "__init__.py").write_text("__version__ = '0.28.1'\n")
    app = "import openai\nprint(openai.__version__, end='')\n"
    result = run_app(llm, tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint}, app=app, pythonpath=str(old))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0.28.1"
    assert "rollout-otel cannot trace openai 0.28.1" in result.stderr
    assert "Supported: openai >= 1.66" in result.stderr


def test_instrumentors_import_no_provider_before_the_program_does(llm: LocalLLMServer, tmp_path: Path) -> None:
    """Start-up pays only for the providers a program imports: the patch waits for the import (wrapt hooks)."""
    app = (
        "import sys\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'openai.resources.chat.completions.completions') "
        "if m in sys.modules))\n"
    )
    env = {"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "openai,anthropic"  # other instrumentations import eagerly
    result = run_app(llm, tmp_path, env, app=app)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


OTHER_OPENAI = (
    "import sys\n"
    "from opentelemetry.instrumentation.instrumentor import BaseInstrumentor\n"
    "class Instrumentor(BaseInstrumentor):\n"
    "    def instrumentation_dependencies(self): return ()\n"
    "    def _instrument(self, **kw): print('OTHER OPENAI INSTRUMENTATION LOADED', file=sys.stderr)\n"
    "    def _uninstrument(self, **kw): pass\n"
)


@pytest.mark.parametrize(
    ("env", "other_loaded", "rollout_spans"),
    [
        ({}, False, 1),  # by default rollout-otel keeps the other one out: one span per call
        ({"ROLLOUT_KEEP_OTHER_INSTRUMENTATIONS": "true"}, True, 1),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "rollout_openai"}, True, 0),
    ],
    ids=["default", "keep-both", "rollout-disabled"],
)
def test_other_openai_instrumentations_are_skipped_unless_kept(
    llm: LocalLLMServer,
    sink: OtlpSink,
    tmp_path: Path,
    env: dict[str, str],
    other_loaded: bool,
    rollout_spans: int,
) -> None:
    """Another OpenAI instrumentation installed beside rollout-otel (as `opentelemetry-bootstrap` installs the
    official one): its entry point is named `openai`, like every OpenAI instrumentation's."""
    vendor = tmp_path / "vendor"
    _fake_distribution(
        vendor,
        "other_openai_instrumentation",
        "[opentelemetry_instrumentor]\nopenai = other_openai:Instrumentor\n",
        {"other_openai": OTHER_OPENAI},
    )
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.http_endpoint, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "", **env}
    result = run_app(llm, tmp_path, env, pythonpath=str(vendor))
    assert result.returncode == 0, result.stderr
    assert ("OTHER OPENAI INSTRUMENTATION LOADED" in result.stderr) is other_loaded
    assert len(ours(sink)) == rollout_spans
    notice = [line for line in result.stderr.splitlines() if "rollout-otel skips the 'openai' instrumentation" in line]
    assert len(notice) == (0 if other_loaded else 1), result.stderr  # shown at the default log level


def test_other_bedrock_instrumentations_are_skipped_but_botocore_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenInference and OpenLLMetry register their Bedrock instrumentors as `bedrock`: skipped like the others.
    The botocore instrumentation traces every AWS service, so it stays (the README says how to choose)."""
    from importlib.metadata import EntryPoint

    from opentelemetry.instrumentation.distro import BaseDistro

    from rollout_otel.distro import RolloutDistro

    loaded: list[str] = []
    monkeypatch.setattr(
        BaseDistro, "load_instrumentor", lambda self, entry_point, **kw: loaded.append(entry_point.name)
    )
    distro = RolloutDistro()
    for name, value in (
        ("bedrock", "openinference.instrumentation.bedrock:BedrockInstrumentor"),
        ("botocore", "opentelemetry.instrumentation.botocore:BotocoreInstrumentor"),
        ("rollout_bedrock", "rollout_otel.instrumentation.bedrock:BedrockInstrumentor"),
    ):
        distro.load_instrumentor(EntryPoint(name, value, "opentelemetry_instrumentor"))
    assert loaded == ["botocore", "rollout_bedrock"]
    monkeypatch.setenv("ROLLOUT_KEEP_OTHER_INSTRUMENTATIONS", "true")
    distro.load_instrumentor(
        EntryPoint("bedrock", "openinference.instrumentation.bedrock:X", "opentelemetry_instrumentor")
    )
    assert loaded[-1] == "bedrock"


@pytest.mark.parametrize("name", ["google-genai", "google_genai"])  # the official one's name, OpenInference's
def test_other_gemini_instrumentations_are_skipped(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from importlib.metadata import EntryPoint

    from opentelemetry.instrumentation.distro import BaseDistro

    from rollout_otel.distro import RolloutDistro

    loaded: list[str] = []
    monkeypatch.setattr(
        BaseDistro, "load_instrumentor", lambda self, entry_point, **kw: loaded.append(entry_point.name)
    )
    RolloutDistro().load_instrumentor(EntryPoint(name, "other.gemini:Instrumentor", "opentelemetry_instrumentor"))
    assert loaded == []
