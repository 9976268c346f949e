"""Keeps one span per call when several patches (wrap(), the instrumentor, a helper) sit on the same path."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context

from .._errors import log_internal_error

if TYPE_CHECKING:
    from ..trace import LLMSpan

_traced_call: ContextVar[LLMSpan | None] = ContextVar("rollout_otel_traced_call", default=None)
_SUPPRESSED = otel_context._SUPPRESS_INSTRUMENTATION_KEY


def _context_reader() -> Callable[[], Context]:
    """How to read the current OpenTelemetry context: the default runtime context's own variable (one C call), or
    the API's `get_current` for any other runtime context (`OTEL_PYTHON_CONTEXT`)."""
    variable = getattr(getattr(otel_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    if isinstance(variable, ContextVar):
        return variable.get
    return otel_context.get_current


_current_context = _context_reader()


def context_to_trace() -> Context | None:
    """The OpenTelemetry context a call's span starts in, read once for the whole start (the sampler's and the span
    processors' parent, and what the request runs in); None inside a call another rollout patch is already tracing,
    or where OpenTelemetry is suppressed."""
    if _traced_call.get() is not None:
        return None
    context = _current_context()
    return None if context.get(_SUPPRESSED) else context


def current_traced_call() -> LLMSpan | None:
    """The LLM span of the provider call running in this context, if rollout traces one."""
    return _traced_call.get()


class traced_call:
    """Marks the provider call as traced by `span`, and makes `span` current while the request is sent.

    Being current for the request only (never across a stream's yields) lets HTTP instrumentation and the
    provider SDK's own spans nest under the LLM span, and carries its trace context on the request.
    """

    __slots__ = ("_context", "_context_token", "_span", "_token")

    def __init__(self, span: LLMSpan, context: Context | None = None) -> None:
        self._span = span
        self._context = context  # the context the span started in (`context_to_trace`); None for the current one

    def __enter__(self) -> None:
        self._token = _traced_call.set(self._span)
        try:
            self._context_token: object | None = otel_context.attach(
                otel_trace.set_span_in_context(self._span._span, self._context)
            )
        except Exception:
            self._context_token = None
            log_internal_error("making an LLM span current for its request")

    def __exit__(self, *exc: object) -> None:
        if self._context_token is not None:
            try:
                otel_context.detach(self._context_token)  # type: ignore[arg-type]
            except Exception:
                log_internal_error("leaving an LLM span's request")
        _traced_call.reset(self._token)
