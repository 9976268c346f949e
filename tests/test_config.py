"""Settings: argument > environment > default, and a precise error for every bad value."""

from __future__ import annotations

from typing import Any

import pytest

from rollout_otel import Rollout, RolloutConfigError
from rollout_otel._config import Settings, resolve_settings, settings_from_environment


def test_defaults() -> None:
    s = resolve_settings(environ={})
    assert s.endpoint == "http://localhost:4318"
    assert s.protocol == "http/protobuf"
    assert s.capture_content is True
    assert s.capture_stream_chunks is False
    assert s.stream_preview_chars == 4096
    assert s.stream_update_interval == 1.0
    assert s.max_content_bytes == 750_000
    assert s.api_key is None
    assert s.traces_exporter == ("otlp",) and s.logs_exporter == ("otlp",)
    assert s.endpoint_configured is False


def test_grpc_defaults_to_the_grpc_port() -> None:
    assert resolve_settings(protocol="grpc", environ={}).endpoint == "http://localhost:4317"


def test_environment_is_read() -> None:
    s = resolve_settings(
        environ={
            "ROLLOUT_API_KEY": "k",
            "ROLLOUT_ENDPOINT": "https://collector.example:4318/",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "svc",
            "ROLLOUT_CAPTURE_CONTENT": "No",
            "ROLLOUT_CAPTURE_STREAM_CHUNKS": "ON",
            "ROLLOUT_STREAM_PREVIEW_CHARS": "10",
            "ROLLOUT_STREAM_UPDATE_INTERVAL": "0.25",
            "ROLLOUT_MAX_CONTENT_BYTES": "2048",
            "OTEL_TRACES_EXPORTER": "otlp,console",
            "OTEL_LOGS_EXPORTER": "none",
        }
    )
    assert s == Settings(
        api_key="k",
        endpoint="https://collector.example:4318",
        protocol="grpc",
        service_name="svc",
        capture_content=False,
        capture_stream_chunks=True,
        stream_preview_chars=10,
        stream_update_interval=0.25,
        max_content_bytes=2048,
        traces_exporter=("otlp", "console"),
        logs_exporter=(),
        endpoint_configured=True,
        endpoint_explicit=True,
    )


def test_arguments_win_over_environment() -> None:
    env = {"ROLLOUT_CAPTURE_CONTENT": "false", "ROLLOUT_STREAM_PREVIEW_CHARS": "1", "ROLLOUT_API_KEY": "env"}
    s = resolve_settings(capture_content=True, stream_preview_chars=7, api_key="arg", environ=env)
    assert (s.capture_content, s.stream_preview_chars, s.api_key) == (True, 7, "arg")


def test_rollout_endpoint_wins_over_the_otel_endpoint() -> None:
    env = {"ROLLOUT_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2"}
    assert resolve_settings(environ=env).endpoint == "http://a:1"
    assert resolve_settings(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2"}).endpoint == "http://b:2"


def test_bare_host_port_is_accepted_for_grpc_users() -> None:
    assert resolve_settings(endpoint="collector:4317", environ={}).endpoint == "http://collector:4317"


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "yes", "On"])
def test_true_spellings(text: str) -> None:
    assert resolve_settings(environ={"ROLLOUT_CAPTURE_STREAM_CHUNKS": text}).capture_stream_chunks is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "OFF"])
def test_false_spellings(text: str) -> None:
    assert resolve_settings(environ={"ROLLOUT_CAPTURE_CONTENT": text}).capture_content is False


def test_service_name_defaults_to_the_program_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/srv/app/chatbot.py"])
    assert resolve_settings(environ={}).service_name == "chatbot"
    assert resolve_settings(service_name="mine", environ={}).service_name == "mine"
    assert resolve_settings(environ={"OTEL_RESOURCE_ATTRIBUTES": "a=1, service.name=theirs"}).service_name is None
    assert resolve_settings(environ={"OTEL_RESOURCE_ATTRIBUTES": "myservice.name=x"}).service_name == "chatbot"
    monkeypatch.setattr("sys.argv", ["/srv/app/chatbot/__main__.py"])  # python -m chatbot
    assert resolve_settings(environ={}).service_name == "chatbot"


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"stream_preview_chars": -1}, ["stream_preview_chars=-1", ">= 0"]),
        ({"stream_preview_chars": 1.5}, ["stream_preview_chars=1.5", "whole number"]),
        ({"stream_preview_chars": True}, ["stream_preview_chars=True"]),
        ({"stream_update_interval": 0}, ["stream_update_interval=0", "from 0.05 to 3600"]),
        ({"stream_update_interval": 1e-9}, ["stream_update_interval=1e-09", "from 0.05 to 3600"]),
        ({"stream_update_interval": 1e300}, ["stream_update_interval=1e+300", "from 0.05 to 3600"]),
        ({"stream_update_interval": -2.0}, ["stream_update_interval=-2.0"]),
        ({"stream_update_interval": float("nan")}, ["stream_update_interval=nan"]),
        ({"stream_update_interval": "soon"}, ["stream_update_interval='soon'", "seconds"]),
        ({"capture_content": "maybe"}, ["capture_content='maybe'", "true/false"]),
        ({"capture_stream_chunks": 2}, ["capture_stream_chunks=2", "true/false"]),
        ({"protocol": "http/json"}, ["protocol='http/json'", "'http/protobuf' or 'grpc'"]),
        ({"endpoint": "ftp://x"}, ["endpoint='ftp://x'", "http:// or https://"]),
        ({"endpoint": "http://:4318"}, ["endpoint='http://:4318'"]),
        ({"endpoint": "http://host:port"}, ["endpoint='http://host:port'"]),
        ({"api_key": ""}, ["api_key='<redacted str>'", "non-empty"]),
        ({"service_name": "  "}, ["service_name='  '"]),
        ({"max_content_bytes": 100}, ["max_content_bytes=100", "from 1024 to 3500000"]),
        ({"max_content_bytes": 64 * 1024 * 1024}, ["max_content_bytes=67108864", "a default collector's limit"]),
        ({"max_content_bytes": "big"}, ["max_content_bytes='big'", "whole number of bytes"]),
    ],
)
def test_bad_arguments_name_the_setting_the_value_and_what_is_allowed(
    kwargs: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(RolloutConfigError) as info:
        resolve_settings(environ={}, **kwargs)
    message = str(info.value)
    assert message.startswith("Rollout(")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ROLLOUT_CAPTURE_CONTENT", "maybe", "true/false"),
        ("ROLLOUT_CAPTURE_STREAM_CHUNKS", "2", "true/false"),
        ("ROLLOUT_STREAM_PREVIEW_CHARS", "-5", ">= 0"),
        ("ROLLOUT_STREAM_PREVIEW_CHARS", "lots", ">= 0"),
        ("ROLLOUT_STREAM_UPDATE_INTERVAL", "0", "from 0.05 to 3600"),
        ("ROLLOUT_STREAM_UPDATE_INTERVAL", "inf", "from 0.05 to 3600"),
        ("ROLLOUT_STREAM_UPDATE_INTERVAL", "1e300", "from 0.05 to 3600"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift", "'http/protobuf' or 'grpc'"),
        ("ROLLOUT_ENDPOINT", "mailto:me", "http:// or https://"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://", "http:// or https://"),
        ("OTEL_TRACES_EXPORTER", "zipkin", "otlp, console or none"),
        ("OTEL_LOGS_EXPORTER", "otlp,jaeger", "otlp, console or none"),
        ("ROLLOUT_MAX_CONTENT_BYTES", "-1", "whole number of bytes from 1024"),
        ("ROLLOUT_MAX_CONTENT_BYTES", "1e6", "whole number of bytes from 1024"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(RolloutConfigError) as info:
        resolve_settings(environ={name: value})
    message = str(info.value)
    assert message.startswith(f"{name}={value!r} (environment")
    assert fragment in message


def test_rollout_fails_at_once_on_bad_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_STREAM_PREVIEW_CHARS", "-1")
    with pytest.raises(RolloutConfigError, match="ROLLOUT_STREAM_PREVIEW_CHARS='-1'"):
        Rollout()


def test_config_error_is_a_value_error() -> None:
    assert issubclass(RolloutConfigError, ValueError)


def test_api_key_is_not_in_any_repr() -> None:
    s = resolve_settings(api_key="sk-secret-123", environ={})
    assert "sk-secret-123" not in repr(s)
    assert s.export_headers == {"authorization": "Bearer sk-secret-123"}


def test_bad_environment_while_tracing_is_logged_and_only_that_setting_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ROLLOUT_CAPTURE_CONTENT", "false")
    monkeypatch.setenv("ROLLOUT_STREAM_PREVIEW_CHARS", "-1")
    monkeypatch.setenv("ROLLOUT_STREAM_UPDATE_INTERVAL", "0.5")
    settings = settings_from_environment()
    assert settings.capture_content is False  # one bad variable must not turn content capture back on
    assert settings.stream_preview_chars == 4096
    assert settings.stream_update_interval == 0.5
    assert "ROLLOUT_STREAM_PREVIEW_CHARS='-1'" in caplog.text


def test_unreadable_capture_content_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLOUT_CAPTURE_CONTENT", "maybe")
    assert settings_from_environment().capture_content is False


def test_a_malformed_api_key_is_not_echoed() -> None:
    with pytest.raises(RolloutConfigError) as info:
        resolve_settings(api_key=b"sk-live-SECRET", environ={})  # type: ignore[arg-type]
    assert "SECRET" not in str(info.value)
    assert "<redacted bytes>" in str(info.value)


def test_sdk_exporter_entry_point_names_are_accepted() -> None:
    assert resolve_settings(environ={"OTEL_TRACES_EXPORTER": "otlp_proto_grpc"}).traces_exporter == ("otlp",)
