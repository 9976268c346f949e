"""Span attributes set in one step: the direct path gives exactly what the SDK's public API gives, and every case
the SDK would treat differently (other values, limits, an ended span, other span classes, other internals) takes
the public API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, Span

from rollout_otel import _span_attributes
from rollout_otel._span_attributes import set_span_attributes

START: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "server.port": 1}
END: dict[str, Any] = {
    "gen_ai.request.model": "m2",  # set again: moves to the end
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.response.time_to_first_chunk": 0.25,
    "gen_ai.response.finish_reasons": ("stop",),
    "rollout.stream.preview": "héllo",
    "rollout.content.truncated": True,
}


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


def provider(exporter: InMemorySpanExporter, limits: SpanLimits | None = None) -> TracerProvider:
    traces = TracerProvider(span_limits=limits) if limits is not None else TracerProvider()
    traces.add_span_processor(SimpleSpanProcessor(exporter))
    return traces


def both_ways(traces: TracerProvider, attributes: dict[str, Any]) -> tuple[ReadableSpan, ReadableSpan]:
    """The same span ended twice over: attributes set through rollout's path, and through the public API."""
    tracer = traces.get_tracer("t")
    ours = tracer.start_span("ours", attributes=START)
    set_span_attributes(ours, attributes)
    ours.end()
    public = tracer.start_span("public", attributes=START)
    public.set_attributes(attributes)
    public.end()
    return ours, public  # type: ignore[return-value]


def test_the_direct_path_is_taken_for_the_sdk_span_and_matches_the_public_api(
    exporter: InMemorySpanExporter,
) -> None:
    span = provider(exporter).get_tracer("t").start_span("s", attributes=START)
    assert _span_attributes._write(span, END) is True  # written directly
    span.end()
    ours, public = both_ways(provider(exporter), END)
    assert list(ours.attributes.items()) == list(public.attributes.items())  # type: ignore[union-attr]
    assert list(ours.attributes)[-1] == "rollout.content.truncated"  # type: ignore[arg-type]
    assert list(ours.attributes)[2] == "gen_ai.request.model"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "attributes",
    [
        {"a.list": ["x", "y"]},  # the SDK makes it a tuple
        {"a.mixed": ("x", object())},
        {"a.mixed.plain": ("x", 1)},  # the SDK drops a sequence of mixed types
        {"an.object": object()},  # the SDK keeps its str()
        {"": "empty key"},  # the SDK drops it
        {"a.dict": {"k": "v"}},
    ],
    ids=["list", "tuple-with-object", "tuple-of-mixed-types", "object", "empty-key", "mapping"],
)
def test_values_the_sdk_would_change_take_the_public_api(
    exporter: InMemorySpanExporter, attributes: dict[str, Any]
) -> None:
    span = provider(exporter).get_tracer("t").start_span("s")
    assert _span_attributes._write(span, attributes) is False
    span.end()
    ours, public = both_ways(provider(exporter), attributes)
    assert dict(ours.attributes) == dict(public.attributes)  # type: ignore[arg-type]


def test_a_length_limit_takes_the_public_api_which_cuts(exporter: InMemorySpanExporter) -> None:
    ours, public = both_ways(provider(exporter, SpanLimits(max_span_attribute_length=3)), END)
    assert ours.attributes["rollout.stream.preview"] == "hél"  # type: ignore[index]
    assert dict(ours.attributes) == dict(public.attributes)  # type: ignore[arg-type]


def test_a_count_limit_takes_the_public_api_which_drops_the_oldest(exporter: InMemorySpanExporter) -> None:
    ours, public = both_ways(provider(exporter, SpanLimits(max_span_attributes=5)), END)
    assert len(ours.attributes) == 5  # type: ignore[arg-type]
    assert list(ours.attributes.items()) == list(public.attributes.items())  # type: ignore[union-attr]
    assert ours.dropped_attributes == public.dropped_attributes > 0


def test_an_ended_span_takes_the_public_api_which_warns(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    span = provider(exporter).get_tracer("t").start_span("s", attributes=START)
    span.end()
    with caplog.at_level(logging.WARNING):
        set_span_attributes(span, {"late": 1})
    assert "late" not in span.attributes  # type: ignore[attr-defined]
    assert "Setting attribute on ended span" in caplog.text


class _Recording(NonRecordingSpan):
    """A span of another SDK: only its own set_attributes may be used."""

    def __init__(self) -> None:
        super().__init__(NonRecordingSpan(None).get_span_context())  # type: ignore[arg-type]
        self.given: list[dict[str, Any]] = []

    def set_attributes(self, attributes: Any) -> None:
        self.given.append(dict(attributes))


def test_another_span_class_gets_its_own_set_attributes() -> None:
    span = _Recording()
    set_span_attributes(span, END)
    assert span.given == [END]


def test_an_sdk_span_subclass_that_overrides_set_attributes_is_not_bypassed() -> None:
    class Custom(SdkSpan):
        def set_attributes(self, attributes: Any) -> None:
            pass

    assert _span_attributes._is_known(Custom) is False
    assert _span_attributes._is_known(NonRecordingSpan) is False
    assert _span_attributes._is_known(type(TracerProvider().get_tracer("t").start_span("s"))) is True


def test_internals_that_differ_fall_back_to_the_public_api(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    span: Span = provider(exporter).get_tracer("t").start_span("s", attributes=START)
    monkeypatch.delattr(span, "_lock")  # an SDK that keeps its span lock elsewhere
    assert _span_attributes._write(span, END) is False
    monkeypatch.undo()
    # A BoundedAttributes that no longer keeps its values where this module expects: nothing goes direct.
    monkeypatch.setattr(_span_attributes, "_probed", None)
    monkeypatch.setattr(_span_attributes, "_known_classes", {})

    class Elsewhere(_span_attributes.BoundedAttributes):  # type: ignore[misc,name-defined]
        def __setitem__(self, key: str, value: Any) -> None:
            self._elsewhere = {key: value}

    monkeypatch.setattr(_span_attributes, "BoundedAttributes", Elsewhere)
    assert _span_attributes._probe() is False
    calls: list[Any] = []
    original = SdkSpan.set_attributes

    def spy(self: SdkSpan, attributes: Any) -> None:
        calls.append(attributes)
        original(self, attributes)

    monkeypatch.setattr(SdkSpan, "set_attributes", spy)
    set_span_attributes(span, END)
    assert calls == [END]
    span.end()
    assert exporter.get_finished_spans()[-1].attributes["gen_ai.usage.input_tokens"] == 12  # type: ignore[index]
