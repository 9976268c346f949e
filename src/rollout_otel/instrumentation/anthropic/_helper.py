"""`messages.stream(...)`: the helper sends its request through `_post` when entered, not through `create`.

The manager it returns keeps that request in a private attribute; rollout swaps in a traced request, so the span
starts when the request is sent and the helper's `MessageStream` reads a traced proxy of the raw event stream
(`text_stream`, `get_final_message()` and `until_done()` all go through it).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from opentelemetry.trace import TracerProvider

from ..._errors import log_internal_error, logger
from .._calls import Endpoint, Wrapper, client_of, start_span, traced_result
from .._guard import context_to_trace, traced_call

_REQUEST_SUFFIX = "__api_request"  # name-mangled: _MessageStreamManager__api_request and its kin
_warned = False


def _request_attribute(manager: Any) -> str | None:
    for name in vars(manager):
        if isinstance(name, str) and name.endswith(_REQUEST_SUFFIX):
            return name
    return None


def _traced_sync_request(
    original: Callable[[], Any], endpoint: Endpoint, client: Any, kwargs: dict[str, Any], provider: Any
) -> Callable[[], Any]:
    def request() -> Any:
        context = context_to_trace()
        if context is None:
            return original()
        span = start_span(endpoint, client, kwargs, provider, stream=True, context=context)
        if span is None:
            return original()
        try:
            with traced_call(span, context):
                raw = original()
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return traced_result(endpoint, span, kwargs, raw)

    return request


class _TracedAsyncRequest:
    """An awaitable in place of the manager's request coroutine; the span starts only when it is awaited."""

    def __init__(self, original: Any, endpoint: Endpoint, client: Any, kwargs: dict[str, Any], provider: Any) -> None:
        self._original = original
        self._endpoint = endpoint
        self._client = client
        self._kwargs = kwargs
        self._provider = provider

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        context = context_to_trace()
        if context is None:
            return await self._original
        span = start_span(self._endpoint, self._client, self._kwargs, self._provider, stream=True, context=context)
        if span is None:
            return await self._original
        try:
            with traced_call(span, context):
                raw = await self._original
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return traced_result(self._endpoint, span, self._kwargs, raw)


def stream_wrapper(endpoint: Endpoint, provider: TracerProvider | None, *, is_async: bool) -> Wrapper:
    """A wrapt wrapper for `Messages.stream` / `AsyncMessages.stream` (both return a manager synchronously)."""

    def traced_stream(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            name = _request_attribute(manager)
            if name is None:
                _warn_untraceable(manager)
                return manager
            original = getattr(manager, name)
            client = client_of(wrapped, instance)
            if is_async:
                traced: Any = _TracedAsyncRequest(original, endpoint, client, kwargs, provider)
            else:
                traced = _traced_sync_request(original, endpoint, client, kwargs, provider)
            setattr(manager, name, traced)
        except Exception:
            log_internal_error("tracing messages.stream()")
        return manager

    traced_stream._rollout_otel = True  # type: ignore[attr-defined]
    return traced_stream


def _warn_untraceable(manager: Any) -> None:
    global _warned
    if not _warned:
        _warned = True
        logger.warning(
            "rollout-otel cannot trace %s from this anthropic version (no request attribute found); "
            "messages.stream() calls will not be traced, messages.create() calls still are",
            type(manager).__name__,
        )
