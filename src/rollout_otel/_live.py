"""Live spans: an open stream shown as a few short spans of its own, for backends that take spans but no logs.

What decides the form (DESIGN §9): Phoenix keeps the first span it receives for an id and ignores later ones,
MLflow upserts by id and shows a trace in progress until its root arrives, Jaeger keeps every copy. So a live
span is a new span (its own id) under the LLM span, never a copy of it: the LLM span itself is exported once,
when it ends, exactly as it would be without live spans. Each live span covers the stream from its start to the
moment it was taken, carries the text so far as `gen_ai.output.messages` (which the backends' chat views render)
and names itself: its name ends with " (live)" and it has `rollout.live=true`.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind

from . import _attributes as attr
from ._config import Settings
from ._content import content_attributes, text_output

LIVE_NAME_SUFFIX = " (live)"


def live_attributes(
    identity: dict[str, Any], seq: int, chunks: int, chars: int, elapsed_s: float, stalls: int
) -> dict[str, Any]:
    """What every live span says about its stream, content aside."""
    return {
        **identity,
        attr.GEN_AI_REQUEST_STREAM: True,
        attr.LIVE: True,
        attr.LIVE_SEQ: seq,
        attr.STREAM_CHUNKS: chunks,
        attr.STREAM_CHARS: chars,
        attr.UPDATE_ELAPSED: elapsed_s,
        attr.STREAM_STALLS: stalls,
    }


def live_content(text: str, settings: Settings) -> dict[str, Any]:
    """The text so far as one assistant message, capped like any content; nothing without content capture."""
    if not settings.capture_content or not text:
        return {}
    return content_attributes(None, text_output(text, ""), settings.max_content_bytes)


def send_live_span(
    tracer: otel_trace.Tracer,
    parent: otel_trace.Span,
    name: str,
    attributes: dict[str, Any],
    start_time_ns: int,
    end_time_ns: int,
) -> None:
    """Start and end one live span under `parent`; it leaves through the provider's span processors as any span."""
    span = tracer.start_span(
        name + LIVE_NAME_SUFFIX,
        context=otel_trace.set_span_in_context(parent),
        kind=SpanKind.INTERNAL,
        attributes=attributes,
        start_time=start_time_ns,
    )
    span.end(end_time=max(end_time_ns, start_time_ns))
