"""One tracer and one set of metric instruments per provider: made once, free to look up again, kept no longer
than the provider."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from rollout_otel import _metrics, trace
from rollout_otel._per_provider import PerProvider


def _tracers() -> TracerProvider:
    return TracerProvider(shutdown_on_exit=False)


def _meters() -> MeterProvider:
    return MeterProvider(shutdown_on_exit=False)  # the exit hook would keep it alive


def _events_inside(lookup: Callable[[Any], Any], provider: Any) -> list[tuple[str, str]]:
    """The Python frames and C calls that `lookup(provider)` makes, its own frame first."""
    events: list[tuple[str, str]] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            events.append((event, frame.f_code.co_name))
        elif event == "c_call":
            events.append((event, getattr(arg, "__name__", "?")))

    sys.setprofile(profile)
    try:
        lookup(provider)
    finally:
        sys.setprofile(None)
    return events


@pytest.mark.parametrize(("lookup", "provider_type"), [(trace._tracer, _tracers), (_metrics.metrics_for, _meters)])
def test_the_same_provider_again_is_answered_without_a_call(lookup: Any, provider_type: Callable[[], Any]) -> None:
    provider = provider_type()
    first = lookup(provider)
    assert lookup(provider) is first
    events = _events_inside(lookup, provider)
    assert events[:1] == [("call", lookup.__name__)]
    assert events[1:] == [("c_call", "setprofile")]  # nothing between the lookup's own frame and the profile's end
    other = provider_type()
    assert lookup(other) is not first  # another provider: its own value, then the first one's again
    assert lookup(provider) is first
    provider.shutdown()
    other.shutdown()


@pytest.mark.parametrize(("lookup", "provider_type"), [(trace._tracer, _tracers), (_metrics.metrics_for, _meters)])
def test_a_provider_gone_takes_its_value_along(lookup: Any, provider_type: Callable[[], Any]) -> None:
    provider = provider_type()
    value = weakref.ref(lookup(provider))
    lookup(provider)  # the latest asked for
    gone = weakref.ref(provider)
    provider.shutdown()
    del provider
    gc.collect()
    assert gone() is None
    assert value() is None


def test_a_provider_without_weak_references_gets_a_fresh_value_each_time() -> None:
    class Value:
        pass

    made: list[Value] = []
    per: PerProvider[Any] = PerProvider(lambda p: made.append(Value()) or made[-1], unkeyed=lambda p: "unkeyed")
    assert per.get(1) == "unkeyed" and per.get(1) == "unkeyed"  # an int cannot be weakly referenced
    assert made == []
    provider_ref, value_ref = per.last
    assert provider_ref() is None and value_ref() is None

    class Provider:
        pass

    provider = Provider()
    assert per.get(provider) is per.get(provider) is made[0]
    assert per.last[0]() is provider and per.last[1]() is made[0]
    per.clear()
    assert per.last[0]() is None
    assert per.get(provider) is made[1]


def test_a_meter_provider_without_weak_references_still_gets_instruments() -> None:
    from opentelemetry.metrics import NoOpMeter

    class Unreferenceable:
        __slots__ = ()

        def get_meter(self, name: str, version: str | None = None, *args: Any, **kwargs: Any) -> NoOpMeter:
            return NoOpMeter(name, version)

        def force_flush(self, timeout_millis: float = 30_000) -> bool:
            return True

    provider = Unreferenceable()
    first, second = _metrics.metrics_for(provider), _metrics.metrics_for(provider)  # type: ignore[arg-type]
    assert isinstance(first, _metrics.GenAIMetrics) and first is not second  # made at each call, kept by none
