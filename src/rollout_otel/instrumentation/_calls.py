"""Wrappers around a provider's `create`: one span per call, streams handed back as traced proxies of themselves.

Each provider describes its endpoints with `Endpoint` (what the request says, how to read a stream and a whole
result); everything that decides when a span starts and ends lives here, shared by all providers.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.context import Context
from opentelemetry.trace import TracerProvider

from .. import _attributes as attr
from .._content import Request
from .._errors import log_internal_error
from ..trace import LLMSpan
from ._guard import context_to_trace, traced_call
from ._outcome import Accumulator
from ._stream import TracedAsyncStream, TracedStream, after_close

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class Provider:
    """What is the same for every endpoint of one provider SDK."""

    name_of: Callable[[Any], str]  # the client -> gen_ai.provider.name
    request_attributes: Callable[[Mapping[str, Any], Any], dict[str, Any]]  # (kwargs, client) -> attributes
    stream_types: Callable[[], tuple[type, type]]  # the SDK's (Stream, AsyncStream)
    raw_response_types: Callable[[], tuple[type, ...]]  # what with_raw_response / with_streaming_response return


@dataclass(frozen=True)
class Endpoint:
    """How one endpoint is traced: its span name, input, stream reader and whole-result reader."""

    span_name: str
    provider: Provider
    input_of: Callable[[Mapping[str, Any]], Callable[[], Request]]  # what was sent, mapped when the span ends
    accumulator: Callable[[LLMSpan, Mapping[str, Any]], Accumulator]
    whole_outcome: Callable[[LLMSpan, Any], dict[str, Any]]
    stream: bool | None = None  # streamed by the method itself (Gemini's *_stream), not by a `stream=True` argument
    prepare: Callable[[LLMSpan, dict[str, Any]], dict[str, Any]] | None = None  # the arguments to send instead


_SENTINELS = ("Omit", "NotGiven")  # the SDKs' `omit` / `NOT_GIVEN` types


def given(value: Any) -> bool:
    """False for None and for the SDKs' `omit` / `NOT_GIVEN` sentinels."""
    return value is not None and value.__class__.__name__ not in _SENTINELS


def sent(kwargs: Mapping[str, Any], key: str) -> Any:
    """A request argument as it was sent (lists copied: the caller may append to them while a stream runs)."""
    value = kwargs[key] if key in kwargs else None  # noqa: SIM401 (`in` and `[]`: no call for a missing key)
    if value is None or value.__class__.__name__ in _SENTINELS:
        return None
    return list(value) if value.__class__ is list or isinstance(value, list) else value


def model_of(kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs["model"] if "model" in kwargs else None  # noqa: SIM401
    return None if model is None or model.__class__.__name__ in _SENTINELS else str(model)


def request_attributes_from(
    kwargs: Mapping[str, Any], client: Any, parameters: tuple[tuple[str, str], ...], stop_key: str
) -> dict[str, Any]:
    """The numeric request parameters in `parameters` (argument, attribute), the stop sequences, the server."""
    found: dict[str, Any] = {}
    for key, name in parameters:  # `in` and `[]`: no call for the many parameters a call leaves out
        if key in kwargs:
            value = kwargs[key]
            kind = value.__class__
            if kind is int or kind is float or (given(value) and isinstance(value, (int, float)) and kind is not bool):
                found[name] = value
    stop: Any = kwargs[stop_key] if stop_key in kwargs else None  # noqa: SIM401
    if stop is not None and given(stop):
        found[attr.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    found.update(server_attributes(client))
    return found


def server_attributes(client: Any) -> dict[str, Any]:
    """`server.address` / `server.port` from the client's base URL (Azure and any compatible server included)."""
    url = getattr(client, "base_url", None)
    host = getattr(url, "host", None)
    if not host:
        return {}
    port = getattr(url, "port", None) or {"https": 443, "http": 80}.get(getattr(url, "scheme", ""))
    found: dict[str, Any] = {attr.SERVER_ADDRESS: host}
    if port:
        found[attr.SERVER_PORT] = port
    return found


def server_attributes_from_url(base_url: Any) -> dict[str, Any]:
    """`server.address` / `server.port` from a base URL string (clients that keep it as text: boto3, google-genai)."""
    return dict(_server_of_url(base_url)) if isinstance(base_url, str) else {}


@functools.lru_cache(maxsize=64)  # a client's base URL, parsed at every call: once per URL instead
def _server_of_url(base_url: str) -> tuple[tuple[str, Any], ...]:
    from urllib.parse import urlsplit

    try:
        url = urlsplit(base_url)
        host, port = url.hostname, url.port or {"https": 443, "http": 80}.get(url.scheme)
    except ValueError:
        return ()
    if not host:
        return ()
    return ((attr.SERVER_ADDRESS, host), (attr.SERVER_PORT, port)) if port else ((attr.SERVER_ADDRESS, host),)


def client_of(wrapped: Any, instance: Any) -> Any:
    """The SDK client behind a resource method (bound, or called through its class)."""
    resource = instance if instance is not None else getattr(wrapped, "__self__", None)
    client = getattr(resource, "_client", None)
    return client if client is not None else getattr(resource, "_api_client", None)  # google-genai's name


def start_span(
    endpoint: Endpoint,
    client: Any,
    kwargs: Mapping[str, Any],
    provider: Any,
    *,
    stream: bool | None = None,
    context: Context | None = None,
) -> LLMSpan | None:
    """Open the span for one call (in `context`, the current one if None); on any internal failure the call goes
    ahead untraced."""
    try:
        span = LLMSpan(
            endpoint.span_name,
            model=model_of(kwargs),
            stream=kwargs.get("stream") is True if stream is None else stream,
            provider=endpoint.provider.name_of(client),
            operation="chat",
            attributes=endpoint.provider.request_attributes(kwargs, client),
            tracer_provider=provider,
            _context=context,
        )
        span._record_request(endpoint.input_of(kwargs), kwargs)
        return span
    except Exception:
        log_internal_error(f"starting a span for {endpoint.span_name}")
        return None


def prepared(endpoint: Endpoint, span: LLMSpan, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments to send: the caller's, or what the endpoint adds to them; the caller's on any failure."""
    if endpoint.prepare is None:
        return kwargs
    try:
        return endpoint.prepare(span, kwargs)
    except Exception:
        log_internal_error(f"preparing a call to {endpoint.span_name}")
        return kwargs


def traced_result(endpoint: Endpoint, span: LLMSpan, kwargs: Mapping[str, Any], result: Any) -> Any:
    """Hand back what `create` returned: a traced proxy of a stream or raw response, or the result as is."""
    try:
        sync_stream, async_stream = endpoint.provider.stream_types()
        if isinstance(result, sync_stream):
            return TracedStream(result, span, endpoint.accumulator(span, kwargs))
        if isinstance(result, async_stream):
            return TracedAsyncStream(result, span, endpoint.accumulator(span, kwargs))
        if isinstance(result, endpoint.provider.raw_response_types()):
            if asyncio.iscoroutinefunction(getattr(result, "parse", None)):
                return TracedAsyncRawResponse(result, span, endpoint, kwargs)
            return TracedRawResponse(result, span, endpoint, kwargs)
        span._finish(caller=None, **endpoint.whole_outcome(span, result))
    except Exception:
        log_internal_error(f"recording the result of {endpoint.span_name}")
        span._finish(caller=None)
    return result


def sync_wrapper(endpoint: Endpoint, provider: TracerProvider | None) -> Wrapper:
    """A wrapt wrapper for a sync `create`."""

    def traced_create(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        context = context_to_trace()
        if context is None:
            return wrapped(*args, **kwargs)
        client = client_of(wrapped, instance)
        span = start_span(endpoint, client, kwargs, provider, stream=endpoint.stream, context=context)
        if span is None:
            return wrapped(*args, **kwargs)
        try:
            with traced_call(span, context):
                result = wrapped(*args, **prepared(endpoint, span, kwargs))
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return traced_result(endpoint, span, kwargs, result)

    traced_create._rollout_otel = True  # type: ignore[attr-defined]
    return traced_create


def is_rollout_patch(attribute: Any) -> bool:
    """Whether a class attribute is a method rollout already wrapped (so a second instrument() leaves it alone)."""
    wrapper = getattr(attribute, "_self_wrapper", None) if isinstance(attribute, wrapt.FunctionWrapper) else None
    return bool(getattr(wrapper, "_rollout_otel", False))


def async_wrapper(endpoint: Endpoint, provider: TracerProvider | None) -> Wrapper:
    """A wrapt wrapper for an async `create`."""

    async def traced_create(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        context = context_to_trace()
        if context is None:
            return await wrapped(*args, **kwargs)
        client = client_of(wrapped, instance)
        span = start_span(endpoint, client, kwargs, provider, stream=endpoint.stream, context=context)
        if span is None:
            return await wrapped(*args, **kwargs)
        try:
            with traced_call(span, context):
                result = await wrapped(*args, **prepared(endpoint, span, kwargs))
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return traced_result(endpoint, span, kwargs, result)

    traced_create._rollout_otel = True  # type: ignore[attr-defined]
    return traced_create


class _RawOwnership:
    """A raw response owns its span until `parse()` hands it on (to a traced stream, or ended with the result)."""

    __slots__ = ("span",)

    def __init__(self, span: LLMSpan) -> None:
        self.span: LLMSpan | None = span

    def release(self) -> LLMSpan | None:
        span, self.span = self.span, None
        return span

    def end_unparsed(self) -> None:
        """The caller closed or dropped the response without `parse()`: it read the body itself."""
        span = self.release()
        if span is not None and span.is_recording:
            span._finish(end_reason=attr.END_CLOSED, caller=None)


class TracedRawResponse(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """`with_raw_response` / `with_streaming_response` results: the span follows what `parse()` returns.

    Unparsed, the span ends `closed` when the response closes (a `with_streaming_response` block's exit) or,
    failing that, when the response is collected.
    """

    def __init__(self, response: Any, span: LLMSpan, endpoint: Endpoint, kwargs: Mapping[str, Any]) -> None:
        super().__init__(response)
        self._self_owner = _RawOwnership(span)
        self._self_endpoint = endpoint
        self._self_kwargs = kwargs
        self._self_parsed: list[tuple[Any, Any]] = []  # the SDK keeps what parse() returned alive anyway
        after_close(response, "close", self._self_owner.end_unparsed)

    def _self_follow(self, parsed: Any) -> Any:
        for seen, traced in self._self_parsed:
            if seen is parsed:
                return traced
        span = self._self_owner.release()
        traced = traced_result(self._self_endpoint, span, self._self_kwargs, parsed) if span is not None else parsed
        self._self_parsed.append((parsed, traced))
        return traced

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_follow(self.__wrapped__.parse(*args, **kwargs))

    def __del__(self) -> None:
        owner = getattr(self, "_self_owner", None)
        if owner is not None:
            owner.end_unparsed()


class TracedAsyncRawResponse(TracedRawResponse):
    """The async twin: `parse()` is a coroutine."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_follow(await self.__wrapped__.parse(*args, **kwargs))
