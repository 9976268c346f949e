"""What the core benchmarks run on: token-like deltas, rollout's settings and fresh SDK providers."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from rollout_otel import LLMSpan, StreamingSpanProcessor, trace
from rollout_otel._config import Settings, resolve_settings

# The per-chunk span event that OpenLLMetry records, used as the "plain OpenTelemetry" baseline.
EVENT_NAME = "gen_ai.content.completion.chunk"
EVENT_KEY = "gen_ai.completion.chunk"

SPAN_NAME = "openai.chat"
MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long story about a lighthouse keeper and a robot."},
]
USAGE = {"prompt_tokens": 31, "completion_tokens": 5000}

# Rollout modes and their settings overrides; capture_stream_chunks gets an unlimited span event count.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "capture_content=False": {"capture_content": False},
    "capture_stream_chunks=True": {"capture_stream_chunks": True},
}


# -- inputs ---------------------------------------------------------------------------------------------------

_WORD_CHARS = string.ascii_lowercase * 4 + string.ascii_uppercase + string.digits
_PUNCTUATION = [".", ",", ":", ";", "!", "?", "\n", "\n\n", "`", "(", ")", '"', "-", "**"]
_NON_ASCII = ["é", "ü", "ñ", "ß", "—", "…", "中文", "日本語", "Ω", "→"]
_EMOJI = ["🙂", "🚀", "👍", "🔥", "✅", "🎉", "👍🏽", "🤖"]
_LENGTH_WEIGHTS = [10, 12, 16, 18, 16, 12, 9, 7]  # token-like lengths 1..8


def make_deltas(n: int, *, seed: int, non_ascii: float = 0.0, emoji: float = 0.0) -> list[str]:
    """`n` token-like deltas of 1-8 chars; the given shares of chunks are non-ASCII or emoji."""
    rng = random.Random(seed)
    deltas: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if roll < emoji:
            piece = rng.choice(_EMOJI)
        elif roll < emoji + non_ascii:
            piece = rng.choice(_NON_ASCII)
        elif roll < emoji + non_ascii + 0.08:
            piece = rng.choice(_PUNCTUATION)
        else:
            length = rng.choices(range(1, 9), weights=_LENGTH_WEIGHTS)[0]
            word = "".join(rng.choices(_WORD_CHARS, k=length))
            piece = " " + word[1:] if length > 1 and rng.random() < 0.6 else word
        deltas.append(piece)
    return deltas


def rollout_settings(**overrides: Any) -> Settings:
    """Settings resolved as `Rollout(...)` would, ignoring this shell's environment."""
    return resolve_settings(environ={}, **overrides)


# -- providers ------------------------------------------------------------------------------------------------


class NullSpanExporter(SpanExporter):
    """Accepts spans and keeps nothing."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class NullLogExporter(LogRecordExporter):
    """Accepts log records and keeps nothing."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Stack:
    """Fresh SDK tracer and logger providers (never global), with simple processors and local exporters.

    `settings` adds a `StreamingSpanProcessor`; without it this is a plain OpenTelemetry setup. `retain`
    keeps what is exported in memory (for encoding), otherwise it is dropped on export.
    """

    def __init__(self, settings: Settings | None, *, unlimited_events: bool = False, retain: bool = False) -> None:
        self.span_memory = InMemorySpanExporter() if retain else None
        self.log_memory = InMemoryLogRecordExporter() if retain else None  # type: ignore[no-untyped-call]
        span_exporter: SpanExporter = self.span_memory or NullSpanExporter()
        log_exporter: LogRecordExporter = self.log_memory or NullLogExporter()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        limits = SpanLimits(max_events=SpanLimits.UNSET) if unlimited_events else SpanLimits()
        self.tracer_provider = TracerProvider(span_limits=limits, shutdown_on_exit=False)
        self.processor: StreamingSpanProcessor | None = None
        if settings is not None:
            self.processor = StreamingSpanProcessor(settings, logger_provider=self.logger_provider)
            self.tracer_provider.add_span_processor(self.processor)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        self.tracer: Tracer = self.tracer_provider.get_tracer("bench")

    @classmethod
    def for_mode(cls, mode: str, *, retain: bool = False, **overrides: Any) -> Stack:
        """A stack with rollout's processor in one of MODES (chunk events get an unlimited event count)."""
        settings = rollout_settings(**MODES[mode], **overrides)
        return cls(settings, unlimited_events=settings.capture_stream_chunks, retain=retain)

    def llm(self) -> LLMSpan:
        """A streamed LLM span on this stack."""
        return trace.llm(SPAN_NAME, model=MODEL, stream=True, tracer_provider=self.tracer_provider)

    @property
    def chunk_events(self) -> bool:
        """Whether rollout records a span event per chunk on this stack."""
        return self.processor is not None and self.processor.settings.capture_stream_chunks

    def spans(self) -> list[ReadableSpan]:
        """Finished spans (kept only with `retain`)."""
        return list(self.span_memory.get_finished_spans()) if self.span_memory else []

    def logs(self) -> list[ReadableLogRecord]:
        """Emitted log records (kept only with `retain`)."""
        return list(self.log_memory.get_finished_logs()) if self.log_memory else []

    def shutdown(self) -> None:
        """Shut both providers down, which also stops the processor's update thread."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


BARE = "bare loop: `for d in deltas: pass` (baseline a)"
APPEND = "list.append(d) (reference)"
SPAN_EVENT = "OTel span.add_event per chunk (baseline b)"


def rollout_label(mode: str) -> str:
    """The row label of rollout's path in one of MODES."""
    return f"rollout record_chunk, {mode}"
