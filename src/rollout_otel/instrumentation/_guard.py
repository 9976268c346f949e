"""Keeps one span per call when several patches (wrap(), the instrumentor, a helper) sit on the same path."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

from .._errors import log_internal_error

if TYPE_CHECKING:
    from ..trace import LLMSpan

_traced_call: ContextVar[LLMSpan | None] = ContextVar("rollout_otel_traced_call", default=None)
_SUPPRESSED = otel_context._SUPPRESS_INSTRUMENTATION_KEY


def context_to_trace() -> Context | None:
    """The OpenTelemetry context a call's span starts in, read once for the whole start (the sampler's and the span
    processors' parent, and what the request runs in); None inside a call another rollout patch is already tracing,
    or where OpenTelemetry is suppressed.

    The default runtime context (exactly that class) is read from its own variable, one C call; any other
    (`OTEL_PYTHON_CONTEXT`, a subclass of the default) through the API's `get_current`."""
    if _traced_call.get() is not None:
        return None
    try:
        runtime = otel_context._RUNTIME_CONTEXT
        if runtime.__class__ is ContextVarsRuntimeContext:
            context = runtime._current_context.get()
        else:
            context = otel_context.get_current()
    except AttributeError:  # a release that keeps them elsewhere
        context = otel_context.get_current()
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
