"""OTLP requests as an instrumented app sends them to `rollout-otel tail`: stream records (start, update, stall) and
finished LLM spans, built with opentelemetry-proto and posted over a real socket, so tail's tests need no library
that emits them."""

from __future__ import annotations

import http.client
import math
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from rollout_otel._receiver import ReceivedLog, ReceivedSpan

TRACE_ID = "5b8efff798038103d269b633813fc60c"
NAMING = {"rollout.stream.name": "openai.chat.completions", "gen_ai.request.model": "gpt-4o-mini"}


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value]))
    return common_pb2.AnyValue(string_value=str(value))


def key_values(attributes: dict[str, Any]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def stream_record(event: str, span_id: str, **attributes: Any) -> logs_pb2.LogRecord:
    """`rollout.stream.start` / `.update` / `.stall` of one stream; attributes given with dots as `__`."""
    attrs = {**NAMING, **{k.replace("__", "."): v for k, v in attributes.items()}}
    return logs_pb2.LogRecord(
        event_name=event,
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(span_id),
        severity_number=9,
        attributes=key_values(attrs),
    )


def start(span_id: str, **attributes: Any) -> logs_pb2.LogRecord:
    return stream_record("rollout.stream.start", span_id, **attributes)


def update(span_id: str, *, chunks: int, elapsed: float, preview: str | None = "", **attributes: Any) -> Any:
    extra: dict[str, Any] = {"rollout__stream__chunks": chunks, "rollout__stream__chars": chunks * 4}
    extra["rollout__stream__elapsed"] = elapsed
    if preview is not None:
        extra["rollout__stream__preview"] = preview
    extra.update(attributes)  # a test's own values win, bad ones included
    return stream_record("rollout.stream.update", span_id, **extra)


def stall(span_id: str, *, gap: float, chunks: int, elapsed: float) -> logs_pb2.LogRecord:
    return stream_record(
        "rollout.stream.stall",
        span_id,
        rollout__stream__gap=gap,
        rollout__stream__chunks=chunks,
        rollout__stream__elapsed=elapsed,
    )


def logs_body(records: list[logs_pb2.LogRecord], service: str = "tail-test") -> bytes:
    resource = resource_pb2.Resource(attributes=key_values({"service.name": service}))
    request = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[logs_pb2.ResourceLogs(resource=resource, scope_logs=[logs_pb2.ScopeLogs(log_records=records)])]
    )
    return request.SerializeToString()


def llm_span(span_id: str, name: str = "openai.chat.completions", **attributes: Any) -> trace_pb2.Span:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    attrs.update({k.replace("__", "."): v for k, v in attributes.items()})
    return trace_pb2.Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(span_id),
        name=name,
        kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=3_500_000_000,
        attributes=key_values(attrs),
    )


def traces_body(spans: list[trace_pb2.Span], service: str = "tail-test") -> bytes:
    resource = resource_pb2.Resource(attributes=key_values({"service.name": service}))
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def post(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> tuple[int, bytes]:
    """One POST on its own connection; (status, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- decoded records, for feeding a model in process ------------------------------------------------------------


def received_log(event: str, span_id: str, service: str = "svc", **attributes: Any) -> ReceivedLog:
    attrs = {**NAMING, **{k.replace("__", "."): v for k, v in attributes.items()}}
    return ReceivedLog(event, None, attrs, TRACE_ID, span_id, 0, 0, 9, {"service.name": service}, "r", 0.0, "http")


def received_span(span_id: str, *, duration: float = 2.5, service: str = "svc", **attributes: Any) -> ReceivedSpan:
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    attrs.update({k.replace("__", "."): v for k, v in attributes.items()})
    end = int(duration * 1e9) if math.isfinite(duration) else 0
    return ReceivedSpan(
        "openai.chat.completions",
        TRACE_ID,
        span_id,
        None,
        3,
        attrs,
        [],
        0,
        "",
        0,
        end,
        {"service.name": service},
        "r",
        0.0,
        "http",
    )
