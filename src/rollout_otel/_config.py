"""Settings resolved once: argument, then environment, then default; every bad value fails here, at once."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._errors import RolloutConfigError
from ._otel_env import check_strictly, printable_latin1, valid_host

_T = TypeVar("_T")

PROTOCOLS = ("http/protobuf", "grpc")
EXPORTERS = ("otlp", "console", "none")
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOOLEANS_ALLOWED = "true/false, 1/0, yes/no or on/off"


@dataclass(frozen=True)
class Settings:
    """Everything that decides what rollout-otel records and where it sends it."""

    api_key: str | None = field(default=None, repr=False)
    endpoint: str = DEFAULT_HTTP_ENDPOINT
    protocol: str = "http/protobuf"
    service_name: str | None = None
    capture_content: bool = True
    capture_stream_chunks: bool = False
    stream_preview_chars: int = 4096
    stream_update_interval: float = 1.0
    max_content_bytes: int = 750_000
    anthropic_sdk_spans: bool = False
    metrics: bool = True
    traces_exporter: tuple[str, ...] = ("otlp",)
    logs_exporter: tuple[str, ...] = ("otlp",)
    metrics_exporter: tuple[str, ...] = ("otlp",)
    live_spans: str = "auto"
    stall_after: float = 10.0
    openai_include_usage: bool = False
    endpoint_configured: bool = False
    endpoint_explicit: bool = False  # given as an argument or ROLLOUT_ENDPOINT, not left to the OTEL_* variables
    max_export_bytes: int = 4_000_000

    @property
    def export_headers(self) -> dict[str, str]:
        """Headers for OTLP exports; the API key travels only here."""
        return {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class _Source:
    """Where a value came from, so an error can point at the exact thing to change."""

    def __init__(self, setting: str, env: str | None) -> None:
        self.setting = setting
        self.env = env

    def fail(self, value: object, allowed: str) -> RolloutConfigError:
        if self.setting == "api_key":  # never echo a secret, even a malformed one
            value = f"<redacted {type(value).__name__}>"
        if self.env is not None:
            where = f"{self.env}={value!r} (environment, for {self.setting})"
        else:
            where = f"Rollout({self.setting}={value!r})"
        return RolloutConfigError(f"{where} is not valid: expected {allowed}.")


# Where a setting cannot be read while tracing (lenient mode), the safe value, when it is not the default.
_FAIL_CLOSED: dict[str, Any] = {"capture_content": False}


def _pick(
    setting: str,
    arg: Any,
    env_names: tuple[str, ...],
    environ: Mapping[str, str],
    parse: Callable[[Any, _Source], _T],
    default: _T,
    lenient: bool = False,
) -> tuple[_T, bool]:
    """Return (value, explicitly_set) from the argument, else the first set variable, else the default.

    Lenient mode logs a bad value and uses the default for that setting alone (or its fail-closed value).
    """
    try:
        if arg is not None:
            return parse(arg, _Source(setting, None)), True
        for name in env_names:
            raw = environ.get(name)
            if raw is not None and raw.strip() != "":
                return parse(raw.strip(), _Source(setting, name)), True
    except RolloutConfigError as exc:
        if not lenient:
            raise
        fallback = _FAIL_CLOSED.get(setting, default)
        from ._errors import logger

        logger.error("%s Using %r for %s instead.", exc, fallback, setting)
        return fallback, False
    return default, False


def _parse_bool(value: Any, src: _Source) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise src.fail(value, _BOOLEANS_ALLOWED)


def _parse_whole_number(value: Any, src: _Source, allowed: str, low: int, high: int | None = None) -> int:
    """A whole number from `low` to `high`, given as an int or its text."""
    if isinstance(value, bool):
        raise src.fail(value, allowed)
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        raise src.fail(value, allowed) from None
    if not isinstance(number, int) or number < low or (high is not None and number > high):
        raise src.fail(value, allowed)
    return number


def _parse_preview_chars(value: Any, src: _Source) -> int:
    return _parse_whole_number(value, src, "a whole number of characters >= 0 (0 turns the preview off)", 0)


# A default collector takes gRPC messages up to 4 MiB. All the content of one span (its content attributes, preview
# and chunk events together) stays under this budget, which leaves room for everything else a span carries.
SPAN_CONTENT_BUDGET = 3_500_000
MIN_CONTENT_BYTES = 1024
MAX_CONTENT_BYTES = SPAN_CONTENT_BUDGET


def _parse_content_bytes(value: Any, src: _Source) -> int:
    allowed = f"a whole number of bytes from {MIN_CONTENT_BYTES} to {MAX_CONTENT_BYTES} (a default collector's limit)"
    return _parse_whole_number(value, src, allowed, MIN_CONTENT_BYTES, MAX_CONTENT_BYTES)


# The largest OTLP request sent. 4 MiB is receivers' default gRPC limit; the HTTP exporter refuses over 64 MiB itself.
DEFAULT_MAX_EXPORT_BYTES = 4_000_000
MIN_EXPORT_BYTES = 65_536
MAX_EXPORT_BYTES = 64 * 1024 * 1024


def _parse_export_bytes(value: Any, src: _Source) -> int:
    allowed = f"a whole number of bytes from {MIN_EXPORT_BYTES} to {MAX_EXPORT_BYTES} (largest OTLP request sent)"
    return _parse_whole_number(value, src, allowed, MIN_EXPORT_BYTES, MAX_EXPORT_BYTES)


# Faster than 20 updates a second is a busy loop; slower than hourly is no live view (and overflows timers).
MIN_UPDATE_INTERVAL = 0.05
MAX_UPDATE_INTERVAL = 3600.0


def _parse_interval(value: Any, src: _Source) -> float:
    allowed = f"a number of seconds from {MIN_UPDATE_INTERVAL} to {MAX_UPDATE_INTERVAL:.0f}, such as 1.0"
    if isinstance(value, bool):
        raise src.fail(value, allowed)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise src.fail(value, allowed) from None
    if not math.isfinite(seconds) or not MIN_UPDATE_INTERVAL <= seconds <= MAX_UPDATE_INTERVAL:
        raise src.fail(value, allowed)
    return seconds


LIVE_SPANS = ("auto", "on", "off")
# A stall is a wait no shorter than the quickest update interval; a day is the longest that still means a stall.
MIN_STALL_AFTER = MIN_UPDATE_INTERVAL
MAX_STALL_AFTER = 86400.0


def _parse_live_spans(value: Any, src: _Source) -> str:
    if isinstance(value, bool):  # Rollout(live_spans=True) reads as on
        return "on" if value else "off"
    text = value.strip().lower() if isinstance(value, str) else None
    if text in LIVE_SPANS:
        return text
    if text in _TRUE | _FALSE:
        return "on" if text in _TRUE else "off"
    raise src.fail(value, "'auto' (live spans where the endpoint refuses logs), 'on' or 'off'")


def _parse_stall_after(value: Any, src: _Source) -> float:
    allowed = f"0 (no stall events) or a number of seconds from {MIN_STALL_AFTER} to {MAX_STALL_AFTER:.0f}, such as 10"
    if isinstance(value, bool):
        raise src.fail(value, allowed)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise src.fail(value, allowed) from None
    if seconds == 0:
        return 0.0
    if not math.isfinite(seconds) or not MIN_STALL_AFTER <= seconds <= MAX_STALL_AFTER:
        raise src.fail(value, allowed)
    return seconds


def _parse_protocol(value: Any, src: _Source) -> str:
    if isinstance(value, str) and value.strip().lower() in PROTOCOLS:
        return value.strip().lower()
    raise src.fail(value, "'http/protobuf' or 'grpc'")


def _parse_text(value: Any, src: _Source) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise src.fail(value, "a non-empty string")


def _parse_api_key(value: Any, src: _Source) -> str:
    key = _parse_text(value, src)
    if not printable_latin1(key):  # sent as a header: a line break would split the request, and the SDK logs it
        raise src.fail(value, "printable Latin-1 text with no line break (it is sent as an HTTP header)")
    return key


def _parse_exporters(value: Any, src: _Source) -> tuple[str, ...]:
    aliases = {"otlp_proto_http": "otlp", "otlp_proto_grpc": "otlp"}  # the SDK's entry-point names
    names = tuple(aliases.get(n, n) for n in (part.strip().lower() for part in str(value).split(",") if part.strip()))
    if not names or any(name not in EXPORTERS for name in names):
        raise src.fail(value, "otlp, console or none (or a comma-separated list of them)")
    return tuple(name for name in names if name != "none")


def _parse_endpoint(value: Any, src: _Source) -> str:
    allowed = "an http:// or https:// URL with a host, such as http://localhost:4318"
    if not isinstance(value, str):
        raise src.fail(value, allowed)
    text = value.strip()
    if "://" not in text:
        # Tolerate the bare host:port form gRPC users often write.
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise src.fail(value, allowed) from None
    if parts.scheme not in ("http", "https") or not valid_host(parts.hostname):
        raise src.fail(value, allowed)
    return without_signal_path(text.rstrip("/"), src.env or f"Rollout({src.setting}=...)")


_SIGNAL_PATHS = ("/v1/traces", "/v1/logs", "/v1/metrics")


def without_signal_path(endpoint: str, where: str) -> str:
    """The base URL of an endpoint given with a signal's path: rollout-otel adds /v1/traces, /v1/logs and /v1/metrics
    itself, so http://host:4318/v1/traces would post to /v1/traces/v1/traces (a bare 404)."""
    for path in _SIGNAL_PATHS:
        if endpoint.endswith(path):
            base = endpoint[: -len(path)]
            from ._errors import logger

            logger.warning(
                "%s=%s ends with %s; rollout-otel adds each signal's path itself, so it uses %s (set the base URL "
                "to silence this)",
                where,
                endpoint,
                path,
                base,
            )
            return base
    return endpoint


def _program_name() -> str:
    """The script's name without `.py`; for `python -m pkg`, the package's name rather than `__main__`."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(argv0)
    if name.endswith(".py"):
        name = name[:-3]
    if name == "__main__":
        name = os.path.basename(os.path.dirname(argv0))
    return name if name and name not in ("-c", "-m") else "python"


def _resolve_service_name(arg: str | None, environ: Mapping[str, str], lenient: bool = False) -> str | None:
    """Argument, then OTEL_SERVICE_NAME, then a service.name the user already set, then the program name."""
    name, explicit = _pick("service_name", arg, ("OTEL_SERVICE_NAME",), environ, _parse_text, None, lenient=lenient)
    if explicit:
        return name
    declared = (pair.split("=", 1)[0].strip() for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","))
    if "service.name" in declared:
        return None  # the SDK's resource detection applies the user's own value
    return _program_name()


def resolve_settings(
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    service_name: str | None = None,
    capture_content: bool | None = None,
    capture_stream_chunks: bool | None = None,
    stream_preview_chars: int | None = None,
    stream_update_interval: float | None = None,
    max_content_bytes: int | None = None,
    anthropic_sdk_spans: bool | None = None,
    metrics: bool | None = None,
    max_export_bytes: int | None = None,
    live_spans: str | bool | None = None,
    stall_after: float | None = None,
    openai_include_usage: bool | None = None,
    environ: Mapping[str, str] | None = None,
    lenient: bool = False,
) -> Settings:
    """Resolve every setting (argument > environment > default) and validate it, raising RolloutConfigError."""
    env = os.environ if environ is None else environ
    if not lenient:
        check_strictly(env)
    key, _ = _pick("api_key", api_key, ("ROLLOUT_API_KEY",), env, _parse_api_key, None, lenient=lenient)
    proto, _ = _pick(
        "protocol", protocol, ("OTEL_EXPORTER_OTLP_PROTOCOL",), env, _parse_protocol, PROTOCOLS[0], lenient=lenient
    )
    default_endpoint = DEFAULT_GRPC_ENDPOINT if proto == "grpc" else DEFAULT_HTTP_ENDPOINT
    url, url_set = _pick(
        "endpoint",
        endpoint,
        ("ROLLOUT_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        env,
        _parse_endpoint,
        default_endpoint,
        lenient=lenient,
    )
    content, _ = _pick(
        "capture_content", capture_content, ("ROLLOUT_CAPTURE_CONTENT",), env, _parse_bool, True, lenient=lenient
    )
    chunks, _ = _pick(
        "capture_stream_chunks",
        capture_stream_chunks,
        ("ROLLOUT_CAPTURE_STREAM_CHUNKS",),
        env,
        _parse_bool,
        False,
        lenient=lenient,
    )
    preview, _ = _pick(
        "stream_preview_chars",
        stream_preview_chars,
        ("ROLLOUT_STREAM_PREVIEW_CHARS",),
        env,
        _parse_preview_chars,
        4096,
        lenient=lenient,
    )
    interval, _ = _pick(
        "stream_update_interval",
        stream_update_interval,
        ("ROLLOUT_STREAM_UPDATE_INTERVAL",),
        env,
        _parse_interval,
        1.0,
        lenient=lenient,
    )
    content_bytes, _ = _pick(
        "max_content_bytes",
        max_content_bytes,
        ("ROLLOUT_MAX_CONTENT_BYTES",),
        env,
        _parse_content_bytes,
        750_000,
        lenient=lenient,
    )
    sdk_spans, _ = _pick(
        "anthropic_sdk_spans",
        anthropic_sdk_spans,
        ("ROLLOUT_ANTHROPIC_SDK_SPANS",),
        env,
        _parse_bool,
        False,
        lenient=lenient,
    )
    record_metrics, _ = _pick("metrics", metrics, ("ROLLOUT_METRICS",), env, _parse_bool, True, lenient=lenient)
    export_bytes, _ = _pick(
        "max_export_bytes",
        max_export_bytes,
        ("ROLLOUT_MAX_EXPORT_BYTES",),
        env,
        _parse_export_bytes,
        DEFAULT_MAX_EXPORT_BYTES,
        lenient=lenient,
    )
    live, _ = _pick("live_spans", live_spans, ("ROLLOUT_LIVE_SPANS",), env, _parse_live_spans, "auto", lenient=lenient)
    stall, _ = _pick(
        "stall_after", stall_after, ("ROLLOUT_STALL_AFTER",), env, _parse_stall_after, 10.0, lenient=lenient
    )
    include_usage, _ = _pick(
        "openai_include_usage",
        openai_include_usage,
        ("ROLLOUT_OPENAI_INCLUDE_USAGE",),
        env,
        _parse_bool,
        False,
        lenient=lenient,
    )
    otlp_only: tuple[str, ...] = ("otlp",)
    traces, _ = _pick(
        "traces_exporter", None, ("OTEL_TRACES_EXPORTER",), env, _parse_exporters, otlp_only, lenient=lenient
    )
    logs, _ = _pick("logs_exporter", None, ("OTEL_LOGS_EXPORTER",), env, _parse_exporters, otlp_only, lenient=lenient)
    metric_exports, _ = _pick(
        "metrics_exporter", None, ("OTEL_METRICS_EXPORTER",), env, _parse_exporters, otlp_only, lenient=lenient
    )
    explicit = endpoint is not None or bool(env.get("ROLLOUT_ENDPOINT", "").strip())
    return Settings(
        api_key=key,
        endpoint=url,
        protocol=proto,
        service_name=_resolve_service_name(service_name, env, lenient),
        capture_content=content,
        capture_stream_chunks=chunks,
        stream_preview_chars=preview,
        stream_update_interval=interval,
        max_content_bytes=content_bytes,
        anthropic_sdk_spans=sdk_spans,
        metrics=record_metrics,
        metrics_exporter=metric_exports,
        traces_exporter=traces,
        logs_exporter=logs,
        live_spans=live,
        stall_after=stall,
        openai_include_usage=include_usage,
        endpoint_configured=url_set,
        endpoint_explicit=explicit and url_set,
        max_export_bytes=export_bytes,
    )


_env_settings: Settings | None = None


def settings_from_environment() -> Settings:
    """Settings for spans no Rollout() processor claims: environment and defaults, read once.

    A bad ROLLOUT_* value here is logged, not raised (it is found while tracing, where nothing may break), and
    only that setting falls back: to its default, or to off for capture_content.
    """
    global _env_settings
    if _env_settings is None:
        _env_settings = resolve_settings(lenient=True)
    return _env_settings


def reset_environment_settings() -> None:
    """Forget the cached environment settings (tests change the environment)."""
    global _env_settings
    _env_settings = None
