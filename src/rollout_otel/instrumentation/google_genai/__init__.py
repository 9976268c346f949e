"""Gemini instrumentation (`google-genai`): `GoogleGenAIInstrumentor` for every client, `wrap_google_genai` for one.

`generate_content` and `generate_content_stream`, sync and async (`client.aio.models`), go through the shared call
and stream path; chat sessions call them, so every `send_message` / `send_message_stream` gets its own span.
A stream comes back as a traced proxy of the SDK's own generator.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Collection
from typing import Any, Final, Literal

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import logger
from ..._sdk_versions import requirement, too_old
from .._calls import Endpoint, Provider, Wrapper, async_wrapper, is_rollout_patch, sync_wrapper
from .._hooks import when_imported
from ._generate import GenerateAccumulator, generate_input, generate_outcome, provider_name, request_attributes

__all__ = ["GoogleGenAIInstrumentor", "is_google_genai_client", "wrap_google_genai"]

Kind = Literal["sync", "async"]


def _stream_types() -> tuple[type, type]:
    return types.GeneratorType, types.AsyncGeneratorType  # the SDK's streams are plain generators


def _no_raw_responses() -> tuple[type, ...]:
    return ()


GEMINI = Provider(provider_name, request_attributes, _stream_types, _no_raw_responses)


def _endpoint(stream: bool) -> Endpoint:
    return Endpoint(
        "gemini.generate_content",
        GEMINI,
        generate_input,
        lambda span, kwargs: GenerateAccumulator(span),
        generate_outcome,
        stream=stream,
    )


WHOLE: Final = _endpoint(False)
STREAMED: Final = _endpoint(True)
_MODULE: Final = "google.genai.models"
_METHODS: Final[tuple[tuple[str, str, Kind, Endpoint], ...]] = (
    ("Models", "generate_content", "sync", WHOLE),
    ("Models", "generate_content_stream", "sync", STREAMED),
    ("AsyncModels", "generate_content", "async", WHOLE),
    ("AsyncModels", "generate_content_stream", "async", STREAMED),
)


def _wrapper(kind: Kind, endpoint: Endpoint, provider: TracerProvider | None) -> Wrapper:
    return sync_wrapper(endpoint, provider) if kind == "sync" else async_wrapper(endpoint, provider)


class GoogleGenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces `models.generate_content` and `generate_content_stream`, sync and async, for every client."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (requirement("google-genai"),)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch when the program imports google.genai (at once if it already has)."""
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        self._active = True
        if importlib.util.find_spec("google") is None or importlib.util.find_spec("google.genai") is None:
            logger.debug("google-genai is not installed; rollout_google_genai has nothing to instrument")
            return
        when_imported(_MODULE, lambda: self._patch(provider))

    def _patch(self, provider: TracerProvider | None) -> None:
        if not getattr(self, "_active", False):
            return
        version = str(getattr(sys.modules.get("google.genai"), "__version__", "?"))
        if too_old("google-genai", version):
            logger.warning(
                "rollout-otel cannot trace google-genai %s; Gemini calls will not be traced. Supported: %s",
                version,
                requirement("google-genai"),
            )
            return
        module = sys.modules[_MODULE]
        for owner, method, kind, endpoint in _METHODS:
            cls = getattr(module, owner, None)
            if cls is None or not callable(getattr(cls, method, None)):
                logger.warning(
                    "rollout-otel cannot trace this google-genai (%s.%s not found); Gemini calls will not be traced",
                    owner,
                    method,
                )
                continue
            if not is_rollout_patch(cls.__dict__.get(method)):
                wrapt.wrap_function_wrapper(cls, method, _wrapper(kind, endpoint, provider))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False
        module = sys.modules.get(_MODULE)
        for owner, method, _, _ in _METHODS:
            cls = getattr(module, owner, None)
            if cls is not None and isinstance(cls.__dict__.get(method), wrapt.FunctionWrapper):
                unwrap(cls, method)


def is_google_genai_client(client: Any) -> bool:
    """Whether `client` is a `google.genai.Client`."""
    module = sys.modules.get("google.genai.client")
    cls = getattr(module, "Client", None)
    return cls is not None and isinstance(client, cls)


def wrap_google_genai(client: Any, tracer_provider: TracerProvider | None = None) -> Any:
    """Trace one client's `models` and `aio.models` calls (chats made from it included); returns the same client."""
    for resource, kind in ((client.models, "sync"), (client.aio.models, "async")):
        for _owner, method, method_kind, endpoint in _METHODS:
            if method_kind == kind:
                original = getattr(resource, method)
                setattr(resource, method, wrapt.FunctionWrapper(original, _wrapper(kind, endpoint, tracer_provider)))
    return client
