"""The standard `OTEL_*` variables rollout-otel's set-up relies on, checked under one rule before the SDK reads them.

Left to the SDK, a bad value behaves three ways: a bare `ValueError` from a constructor, a logged line and a
default, or nothing at all (an endpoint that is not a URL). Here every one fails the same way: `Rollout()` raises a
`RolloutConfigError` that names the variable, the value and what is allowed; under `opentelemetry-instrument`
(where nothing may stop the program) the variable is logged once and removed, so the SDK uses its default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Final
from urllib.parse import urlsplit

from ._errors import RolloutConfigError, logger

_SIGNALS: Final = ("TRACES", "LOGS", "METRICS")
_COMPRESSIONS: Final = ("gzip", "deflate", "none")
_HOST: Final = re.compile(r"[A-Za-z0-9._~%:\[\]-]+")


def _whole(low: int) -> Callable[[str], str | None]:
    def check(raw: str) -> str | None:
        try:
            ok = int(raw) >= low
        except ValueError:
            ok = False
        return None if ok else f"a whole number >= {low}"

    return check


def _milliseconds(low: float) -> Callable[[str], str | None]:
    def check(raw: str) -> str | None:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        return None if math.isfinite(value) and value >= low else f"a number of milliseconds >= {low:g}"

    return check


def _seconds(raw: str) -> str | None:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    return None if math.isfinite(value) and value >= 0 else "a number of seconds >= 0"


def _compression(raw: str) -> str | None:
    return None if raw.strip().lower() in _COMPRESSIONS else "gzip, deflate or none"


def _url(raw: str) -> str | None:
    allowed = "an http:// or https:// URL with a host, such as http://localhost:4318"
    text = raw.strip()
    if text.startswith(("unix:", "dns:", "ipv4:", "ipv6:")):  # gRPC name-resolver targets
        return None
    if "://" not in text:  # the bare host:port gRPC users often write
        text = f"http://{text}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return allowed
    return None if parts.scheme in ("http", "https") and valid_host(parts.hostname) else allowed


def valid_host(host: str | None) -> bool:
    """A host name or IP address (no space, no stray character): what a URL that was not meant as one lacks."""
    return bool(host) and _HOST.fullmatch(host or "") is not None


def _headers(raw: str) -> str | None:
    allowed = "comma-separated key=value pairs of printable Latin-1 text, values URL-encoded"
    for pair in raw.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not printable_latin1(key + value):
            return allowed
    return None


def printable_latin1(text: str) -> bool:
    """What an HTTP header value may hold: Latin-1, and no control character (a CR/LF would split the request)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 0x20 or c == "\x7f" for c in text if c != "\t")


def _checks() -> dict[str, Callable[[str], str | None]]:
    checks: dict[str, Callable[[str], str | None]] = {}
    for prefix in ("OTEL_BSP_", "OTEL_BLRP_"):
        checks[prefix + "MAX_QUEUE_SIZE"] = _whole(1)
        checks[prefix + "MAX_EXPORT_BATCH_SIZE"] = _whole(1)
        checks[prefix + "SCHEDULE_DELAY"] = _whole(1)  # 0 makes the SDK's batch processor raise
        checks[prefix + "EXPORT_TIMEOUT"] = _whole(0)
    for limit in (
        "OTEL_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_EVENT_COUNT_LIMIT",
        "OTEL_SPAN_LINK_COUNT_LIMIT",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    ):
        checks[limit] = _whole(0)
    checks["OTEL_METRIC_EXPORT_INTERVAL"] = _milliseconds(1)
    checks["OTEL_METRIC_EXPORT_TIMEOUT"] = _milliseconds(0)
    for signal in ("", *(s + "_" for s in _SIGNALS)):
        checks[f"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"] = _url
        checks[f"OTEL_EXPORTER_OTLP_{signal}TIMEOUT"] = _seconds
        checks[f"OTEL_EXPORTER_OTLP_{signal}COMPRESSION"] = _compression
        checks[f"OTEL_EXPORTER_OTLP_{signal}HEADERS"] = _headers
    return checks


CHECKS: Final = _checks()


def problems(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(variable, message) for every checked `OTEL_*` variable set to a value that cannot be used."""
    found = []
    for name, check in CHECKS.items():
        raw = environ.get(name)
        if raw is None or not raw.strip():
            continue
        allowed = check(raw)
        if allowed is not None:
            shown = "<redacted>" if name.endswith("HEADERS") else repr(raw)  # headers hold credentials
            found.append((name, f"{name}={shown} (environment) is not valid: expected {allowed}."))
    return found + _batch_larger_than_queue(environ)


def _batch_larger_than_queue(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The SDK refuses an export batch larger than its queue (defaults: 512 and 2048)."""
    found = []
    for prefix in ("OTEL_BSP_", "OTEL_BLRP_"):
        try:
            batch = int(environ.get(prefix + "MAX_EXPORT_BATCH_SIZE", "").strip() or 512)
            queue = int(environ.get(prefix + "MAX_QUEUE_SIZE", "").strip() or 2048)
        except ValueError:
            continue  # reported as not a whole number
        if 1 <= queue < batch:  # a queue size below 1 is reported on its own
            name = prefix + "MAX_EXPORT_BATCH_SIZE"
            found.append(
                (name, f"{name}={batch} (environment) is not valid: expected at most {prefix}MAX_QUEUE_SIZE ({queue}).")
            )
    return found


def check_strictly(environ: Mapping[str, str]) -> None:
    """For `Rollout()`: the first bad value raises."""
    for _name, message in problems(environ):
        raise RolloutConfigError(message)


def drop_bad_values(environ: MutableMapping[str, str]) -> None:
    """For `opentelemetry-instrument`: each bad value is logged once and removed, so the SDK uses its default."""
    for name, message in problems(environ) + _unusable_choices(environ):
        logger.error("%s The OpenTelemetry default is used instead.", message)
        environ.pop(name, None)
    _lower_case_protocols(environ)


_PROTOCOLS: Final = ("grpc", "http/protobuf")
_PROTOCOL_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_PROTOCOL", *(f"OTEL_EXPORTER_OTLP_{s}_PROTOCOL" for s in _SIGNALS))
# The exporter variables and the entry-point group the SDK looks their names up in.
_EXPORTER_GROUPS: Final = {f"OTEL_{s}_EXPORTER": f"opentelemetry_{s.lower()}_exporter" for s in _SIGNALS}
_ID_GENERATOR_GROUP: Final = "opentelemetry_id_generator"


def _installed(group: str) -> frozenset[str]:
    from importlib.metadata import entry_points

    return frozenset(point.name for point in entry_points(group=group))


def _unusable_choices(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """Choices the SDK would fail on with a traceback and no telemetry at all: an OTLP protocol Python does not
    speak (`http/json`), an exporter or id generator that is not installed (`zipkin`)."""
    found = []
    for name in _PROTOCOL_VARIABLES:
        raw = environ.get(name, "").strip()
        if raw and raw.lower() not in _PROTOCOLS:
            found.append((name, f"{name}={raw!r} (environment) is not valid: expected grpc or http/protobuf."))
    for name, group in _EXPORTER_GROUPS.items():
        raw = environ.get(name, "").strip()
        if not raw or raw.lower() == "none":
            continue
        missing = [part.strip() for part in raw.split(",") if part.strip() and part.strip() not in _installed(group)]
        if missing:
            found.append(
                (
                    name,
                    f"{name}={raw!r} (environment) names {', '.join(missing)}, which is not installed: expected "
                    f"one of {', '.join(sorted(_installed(group) | {'none'}))}.",
                )
            )
    raw = environ.get("OTEL_PYTHON_ID_GENERATOR", "").strip()
    if raw and raw not in _installed(_ID_GENERATOR_GROUP):
        found.append(
            (
                "OTEL_PYTHON_ID_GENERATOR",
                f"OTEL_PYTHON_ID_GENERATOR={raw!r} (environment) is not installed: expected one of "
                f"{', '.join(sorted(_installed(_ID_GENERATOR_GROUP)))}.",
            )
        )
    return found


def _lower_case_protocols(environ: MutableMapping[str, str]) -> None:
    """`GRPC` means grpc: Rollout() reads it so, and so does the SDK after this, with one line to say it."""
    for name in _PROTOCOL_VARIABLES:
        raw = environ.get(name)
        if raw is not None and raw.strip() and raw.strip() != raw.strip().lower():
            logger.warning("%s=%r (environment): using %r", name, raw, raw.strip().lower())
            environ[name] = raw.strip().lower()
