"""The demo: one streamed LLM call traced live, printed as the update events go out and when the span ends."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricReader,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from . import _attributes as attr
from ._client import Rollout
from ._config import resolve_settings
from ._exporters import metric_exporters, new_failure_count
from .serve import LocalLLMServer, Scenario, reply_deltas

PROMPT = "Explain in a few sentences why streamed LLM responses are hard to trace."
REPLY = (
    "Streaming sends the answer as hundreds of small deltas, often one token each, over many seconds. "
    "A tracer that records every delta as its own event floods the backend, while one that waits for the "
    "end shows nothing until the call is over, which is exactly when you no longer need to watch it. "
    "rollout-otel keeps a rolling preview of the text in memory, sends an update event about once a "
    "second while the stream is open, and records the final output and the token usage when it ends. "
    "The cost on the token path is one append per chunk."
)
MODEL = "gpt-4o-mini"


def _paced(text: str, seconds: float) -> Scenario:
    """The server's reply: `text` in token-sized deltas spread over about `seconds`."""
    return Scenario(text=text, delay=seconds / max(1, len(reply_deltas(text))))


def _shorten(text: str, width: int) -> str:
    flat = text.replace("\n", " ")
    return flat if len(flat) <= width else "..." + flat[-(width - 3) :]


_MESSAGE_ATTRIBUTES = frozenset({attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES})


def _describe_messages(raw: str) -> str:
    """Messages as a reader sees them in a GenAI backend: role, finish reason and the start of the text."""
    try:
        messages = json.loads(raw)
        shown = []
        for message in messages:
            text = " ".join(part.get("content", "") for part in message["parts"] if part.get("type") == "text")
            label = message["role"] + (f", {message['finish_reason']}" if message.get("finish_reason") else "")
            start = text.replace("\n", " ")
            shown.append(f"[{label}] {start[:48] + '...' if len(start) > 48 else start!r}")
        return "; ".join(shown)
    except (ValueError, KeyError, TypeError, AttributeError):
        return repr(_shorten(raw, 70))


class _PrintUpdates(LogRecordProcessor):
    """Prints each start, stall and update record the moment the processor emits it."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        a: Any = record.attributes or {}
        if record.event_name == attr.START_EVENT:
            self._out.write("  [ 0.00s] start     the request is sent: the stream is visible before its first chunk\n")
        elif record.event_name == attr.STALL_EVENT:
            self._out.write(f"  [{a[attr.UPDATE_ELAPSED]:5.2f}s] stall     no chunk for {a[attr.STALL_GAP]:.1f} s\n")
        if record.event_name != attr.UPDATE_EVENT:
            self._out.flush()
            return
        preview = _shorten(str(a.get(attr.STREAM_PREVIEW, "")), 60)
        self._out.write(
            f"  [{a[attr.UPDATE_ELAPSED]:5.2f}s] update #{a[attr.UPDATE_SEQ]}  "
            f"chunks={a[attr.STREAM_CHUNKS]:<4} chars={a[attr.STREAM_CHARS]:<4} preview: {preview!r}\n"
        )
        self._out.flush()

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _PrintSpans(SpanProcessor):
    """Prints every finished LLM span with all its attributes."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def on_end(self, span: ReadableSpan) -> None:
        duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        a: Any = span.attributes or {}
        if a.get(attr.LIVE) is True:  # a snapshot of the open stream, for backends that take no logs: one line
            self._out.write(
                f"  [{duration:5.2f}s] live span #{a.get(attr.LIVE_SEQ)}  chunks={a.get(attr.STREAM_CHUNKS, 0):<4} "
                f"(sent as {span.name!r}: the logs were refused)\n"
            )
            self._out.flush()
            return
        context = span.get_span_context()
        assert context is not None
        self._out.write(
            f"\nfinished span {span.name!r}  trace_id={context.trace_id:032x} span_id={context.span_id:016x}\n"
            f"  {'duration':<38} {duration:.2f} s\n"
        )
        for key, value in (span.attributes or {}).items():
            if key in _MESSAGE_ATTRIBUTES and isinstance(value, str):
                self._out.write(f"  {key:<38} {_describe_messages(value)}\n")
                continue
            shown = _shorten(value, 70) if isinstance(value, str) else value
            self._out.write(f"  {key:<38} {shown!r}\n")
        self._out.flush()


def run_demo(
    *,
    seconds: float = 5.0,
    interval: float = 1.0,
    endpoint: str | None = None,
    protocol: str | None = None,
    out: TextIO = sys.stdout,
) -> bool:
    """Stream a reply with the real openai client; print update events live and the finished span at the end.

    Returns whether everything configured to be exported was exported.
    """
    try:
        from openai import OpenAI
    except ImportError:
        raise SystemExit(
            "rollout-otel demo needs the openai package: pip install openai (or '.[demo]' in the rollout-otel clone)"
        ) from None
    metrics = InMemoryMetricReader()
    planned = resolve_settings(endpoint=endpoint, protocol=protocol)
    rollout = Rollout(
        stream_update_interval=interval,
        service_name="rollout-otel-demo",
        endpoint=endpoint,
        protocol=protocol,
        # With nothing exported, the update events printed below are the live view; live spans would only repeat it.
        live_spans=None if planned.traces_exporter and planned.endpoint_configured else "off",
        meter_provider=_demo_meter_provider(metrics, endpoint, protocol),
    )
    s = rollout.settings
    exporting = bool(s.traces_exporter) and s.endpoint_configured
    out.write(
        "rollout-otel demo: one streamed LLM call, traced live (local server: no API key, no network)\n"
        f"  update interval {s.stream_update_interval:g} s, preview {s.stream_preview_chars} chars, "
        + (
            f"exporting to {s.endpoint} ({s.protocol})\n"
            if exporting
            else "not exporting (set ROLLOUT_ENDPOINT "
            "or pass --endpoint to send the span and updates to an OTLP collector)\n"
        )
    )
    rollout.logger_provider.add_log_record_processor(_PrintUpdates(out))
    rollout.tracer_provider.add_span_processor(_PrintSpans(out))
    with LocalLLMServer(default_scenario=_paced(REPLY, seconds)) as server:
        client = rollout.wrap(OpenAI(base_url=server.base_url, api_key="local-demo", max_retries=0))
        out.write(
            f"  the real openai client, streaming from a local OpenAI-compatible server at {server.base_url}\n"
            f"\nprompt: {PROMPT}\nrecords while the stream is open (start, stall, update):\n"
        )
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            for _chunk in stream:
                pass  # an app would print chunk.choices[0].delta.content here; the span records it
        except KeyboardInterrupt:  # Ctrl-C: the span has ended `closed` and printed itself; stop cleanly
            rollout.shutdown(timeout=1.0)
            raise
    _print_metrics(metrics, out)
    ok = True
    if exporting:
        assert rollout.meter_provider is not None
        ok = rollout.flush() and rollout.meter_provider.force_flush()
        out.write(f"\nexport to {s.endpoint}: {'done' if ok else 'FAILED (is a collector listening there?)'}\n")
    out.write(
        "\nnext: watch your own app's streams live. In one terminal `rollout-otel tail`, in another\n"
        "`rollout-otel demo --endpoint http://localhost:4318` (or your app, which sends there by default).\n"
    )
    rollout.shutdown()
    if rollout.meter_provider is not None:
        rollout.meter_provider.shutdown()
    return ok


def _demo_meter_provider(reader: InMemoryMetricReader, endpoint: str | None, protocol: str | None) -> MeterProvider:
    """The demo's meter provider: an in-memory reader to print from, plus the export Rollout() would set up."""
    settings = resolve_settings(endpoint=endpoint, protocol=protocol)
    readers: list[MetricReader] = [reader]
    readers += [PeriodicExportingMetricReader(e) for e in metric_exporters(settings, new_failure_count())]
    return MeterProvider(metric_readers=readers, shutdown_on_exit=False)


def _print_metrics(reader: InMemoryMetricReader, out: TextIO) -> None:
    """One line per GenAI metric the call recorded: what a dashboard would chart."""
    data = reader.get_metrics_data()
    out.write("\nmetrics recorded for the call (GenAI client metrics):\n")
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    token_type = point.attributes.get(attr.GEN_AI_TOKEN_TYPE) if point.attributes else None
                    name = f"{metric.name} ({token_type})" if token_type else metric.name
                    if isinstance(point, HistogramDataPoint):
                        shown = f"{point.sum / max(point.count, 1):.4g} {metric.unit}  (histogram, {point.count} value)"
                    elif isinstance(point, NumberDataPoint):
                        shown = f"{point.value} {metric.unit}  (counter)"
                    else:
                        continue
                    out.write(f"  {name:<54} {shown}\n")
    out.flush()
