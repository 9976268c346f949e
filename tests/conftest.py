"""Fixtures: each test gets its own providers, strict internal-error handling and clean OpenTelemetry globals."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry._logs import _internal as otel_logs_internal
from opentelemetry.metrics import _internal as otel_metrics_internal
from opentelemetry.util._once import Once

from rollout_otel import _config, _errors, _metrics
from rollout_otel.serve import LocalLLMServer
from rollout_otel.testing import Capture


def pytest_configure(config: pytest.Config) -> None:
    """Commands the tests run (`opentelemetry-instrument`, `rollout-otel`) come from this interpreter's environment,
    even when it was not activated (`.venv/bin/python -m pytest`)."""
    scripts = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def reset_otel_globals() -> None:
    """Forget the global tracer and logger providers so a test can install its own."""
    otel_trace._TRACER_PROVIDER = None
    otel_trace._TRACER_PROVIDER_SET_ONCE = Once()
    otel_logs_internal._LOGGER_PROVIDER = None
    otel_logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
    otel_metrics_internal._METER_PROVIDER = None
    otel_metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    otel_metrics_internal._PROXY_METER_PROVIDER = otel_metrics_internal._ProxyMeterProvider()
    _metrics._by_provider.clear()


@pytest.fixture(autouse=True)
def _isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(__import__("os").environ):
        if name.startswith(("ROLLOUT_", "OTEL_", "ANTHROPIC_OPEN_TELEMETRY")):
            monkeypatch.delenv(name)
    _config.reset_environment_settings()
    _errors.set_raise_internal_errors(True)
    reset_otel_globals()
    yield
    reset_otel_globals()
    _config.reset_environment_settings()
    _errors.set_raise_internal_errors(False)
    # Collect what the test left now, while no event loop runs: an async SDK client collected later schedules its
    # aclose() on whichever loop is running then (another test's), which fails there with "Event loop is closed".
    gc.collect()


@pytest.fixture
def cap() -> Iterator[Capture]:
    """In-memory providers with the streaming processor, updates every 50 ms."""
    capture = Capture(stream_update_interval=0.05)
    yield capture
    capture.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    """The bundled LLM server on a free loopback port, one per test module (`scenario_headers` vary a request)."""
    with LocalLLMServer() as running:
        yield running
