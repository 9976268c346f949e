"""Feature checks for the provider SDK installed: a test of a feature an older SDK lacks skips, saying which."""

from __future__ import annotations

import functools
import importlib
from typing import Any

import pytest


def _has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


needs_anthropic_sdk_spans = pytest.mark.skipif(
    not _has("anthropic._base_client", "start_api_call_span"),
    reason="this anthropic starts no OpenTelemetry spans of its own (start_api_call_span came later)",
)


@functools.cache
def _bedrock_runtime() -> Any:
    """botocore's bedrock-runtime service model, or None where botocore is absent."""
    try:
        import botocore.session

        return botocore.session.get_session().get_service_model("bedrock-runtime")
    except Exception:
        return None


def _bedrock_member(shape: str, member: str) -> bool:
    model = _bedrock_runtime()
    return model is not None and shape in model.shape_names and member in model.shape_for(shape).members


needs_bedrock_cache_points = pytest.mark.skipif(
    not _bedrock_member("SystemContentBlock", "cachePoint"),
    reason="this botocore's Converse takes no cachePoint (it came in botocore 1.37.24)",
)
needs_bedrock_reasoning = pytest.mark.skipif(
    not _bedrock_member("ContentBlockDelta", "reasoningContent"),
    reason="this botocore's ConverseStream carries no reasoningContent (it came in botocore 1.37)",
)
needs_bedrock_apply_guardrail = pytest.mark.skipif(
    _bedrock_runtime() is None or "ApplyGuardrail" not in _bedrock_runtime().operation_names,
    reason="this botocore's bedrock-runtime has no ApplyGuardrail (it came after Converse)",
)
