"""Anthropic instrumentation: `AnthropicInstrumentor` for every client, `wrap_anthropic` for one client."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Collection
from typing import Any, Literal

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import logger
from ..._sdk_versions import requirement, too_old
from .._calls import Endpoint, Provider, Wrapper, async_wrapper, is_rollout_patch, sync_wrapper
from .._hooks import when_imported
from ._helper import stream_wrapper
from ._messages import MessagesAccumulator, message_outcome, messages_input, request_attributes
from ._sdk_spans import leave_out_sdk_spans

__all__ = ["AnthropicInstrumentor", "is_anthropic_client", "wrap_anthropic"]

Kind = Literal["create", "async_create", "stream", "async_stream"]


@functools.cache  # imported once: the lookup runs at every call's result
def _stream_types() -> tuple[type, type]:
    from anthropic import AsyncStream, Stream

    return Stream, AsyncStream


@functools.cache
def _raw_response_types() -> tuple[type, ...]:
    from anthropic._response import BaseAPIResponse

    found: tuple[type, ...] = (BaseAPIResponse,)
    try:  # older releases return these from with_raw_response
        from anthropic._legacy_response import LegacyAPIResponse  # type: ignore[import-not-found]
    except ImportError:
        return found
    return (*found, LegacyAPIResponse)


def _provider_name(client: Any) -> str:
    """`anthropic`, or the platform's name the SDK gives its Bedrock / Vertex clients (`aws.bedrock`...)."""
    name = getattr(client, "_gen_ai_provider_name", None)
    return name if isinstance(name, str) and name else "anthropic"


ANTHROPIC = Provider(_provider_name, request_attributes, _stream_types, _raw_response_types)
MESSAGES = Endpoint(
    "anthropic.messages", ANTHROPIC, messages_input, lambda span, kwargs: MessagesAccumulator(span), message_outcome
)

_MODULES = ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages")
_METHODS: tuple[tuple[str, str, Kind], ...] = (
    ("Messages", "create", "create"),
    ("Messages", "parse", "create"),
    ("Messages", "stream", "stream"),
    ("AsyncMessages", "create", "async_create"),
    ("AsyncMessages", "parse", "async_create"),
    ("AsyncMessages", "stream", "async_stream"),
)
_CACHED_WRAPPERS = ("with_raw_response", "with_streaming_response")


def _wrapper(kind: Kind, provider: TracerProvider | None) -> Wrapper:
    if kind == "create":
        return sync_wrapper(MESSAGES, provider)
    if kind == "async_create":
        return async_wrapper(MESSAGES, provider)
    return stream_wrapper(MESSAGES, provider, is_async=kind == "async_stream")


def _targets(*, loaded_only: bool = False) -> list[tuple[Any, str, Kind]]:
    """(class, method, kind) for every patch point this anthropic has; the beta ones are optional."""
    found = []
    for module_name in _MODULES:
        try:
            module = sys.modules[module_name] if loaded_only else importlib.import_module(module_name)
        except (ImportError, KeyError):
            continue
        for owner, method, kind in _METHODS:
            cls = getattr(module, owner, None)
            if cls is not None and callable(getattr(cls, method, None)):
                found.append((cls, method, kind))
    return found


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces `messages.create`, `messages.stream` and `messages.parse` (beta included) for every client."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (requirement("anthropic"),)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch when the program imports anthropic (at once if it already has): start-up does not pay for it."""
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        self._active = True
        if importlib.util.find_spec("anthropic") is None:
            logger.debug("anthropic is not installed; rollout_anthropic has nothing to instrument")
            return
        when_imported("anthropic", lambda: self._on_anthropic(provider))

    def _on_anthropic(self, provider: TracerProvider | None) -> None:
        core = importlib.import_module(_MODULES[0])  # loaded by `import anthropic` itself
        version = str(getattr(sys.modules["anthropic"], "__version__", "?"))
        found = callable(getattr(core, "Messages", None)) and callable(getattr(core, "AsyncMessages", None))
        if too_old("anthropic", version) or not found:
            logger.warning(
                "rollout-otel cannot trace anthropic %s; Anthropic calls will not be traced. Supported: %s",
                version,
                requirement("anthropic"),
            )
            return
        leave_out_sdk_spans()
        for module in _MODULES:  # the beta namespace loads only when a program uses it
            when_imported(module, lambda module=module: self._patch(module, provider))  # type: ignore[misc]

    def _patch(self, module_name: str, provider: TracerProvider | None) -> None:
        if not getattr(self, "_active", False):
            return  # uninstrumented before the module was imported
        module = sys.modules[module_name]
        for owner, method, kind in _METHODS:
            cls = getattr(module, owner, None)
            if cls is None or is_rollout_patch(cls.__dict__.get(method)):
                continue  # absent, or patched by an earlier instrument() whose hook fired too
            if callable(getattr(cls, method, None)):
                wrapt.wrap_function_wrapper(cls, method, _wrapper(kind, provider))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False
        for cls, method, _ in _targets(loaded_only=True):
            if isinstance(cls.__dict__.get(method), wrapt.FunctionWrapper):
                unwrap(cls, method)


def is_anthropic_client(client: Any) -> bool:
    """Whether `client` is an Anthropic SDK client (`Anthropic`, `AsyncAnthropic`, Bedrock, Vertex...)."""
    try:
        import anthropic
    except ImportError:
        return False
    return isinstance(client, (anthropic.Anthropic, anthropic.AsyncAnthropic)) or _is_platform_client(client)


def _is_platform_client(client: Any) -> bool:
    from anthropic._base_client import AsyncAPIClient, SyncAPIClient

    return isinstance(client, (SyncAPIClient, AsyncAPIClient)) and hasattr(client, "messages")


def wrap_anthropic(client: Any, tracer_provider: TracerProvider | None = None) -> Any:
    """Trace one client's Messages calls (and those of its `with_options()` copies); returns the same client."""
    from anthropic._base_client import AsyncAPIClient

    is_async = isinstance(client, AsyncAPIClient)
    resources = [client.messages]
    beta = getattr(client, "beta", None)
    if beta is not None and getattr(beta, "messages", None) is not None:
        resources.append(beta.messages)
    for resource in resources:
        for _owner, method, kind in _METHODS:
            if (kind.startswith("async_") != is_async) or not callable(getattr(resource, method, None)):
                continue
            setattr(resource, method, wrapt.FunctionWrapper(getattr(resource, method), _wrapper(kind, tracer_provider)))
        for cached in _CACHED_WRAPPERS:  # built from `create` on first use: rebuild them from ours
            resource.__dict__.pop(cached, None)
    leave_out_sdk_spans()
    original_copy = client.copy

    def copy(*args: Any, **kwargs: Any) -> Any:
        return wrap_anthropic(original_copy(*args, **kwargs), tracer_provider)

    client.copy = client.with_options = copy
    return client
