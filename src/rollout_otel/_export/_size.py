"""How large an OTLP request is, measured with the exporters' own encoders, and how to make one item fit.

The size that counts is the encoded request a receiver reads (gRPC's 4 MiB limit applies to it), so items are
measured by encoding them as the OTLP exporters do. An item alone over the limit keeps its identity and loses
content: its longest strings are cut (JSON stays JSON), then its last events go, and it says so.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.trace import Event, ReadableSpan

from .. import _attributes as attr
from .._content._encode import TRUNCATION_MARKER, encode
from .._safe import utf8_size

# A repeated field's tag (one byte) and length (up to five): what each item adds to a request beside its encoding.
_FRAMING: Final = 6
# Strings shorter than this are never cut: names, ids and counts are what make an item findable.
_KEEP_BYTES: Final = 1024
_MAX_PASSES: Final = 8


@functools.cache
def _encoders() -> Any:
    """The OTLP exporters' encoders, imported when first needed: `import rollout_otel` stays as quick as it was."""
    from opentelemetry.exporter.otlp.proto.common import _log_encoder, metrics_encoder, trace_encoder

    try:  # one item's own encoding, without a whole request around it (three times cheaper for a 50 KB span)
        from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import _encode_log
        from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span
    except ImportError:  # another layout of the encoder package: whole requests are measured instead
        _encode_log = _encode_span = None  # type: ignore[assignment]
    return types.SimpleNamespace(
        spans=trace_encoder.encode_spans,
        logs=_log_encoder.encode_logs,
        metrics=metrics_encoder.encode_metrics,
        span=_encode_span,
        log=_encode_log,
    )


def spans_size(spans: Sequence[ReadableSpan]) -> int:
    """Bytes of the OTLP request that exports `spans`."""
    return int(_encoders().spans(spans).ByteSize())


def logs_size(records: Sequence[ReadableLogRecord]) -> int:
    """Bytes of the OTLP request that exports `records`."""
    return int(_encoders().logs(records).ByteSize())


def span_size(span: ReadableSpan) -> int:
    """Bytes one span adds to a request: its encoding and framing."""
    encode = _encoders().span
    if encode is None:
        return spans_size([span])
    return int(encode(span).ByteSize()) + _FRAMING


def log_size(record: ReadableLogRecord) -> int:
    """Bytes one log record adds to a request: its encoding and framing."""
    encode = _encoders().log
    if encode is None:
        return logs_size([record])
    return int(encode(record).ByteSize()) + _FRAMING


def spans_framing(spans: Sequence[ReadableSpan]) -> int:
    """Bytes of a request of `spans` around the spans themselves: each distinct resource and scope, measured once."""
    groups = {(id(span.resource), id(span.instrumentation_scope)): span for span in spans}
    return sum(spans_size([span]) - span_size(span) + 2 * _FRAMING for span in groups.values())


def logs_framing(records: Sequence[ReadableLogRecord]) -> int:
    """Bytes of a request of `records` around the records themselves, as for spans."""
    groups = {(id(record.resource), id(record.instrumentation_scope)): record for record in records}
    return sum(logs_size([record]) - log_size(record) + 2 * _FRAMING for record in groups.values())


def spans_bound(spans: Sequence[ReadableSpan]) -> int:
    """An upper bound of the request's size, from lengths alone (4 bytes a character at most): most batches are
    far under the limit, and this tells so without encoding anything."""
    total = sum(
        _attributes_bound(resource.attributes) + 256
        for resource in {id(s.resource): s.resource for s in spans}.values()
    )
    for span in spans:
        total += 256 + 4 * len(span.name) + _attributes_bound(span.attributes)
        total += 4 * len(span.status.description or "")
        for event in span.events:
            total += 64 + 4 * len(event.name) + _attributes_bound(event.attributes)
        for link in span.links:
            total += 128 + _attributes_bound(link.attributes)
    return total


def logs_bound(records: Sequence[ReadableLogRecord]) -> int:
    """An upper bound of the request's size, from lengths alone, as for spans."""
    resources = {id(r.resource): r.resource for r in records}.values()
    total = sum(_attributes_bound(resource.attributes) + 256 for resource in resources)
    for record in records:
        inner = record.log_record
        total += 256 + 4 * len(inner.event_name or "") + 4 * len(inner.severity_text or "")
        total += _attributes_bound(inner.attributes) + _value_bound(inner.body)
    return total


def _attributes_bound(attributes: Any) -> int:
    if not attributes:
        return 0
    return sum(16 + 4 * len(key) + _value_bound(value) for key, value in attributes.items())


def _value_bound(value: Any) -> int:
    if isinstance(value, str):
        return 16 + 4 * len(value)
    if isinstance(value, (bytes, bytearray)):
        return 16 + len(value)
    if isinstance(value, (list, tuple)):
        return 16 + sum(_value_bound(item) for item in value)
    if isinstance(value, dict):
        return 16 + _attributes_bound(value)
    return 16


def metrics_size(data: MetricsData) -> int:
    """Bytes of the OTLP request that exports `data`."""
    return int(_encoders().metrics(data).ByteSize())


def cut_text(value: str, max_bytes: int) -> str:
    """`value` within `max_bytes` of UTF-8: JSON content stays valid JSON of the same shape, other text is cut at
    the end with a marker."""
    if utf8_size(value) <= max_bytes:
        return value
    if value[:1] in "[{":
        try:
            parsed = json.loads(value)
        except ValueError:
            pass
        else:
            return encode(parsed, max_bytes)[0]
    keep = max(0, max_bytes - len(TRUNCATION_MARKER))
    return value.encode("utf-8")[:keep].decode("utf-8", "ignore") + TRUNCATION_MARKER


def _cut_largest(attributes: dict[str, Any], excess: int) -> bool:
    """Cut the longest string attribute by `excess` bytes (or to `_KEEP_BYTES`); False when none is long enough."""
    sizes = {key: utf8_size(value) for key, value in attributes.items() if isinstance(value, str)}
    sizes = {key: size for key, size in sizes.items() if size > _KEEP_BYTES}
    if not sizes:
        return False
    largest = max(sizes, key=lambda key: sizes[key])
    attributes[largest] = cut_text(attributes[largest], max(_KEEP_BYTES, sizes[largest] - excess - 64))
    return True


def fit_span(span: ReadableSpan, limit: int) -> ReadableSpan:
    """`span` as it fits a request of `limit` bytes: the same span, with its longest attributes cut, then its last
    events dropped, marked `rollout.content.truncated` (and `rollout.stream.chunk_events_dropped`)."""
    size = spans_size([span])
    if size <= limit:
        return span
    attributes: dict[str, Any] = dict(span.attributes or {})
    events = list(span.events)
    dropped = 0
    for _ in range(_MAX_PASSES * 2):
        excess = size - limit
        if excess <= 0:
            break
        if not _cut_largest(attributes, excess) and not _cut_event_text(events, excess):
            if not events:
                break
            gone = max(1, len(events) // 2) if excess > size // 4 else max(1, len(events) // 8)
            del events[-gone:]
            dropped += gone
        attributes[attr.CONTENT_TRUNCATED] = True
        if dropped:
            before = attributes.get(attr.STREAM_CHUNK_EVENTS_DROPPED)
            attributes[attr.STREAM_CHUNK_EVENTS_DROPPED] = (before if isinstance(before, int) else 0) + dropped
            dropped = 0
        span = _span_with(span, attributes, events)
        size = spans_size([span])
    return span


def _cut_event_text(events: list[Event], excess: int) -> bool:
    """Cut the longest string attribute of the event that holds the most text; False when none is long enough."""
    best, best_size = -1, _KEEP_BYTES
    for index, event in enumerate(events):
        for value in (event.attributes or {}).values():
            if isinstance(value, str) and utf8_size(value) > best_size:
                best, best_size = index, utf8_size(value)
    if best < 0:
        return False
    event = events[best]
    attributes = dict(event.attributes or {})
    _cut_largest(attributes, excess)
    events[best] = Event(event.name, attributes, event.timestamp)
    return True


def _span_with(span: ReadableSpan, attributes: dict[str, Any], events: list[Event]) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def fit_log(record: ReadableLogRecord, limit: int) -> ReadableLogRecord:
    """`record` as it fits a request of `limit` bytes: its longest attributes (then its body) cut, marked."""
    size = logs_size([record])
    if size <= limit:
        return record
    inner = record.log_record
    attributes = dict(inner.attributes or {})
    body = inner.body
    for _ in range(_MAX_PASSES):
        excess = size - limit
        if excess <= 0:
            break
        if not _cut_largest(attributes, excess):
            if not isinstance(body, str) or utf8_size(body) <= _KEEP_BYTES:
                break
            body = cut_text(body, max(_KEEP_BYTES, utf8_size(body) - excess - 64))
        attributes[attr.CONTENT_TRUNCATED] = True
        copy = type(inner).__new__(type(inner))
        copy.__dict__.update(inner.__dict__)
        copy.attributes = attributes
        copy.body = body
        record = dataclasses.replace(record, log_record=copy)
        size = logs_size([record])
    return record


def split_metrics(data: MetricsData, limit: int) -> tuple[list[MetricsData], int]:
    """`data` as requests of at most `limit` bytes each, split between data points; returns them and how many
    points could not fit even alone (dropped)."""
    if metrics_size(data) <= limit:
        return [data], 0
    parts: list[MetricsData] = []
    dropped = 0
    current: list[tuple[ResourceMetrics, ScopeMetrics, Metric, Any]] = []
    current_size = 0
    for resource, scope, metric, point in _points(data):
        one = _metrics_of([(resource, scope, metric, point)])
        size = metrics_size(one)
        if size > limit:
            dropped += 1
            continue
        if current and current_size + size > limit:
            parts.append(_metrics_of(current))
            current, current_size = [], 0
        current.append((resource, scope, metric, point))
        current_size += size
    if current:
        parts.append(_metrics_of(current))
    return parts, dropped


def _points(data: MetricsData) -> list[tuple[ResourceMetrics, ScopeMetrics, Metric, Any]]:
    found = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in getattr(metric.data, "data_points", ()):
                    found.append((resource, scope, metric, point))
    return found


def _metrics_of(points: list[tuple[ResourceMetrics, ScopeMetrics, Metric, Any]]) -> MetricsData:
    """The MetricsData holding exactly `points`, grouped back under their resource, scope and metric."""
    tree: dict[int, tuple[ResourceMetrics, dict[int, tuple[ScopeMetrics, dict[int, tuple[Metric, list[Any]]]]]]] = {}
    for resource, scope, metric, point in points:
        scopes = tree.setdefault(id(resource), (resource, {}))[1]
        metrics = scopes.setdefault(id(scope), (scope, {}))[1]
        metrics.setdefault(id(metric), (metric, []))[1].append(point)
    return MetricsData(
        resource_metrics=[
            dataclasses.replace(
                resource,
                scope_metrics=[
                    dataclasses.replace(
                        scope,
                        metrics=[
                            dataclasses.replace(metric, data=_with_points(metric.data, chosen))
                            for metric, chosen in metrics.values()
                        ],
                    )
                    for scope, metrics in scopes.values()
                ],
            )
            for resource, scopes in tree.values()
        ]
    )


def _with_points(data: Any, points: list[Any]) -> Any:
    return dataclasses.replace(data, data_points=points)
