"""Keeps one span per call when several patches (wrap(), the instrumentor, a helper) sit on the same path."""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry import context as otel_context

_inside_traced_call: ContextVar[bool] = ContextVar("rollout_otel_inside_traced_call", default=False)


def should_trace() -> bool:
    """False inside a call another rollout patch is already tracing, or where OpenTelemetry is suppressed."""
    if _inside_traced_call.get():
        return False
    return not otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY)


class traced_call:
    """Marks the current call as traced for the duration of the original provider call."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _inside_traced_call.set(True)

    def __exit__(self, *exc: object) -> None:
        _inside_traced_call.reset(self._token)
