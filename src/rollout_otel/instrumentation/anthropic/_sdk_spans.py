"""One span per call: the anthropic SDK's own span for a call rollout traces is left out, unless asked for.

The `anthropic` package starts a span per API call of its own once a global tracer provider exists. For the
calls rollout traces (`messages.create`, `messages.stream`, `messages.parse`) that would be a second span for the
same call, so the SDK's span start is skipped while rollout's traced call runs: the SDK documents that a call
goes on without a span when none can start. Every other call the SDK makes (`count_tokens`, batches, models...)
keeps its span. With `anthropic_sdk_spans=True` (`ROLLOUT_ANTHROPIC_SDK_SPANS`) both are kept, and the SDK's span
nests under rollout's, because rollout's span is current while the request is sent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import wrapt

from ..._config import settings_from_environment
from ..._errors import logger
from .._guard import current_traced_call

_MODULE = "anthropic._base_client"
_NAME = "start_api_call_span"


def _skip_for_traced_calls(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    span = current_traced_call()
    if span is not None:
        settings = span._settings or settings_from_environment()
        if not settings.anthropic_sdk_spans:
            return None
    return wrapped(*args, **kwargs)


def leave_out_sdk_spans() -> None:
    """Install the check once per process; idempotent, and left in place (outside traced calls it does nothing)."""
    try:
        module = importlib.import_module(_MODULE)
    except ImportError:
        return
    current = getattr(module, _NAME, None)
    if current is None:
        if _has_sdk_tracing():
            logger.warning(
                "rollout-otel cannot keep this anthropic version's own spans out of traced calls; each traced call "
                "may show two spans. Set ANTHROPIC_OPEN_TELEMETRY=false to keep only rollout's."
            )
        return
    if isinstance(current, wrapt.FunctionWrapper):
        return
    wrapt.wrap_function_wrapper(module, _NAME, _skip_for_traced_calls)


def _has_sdk_tracing() -> bool:
    try:
        importlib.import_module("anthropic._tracing")
    except ImportError:
        return False
    return True
