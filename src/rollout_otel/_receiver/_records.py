"""What an OTLP receiver got, as plain records: one decoder for `rollout-otel tail` and for the test suite.

Requests arrive as OTLP protobuf (HTTP or gRPC) or OTLP JSON (HTTP); they are flattened here into frozen dataclasses
with decoded attributes, hex ids and the resource of each item, so consumers never touch protobuf types.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
METRICS_PATH = "/v1/metrics"
SIGNALS = ("traces", "logs", "metrics")
SIGNAL_OF_PATH = {TRACES_PATH: "traces", LOGS_PATH: "logs", METRICS_PATH: "metrics"}
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"

# Python value an OTLP ``AnyValue`` decodes to.
PyValue = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None


# --------------------------------------------------------------------------- records


class ReceivedEvent(NamedTuple):
    """A span event; a tuple so tests may compare against ``(name, attrs, ts)``."""

    name: str
    attributes: dict[str, Any]
    time_unix_nano: int


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as it arrived on the wire, decoded to plain Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: int
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    status_code: int
    status_message: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str
    scope_version: str = ""


@dataclass(frozen=True)
class ReceivedLog:
    """One log record as it arrived; ``trace_id``/``span_id`` are None when unset."""

    event_name: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    time_unix_nano: int
    observed_time_unix_nano: int
    severity_number: int
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str
    severity_text: str = ""
    scope_version: str = ""


@dataclass(frozen=True)
class ReceivedPoint:
    """One metric data point: a sum's `value`, or a histogram's count, sum and buckets."""

    attributes: dict[str, Any]
    value: float | int | None = None
    count: int = 0
    sum: float = 0.0
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class ReceivedMetric:
    """One metric of one export, with its points; `kind` is "histogram", "sum" or "gauge"."""

    name: str
    unit: str
    description: str
    kind: str
    points: list[ReceivedPoint]
    is_monotonic: bool
    resource: dict[str, Any]
    scope_name: str
    received_at: float
    transport: str


@dataclass(frozen=True)
class ReceivedRequest:
    """One export call, so tests can check headers, batching and compression.

    ``body_size`` is the number of body bytes on the wire (compressed, for HTTP;
    gRPC decompresses before we see it, so there it equals ``payload_size``).
    ``payload_size`` is the size of the serialized, uncompressed protobuf and
    ``item_count`` the number of spans or log records it carried (0 if rejected).
    """

    transport: str
    path: str
    headers: dict[str, str]
    body_size: int
    payload_size: int = 0
    item_count: int = 0
    received_at: float = field(default=0.0)


# --------------------------------------------------------------------------- decoding


def decode_any_value(value: common_pb2.AnyValue) -> PyValue:
    """Turn an OTLP ``AnyValue`` into the Python value the SDK was given."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    result: PyValue = getattr(value, kind)
    return result


def decode_attributes(attributes: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    """Decode repeated ``KeyValue`` into a dict (later duplicates win, as in the SDK)."""
    return {kv.key: decode_any_value(kv.value) for kv in attributes}


def _hex_or_none(raw: bytes) -> str | None:
    # All-zero / empty ids mean "not set" in OTLP.
    return raw.hex() if raw and any(raw) else None


def _each(request: Any, resources: str, scopes: str, items: str) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """(resource attributes, scope, item) for every item of an export request: the one shape all three signals share.

    The resource is decoded once per resource entry; each record gets its own copy, so no consumer can change another's.
    """
    for resource_entry in getattr(request, resources):
        resource = decode_attributes(resource_entry.resource.attributes)
        for scope_entry in getattr(resource_entry, scopes):
            for item in getattr(scope_entry, items):
                yield dict(resource), scope_entry.scope, item


def flatten_spans(
    request: trace_service_pb2.ExportTraceServiceRequest, received_at: float, transport: str
) -> list[ReceivedSpan]:
    return [
        ReceivedSpan(
            name=span.name,
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            parent_span_id=_hex_or_none(span.parent_span_id),
            kind=span.kind,
            attributes=decode_attributes(span.attributes),
            events=[ReceivedEvent(e.name, decode_attributes(e.attributes), e.time_unix_nano) for e in span.events],
            status_code=span.status.code,
            status_message=span.status.message,
            start_time_unix_nano=span.start_time_unix_nano,
            end_time_unix_nano=span.end_time_unix_nano,
            resource=resource,
            scope_name=scope.name,
            scope_version=scope.version,
            received_at=received_at,
            transport=transport,
        )
        for resource, scope, span in _each(request, "resource_spans", "scope_spans", "spans")
    ]


def flatten_logs(
    request: logs_service_pb2.ExportLogsServiceRequest, received_at: float, transport: str
) -> list[ReceivedLog]:
    return [
        ReceivedLog(
            event_name=record.event_name,
            body=decode_any_value(record.body) if record.HasField("body") else None,
            attributes=decode_attributes(record.attributes),
            trace_id=_hex_or_none(record.trace_id),
            span_id=_hex_or_none(record.span_id),
            time_unix_nano=record.time_unix_nano,
            observed_time_unix_nano=record.observed_time_unix_nano,
            severity_number=record.severity_number,
            severity_text=record.severity_text,
            resource=resource,
            scope_name=scope.name,
            scope_version=scope.version,
            received_at=received_at,
            transport=transport,
        )
        for resource, scope, record in _each(request, "resource_logs", "scope_logs", "log_records")
    ]


def flatten_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest, received_at: float, transport: str
) -> list[ReceivedMetric]:
    out: list[ReceivedMetric] = []
    for resource, scope, metric in _each(request, "resource_metrics", "scope_metrics", "metrics"):
        kind = metric.WhichOneof("data") or ""
        out.append(
            ReceivedMetric(
                name=metric.name,
                unit=metric.unit,
                description=metric.description,
                kind=kind,
                points=_points(metric, kind),
                is_monotonic=kind == "sum" and metric.sum.is_monotonic,
                resource=resource,
                scope_name=scope.name,
                received_at=received_at,
                transport=transport,
            )
        )
    return out


def _points(metric: Any, kind: str) -> list[ReceivedPoint]:
    if kind == "histogram":
        return [
            ReceivedPoint(
                decode_attributes(p.attributes),
                count=p.count,
                sum=p.sum,
                bucket_counts=tuple(p.bucket_counts),
                explicit_bounds=tuple(p.explicit_bounds),
            )
            for p in metric.histogram.data_points
        ]
    if kind in ("sum", "gauge"):
        return [
            ReceivedPoint(
                decode_attributes(p.attributes), value=p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
            )
            for p in getattr(metric, kind).data_points
        ]
    return []


_REQUESTS: dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
}
JSON_CONTENT_TYPE = "application/json"


def parse_request(signal: str, payload: bytes, content_type: str) -> Any:
    """The export request of `signal` in an HTTP body: OTLP protobuf, or OTLP JSON (hex ids, as the spec says)."""
    message = _REQUESTS[signal]()
    if content_type == JSON_CONTENT_TYPE:
        json_format.Parse(_json_with_base64_ids(payload), message)
    else:
        message.ParseFromString(payload)
    return message


def _hex_to_base64(value: str) -> str:
    import base64

    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        return value  # already base64, as some senders write it


def _json_with_base64_ids(payload: bytes) -> str:
    """OTLP JSON writes trace and span ids as hex, where the protobuf JSON mapping expects base64."""
    import json

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str) and value:
                    value = _hex_to_base64(value)
                out[key] = convert(value)
            return out
        if isinstance(node, list):
            return [convert(item) for item in node]
        return node

    return json.dumps(convert(json.loads(payload)))


def flatten(signal: str, request: Any, received_at: float, transport: str) -> tuple[list[Any], list[Any], list[Any]]:
    """(spans, logs, metrics) of one export request."""
    if signal == "traces":
        return flatten_spans(request, received_at, transport), [], []
    if signal == "logs":
        return [], flatten_logs(request, received_at, transport), []
    return [], [], flatten_metrics(request, received_at, transport)
