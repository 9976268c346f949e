"""OpenAI instrumentation: `OpenAIInstrumentor` for every client, `wrap_openai` for one client."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ._patch import CHAT, RESPONSES, Endpoint, async_wrapper, sync_wrapper

__all__ = ["OpenAIInstrumentor", "is_openai_client", "wrap_openai"]

_TARGETS: tuple[tuple[str, str, Endpoint, bool], ...] = (
    ("openai.resources.chat.completions.completions", "Completions.create", CHAT, False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions.create", CHAT, True),
    ("openai.resources.responses.responses", "Responses.create", RESPONSES, False),
    ("openai.resources.responses.responses", "AsyncResponses.create", RESPONSES, True),
)
_CACHED_WRAPPERS = ("with_raw_response", "with_streaming_response")


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces `chat.completions.create` and `responses.create` (and the helpers built on them) for every client."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.66",)

    def _instrument(self, **kwargs: Any) -> None:
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        for module, name, endpoint, is_async in _TARGETS:
            wrapper = async_wrapper(endpoint, provider) if is_async else sync_wrapper(endpoint, provider)
            wrapt.wrap_function_wrapper(module, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for module, name, _, _ in _TARGETS:
            owner, method = name.split(".")
            unwrap(getattr(importlib.import_module(module), owner), method)


def is_openai_client(client: Any) -> bool:
    """Whether `client` is an `openai.OpenAI` / `AsyncOpenAI` (Azure included)."""
    try:
        import openai
    except ImportError:
        return False
    return isinstance(client, (openai.OpenAI, openai.AsyncOpenAI))


def wrap_openai(client: Any, tracer_provider: TracerProvider | None = None) -> Any:
    """Trace one client's calls (and those of its `with_options()` copies); returns the same client."""
    import openai

    is_async = isinstance(client, openai.AsyncOpenAI)
    for resource, endpoint in ((client.chat.completions, CHAT), (client.responses, RESPONSES)):
        wrapper = async_wrapper(endpoint, tracer_provider) if is_async else sync_wrapper(endpoint, tracer_provider)
        resource.create = wrapt.FunctionWrapper(resource.create, wrapper)
        for cached in _CACHED_WRAPPERS:  # built from `create` on first use: rebuild them from ours
            resource.__dict__.pop(cached, None)
    original_copy = client.copy

    def copy(*args: Any, **kwargs: Any) -> Any:
        return wrap_openai(original_copy(*args, **kwargs), tracer_provider)

    client.copy = client.with_options = copy
    return client
