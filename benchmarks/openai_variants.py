"""What the OpenAI benchmark compares: rollout's modes and the anchors, their providers and global patches."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from harness import (
    package_version,
)
from openai_replay import http_module, load_replay, make_client
from rollout_otel import StreamingSpanProcessor
from rollout_otel._config import Settings, resolve_settings

ROLLOUT = "rollout"
ROLLOUT_MODES: dict[str, dict[str, Any]] = {
    "rollout-otel, default": {},
    "rollout-otel, capture_stream_chunks=True": {"capture_stream_chunks": True},
}
ROLLOUT_DEFAULT = "rollout-otel, default"

# Worker environments start from this process's, minus every variable that configures any of them.
CONFIG_PREFIXES = ("OTEL_", "TRACELOOP_", "OPENINFERENCE_", "ROLLOUT_")


@dataclass(frozen=True)
class Anchor:
    """Another OpenAI instrumentation, driven through its instrumentor with its own TracerProvider."""

    key: str
    label: str
    dist: str
    module: str
    env: dict[str, str]
    content: str


ANCHORS = [
    Anchor(
        "official",
        "official (opentelemetry-instrumentation-openai-v2)",
        "opentelemetry-instrumentation-openai-v2",
        "opentelemetry.instrumentation.openai_v2",
        {
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
        },
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental, "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY (util-genai 1.1b0 always takes the latest "
        "conventions, where `true` is rejected and falls back to NO_CONTENT)",
    ),
    Anchor(
        "openllmetry",
        "OpenLLMetry (opentelemetry-instrumentation-openai)",
        "opentelemetry-instrumentation-openai",
        "opentelemetry.instrumentation.openai",
        {"TRACELOOP_TRACE_CONTENT": "true"},
        "TRACELOOP_TRACE_CONTENT=true (its default); messages as span attributes (`use_attributes=True` default)",
    ),
    Anchor(
        "openinference",
        "OpenInference (openinference-instrumentation-openai)",
        "openinference-instrumentation-openai",
        "openinference.instrumentation.openai",
        {},
        "defaults: inputs and outputs recorded (no OPENINFERENCE_HIDE_* set)",
    ),
]


# -- providers ------------------------------------------------------------------------------------------------


class SpanSink(SpanExporter):
    """Drops spans, or keeps them (`retain`); counts them, and with `inspect` notes the last one's size.

    `inspect` stays off while calls and time are measured, so the exporter adds one call per span.
    """

    def __init__(self) -> None:
        self.retain = False
        self.inspect = False
        self.kept: list[ReadableSpan] = []
        self.count = 0
        self.last_longest = 0  # longest string attribute of the last span: the output, if it is recorded
        self.last_events = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        if self.inspect and spans:
            values = (spans[-1].attributes or {}).values()
            self.last_longest = max((len(v) for v in values if isinstance(v, str)), default=0)
            self.last_events = len(spans[-1].events)
        if self.retain:
            self.kept.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class LogSink(LogRecordExporter):
    """Drops log records, or keeps them (`retain`); always counts them."""

    def __init__(self) -> None:
        self.retain = False
        self.kept: list[ReadableLogRecord] = []
        self.count = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.count += len(batch)
        if self.retain:
            self.kept.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Providers:
    """Fresh SDK tracer and logger providers (never global) with simple processors and sink exporters.

    `settings` adds rollout's `StreamingSpanProcessor`; chunk events get an unlimited span event count.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.spans = SpanSink()
        self.logs = LogSink()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        unlimited = settings is not None and settings.capture_stream_chunks
        limits = SpanLimits(max_events=SpanLimits.UNSET) if unlimited else SpanLimits()
        self.tracer_provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
        self.processor: StreamingSpanProcessor | None = None
        if settings is not None:
            self.processor = StreamingSpanProcessor(settings, logger_provider=self.logger_provider)
            self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))

    def retain(self, on: bool) -> None:
        """Keep what is exported from now on (or drop it again), starting from nothing."""
        self.spans.retain = self.logs.retain = on
        self.spans.kept.clear()
        self.logs.kept.clear()

    def open_streams(self) -> int:
        """Streams rollout's processor still watches (0 between streams)."""
        return len(self.processor._open) if self.processor is not None else 0

    def shutdown(self) -> None:
        """Shut both providers down (stops the processor's update thread)."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


# -- global patches -------------------------------------------------------------------------------------------

_MISSING = object()


def _namespaces() -> dict[int, tuple[Any, dict[str, Any]]]:
    """Every loaded openai module and openai class, with a copy of its namespace."""
    found: dict[int, tuple[Any, dict[str, Any]]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "openai" or name.startswith("openai.")):
            continue
        found[id(module)] = (module, dict(vars(module)))
        for value in list(vars(module).values()):
            if isinstance(value, type) and str(value.__module__).startswith("openai") and id(value) not in found:
                found[id(value)] = (value, dict(vars(value)))
    return found


def _effective(owner: Any, name: str, value: Any) -> Any:
    """What `owner.name` resolves to when `value` is its own entry (or `_MISSING`)."""
    if value is not _MISSING or not isinstance(owner, type):
        return value
    for base in owner.__mro__[1:]:
        if name in vars(base):
            return vars(base)[name]
    return _MISSING


@dataclass
class Patch:
    """What an instrumentor changed in openai's modules and classes, so it can be switched off and on."""

    changes: list[tuple[Any, str, Any, Any]]  # owner, name, before, after

    @classmethod
    def between(cls, before: dict[int, tuple[Any, dict[str, Any]]]) -> Patch:
        """The changes since the `before` snapshot.

        Modules and classes that appear are left out: openai's packages resolve some re-exports lazily, and an
        instrumentor looking a class up only makes that attribute appear.
        """
        changes: list[tuple[Any, str, Any, Any]] = []
        for key, (owner, after) in _namespaces().items():
            if key not in before:
                continue
            old = before[key][1]
            for name in old.keys() | after.keys():
                was, now = old.get(name, _MISSING), after.get(name, _MISSING)
                if was is not now and not isinstance(now, (ModuleType, type)):
                    changes.append((owner, name, was, now))
        return cls(changes)

    def names(self) -> list[str]:
        """`Owner.name` of each change."""
        return sorted(f"{getattr(owner, '__qualname__', owner.__name__)}.{name}" for owner, name, _, _ in self.changes)

    def switch(self, on: bool) -> None:
        """Put the instrumented (on) or original (off) attributes in place."""
        for owner, name, before, after in self.changes:
            value = after if on else before
            if value is _MISSING:
                if name in vars(owner):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)

    def left_behind(self) -> list[str]:
        """Changes still in effect (compared by what the attribute resolves to)."""
        left = []
        for owner, name, before, _ in self.changes:
            now = vars(owner).get(name, _MISSING)
            if _effective(owner, name, now) is not _effective(owner, name, before):
                left.append(f"{getattr(owner, '__qualname__', owner.__name__)}.{name}")
        return sorted(left)


@dataclass
class Variant:
    """One instrumented path: its clients per stream size, its providers, and its global patch if any."""

    label: str
    providers: Providers
    clients: dict[int, Any]
    patch: Patch | None = None
    traced: dict[str, bool] = field(default_factory=dict)

    def use(self, instrumented: bool) -> None:
        """Switch the global patch (anchors) for the next run; rollout's clients are wrapped one by one."""
        if self.patch is not None:
            self.patch.switch(instrumented)


def setup_rollout(data: Path, sizes: Sequence[int]) -> tuple[list[Variant], dict[str, Any]]:
    """rollout-otel in each mode: its own providers, clients wrapped with `rollout_otel.wrap`."""
    import rollout_otel

    before = _namespaces()
    variants = []
    for label, overrides in ROLLOUT_MODES.items():
        providers = Providers(resolve_settings(environ={}, **overrides))
        clients = {
            size: rollout_otel.wrap(make_client(load_replay(data, size)), tracer_provider=providers.tracer_provider)
            for size in sizes
        }
        variants.append(Variant(label, providers, clients))
    info = {
        "version": package_version("rollout-otel"),
        "patched": Patch.between(before).names(),
        "left_behind": [],
        "content": "`resolve_settings(environ={})` defaults: capture_content, preview 4,096 chars, updates every "
        "1 s; the second variant adds capture_stream_chunks=True (one span event per chunk, unlimited events)",
    }
    return variants, info


def setup_anchor(anchor: Anchor, data: Path, sizes: Sequence[int]) -> tuple[Variant, Any, dict[str, Any]]:
    """Import and instrument one anchor with its own providers; its patch is recorded and switched off."""
    info: dict[str, Any] = {"version": package_version(anchor.dist), "content": anchor.content, "notes": []}
    if importlib.util.find_spec("httpx") is None and hasattr(http_module(), "alias_httpx"):
        http_module().alias_httpx()  # openai 3 uses httpx2; anchors that `import httpx` get the same classes
        info["notes"].append("`httpx` not installed: aliased to httpx2 with `httpx2.alias_httpx()`")
    module = importlib.import_module(anchor.module)
    instrumentor = module.OpenAIInstrumentor()
    providers = Providers()
    before = _namespaces()
    instrumentor.instrument(tracer_provider=providers.tracer_provider, logger_provider=providers.logger_provider)
    patch = Patch.between(before)
    if not patch.changes:
        raise RuntimeError("instrument() patched nothing (see its log for a dependency conflict)")
    patch.switch(False)
    info["patched"] = patch.names()
    clients = {size: make_client(load_replay(data, size)) for size in sizes}
    return Variant(anchor.label, providers, clients, patch), instrumentor, info


def check_uninstrument(variant: Variant, instrumentor: Any) -> list[str]:
    """Call the anchor's own `uninstrument()` and list what it left patched; then restore everything."""
    assert variant.patch is not None
    variant.patch.switch(True)
    instrumentor.uninstrument()
    left = variant.patch.left_behind()
    variant.patch.switch(False)
    return left
