"""Hands a starting LLMSpan to the streaming processor of the provider that starts its OpenTelemetry span.

`SpanProcessor.on_start` runs synchronously on the thread that starts the span, so a context variable set
around `tracer.start_span` reaches exactly the processors of that span's provider and nothing else.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

starting_llm_span: ContextVar[Any] = ContextVar("rollout_otel_starting_llm_span", default=None)
