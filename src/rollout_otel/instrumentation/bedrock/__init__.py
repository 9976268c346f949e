"""Bedrock instrumentation: `BedrockInstrumentor` for every `bedrock-runtime` client, `wrap_bedrock` for one.

boto3 builds its client classes at run time, so the patch point is botocore's `BaseClient._make_api_call`, which
every operation goes through; only Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream on
`bedrock-runtime` are traced, every other call passes straight through. A stream comes back in the caller's response
dict as a traced proxy of botocore's own `EventStream`: same object type, same events.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Collection
from typing import Any, Final

import wrapt
from opentelemetry.context import Context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import TracerProvider

from ..._errors import log_internal_error, logger
from ..._sdk_versions import requirement, too_old
from ...trace import LLMSpan
from .._calls import Wrapper
from .._guard import context_to_trace, traced_call
from .._hooks import when_imported
from .._stream import TracedStream
from ._converse import ConverseAccumulator, converse_input, converse_outcome, request_attributes
from ._invoke import (
    buffered_body,
    family_of,
    invoke_attributes,
    invoke_input,
    parsed_body,
    stream_accumulator,
    whole_outcome,
)

__all__ = ["BedrockInstrumentor", "is_bedrock_client", "wrap_bedrock"]

SERVICE: Final = "bedrock-runtime"
PROVIDER: Final = "aws.bedrock"
_OPERATIONS: Final = {  # operation -> (span name, streamed)
    "Converse": ("bedrock.converse", False),
    "ConverseStream": ("bedrock.converse", True),
    "InvokeModel": ("bedrock.invoke_model", False),
    "InvokeModelWithResponseStream": ("bedrock.invoke_model", True),
}


def _service_of(client: Any) -> str | None:
    try:
        return str(client.meta.service_model.service_name)
    except Exception:
        return None


class TracedEventStream(TracedStream):
    """botocore's EventStream is iterable, not an iterator: `next()` on it fails as it does on the original."""

    __next__ = None  # type: ignore[assignment]


class _Call:
    """One traced operation: its span, and how its reply is read (Converse's, or the InvokeModel family's)."""

    __slots__ = ("body", "family", "invoke", "name", "span", "stream")

    def __init__(self, name: str, span: LLMSpan, stream: bool, invoke: bool, family: str | None) -> None:
        self.name, self.span, self.stream, self.invoke, self.family = name, span, stream, invoke, family
        self.body: bytes | None = None  # a whole InvokeModel reply, read for the span

    def result(self, result: Any) -> Any:
        """Hand back botocore's response dict, its stream replaced by a traced proxy of itself."""
        span = self.span
        try:
            key = "body" if self.invoke else "stream"
            if self.stream and isinstance(result, dict) and result.get(key) is not None:
                acc = stream_accumulator(self.family, span) if self.invoke else ConverseAccumulator(span)
                result[key] = TracedEventStream(result[key], span, acc)
                return result
            outcome = whole_outcome(self.family, span, self.body) if self.invoke else converse_outcome(span, result)
            span._finish(caller=None, **outcome)
        except Exception:
            log_internal_error(f"recording the result of {self.name}")
            span._finish(caller=None)
        return result


def _start(
    client: Any, operation: str, params: Any, provider: TracerProvider | None, context: Context | None = None
) -> _Call | None:
    """Open the span for one call (in `context`); on any internal failure the call goes ahead untraced."""
    try:
        name, stream = _OPERATIONS[operation]
        params = params if isinstance(params, dict) else {}
        model = params.get("modelId")
        invoke = name == "bedrock.invoke_model"
        if invoke:
            family = family_of(model)
            body = parsed_body(params) if family is not None else {}
            attributes = {
                **invoke_attributes(family, body),
                **request_attributes({}, getattr(client.meta, "endpoint_url", None)),
            }
            request = invoke_input(family, body)
        else:
            family = None
            attributes = request_attributes(params, getattr(client.meta, "endpoint_url", None))
            request = converse_input(params)
        span = LLMSpan(
            name,
            model=str(model) if model else None,
            stream=stream,
            provider=PROVIDER,
            operation="chat",
            attributes=attributes,
            tracer_provider=provider,
            _context=context,
        )
        span._record_request(request, params)
        return _Call(name, span, stream, invoke, family)
    except Exception:
        log_internal_error(f"starting a span for {operation}")
        return None


class _Patch:
    """One patch's settings; an instrumentor's patch that another wrapper now covers is turned off, not unwrapped."""

    __slots__ = ("active", "provider")

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self.active = True


_class_patch: _Patch | None = None  # the instrumentor's patch on BaseClient, while it is there


def api_call_wrapper(patch: _Patch) -> Wrapper:
    """A wrapt wrapper for `_make_api_call(operation_name, api_params)`: Bedrock calls get a span, others pass."""

    def traced_api_call(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        operation = args[0] if args else kwargs.get("operation_name")
        if operation not in _OPERATIONS or not patch.active:
            return wrapped(*args, **kwargs)
        context = context_to_trace()
        if context is None or _service_of(instance) != SERVICE:
            return wrapped(*args, **kwargs)
        params = args[1] if len(args) > 1 else kwargs.get("api_params")
        call = _start(instance, operation, params, patch.provider, context)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            with traced_call(call.span, context):
                result = wrapped(*args, **kwargs)
                if call.invoke and not call.stream and call.family is not None:
                    call.body = buffered_body(result)  # read here: a failed read fails the call, as it would later
        except BaseException as exc:
            call.span._end_with_exception(exc)
            raise
        return call.result(result)

    traced_api_call._rollout_otel = True  # type: ignore[attr-defined]
    traced_api_call._rollout_patch = patch  # type: ignore[attr-defined]
    return traced_api_call


def _patch_of(attribute: Any) -> _Patch | None:
    wrapper = getattr(attribute, "_self_wrapper", None) if isinstance(attribute, wrapt.FunctionWrapper) else None
    return getattr(wrapper, "_rollout_patch", None)


def _in_chain(attribute: Any, patch: _Patch) -> bool:
    """Whether `patch` wraps `attribute`, outermost or under other wrappers."""
    while isinstance(attribute, wrapt.FunctionWrapper):
        if _patch_of(attribute) is patch:
            return True
        attribute = attribute.__wrapped__
    return False


class BedrockInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces Converse and InvokeModel, streamed or not, for every `bedrock-runtime` client; other calls pass."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return (requirement("botocore"),)

    def _instrument(self, **kwargs: Any) -> None:
        """Patch when the program imports botocore (at once if it already has)."""
        provider: TracerProvider | None = kwargs.get("tracer_provider")
        self._active = True
        if importlib.util.find_spec("botocore") is None:
            logger.debug("botocore is not installed; rollout_bedrock has nothing to instrument")
            return
        when_imported("botocore.client", lambda: self._patch(provider))

    def _patch(self, provider: TracerProvider | None) -> None:
        global _class_patch
        if not getattr(self, "_active", False):
            return  # uninstrumented before botocore was imported
        import botocore  # type: ignore[import-untyped]
        from botocore.client import BaseClient  # type: ignore[import-untyped]

        version = str(getattr(botocore, "__version__", "?"))
        if too_old("botocore", version):
            logger.warning(
                "rollout-otel cannot trace botocore %s; Bedrock calls will not be traced. Supported: %s",
                version,
                requirement("botocore"),
            )
            return
        current = BaseClient.__dict__.get("_make_api_call")
        if _class_patch is not None and _in_chain(current, _class_patch):
            _class_patch.provider, _class_patch.active = provider, True  # turned off earlier, under another wrapper
            return
        _class_patch = _Patch(provider)
        wrapt.wrap_function_wrapper(BaseClient, "_make_api_call", api_call_wrapper(_class_patch))

    def _uninstrument(self, **kwargs: Any) -> None:
        """Unwrap rollout's patch if it is outermost; under another wrapper (botocore's instrumentation patched after
        rollout), turn it off instead, so the other wrapper stays."""
        global _class_patch
        self._active = False
        import sys

        base = getattr(sys.modules.get("botocore.client"), "BaseClient", None)
        patch, _class_patch = _class_patch, None
        if base is None or patch is None:
            return
        if _patch_of(base.__dict__.get("_make_api_call")) is patch:
            unwrap(base, "_make_api_call")
        else:
            patch.active = False
            _class_patch = patch  # still in the chain: a later instrument() turns it back on


def is_bedrock_client(client: Any) -> bool:
    """Whether `client` is a boto3 / botocore `bedrock-runtime` client."""
    try:
        from botocore.client import BaseClient
    except ImportError:
        return False
    return isinstance(client, BaseClient) and _service_of(client) == SERVICE


def wrap_bedrock(client: Any, tracer_provider: TracerProvider | None = None) -> Any:
    """Trace one `bedrock-runtime` client's Bedrock calls; returns the same client.

    Raises:
        TypeError: an async (aiobotocore) client, which rollout-otel does not trace yet.
    """
    if asyncio.iscoroutinefunction(client._make_api_call):
        raise TypeError(
            "rollout_otel.wrap() cannot trace an async (aiobotocore) bedrock-runtime client yet: "
            "pass a boto3 bedrock-runtime client"
        )
    client._make_api_call = wrapt.FunctionWrapper(client._make_api_call, api_call_wrapper(_Patch(tracer_provider)))
    return client
