"""Bedrock instrumentation: `BedrockInstrumentor` for every `bedrock-runtime` client, `wrap_bedrock` for one.

boto3 builds its client classes at run time, so the patch point is botocore's `BaseClient._make_api_call`, which
every operation goes through; only `Converse` and `ConverseStream` on `bedrock-runtime` are traced, every other
call passes straight through. A stream comes back in the caller's response dict as a traced proxy of botocore's
own `EventStream`: same object type, same events.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Collection
from typing import Any, Final

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import log_internal_error, logger
from ...trace import LLMSpan
from .._calls import Wrapper, is_rollout_patch
from .._guard import should_trace, traced_call
from .._hooks import when_imported
from .._stream import TracedStream
from ._converse import ConverseAccumulator, converse_input, converse_outcome, request_attributes

__all__ = ["BedrockInstrumentor", "is_bedrock_client", "wrap_bedrock"]

SERVICE: Final = "bedrock-runtime"
PROVIDER: Final = "aws.bedrock"
_OPERATIONS: Final = {"Converse": False, "ConverseStream": True}  # operation -> streamed


def _service_of(client: Any) -> str | None:
    try:
        return str(client.meta.service_model.service_name)
    except Exception:
        return None


def _start_span(client: Any, params: Any, stream: bool, provider: TracerProvider | None) -> LLMSpan | None:
    """Open the span for one call; on any internal failure the call goes ahead untraced."""
    try:
        model = params.get("modelId")
        span = LLMSpan(
            "bedrock.converse",
            model=str(model) if model else None,
            stream=stream,
            provider=PROVIDER,
            operation="chat",
            attributes=request_attributes(params, getattr(client.meta, "endpoint_url", None)),
            tracer_provider=provider,
        )
        span._record_request(converse_input(params))
        return span
    except Exception:
        log_internal_error("starting a span for bedrock.converse")
        return None


def _traced_result(span: LLMSpan, result: Any, stream: bool) -> Any:
    """Hand back botocore's response dict, its `stream` replaced by a traced proxy of itself."""
    try:
        if stream and isinstance(result, dict) and result.get("stream") is not None:
            result["stream"] = TracedStream(result["stream"], span, ConverseAccumulator(span))
            return result
        span._finish(caller=None, **converse_outcome(span, result))
    except Exception:
        log_internal_error("recording the result of bedrock.converse")
        span._finish(caller=None)
    return result


def api_call_wrapper(provider: TracerProvider | None) -> Wrapper:
    """A wrapt wrapper for `_make_api_call(operation_name, api_params)`: Converse calls get a span, others pass."""

    def traced_api_call(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        operation = args[0] if args else kwargs.get("operation_name")
        stream = _OPERATIONS.get(operation) if isinstance(operation, str) else None
        if stream is None or not should_trace() or _service_of(instance) != SERVICE:
            return wrapped(*args, **kwargs)
        params = args[1] if len(args) > 1 else kwargs.get("api_params")
        span = _start_span(instance, params if isinstance(params, dict) else {}, stream, provider)
        if span is None:
            return wrapped(*args, **kwargs)
        try:
            with traced_call(span):
                result = wrapped(*args, **kwargs)
        except BaseException as exc:
            span._end_with_exception(exc)
            raise
        return _traced_result(span, result, stream)

    traced_api_call._rollout_otel = True  # type: ignore[attr-defined]
    return traced_api_call


class BedrockInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces `converse` and `converse_stream` for every `bedrock-runtime` client; other AWS calls are untouched."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("botocore >= 1.34",)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch when the program imports botocore (at once if it already has)."""
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        self._active = True
        if importlib.util.find_spec("botocore") is None:
            logger.debug("botocore is not installed; rollout_bedrock has nothing to instrument")
            return
        when_imported("botocore.client", lambda: self._patch(provider))

    def _patch(self, provider: TracerProvider | None) -> None:
        if not getattr(self, "_active", False):
            return  # uninstrumented before botocore was imported
        from botocore.client import BaseClient  # type: ignore[import-untyped]

        if not is_rollout_patch(BaseClient.__dict__.get("_make_api_call")):
            wrapt.wrap_function_wrapper(BaseClient, "_make_api_call", api_call_wrapper(provider))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False
        import sys

        client_module = sys.modules.get("botocore.client")
        base = getattr(client_module, "BaseClient", None)
        if base is not None and isinstance(base.__dict__.get("_make_api_call"), wrapt.FunctionWrapper):
            unwrap(base, "_make_api_call")


def is_bedrock_client(client: Any) -> bool:
    """Whether `client` is a boto3 / botocore `bedrock-runtime` client."""
    try:
        from botocore.client import BaseClient
    except ImportError:
        return False
    return isinstance(client, BaseClient) and _service_of(client) == SERVICE


def wrap_bedrock(client: Any, tracer_provider: TracerProvider | None = None) -> Any:
    """Trace one `bedrock-runtime` client's Converse calls; returns the same client."""
    client._make_api_call = wrapt.FunctionWrapper(client._make_api_call, api_call_wrapper(tracer_provider))
    return client
