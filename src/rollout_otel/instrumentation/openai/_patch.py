"""The wrappers around `create`: one span per call, streams handed back as traced proxies of themselves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.trace import TracerProvider

from ... import _attributes as attr
from ..._errors import log_internal_error
from ...trace import LLMSpan
from .._guard import should_trace, traced_call
from .._outcome import Accumulator
from .._stream import TracedAsyncStream, TracedStream
from . import _request as req
from ._chat import ChatAccumulator, completion_outcome
from ._responses import ResponsesAccumulator, response_outcome

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class Endpoint:
    """How one OpenAI endpoint is traced: its span name, input, stream reader and whole-result reader."""

    span_name: str
    input_of: Callable[[Mapping[str, Any]], Any]
    accumulator: Callable[[LLMSpan, Mapping[str, Any]], Accumulator]
    whole_outcome: Callable[[LLMSpan, Any], dict[str, Any]]


CHAT = Endpoint(
    "openai.chat.completions",
    req.chat_input,
    lambda span, kw: ChatAccumulator(
        span, expected_choices=req.choice_count(kw), usage_requested=req.usage_requested(kw)
    ),
    completion_outcome,
)
RESPONSES = Endpoint(
    "openai.responses",
    req.responses_input,
    lambda span, kw: ResponsesAccumulator(span),
    response_outcome,
)


def _client_of(wrapped: Any, instance: Any) -> Any:
    resource = instance if instance is not None else getattr(wrapped, "__self__", None)
    return getattr(resource, "_client", None)


def _start(endpoint: Endpoint, wrapped: Any, instance: Any, kwargs: Mapping[str, Any], provider: Any) -> LLMSpan | None:
    """Open the span for one call; on any internal failure the call goes ahead untraced."""
    try:
        client = _client_of(wrapped, instance)
        span = LLMSpan(
            endpoint.span_name,
            model=req.model_of(kwargs),
            stream=req.is_streamed(kwargs),
            provider=req.provider_name(client),
            operation="chat",
            attributes=req.request_attributes(kwargs, client),
            tracer_provider=provider,
        )
        span.record_input(endpoint.input_of(kwargs))
        return span
    except Exception:
        log_internal_error(f"starting a span for {endpoint.span_name}")
        return None


def _traced_result(endpoint: Endpoint, span: LLMSpan, kwargs: Mapping[str, Any], result: Any) -> Any:
    """Hand back what `create` returned: a traced proxy of a stream or raw response, or the result as is."""
    try:
        from openai import AsyncStream, Stream

        if isinstance(result, Stream):
            return TracedStream(result, span, endpoint.accumulator(span, kwargs))
        if isinstance(result, AsyncStream):
            return TracedAsyncStream(result, span, endpoint.accumulator(span, kwargs))
        if _is_raw_response(result):
            if asyncio.iscoroutinefunction(getattr(result, "parse", None)):
                return TracedAsyncRawResponse(result, span, endpoint, kwargs)
            return TracedRawResponse(result, span, endpoint, kwargs)
        span._finish(caller=None, **endpoint.whole_outcome(span, result))
    except Exception:
        log_internal_error(f"recording the result of {endpoint.span_name}")
        span._finish(caller=None)
    return result


def _is_raw_response(result: Any) -> bool:
    from openai._legacy_response import LegacyAPIResponse
    from openai._response import BaseAPIResponse

    return isinstance(result, (LegacyAPIResponse, BaseAPIResponse))


def sync_wrapper(endpoint: Endpoint, provider: TracerProvider | None) -> Wrapper:
    """A wrapt wrapper for a sync `create`."""

    def traced_create(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not should_trace():
            return wrapped(*args, **kwargs)
        span = _start(endpoint, wrapped, instance, kwargs, provider)
        if span is None:
            return wrapped(*args, **kwargs)
        try:
            with traced_call():
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return _traced_result(endpoint, span, kwargs, result)

    return traced_create


def async_wrapper(endpoint: Endpoint, provider: TracerProvider | None) -> Wrapper:
    """A wrapt wrapper for an async `create`."""

    async def traced_create(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not should_trace():
            return await wrapped(*args, **kwargs)
        span = _start(endpoint, wrapped, instance, kwargs, provider)
        if span is None:
            return await wrapped(*args, **kwargs)
        try:
            with traced_call():
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return _traced_result(endpoint, span, kwargs, result)

    return traced_create


class TracedRawResponse(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """`with_raw_response` / `with_streaming_response` results: the span follows what `parse()` returns."""

    def __init__(self, response: Any, span: LLMSpan, endpoint: Endpoint, kwargs: Mapping[str, Any]) -> None:
        super().__init__(response)
        self._self_span = span
        self._self_endpoint = endpoint
        self._self_kwargs = kwargs
        self._self_parsed: dict[int, Any] = {}

    def _self_follow(self, parsed: Any) -> Any:
        traced = self._self_parsed.get(id(parsed))
        if traced is None:
            if self._self_span.is_recording:
                traced = _traced_result(self._self_endpoint, self._self_span, self._self_kwargs, parsed)
            else:
                traced = parsed
            self._self_parsed[id(parsed)] = traced
        return traced

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_follow(self.__wrapped__.parse(*args, **kwargs))

    def __del__(self) -> None:
        span = getattr(self, "_self_span", None)
        if span is not None and span.is_recording:
            span._finish(end_reason=attr.END_CLOSED, caller=None)  # the caller read the raw body itself


class TracedAsyncRawResponse(TracedRawResponse):
    """The async twin: `parse()` is a coroutine."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_follow(await self.__wrapped__.parse(*args, **kwargs))
