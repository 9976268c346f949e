"""OpenAI instrumentation: `OpenAIInstrumentor` for every client, `wrap_openai` for one client."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import logger
from .._calls import Endpoint, async_wrapper, sync_wrapper
from ._endpoints import CHAT, RESPONSES

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
        missing = _missing_targets()
        if missing:
            version = getattr(importlib.import_module("openai"), "__version__", "?") if not _absent() else None
            if version is None:
                logger.debug("openai is not installed; rollout_openai has nothing to instrument")
            else:
                logger.warning(
                    "rollout-otel cannot trace openai %s (%s not found); OpenAI calls will not be traced. "
                    "Supported: openai >= 1.66",
                    version,
                    ", ".join(missing),
                )
            return
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        for module, name, endpoint, is_async in _TARGETS:
            wrapper = async_wrapper(endpoint, provider) if is_async else sync_wrapper(endpoint, provider)
            wrapt.wrap_function_wrapper(module, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, name, _, _ in _TARGETS:
            owner, method = name.split(".")
            target = getattr(importlib.import_module(module), owner)
            if isinstance(target.__dict__.get(method), wrapt.FunctionWrapper):
                unwrap(target, method)


def _absent() -> bool:
    return importlib.util.find_spec("openai") is None


def _missing_targets() -> list[str]:
    """The patch points this openai lacks (all of them when openai is not installed)."""
    if _absent():
        return [f"{module}.{name}" for module, name, _, _ in _TARGETS]
    missing = []
    for module, name, _, _ in _TARGETS:
        owner, method = name.split(".")
        try:
            found = callable(getattr(getattr(importlib.import_module(module), owner), method))
        except (ImportError, AttributeError):
            found = False
        if not found:
            missing.append(f"{module}.{name}")
    return missing


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
