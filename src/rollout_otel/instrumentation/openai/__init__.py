"""OpenAI instrumentation: `OpenAIInstrumentor` for every client, `wrap_openai` for one client."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import logger
from ..._sdk_versions import requirement, too_old
from .._calls import Endpoint, async_wrapper, is_rollout_patch, sync_wrapper
from .._hooks import when_imported
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
        return (requirement("openai"),)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch each resource module when the program imports it (at once if it already has).

        `import openai` does not load the chat and responses resources; patching them only when they load keeps
        both the program's start-up and its `import openai` free of rollout's cost.
        """
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        self._active = True
        if importlib.util.find_spec("openai") is None:
            logger.debug("openai is not installed; rollout_openai has nothing to instrument")
            return
        when_imported("openai", lambda: self._on_openai(provider))

    def _on_openai(self, provider: TracerProvider | None) -> None:
        version = str(getattr(sys.modules["openai"], "__version__", "0"))
        if too_old("openai", version):
            logger.warning(
                "rollout-otel cannot trace openai %s; OpenAI calls will not be traced. Supported: %s",
                version,
                requirement("openai"),
            )
            return
        for module in dict.fromkeys(module for module, *_ in _TARGETS):
            when_imported(module, lambda module=module: self._patch(module, provider))  # type: ignore[misc]

    def _patch(self, module_name: str, provider: TracerProvider | None) -> None:
        if not getattr(self, "_active", False):
            return  # uninstrumented before the module was imported
        module = sys.modules[module_name]
        for target_module, name, endpoint, is_async in _TARGETS:
            if target_module != module_name:
                continue
            owner, method = name.split(".")
            cls = getattr(module, owner, None)
            if cls is not None and is_rollout_patch(cls.__dict__.get(method)):
                continue  # patched by an earlier instrument() whose hook fired too
            if not callable(getattr(cls, method, None)):
                logger.warning(
                    "rollout-otel cannot trace openai %s (%s.%s not found); those calls will not be traced. "
                    "Supported: %s",
                    getattr(sys.modules.get("openai"), "__version__", "?"),
                    module_name,
                    name,
                    requirement("openai"),
                )
                continue
            wrapper = async_wrapper(endpoint, provider) if is_async else sync_wrapper(endpoint, provider)
            wrapt.wrap_function_wrapper(module, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False
        for module_name, name, _, _ in _TARGETS:
            module = sys.modules.get(module_name)
            owner = getattr(module, name.split(".")[0], None)
            if owner is not None and isinstance(owner.__dict__.get(name.split(".")[1]), wrapt.FunctionWrapper):
                unwrap(owner, name.split(".")[1])


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
